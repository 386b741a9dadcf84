"""The query pipeline as a plain function: clip -> ranked reference videos with segments."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..align import make_aligner
from ..align.base import refine_segments
from ..index.simmap import chamfer_similarity, dense_map, group_neighbours, median_step, sparse_map, top_candidates
from ..index.store import Database
from ..types import Match, SimilarityMap, VideoFeatures

if TYPE_CHECKING:
    from .extract import VideoEncoder

log = logging.getLogger(__name__)


@dataclass
class QueryConfig:
    topn: int = 64  # neighbours per query keyframe
    # M: candidate videos kept after pre-scoring and aligned. 20, not 100: without distractors the two
    # score alike on the benchmark, with a million distractor keyframes indexed the 80 extra candidates
    # (nearly all distractors) cost the default 8 F1 points in false segments (docs/BENCHMARKS.md)
    candidates: int = 20
    topk: int = 100  # videos returned
    aligner: str = "spd"
    aligner_params: dict = field(default_factory=dict)
    # "sparse" (index neighbours only), "dense" (all keyframe pairs, global vectors), "regions"
    # (all keyframe pairs, Chamfer similarity of region vectors, background-normalised per row: the
    # rerank stage) or "auto": the maps the aligner was trained on (SPD's model card says), else "regions"
    map_mode: str = "auto"
    # two thresholds on segment scores, in the aligner's units: below ``min_score`` a segment is not
    # listed (nor a video left without any); a video whose best segment reaches ``threshold`` is
    # declared a copy (Match.copy). None = the aligner's own (``list_floor``, ``copy_threshold``):
    # for TN 0.2 and the segment-F1-best threshold on the benchmark's train split; the floor is lower
    # so that the ranked list still shows weaker matches (heavily edited copies often score between)
    min_score: float | None = None
    threshold: float | None = None
    flip: bool = True  # also search with the mirrored query keyframes (copies are often flipped)
    # similarity normalisation: subtract from each query keyframe's similarities the mean of its
    # neighbours ranked bg_ranks[0]..bg_ranks[1] (what an unrelated keyframe scores in this index),
    # so thresholds mean the same with 1 thousand or 1 million keyframes indexed; None = off
    bg_ranks: tuple[int, int] | None = (32, 64)
    # region maps: each row's background is this quantile of its similarities to all candidates'
    # keyframes (region_maps); the median is what the shipped TN thresholds were chosen for
    region_bg_quantile: float = 0.5
    # re-place each kept 1x-speed segment on its best time offset (to a fraction of a keyframe) from the
    # double-centred region similarity of the two videos (align.base.refine_offset), join pieces that
    # then lie on one diagonal, and run a segment that stops within edge_rows keyframes of the clip's
    # start or end on to it (align.base.refine_segments); a segment of at least wide_rows query
    # keyframes is also tried at every offset of the reference (0: off); with centre, ends inside the
    # clip are placed halfway between the last keyframe that matches and the next (centre_ends);
    # with grow > 0 a segment is first extended over the keyframes next to its ends that match at
    # least grow x its median on its diagonal (grow_ends); a segment that then covers fewer than
    # min_keyframes query keyframes is dropped: one keyframe alike (two black frames, a title card)
    # is no evidence of a copied segment
    refine: bool = True
    edge_rows: int = 1
    wide_rows: int = 8
    centre: bool = True
    grow: float = 0.7
    min_keyframes: int = 2

    def refined(self, segs: list, values: np.ndarray, m: SimilarityMap) -> list:
        """One map's segments through the refinement with these settings (``values``: the dense
        region similarity of the two videos; align.base.refine_segments)."""
        return refine_segments(segs, values, m.q_times, m.r_times, edge_rows=self.edge_rows,
                               wide_rows=self.wide_rows, centre=self.centre, grow=self.grow,
                               min_rows=self.min_keyframes)


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


def _merge_rows(a, b):
    """Per query keyframe, the union of two neighbour lists (original and mirrored query)."""
    return [tuple(np.concatenate([x, y]) for x, y in zip(ra, rb)) for ra, rb in zip(a, b)]


def _normalise(rows, ranks: tuple[int, int], k: int):
    """Subtract each row's background (mean score at ranks [lo, hi)) and keep its top k.

    Returns the normalised rows and the (Q,) backgrounds, so dense maps can use the same ones.
    """
    lo, hi = ranks
    out, bgs = [], []
    for s, n, kf in rows:
        order = np.argsort(-s, kind="stable")
        s, n, kf = s[order], n[order], kf[order]
        bg = float(s[lo:hi].mean()) if len(s) > lo else 0.0
        out.append((s[:k] - bg, n[:k], kf[:k]))
        bgs.append(bg)
    return out, np.array(bgs, dtype=np.float32)


def region_similarity(db: Database, num: int, q: VideoFeatures, q_flipped: VideoFeatures | None = None):
    """(Q, R) Chamfer similarity of the query's keyframes with video ``num``'s, the better of plain and mirrored.

    A video stored without region vectors is compared through its global vectors.
    """
    f = db.features_by_num(num)
    ref = f.region_feats if f.region_feats is not None else f.global_feats[:, None, :]
    s = chamfer_similarity(q.region_feats, ref)
    if q_flipped is not None and q_flipped.region_feats is not None:
        s = np.maximum(s, chamfer_similarity(q_flipped.region_feats, ref))
    return s


def region_maps(db: Database, cands, q: VideoFeatures, q_flipped: VideoFeatures | None = None,
                normalise: bool = True, bg_quantile: float = 0.5) -> list[SimilarityMap]:
    """Region-level dense maps of the candidates (the rerank stage's frame-to-frame similarity).

    Each cell is the Chamfer similarity of the two keyframes' region vectors, the higher
    of the plain and the mirrored query's. With ``normalise`` each row has the
    ``bg_quantile`` quantile of its similarities to all candidates' keyframes subtracted
    (the median by default: what an unrelated keyframe of a similar-looking video scores),
    so that a threshold means the same for every query keyframe (the 0.9 quantile was
    measured too: no better with a million distractor keyframes, worse without; docs/BENCHMARKS.md).
    A candidate stored without region vectors falls back to its global vectors.
    """
    if q.region_feats is None:
        raise ValueError("region maps need the query's region features (EncoderConfig.keep_regions)")
    blocks = [(region_similarity(db, c.num, q, q_flipped), np.asarray(db.video_by_num(c.num).times))
              for c in cands]
    if normalise and blocks:
        bg = np.quantile(np.concatenate([b for b, _ in blocks], axis=1), bg_quantile, axis=1, keepdims=True)
        blocks = [(b - bg, t) for b, t in blocks]
    return [SimilarityMap(b, q.times, t, None, median_step(q.times), median_step(t)) for b, t in blocks]


def resolve_thresholds(cfg: QueryConfig, aligner=None) -> tuple[float, float]:
    """(listing floor, copy threshold) of a query: the config's, else the aligner's own."""
    floor = cfg.min_score if cfg.min_score is not None else float(getattr(aligner, "list_floor", 0.0))
    thr = cfg.threshold if cfg.threshold is not None else float(getattr(aligner, "copy_threshold", floor))
    return floor, thr


def resolve_map_mode(cfg: QueryConfig, aligner=None) -> str:
    """The map kind a query builds: ``cfg.map_mode``, or for "auto" the aligner's own (else "regions")."""
    if cfg.map_mode != "auto":
        return cfg.map_mode
    return getattr(aligner, "maps", None) or "regions"


def build_maps(db: Database, q: VideoFeatures, cfg: QueryConfig,
               q_flipped: VideoFeatures | None = None, exclude=()) -> tuple[list, list[SimilarityMap]]:
    """Search the index and assemble the similarity maps of the best candidates.

    With ``q_flipped`` (the mirrored keyframes' features) both are searched and each map
    cell keeps the higher of the two similarities. Videos numbered in ``exclude`` are not
    candidates (a query that is itself in the catalogue is not its own copy, nor part of
    the background its region maps are normalised by).
    """
    k = max(cfg.topn, cfg.bg_ranks[1]) if cfg.bg_ranks else cfg.topn
    neigh = db.search(q.global_feats, k)
    if q_flipped is not None:
        neigh = _merge_rows(neigh, db.search(q_flipped.global_feats, k))
    bgs = None
    if cfg.bg_ranks:
        neigh, bgs = _normalise(neigh, cfg.bg_ranks, cfg.topn * (2 if q_flipped is not None else 1))
    grouped = group_neighbours(neigh, len(q))
    for num in exclude:
        grouped.pop(num, None)
    cands = top_candidates(grouped, cfg.candidates)
    mode = resolve_map_mode(cfg)
    if mode == "regions":
        return cands, region_maps(db, cands, q, q_flipped, normalise=cfg.bg_ranks is not None,
                                  bg_quantile=cfg.region_bg_quantile)
    maps = []
    for c in cands:
        rec = db.video_by_num(c.num)
        r_times = np.asarray(rec.times)
        if mode == "dense":
            ref = db.features_by_num(c.num).global_feats
            m = dense_map(q.global_feats, ref, q.times, r_times)
            if q_flipped is not None:
                m.values = np.maximum(m.values, dense_map(q_flipped.global_feats, ref, q.times, r_times).values)
            if bgs is not None:
                m.values -= bgs[:, None]
            maps.append(m)
        else:
            maps.append(sparse_map(c, q.times, r_times))
    return cands, maps


def search_features(db: Database, q: VideoFeatures, cfg: QueryConfig, aligner=None,
                    query_name: str = "", q_flipped: VideoFeatures | None = None) -> QueryResult:
    """Query with precomputed features (the benchmark and services use this directly)."""
    aligner = aligner or make_aligner(cfg.aligner, **cfg.aligner_params)
    t0 = time.perf_counter()
    floor, thr = resolve_thresholds(cfg, aligner)
    cfg = replace(cfg, map_mode=resolve_map_mode(cfg, aligner), min_score=floor, threshold=thr)
    flipped = q_flipped if cfg.flip else None
    cands, maps = build_maps(db, q, cfg, flipped)
    t1 = time.perf_counter()
    segs = aligner.align(maps) if maps else []
    t2 = time.perf_counter()
    matches = []
    for c, m, s in zip(cands, maps, segs):
        s = [x for x in s if x.score >= cfg.min_score]
        if not s:
            continue
        rec = db.video_by_num(c.num)
        if cfg.refine and q.region_feats is not None:
            dense = m.values if cfg.map_mode == "regions" else region_similarity(db, c.num, q, flipped)
            s = cfg.refined(s, dense, m)
            if not s:
                continue
        score = max(x.score for x in s)
        matches.append(Match(rec.video_id, rec.path, score, sorted(s, key=lambda x: x.q_start), c.prescore,
                             copy=score >= cfg.threshold))
    matches.sort(key=lambda m: (-m.score, -m.prescore))
    return QueryResult(query_name, q.duration, matches[: cfg.topk],
                       {"search": t1 - t0, "align": t2 - t1, "refine": time.perf_counter() - t2})


def query_video(db: Database, encoder: "VideoEncoder", path: str, cfg: QueryConfig, aligner=None) -> QueryResult:
    t0 = time.perf_counter()
    enc = encoder(path, flip=cfg.flip)
    t1 = time.perf_counter()
    res = search_features(db, enc.features, cfg, aligner, query_name=str(path), q_flipped=enc.flipped)
    res.timings = {"features": t1 - t0, **res.timings, "total": time.perf_counter() - t0}
    return res
