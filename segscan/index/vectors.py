"""Vector-index backends behind one interface: FAISS Flat / IVF-PQ / HNSW, and hnswlib.

All use inner product on l2-normalised vectors (cosine similarity), return
``(scores, ids)`` with the ``-1`` padding FAISS uses for missing results already
dropped per row, support removing a video's ids, and serialise to bytes or stream to a file so the
database can write them atomically. FAISS indexes move to the GPU when faiss-gpu
and a CUDA device are present.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import struct
import tempfile
from typing import Protocol

import numpy as np

from .ids import split_ids
from .segments import SEGMENT_VECTORS, IVFSegments

log = logging.getLogger(__name__)


class VectorIndex(Protocol):
    kind: str
    dim: int

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None: ...
    def remove_videos(self, nums: list[int]) -> None: ...
    def search(self, q: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]: ...
    def to_bytes(self) -> bytes: ...
    def write_to(self, f) -> None: ...  # the same bytes, streamed to a binary file
    def read_from(self, f) -> None: ...  # read back from a file positioned at them
    @property
    def ntotal(self) -> int: ...


def _check(vecs: np.ndarray, dim: int) -> np.ndarray:
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    if vecs.ndim != 2 or vecs.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {vecs.shape}")
    return vecs


def _rows(scores: np.ndarray, ids: np.ndarray, deleted: set[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for s, i in zip(scores, ids):
        keep = i >= 0
        if deleted:
            nums, _ = split_ids(i)
            keep &= ~np.isin(nums, list(deleted))
        out.append((s[keep].astype(np.float32), i[keep].astype(np.int64)))
    return out


def gpu_available() -> bool:
    try:
        import faiss

        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    except Exception:  # noqa: BLE001 - any failure means no GPU path
        return False


# "auto" (the default of a new database): exact search while the catalogue is small, an IVF
# index once it holds this many keyframe vectors (28 hours of video at one a second). Flat search
# grows with the catalogue: a 60-second query's 360 vectors (the keyframes and their views) took
# 12 s against a million on two cores shared with another job, the IVF 0.09 s with recall@64 0.955
# (python -m segscan.bench.scale); at a tenth of that size flat search is about a second.
AUTO_IVF_FROM = 100_000
TRAIN_PER_LIST = 64  # training vectors per inverted list (faiss warns below 39)
# an IVF index whose catalogue has grown this many times past the size its lists were made
# for is retrained (Database.flush): each list holds that many times the vectors a search scans
RETRAIN_GROWTH = 10


def nlist_for(n: int) -> int:
    """Inverted lists for a catalogue of ``n`` vectors: the power of two nearest 2 sqrt(n),
    between 16 and 65,536. Filling the index assigns every vector to its nearest list (n x
    lists products) and a search scans nprobe x n / lists vectors: at 10M keyframes, 8,192
    lists filled in 13 minutes on two shared cores and a 60-second clip searched in 0.21 s
    (python -m segscan.bench.scale)."""
    return int(min(65536, max(16, 2 ** round(np.log2(2 * np.sqrt(max(n, 1)))))))


def nprobe_for(nlist: int) -> int:
    """Lists a search probes by default: one in 256, at least 16. Chosen on train query vectors
    (python -m segscan.bench.scale): recall@64 0.955 with 16 of 2,048 lists at 1M keyframes,
    and 0.94 / 0.96 / 0.96 with 16 / 32 / 64 of 8,192 at 10M."""
    return max(16, nlist // 256)


class FaissIndex:
    """FAISS index with int64 ids. ``kind``: "flat", "ivf" (inverted lists of 8-bit scalar-
    quantised vectors: 256 bytes a 256-d vector, scores within about 1% of exact), "ivfpq"
    (inverted lists of product-quantised codes, ``pq_m`` bytes a vector) or "hnsw".

    IVF kinds: the vectors added before ``train_size`` are kept in a flat index and searched
    exactly (a quantiser trained on the first video alone would keep its handful of lists
    for good); once that many are in, the quantiser is trained on them and they move into
    it. ``train(sample, n_expected)`` trains it up front from a sample instead, so a large
    catalogue is added in blocks without ever being held whole. ``nlist`` None: chosen at
    training from the catalogue's size (:func:`nlist_for`). HNSW cannot delete, so removed
    videos are filtered at search time and dropped for good at the next rebuild.
    """

    def __init__(self, dim: int, kind: str = "flat", nlist: int | None = None, pq_m: int = 32,
                 hnsw_m: int = 32, ef_search: int = 128, nprobe: int | None = None, ef_construction: int = 200,
                 train_size: int | None = None, use_gpu: bool | None = None,
                 segment_vectors: int = SEGMENT_VECTORS):
        import faiss

        if kind not in ("flat", "ivf", "ivfpq", "hnsw"):
            raise ValueError(f"unknown faiss index kind {kind!r}")
        self.faiss = faiss
        self.kind, self.dim = kind, dim
        self.nlist, self.pq_m, self.hnsw_m = nlist, pq_m, hnsw_m
        self.ef_search, self.nprobe = ef_search, nprobe
        self.train_size = train_size or TRAIN_PER_LIST * (nlist or 1024)
        self.deleted: set[int] = set()
        self.use_gpu = gpu_available() if use_gpu is None else use_gpu
        self._gpu = None
        self.ivf = False  # an IVF kind is flat until trained
        self.segs: IVFSegments | None = None  # once trained: the IVF, as segments (0: one, unbounded)
        self.segment_vectors = segment_vectors
        self.trained_for = 0  # the catalogue size its lists were made for
        if kind != "hnsw":
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            hnsw = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            self.index = faiss.IndexIDMap2(hnsw)

    def train(self, sample: np.ndarray, n_expected: int | None = None) -> None:
        """Train the IVF on ``sample`` for a catalogue of about ``n_expected`` vectors;
        vectors already added (kept flat until now) move into it."""
        faiss = self.faiss
        sample = _check(sample, self.dim)
        self.trained_for = max(n_expected or 0, len(sample), self.ntotal)
        nlist = self.nlist or nlist_for(self.trained_for)
        nlist = max(1, min(nlist, len(sample) // 39))
        if len(sample) > TRAIN_PER_LIST * nlist:  # k-means costs sample x lists (faiss itself stops at 256 a list)
            pick = np.random.default_rng(0).choice(len(sample), TRAIN_PER_LIST * nlist, replace=False)
            sample = sample[np.sort(pick)]
        m = self.pq_m
        while self.dim % m:
            m -= 1
        # a flat coarse quantiser: an HNSW one (faster to fill) finds the nearest lists of
        # inner-product queries poorly: recall@64 0.63 at its default depth and 0.96 at sixteen
        # times it, against 0.99 for a flat one (1M distractor keyframes, train queries, nprobe 16)
        coarse = f"IVF{nlist}"
        code = f"PQ{m}np" if self.kind == "ivfpq" else "SQ8"
        index = faiss.index_factory(self.dim, f"{coarse},{code}", faiss.METRIC_INNER_PRODUCT)
        # 10 k-means iterations (faiss: 25), so a quantiser of 8k lists trains in minutes on two cores
        faiss.extract_index_ivf(index).cp.niter = 10
        index.train(sample)
        log.info("trained %s,%s on %d vectors", coarse, code, len(sample))
        old, self.index, self.ivf = self.index, None, True
        self.segs = IVFSegments(index, self.segment_vectors)
        self._gpu = None
        if old.ntotal:  # whole videos at a time, so none is split between segments
            ids = faiss.vector_to_array(old.id_map).astype(np.int64)
            nums = split_ids(ids)[0]
            starts = np.flatnonzero(np.r_[True, nums[1:] != nums[:-1]])
            for a, b in zip(starts, np.r_[starts[1:], len(ids)]):
                self.segs.add(ids[a:b], old.index.reconstruct_n(int(a), int(b - a)))

    @property
    def ntotal(self) -> int:
        return self.segs.ntotal if self.segs else int(self.index.ntotal)

    def sample_step(self, n_expected: int) -> int:
        """Train on every this-many-th vector of a catalogue of ``n_expected`` (an even sample of
        TRAIN_PER_LIST a list)."""
        return -(-n_expected // min(n_expected, TRAIN_PER_LIST * (self.nlist or nlist_for(n_expected))))

    @property
    def outgrown(self) -> bool:
        """An IVF index whose catalogue outgrew its lists (see RETRAIN_GROWTH)."""
        return self.ivf and self.ntotal >= RETRAIN_GROWTH * max(self.trained_for, 1)

    @property
    def trainable(self) -> bool:
        """An IVF kind still flat (not yet trained)."""
        return self.kind in ("ivf", "ivfpq") and not self.ivf

    def add(self, ids, vecs):
        vecs = _check(vecs, self.dim)
        if len(vecs) == 0:
            return
        if self.segs:
            self.segs.add(ids, vecs)
            return
        self.index.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu = None
        if self.trainable and self.index.ntotal >= self.train_size:
            flat = self.index.index
            self.train(flat.reconstruct_n(0, flat.ntotal))

    def remove_videos(self, nums):
        if not nums:
            return
        if self.kind == "hnsw":
            self.deleted.update(int(n) for n in nums)
            return
        if self.segs:
            self.segs.remove_videos(nums)
            return
        from .ids import KF_BITS

        for n in nums:
            lo, hi = int(n) << KF_BITS, (int(n) + 1) << KF_BITS
            self.index.remove_ids(self.faiss.IDSelectorRange(lo, hi))
        self._gpu = None

    def _searcher(self):
        if self.kind == "hnsw":
            self.faiss.downcast_index(self.index.index).hnsw.efSearch = self.ef_search
        if self.use_gpu and self.kind != "hnsw":
            if self._gpu is None:
                res = self.faiss.StandardGpuResources()
                self._gpu = self.faiss.index_cpu_to_gpu(res, 0, self.index)
            return self._gpu
        return self.index

    def search(self, q, k):
        q = _check(q, self.dim)
        if self.ntotal == 0 or len(q) == 0:
            return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in range(len(q))]
        extra = 0
        if self.deleted:  # ask for more so filtered rows still get k results most of the time
            extra = k
        if self.segs:
            s, i = self.segs.search(q, min(k + extra, self.ntotal), self.nprobe or nprobe_for(self.segs.nlist),
                                    self.use_gpu)
        else:
            s, i = self._searcher().search(q, min(k + extra, self.ntotal))
        rows = _rows(s, i, self.deleted)
        return [(s_[:k], i_[:k]) for s_, i_ in rows]

    # Persistence. One file per segment (:func:`segscan.index.indexfile.index_layout`); a
    # flat, HNSW or untrained index is one file. ``write_to``/``read_from`` carry the whole
    # index in one stream (a shard's file, ``to_bytes``): the faiss bytes of its one part, or,
    # for several segments, each one's bytes behind its length.

    @property
    def files(self) -> int:
        return len(self.segs.parts) if self.segs else 1

    @property
    def dirty(self) -> set[int]:
        """The files changed since they were last written (an unsegmented index: always its one)."""
        return self.segs.dirty if self.segs else {0}

    def write_file(self, i: int, f) -> None:
        # streamed in faiss's 1 MB blocks: serialising in memory first holds the index up to
        # three times over (faiss's growing buffer, numpy's copy, the bytes), 24 GB at 30M keyframes
        if self.segs:
            self.segs.write(i, f)
        else:
            self.faiss.write_index(self.index, self.faiss.PyCallbackIOWriter(f.write))

    def read_file(self, i: int, f) -> None:
        """Read file ``i`` (0: the index, or its first segment; later: one more segment)."""
        index = self.faiss.read_index(self.faiss.PyCallbackIOReader(f.read))
        if i == 0:
            self._loaded(index)
        else:
            self.segs.append_read(index)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.write_to(buf)
        return buf.getvalue()

    def load_bytes(self, data: bytes) -> None:
        if data:
            self.read_from(io.BytesIO(data))

    def write_to(self, f) -> None:
        if self.files == 1:
            self.write_file(0, f)
            return
        f.write(_SEGMENTS_MAGIC + struct.pack(">Q", self.files))
        for i in range(self.files):
            b = self.faiss.serialize_index(self.segs.parts[i])
            f.write(struct.pack(">Q", len(b)))
            f.write(b.tobytes())

    def read_from(self, f) -> None:
        head = f.read(len(_SEGMENTS_MAGIC))
        if head != _SEGMENTS_MAGIC:  # one faiss index: hand back the bytes peeked at
            pending = [head]

            def read(n: int) -> bytes:
                if not pending:
                    return f.read(n)
                b = pending.pop()
                if len(b) > n:
                    pending.append(b[n:])
                    return b[:n]
                return b + f.read(n - len(b))
            self.read_file(0, _Reader(read))
        else:
            (n,) = struct.unpack(">Q", f.read(8))
            for i in range(n):
                (size,) = struct.unpack(">Q", f.read(8))
                self.read_file(i, io.BytesIO(f.read(size)))
        if self.segs:  # a stream has no headers: each segment's videos from its ids
            self.segs.videos = [self.segs.videos_in(p) for p in self.segs.parts]

    def _loaded(self, index) -> None:
        self.index, self.segs, self.ivf = index, None, False
        try:
            ivf = self.faiss.extract_index_ivf(index)
        except RuntimeError:  # a flat index: an IVF kind not yet trained, or kind flat/hnsw
            ivf = None
        if ivf is not None:  # read back as its first segment
            self.index, self.ivf = None, True
            self.segs = IVFSegments(index, self.segment_vectors)
            self.segs.dirty.clear()
        self._gpu = None


class _Reader:
    """A file-like ``read`` for faiss's callback reader."""

    def __init__(self, read):
        self.read = read


