"""The query path as one function: a clip (or its features) and a database -> ranked results."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..align import make_aligner
from ..pipeline.views import pick
from ..types import Match, SimilarityMap, VideoFeatures
from .config import QueryConfig, resolve
from .maps import build_maps
from .rank import rank

if TYPE_CHECKING:
    from ..pipeline.extract import VideoEncoder


@dataclass
class QueryResult:
    query: str
    duration: float
    matches: list[Match]
    timings: dict
    # each match's similarity map by video id, for explanations (not part of the JSON)
    maps: dict[str, SimilarityMap] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"query": self.query, "duration": round(float(self.duration), 3),
                "results": [m.to_json() for m in self.matches],
                "timings": {k: round(v, 4) for k, v in self.timings.items()}}


def search_features(db, q: VideoFeatures, cfg: QueryConfig, aligner=None, query_name: str = "",
                    views: dict[str, VideoFeatures] | None = None, exclude=()) -> QueryResult:
    """Query with precomputed features: search, maps, alignment, refinement, decisions.

    ``views``: the clip's view features by name (``EncodedVideo.views``); ``cfg.views`` says
    which are used."""
    aligner = aligner or make_aligner(cfg.aligner, **cfg.aligner_params)
    s = resolve(cfg, aligner)
    t0 = time.perf_counter()
    cands = build_maps(db, q, s, pick(views or {}, cfg.views), exclude=exclude)
    t1 = time.perf_counter()
    matches = rank(cands, aligner, s)
    found = {m.video_id for m in matches}
    maps = {c.video_id: c.map for c in cands if c.video_id in found}
    return QueryResult(query_name, q.duration, matches, {"search": t1 - t0, "align": time.perf_counter() - t1}, maps)


def query_video(db, encoder: "VideoEncoder", path: str, cfg: QueryConfig, aligner=None) -> QueryResult:
    """Query with a clip: decode, keyframes, features (the clip's and its views'), then ``search_features``."""
    t0 = time.perf_counter()
    enc = encoder(path, views=cfg.views, query=True)
    t1 = time.perf_counter()
    res = search_features(db, enc.features, cfg, aligner, query_name=str(path), views=enc.views)
    res.timings = {"features": t1 - t0, **res.timings, "total": time.perf_counter() - t0}
    return res
