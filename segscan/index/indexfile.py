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


def segment_file(root: Path, segment: int) -> Path:
    """The file of an IVF index's segment (:mod:`segscan.index.segments`): the first is ``index.bin``."""
    return root / INDEX_FILE if segment == 0 else root / f"index-seg{segment}.bin"


def index_files(root: Path) -> list[Path]:
    """The index files in a database folder: one, one per shard or one per segment."""
    return sorted(p for p in [root / INDEX_FILE, *root.glob("index-*.bin")] if p.is_file())


class _Segment:
    """One segment of an index, as a file reads and writes it."""

    def __init__(self, index, i: int):
        self.index, self.i = index, i

    def write_to(self, f) -> None:
        self.index.write_file(self.i, f)

    def read_from(self, f) -> None:
        self.index.read_file(self.i, f)


def _segment_fields(kind: str, index, i: int) -> dict:
    # a later segment must come from the first one's training
    return {"kind": kind} if i == 0 else {"kind": kind, "segment": i, "trained": index.segs.token}


def index_layout(root: Path, index, kind: str) -> list[tuple[Path, object, dict]]:
    """(file, index part, the header fields that file must carry) for each file of ``index``:
    one per shard of a sharded index, one per segment of a segmented IVF, else one."""
    if kind == "sharded":
        n = len(index.parts)
        return [(shard_file(root, s), part, {"kind": index.inner, "shard": s, "shards": n})
                for s, part in enumerate(index.parts)]
    if not hasattr(index, "files"):
        return [(root / INDEX_FILE, index, {"kind": kind})]
    return [(segment_file(root, i), _Segment(index, i), _segment_fields(kind, index, i)) for i in range(index.files)]


def load_index_file(path: Path, part, fields: dict, dim: int, state_of=None) -> list[int] | None:
    """Fill ``part`` from ``path`` when that file carries ``fields`` and ``dim``; the video
    numbers it covers, or None (no such file, or one of another kind, dimension or sharding).
    The header's state goes to ``state_of`` (default: ``part``)."""
    from .vectors import set_index_state

    with open_index_file(path) as found:
        if not found:
            return None
        header, f = found
        if header.get("dim") != dim or any(header.get(k) != v for k, v in fields.items()):
            return None
        part.read_from(f)
    if header.get("state") is not None:
        set_index_state(part if state_of is None else state_of, header["state"])
    return header["covered"]


def load_index_files(root: Path, index, kind: str, dim: int) -> set[int]:
    """Fill ``index`` from its files; the video numbers they cover. A file passed over by
    :func:`load_index_file` (or a segment of another training) leaves its videos uncovered, and
    the database adds them again from the store."""
    covered: set[int] = set()
    if kind == "sharded":
        for s, (path, part, fields) in enumerate(index_layout(root, index, kind)):
            got = load_index_file(path, part, fields, dim)
            if got is not None:
                covered.update(got)
                index.dirty.discard(s)
        return covered
    segmented = hasattr(index, "files")
    got = load_index_file(root / INDEX_FILE, _Segment(index, 0) if segmented else index, {"kind": kind}, dim,
                          state_of=index)
    if got is None:
        return covered
    covered.update(got)
    if segmented and index.segs:
        index.segs.videos[0] = set(got)  # the header's list, with any video of no keyframes
        later = sorted(int(p.stem[len("index-seg"):]) for p in root.glob("index-seg*.bin")
                       if p.stem[len("index-seg"):].isdigit())
        for i in later:
            seg = index.files  # the position it takes here (one before it may have been passed over)
            got = load_index_file(segment_file(root, i), _Segment(index, seg), _segment_fields(kind, index, i), dim)
            if got is not None:
                covered.update(got)
                index.segs.videos[seg] = set(got)
                if seg != i:  # renumbered: written again under its new name
                    index.segs.dirty.add(seg)
    return covered


def save_index_files(root: Path, index, kind: str, dim: int, covered: set[int]) -> None:
    """Write the index atomically, file by file: for a sharded index or a segmented IVF only
    the files changed since they were saved; files of an earlier layout are removed."""
    from .vectors import index_state

    segs = getattr(index, "segs", None)
    if segs:  # videos of no keyframes are recorded with the newest segment
        extra = covered - set().union(*segs.videos)
        if extra:
            segs.videos[-1] |= extra
            segs.dirty.add(len(segs.parts) - 1)
    layout = index_layout(root, index, kind)
    for s, (path, part, fields) in enumerate(layout):
        if kind == "sharded":
            if s not in index.dirty:
                continue
            mine = sorted(n for n in covered if n % len(layout) == s)
        elif segs:
            if s not in index.dirty:
                continue
            mine = sorted(segs.videos[s] & covered)
        else:
            mine = sorted(covered)
        # the state (deletion marks, training) is the index's, kept with its first file
        state = index_state(part) if kind == "sharded" else index_state(index) if s == 0 else None
        header = {**fields, "dim": dim, "covered": mine, "state": state}
        write_index_file(path, header, part.write_to)
        if kind == "sharded" or segs:
            index.dirty.discard(s)
    keep = {p for p, _, _ in layout}
    for p in index_files(root):
        if p not in keep:
            p.unlink(missing_ok=True)