_SEGMENTS_MAGIC = b"SGSCSEG1"


class HnswlibIndex:
    """hnswlib HNSW graph (inner product); deletions use hnswlib's own marks."""

    kind = "hnswlib"

    def __init__(self, dim: int, hnsw_m: int = 32, ef_construction: int = 200, ef_search: int = 128, **_):
        import hnswlib

        self.hnswlib = hnswlib
        self.dim, self.hnsw_m, self.ef_construction, self.ef_search = dim, hnsw_m, ef_construction, ef_search
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.init_index(max_elements=1024, ef_construction=ef_construction, M=hnsw_m, allow_replace_deleted=True)
        self.deleted: set[int] = set()  # ids marked deleted

    @property
    def ntotal(self) -> int:
        return int(self.index.element_count) - len(self.deleted)

    def add(self, ids, vecs):
        vecs = _check(vecs, self.dim)
        if len(vecs) == 0:
            return
        need = self.index.element_count + len(vecs)
        if need > self.index.get_max_elements():
            self.index.resize_index(max(need, 2 * self.index.get_max_elements()))
        ids = np.asarray(ids, dtype=np.int64)
        self.index.add_items(vecs, ids, replace_deleted=bool(self.deleted))
        # a replaced slot's old id is gone; the new ids are live
        self.deleted -= set(ids.tolist())
        if self.deleted:
            live = set(self.index.get_ids_list())
            self.deleted &= live

    def remove_videos(self, nums):
        nums = {int(n) for n in nums}
        if not nums:
            return
        ids = np.asarray(self.index.get_ids_list(), dtype=np.int64)
        vnums, _ = split_ids(ids)
        for i in ids[np.isin(vnums, list(nums))]:
            if int(i) not in self.deleted:
                self.index.mark_deleted(int(i))
                self.deleted.add(int(i))

    def search(self, q, k):
        q = _check(q, self.dim)
        n = self.ntotal
        if n == 0 or len(q) == 0:
            return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in range(len(q))]
        k = min(k, n)
        self.index.set_ef(max(self.ef_search, k))
        labels, dist = self.index.knn_query(q, k=k)
        return _rows(1.0 - dist, labels.astype(np.int64), set())

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.write_to(buf)
        return buf.getvalue()

    def load_bytes(self, data: bytes) -> None:
        if data:
            self.read_from(io.BytesIO(data))

    def write_to(self, f) -> None:
        # hnswlib saves only to a path: through a temporary file, copied in blocks
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "h.bin")
            self.index.save_index(p)
            with open(p, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)

    def read_from(self, f) -> None:
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "h.bin")
            with open(p, "wb") as dst:
                shutil.copyfileobj(f, dst, 1 << 20)
            if os.path.getsize(p) == 0:
                return
            self.index = self.hnswlib.Index(space="ip", dim=self.dim)
            self.index.load_index(p, allow_replace_deleted=True)

