"""The index file: a magic tag, a JSON header (kind, dimension, which videos it covers) and the
backend's bytes, written to a temporary name, synced and renamed, so a reader sees the old
file or the new one, never half of one."""
from __future__ import annotations

import json
import logging
import os
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

log = logging.getLogger(__name__)
MAGIC = b"SGSCIDX1"


@contextmanager
def open_index_file(path: Path) -> Iterator[tuple[dict, BinaryIO] | None]:
    """(header, the file positioned at the backend's bytes), or None when there is no file or
    it is not a segscan index. The backend reads its bytes from the file itself, so loading
    never holds them twice."""
    if not path.exists():
        yield None
        return
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            log.warning("%s is not a segscan index; rebuilding it from the store", path)
            yield None
            return
        (hlen,) = struct.unpack(">Q", f.read(8))
        yield json.loads(f.read(hlen)), f


def write_index_file(path: Path, header: dict, write_payload: Callable[[BinaryIO], None]) -> None:
    """Write the header, then let ``write_payload`` stream the backend's bytes after it."""
    head = json.dumps(header).encode()
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack(">Q", len(head)) + head)
            write_payload(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, say: the old file stays, the partial one goes
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


INDEX_FILE = "index.bin"


def shard_file(root: Path, shard: int) -> Path:
    return root / f"index-{shard}.bin"


def index_files(root: Path) -> list[Path]:
    """The index files in a database folder: one, or one per shard."""
    return sorted(p for p in [root / INDEX_FILE, *root.glob("index-*.bin")] if p.is_file())


def index_layout(root: Path, index, kind: str) -> list[tuple[Path, object, dict]]:
    """(file, index part, the header fields that file must carry) for each file of ``index``."""
    if kind != "sharded":
        return [(root / INDEX_FILE, index, {"kind": kind})]
    n = len(index.parts)
    return [(shard_file(root, s), part, {"kind": index.inner, "shard": s, "shards": n})
            for s, part in enumerate(index.parts)]


def load_index_file(path: Path, part, fields: dict, dim: int) -> list[int] | None:
    """Fill ``part`` from ``path`` when that file carries ``fields`` and ``dim``; the video
    numbers it covers, or None (no such file, or one of another kind, dimension or sharding)."""
    from .vectors import set_index_state

    with open_index_file(path) as found:
        if not found:
            return None
        header, f = found
        if header.get("dim") != dim or any(header.get(k) != v for k, v in fields.items()):
            return None
        part.read_from(f)
    set_index_state(part, header.get("state", {}))
    return header["covered"]


def load_index_files(root: Path, index, kind: str, dim: int) -> set[int]:
    """Fill ``index`` from its files; the video numbers they cover. A file passed over by
    :func:`load_index_file` leaves its videos uncovered, and the database adds them again from
    the store."""
    covered: set[int] = set()
    for s, (path, part, fields) in enumerate(index_layout(root, index, kind)):
        got = load_index_file(path, part, fields, dim)
        if got is None:
            continue
        covered.update(got)
        if kind == "sharded":
            index.dirty.discard(s)
    return covered


def save_index_files(root: Path, index, kind: str, dim: int, covered: set[int]) -> None:
    """Write the index atomically, file by file: for a sharded index only the shards changed
    since they were saved; files of an earlier layout (another sharding) are removed."""
    from .vectors import index_state

    layout = index_layout(root, index, kind)
    for s, (path, part, fields) in enumerate(layout):
        if kind == "sharded":
            if s not in index.dirty:
                continue
            mine = sorted(n for n in covered if n % len(layout) == s)
        else:
            mine = sorted(covered)
        header = {**fields, "dim": dim, "covered": mine, "state": index_state(part)}
        write_index_file(path, header, part.write_to)
        if kind == "sharded":
            index.dirty.discard(s)
    keep = {p for p, _, _ in layout}
    for p in index_files(root):
        if p not in keep:
            p.unlink(missing_ok=True)
