"""Serve a sharded database's index from Ray actors, one actor a shard; the driver merges.

    from segscan.services.shard_pool import serve_shards
    with Database.open(db_dir, readonly=True, load_index=False) as db:
        actors = serve_shards(db)        # the index's searches now fan out to the actors
        results = search_features(db, feats)

Each actor reads its shard's file from the database folder (storage every node of the
cluster sees) and the driver opens the database without its index, so the index as a whole
never has to fit one process; the driver sends the
query vectors to every shard and merges their top k (:func:`segscan.index.shards.merge_rows`),
which gives what one index over the same vectors gives. The actors serve the shard files as
they were when started: after an ingest, reopen the database and serve it again.
"""
from __future__ import annotations

from pathlib import Path

from .ray_pool import ensure_ray


class ShardServer:
    """One shard of an index, loaded from its file and searched on request."""

    def __init__(self, path: str, fields: dict, dim: int, params: dict):
        from ..index.indexfile import load_index_file
        from ..index.vectors import make_index

        self.index = make_index(fields["kind"], dim, **params)
        self.covered = load_index_file(Path(path), self.index, fields, dim)
        if self.covered is None:
            raise FileNotFoundError(f"no index shard {fields.get('shard')} at {path}: flush the database first")

    def search(self, q, k: int):
        return self.index.search(q, k)

    def videos(self) -> list[int]:
        """The video numbers this shard's file covers."""
        return self.covered


def serve_shards(db, cpus_per_shard: float = 0.5) -> list:
    """Start one actor per shard of ``db``'s sharded index and route its searches to them;
    returns the actors (they live as long as the Ray session, or until killed)."""
    from ..index.indexfile import index_layout

    index = db.index
    if getattr(index, "kind", None) != "sharded":
        raise ValueError(f"{db.root} has a {db.meta['index']['kind']} index, not a sharded one "
                         "(rebuild it with: python videos.py rebuild --shards N)")
    ray = ensure_ray()
    actor = ray.remote(num_cpus=cpus_per_shard)(ShardServer)
    actors = [actor.remote(str(path), fields, index.dim, index.params)
              for path, _, fields in index_layout(db.root, index, "sharded")]
    served = set().union(*ray.get([a.videos.remote() for a in actors]))
    stored = set(db._num_to_id)
    if served != stored:  # the files are not what the store holds (an unsaved change)
        for a in actors:
            ray.kill(a)
        raise RuntimeError(f"the shard files cover {len(served)} videos, the store holds {len(stored)}: flush first")

    def search(q, k):
        return ray.get([a.search.remote(q, k) for a in actors])

    index.searcher = search
    return actors
