"""Vector-index backends behind one interface: FAISS Flat / IVF-PQ / HNSW, and hnswlib.

All use inner product on l2-normalised vectors (cosine similarity), return
``(scores, ids)`` with the ``-1`` padding FAISS uses for missing results already
dropped per row, support removing a video's ids, and serialise to bytes so the
database can write them atomically. FAISS indexes move to the GPU when faiss-gpu
and a CUDA device are present.
"""
from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from .ids import split_ids

log = logging.getLogger(__name__)


class VectorIndex(Protocol):
    kind: str
    dim: int

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None: ...
    def remove_videos(self, nums: list[int]) -> None: ...
    def search(self, q: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]: ...
    def to_bytes(self) -> bytes: ...
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


class FaissIndex:
    """FAISS index with int64 ids. ``kind``: "flat", "ivfpq" or "hnsw".

    IVF-PQ trains on the first vectors added (nlist shrinks when there are fewer than
    39 training vectors per list); HNSW cannot delete, so removed videos are filtered
    at search time and dropped for good at the next rebuild.
    """

    def __init__(self, dim: int, kind: str = "flat", nlist: int = 1024, pq_m: int = 32,
                 hnsw_m: int = 32, ef_search: int = 128, nprobe: int = 16, ef_construction: int = 200,
                 use_gpu: bool | None = None):
        import faiss

        if kind not in ("flat", "ivfpq", "hnsw"):
            raise ValueError(f"unknown faiss index kind {kind!r}")
        self.faiss = faiss
        self.kind, self.dim = kind, dim
        self.nlist, self.pq_m, self.hnsw_m = nlist, pq_m, hnsw_m
        self.ef_search, self.nprobe = ef_search, nprobe
        self.deleted: set[int] = set()
        self.use_gpu = gpu_available() if use_gpu is None else use_gpu
        self._gpu = None
        self.index = None
        if kind == "flat":
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            self.index = faiss.IndexIDMap2(hnsw)

    def _make_ivfpq(self, train: np.ndarray):
        faiss = self.faiss
        nlist = max(1, min(self.nlist, len(train) // 39))
        m = self.pq_m
        while self.dim % m:
            m -= 1
        index = faiss.index_factory(self.dim, f"IVF{nlist},PQ{m}np", faiss.METRIC_INNER_PRODUCT)
        index.train(train)
        self.index = index
        log.info("trained IVF%d,PQ%d on %d vectors", nlist, m, len(train))

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def add(self, ids, vecs):
        vecs = _check(vecs, self.dim)
        if len(vecs) == 0:
            return
        if self.index is None:
            self._make_ivfpq(vecs)
        self.index.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu = None

    def remove_videos(self, nums):
        if self.index is None or not nums:
            return
        if self.kind == "hnsw":
            self.deleted.update(int(n) for n in nums)
            return
        from .ids import KF_BITS

        for n in nums:
            lo, hi = int(n) << KF_BITS, (int(n) + 1) << KF_BITS
            self.index.remove_ids(self.faiss.IDSelectorRange(lo, hi))
        self._gpu = None

    def _searcher(self):
        if self.kind == "hnsw":
            self.faiss.downcast_index(self.index.index).hnsw.efSearch = self.ef_search
        if self.kind == "ivfpq":
            self.index.nprobe = self.nprobe
        if self.use_gpu and self.kind != "hnsw":
            if self._gpu is None:
                res = self.faiss.StandardGpuResources()
                self._gpu = self.faiss.index_cpu_to_gpu(res, 0, self.index)
            return self._gpu
        return self.index

    def search(self, q, k):
        q = _check(q, self.dim)
        if self.index is None or self.ntotal == 0 or len(q) == 0:
            return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in range(len(q))]
        extra = 0
        if self.deleted:  # ask for more so filtered rows still get k results most of the time
            extra = k
        s, i = self._searcher().search(q, min(k + extra, self.ntotal))
        rows = _rows(s, i, self.deleted)
        return [(s_[:k], i_[:k]) for s_, i_ in rows]

    def to_bytes(self) -> bytes:
        if self.index is None:
            return b""
        return self.faiss.serialize_index(self.index).tobytes()

    def load_bytes(self, data: bytes) -> None:
        if data:
            self.index = self.faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        self._gpu = None


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
        import os
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "h.bin")
            self.index.save_index(p)
            with open(p, "rb") as f:
                return f.read()

    def load_bytes(self, data: bytes) -> None:
        import os
        import tempfile

        if not data:
            return
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "h.bin")
            with open(p, "wb") as f:
                f.write(data)
            self.index = self.hnswlib.Index(space="ip", dim=self.dim)
            self.index.load_index(p, allow_replace_deleted=True)


BACKENDS = ("flat", "ivfpq", "hnsw", "hnswlib")


def make_index(kind: str, dim: int, **params):
    """A backend of ``kind``; "sharded" takes ``shards`` and ``inner`` (the shards' kind) too."""
    if kind == "sharded":
        from .shards import ShardedIndex

        return ShardedIndex(dim, **params)
    if kind == "hnswlib":
        return HnswlibIndex(dim, **params)
    if kind in ("flat", "ivfpq", "hnsw"):
        return FaissIndex(dim, kind=kind, **params)
    raise ValueError(f"unknown index backend {kind!r}; choose from {BACKENDS}")


def index_state(index) -> dict:
    """What a backend keeps beside its serialised bytes (deletion marks)."""
    return {"deleted": sorted(int(x) for x in index.deleted)}


def set_index_state(index, state: dict) -> None:
    index.deleted = {int(x) for x in state.get("deleted", [])}