BACKENDS = ("auto", "flat", "ivf", "ivfpq", "hnsw", "hnswlib")


def make_index(kind: str, dim: int, **params):
    """A backend of ``kind``; "sharded" takes ``shards`` and ``inner`` (the shards' kind) too."""
    if kind == "sharded":
        from .shards import ShardedIndex

        return ShardedIndex(dim, **params)
    if kind == "hnswlib":
        return HnswlibIndex(dim, **params)
    if kind == "auto":  # flat, then IVF with lists for its size once the catalogue is large
        return FaissIndex(dim, kind="ivf", **{"train_size": AUTO_IVF_FROM, **params})
    if kind in ("flat", "ivf", "ivfpq", "hnsw"):
        return FaissIndex(dim, kind=kind, **params)
    raise ValueError(f"unknown index backend {kind!r}; choose from {BACKENDS}")


def index_state(index) -> dict:
    """What a backend keeps beside its serialised bytes (deletion marks; an IVF's trained size
    and the name of its training, which its other segment files must carry)."""
    state = {"deleted": sorted(int(x) for x in index.deleted), "trained_for": getattr(index, "trained_for", 0)}
    if getattr(index, "segs", None):
        state["trained"] = index.segs.token
    return state


def set_index_state(index, state: dict) -> None:
    index.deleted = {int(x) for x in state.get("deleted", [])}
    if hasattr(index, "trained_for"):
        index.trained_for = int(state.get("trained_for", 0)) or index.ntotal  # files made before it: as is
    if getattr(index, "segs", None) and state.get("trained"):
        index.segs.token = state["trained"]
