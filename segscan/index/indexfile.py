"""The index file: a magic tag, a JSON header (kind, dimension, which videos it covers) and the
backend's bytes, written to a temporary name, synced and renamed, so a reader sees the old
file or the new one, never half of one."""
from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)
MAGIC = b"SGSCIDX1"


def read_index_file(path: Path) -> tuple[dict, bytes] | None:
    """(header, backend bytes), or None when there is no file or it is not a segscan index."""
    if not path.exists():
        return None
    data = path.read_bytes()
    if data[:8] != MAGIC:
        log.warning("%s is not a segscan index; rebuilding it from the store", path)
        return None
    (hlen,) = struct.unpack(">Q", data[8:16])
    return json.loads(data[16:16 + hlen]), data[16 + hlen:]


def write_index_file(path: Path, header: dict, payload: bytes) -> None:
    head = json.dumps(header).encode()
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack(">Q", len(head)) + head)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, say: the old file stays, the partial one goes
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
