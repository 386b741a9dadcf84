"""The query pipeline as a plain function: clip -> ranked reference videos with segments."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..align import make_aligner
from ..index.simmap import dense_map, group_neighbours, sparse_map, top_candidates
from ..index.store import Database
from ..types import Match, SimilarityMap, VideoFeatures
from .extract import VideoEncoder

log = logging.getLogger(__name__)


@dataclass
class QueryConfig:
    topn: int = 64  # neighbours per query keyframe
    candidates: int = 100  # M: candidate videos kept after pre-scoring
    topk: int = 100  # videos returned
    aligner: str = "tn"
    aligner_params: dict = field(default_factory=dict)
    map_mode: str = "sparse"  # "sparse" (neighbours only) or "dense" (all keyframe pairs)
    min_score: float = 0.0  # drop results scoring below this


@dataclass
class QueryResult:
    query: str
    duration: float
    matches: list[Match]
    timings: dict

    def to_json(self) -> dict:
        return {"query": self.query, "duration": round(float(self.duration), 3),
                "results": [m.to_json() for m in self.matches],
                "timings": {k: round(v, 4) for k, v in self.timings.items()}}


def build_maps(db: Database, q: VideoFeatures, cfg: QueryConfig) -> tuple[list, list[SimilarityMap]]:
    """Search the index and assemble the similarity maps of the best candidates."""
    neigh = db.search(q.global_feats, cfg.topn)
    cands = top_candidates(group_neighbours(neigh, len(q)), cfg.candidates)
    maps = []
    for c in cands:
        rec = db.video_by_num(c.num)
        r_times = np.asarray(rec.times)
        if cfg.map_mode == "dense":
            maps.append(dense_map(q.global_feats, db.features_by_num(c.num).global_feats, q.times, r_times))
        else:
            maps.append(sparse_map(c, q.times, r_times))
    return cands, maps


def search_features(db: Database, q: VideoFeatures, cfg: QueryConfig, aligner=None,
                    query_name: str = "") -> QueryResult:
    """Query with precomputed features (the benchmark and services use this directly)."""
    aligner = aligner or make_aligner(cfg.aligner, **cfg.aligner_params)
    t0 = time.perf_counter()
    cands, maps = build_maps(db, q, cfg)
    t1 = time.perf_counter()
    segs = aligner.align(maps) if maps else []
    t2 = time.perf_counter()
    matches = []
    for c, s in zip(cands, segs):
        if not s:
            continue
        rec = db.video_by_num(c.num)
        score = max(x.score for x in s)
        if score < cfg.min_score:
            continue
        matches.append(Match(rec.video_id, rec.path, score, sorted(s, key=lambda x: x.q_start), c.prescore))
    matches.sort(key=lambda m: (-m.score, -m.prescore))
    return QueryResult(query_name, q.duration, matches[: cfg.topk],
                       {"search": t1 - t0, "align": t2 - t1})


def query_video(db: Database, encoder: VideoEncoder, path: str, cfg: QueryConfig, aligner=None) -> QueryResult:
    t0 = time.perf_counter()
    enc = encoder(path)
    t1 = time.perf_counter()
    res = search_features(db, enc.features, cfg, aligner, query_name=str(path))
    res.timings = {"features": t1 - t0, **res.timings, "total": time.perf_counter() - t0}
    return res
