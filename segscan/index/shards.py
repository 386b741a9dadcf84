"""A vector index split into shards: each video's vectors live in one shard, a search asks
every shard for its top k and merges them.

Sharding is how a catalogue outgrows one index: each shard is saved to a file of its own,
so an ingest rewrites only the shards it added to, and the shards of one database can be
served by several processes or machines (:mod:`segscan.services.shard_pool`, Ray actors)
while the driver merges. The merge is exact: the global top k of a query is among the
union of the shards' top k, so a sharded index returns what one index over the same
vectors returns (to ties in score).
"""
from __future__ import annotations

import numpy as np

from .ids import split_ids

Rows = list[tuple[np.ndarray, np.ndarray]]  # per query row: (scores, ids), best first


def shard_of(nums: np.ndarray, shards: int) -> np.ndarray:
    """The shard of each video number (a video's vectors are never split)."""
    return np.asarray(nums, dtype=np.int64) % shards


def merge_rows(parts: list[Rows], k: int) -> Rows:
    """Merge the shards' per-row results into the top ``k`` of each row, best first."""
    out = []
    for row in zip(*parts):
        s = np.concatenate([r[0] for r in row])
        i = np.concatenate([r[1] for r in row])
        # best score first; among equal scores the smaller id, so the order does not depend on the shards
        order = np.lexsort((i, -s))[:k]
        out.append((s[order].astype(np.float32), i[order].astype(np.int64)))
    return out


class ShardedIndex:
    """``shards`` indexes of one backend kind (``inner``) behind the one-index interface.

    ``dirty`` names the shards changed since they were last saved, so the database rewrites
    only those. ``searcher`` (optional) runs the per-shard searches elsewhere, e.g. on Ray
    actors; by default the shards are searched here, one after another.
    """

    kind = "sharded"

    def __init__(self, dim: int, shards: int = 4, inner: str = "flat", **params):
        from .vectors import make_index

        if shards < 1:
            raise ValueError(f"a sharded index needs at least one shard, got {shards}")
        if inner == self.kind:
            raise ValueError("shards cannot themselves be sharded")
        self.dim, self.inner, self.params = dim, inner, params
        self.parts = [make_index(inner, dim, **params) for _ in range(shards)]
        self.dirty: set[int] = set(range(shards))
        self.searcher = None

    @property
    def ntotal(self) -> int:
        return sum(p.ntotal for p in self.parts)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        where = shard_of(split_ids(ids)[0], len(self.parts))
        for s in np.unique(where):
            m = where == s
            self.parts[s].add(ids[m], np.asarray(vecs)[m])
            self.dirty.add(int(s))

    def remove_videos(self, nums) -> None:
        n = len(self.parts)
        nums = [int(x) for x in nums]
        for s in {x % n for x in nums}:
            self.parts[s].remove_videos([x for x in nums if x % n == s])
            self.dirty.add(s)

    def search(self, q: np.ndarray, k: int) -> Rows:
        if self.searcher is not None:
            parts = self.searcher(q, k)
        else:
            parts = [p.search(q, k) for p in self.parts]
        return merge_rows(parts, k)

