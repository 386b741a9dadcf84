"""Candidates and their similarity maps: the index search, pre-scoring, and map assembly.

Every query keyframe's top-N neighbours in the index are grouped by video; the best
pre-scored videos are the candidates, and each gets a map (query keyframes x its keyframes):
sparse (the neighbours only), dense (global vectors) or region-level (ViSiL's Chamfer
similarity of the 3x3 region vectors, each row's background subtracted).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..index.simmap import (GRID_STEP, chamfer_similarity, dense_map, group_neighbours, median_step, needs_grid,
                            sparse_map, time_grid, top_candidates)
from ..types import CandidateMap, SimilarityMap, VideoFeatures
from .config import Settings


def _merge_rows(a, b):
    """Per query keyframe, the union of two neighbour lists (the query's and a view's)."""
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


def region_vectors(f: VideoFeatures) -> np.ndarray:
    """(R, B, D) region vectors of a stored video; one stored without them stands for each
    keyframe by its global vector (B = 1)."""
    return f.region_feats if f.region_feats is not None else f.global_feats[:, None, :]


def region_similarity(f: VideoFeatures, q: VideoFeatures, views=()):
    """(Q, R) Chamfer similarity of the query's keyframes with a reference's, the best of the
    query and its ``views`` (the mirrored query, crops: :mod:`segscan.pipeline.views`).

    A video stored without region vectors is compared through its global vectors.
    """
    ref = region_vectors(f)
    s = chamfer_similarity(q.region_feats, ref)
    for v in views:
        if v.region_feats is not None:
            s = np.maximum(s, chamfer_similarity(v.region_feats, ref))
    return s


def region_maps(refs: list[VideoFeatures], q: VideoFeatures, views=(),
                normalise: bool = True, bg_quantile: float = 0.5) -> list[SimilarityMap]:
    """Region-level dense maps of the candidates' features ``refs`` (the rerank stage's frame-to-frame similarity).

    Each cell is the Chamfer similarity of the two keyframes' region vectors, the best of
    the query's and its views'. With ``normalise`` each row has the
    ``bg_quantile`` quantile of its similarities to all candidates' keyframes subtracted
    (the median by default: what an unrelated keyframe of a similar-looking video scores),
    so that a threshold means the same for every query keyframe.
    A candidate stored without region vectors falls back to its global vectors.
    """
    if q.region_feats is None:
        raise ValueError("region maps need the query's region features (EncoderConfig.keep_regions)")
    blocks = [(region_similarity(f, q, views), f.times) for f in refs]
    if normalise and blocks:
        bg = np.quantile(np.concatenate([b for b, _ in blocks], axis=1), bg_quantile, axis=1, keepdims=True)
        blocks = [(b - bg, t) for b, t in blocks]
    return [SimilarityMap(b, q.times, t, None, median_step(q.times), median_step(t)) for b, t in blocks]


def _candidates(db, q: VideoFeatures, s: Settings, views, exclude):
    """The index search: (the best pre-scored candidates, each query keyframe's background)."""
    cfg = s.config
    k = max(cfg.topn, cfg.bg_ranks[1]) if cfg.bg_ranks else cfg.topn
    neigh = db.search(q.global_feats, k)
    for v in views:
        neigh = _merge_rows(neigh, db.search(v.global_feats, k))
    bgs = None
    if cfg.bg_ranks:
        neigh, bgs = _normalise(neigh, cfg.bg_ranks, cfg.topn * (1 + len(views)))
    grouped = group_neighbours(neigh, len(q))
    for num in exclude:
        grouped.pop(num, None)
    return top_candidates(grouped, cfg.candidates), bgs


def build_maps(db, q: VideoFeatures, s: Settings, views=(), exclude=()) -> list[CandidateMap]:
    """Search the index and assemble the candidates' maps, with what refining their segments needs.

    With ``views`` (features of query-side views of the same keyframes: the mirror, crops)
    each is searched too and each map cell keeps the best view's similarity. Videos numbered in ``exclude`` are not
    candidates (a query that is itself in the catalogue is not its own copy, nor part of
    the background its region maps are normalised by).
    """
    views = list(views)
    cands, bgs = _candidates(db, q, s, views, exclude)
    refs = [db.features_by_num(c.num) for c in cands]
    if s.map_mode == "regions":
        maps = region_maps(refs, q, views, normalise=s.config.bg_ranks is not None,
                           bg_quantile=s.config.region_bg_quantile)
    else:
        maps = []
        for c, f in zip(cands, refs):
            r_times, ref = f.times, f.global_feats
            if s.map_mode == "sparse":
                maps.append(sparse_map(c, q.times, r_times))
                continue
            m = dense_map(q.global_feats, ref, q.times, r_times)
            for v in views:
                m.values = np.maximum(m.values, dense_map(v.global_feats, ref, q.times, r_times).values)
            if bgs is not None:
                m.values -= bgs[:, None]
            maps.append(m)
    sims, planes = _compared(db, q, views, refs, s.comparator)
    out = []
    for c, f, m, sim, pl in zip(cands, refs, maps, sims, planes):
        m = m if pl is None else replace(m, planes=pl)
        rec = db.video_by_num(c.num)
        if q.region_feats is None:
            dense = None
        elif s.map_mode == "regions":
            dense = m.values  # the map is the region similarity
        else:
            dense = region_similarity(f, q, views)
        out.append(CandidateMap(rec.video_id, rec.path, c.prescore, m, dense, f.global_feats, q.global_feats,
                                durations=(q.duration, rec.duration), similarity=sim))
    return [on_time_grid(c) for c in out] if needs_grid(db.feature_config) else out


def on_time_grid(c: CandidateMap) -> CandidateMap:
    """The candidate with its catalogue video's keyframes resampled on the one-second map grid
    (:func:`segscan.index.simmap.time_grid`): each column the keyframe nearest to its
    second's start. The rows need none: a query's keyframes are one a second
    (:func:`segscan.pipeline.extract.query_config`)."""
    m = c.map
    rt, nearest = time_grid(m.r_times)
    grid = SimilarityMap(m.values[:, nearest], m.q_times, rt, None if m.mask is None else m.mask[:, nearest],
                         m.q_step, GRID_STEP, None if m.planes is None else m.planes[:, :, nearest])
    return replace(c, map=grid, dense=None if c.dense is None else c.dense[:, nearest],
                   ref_global=None if c.ref_global is None else c.ref_global[nearest])


def _compared(db, q: VideoFeatures, views, refs: list[VideoFeatures], name: str | None) -> tuple[list, list]:
    """The comparator's similarity of the query with each candidate, and its (2, Q, R) planes
    (:func:`segscan.compare.visil.planes`); None each without a comparator."""
    if not name:
        return [None] * len(refs), [None] * len(refs)
    if q.region_feats is None:
        raise ValueError(f"the {name} comparator needs the query's region features (EncoderConfig.keep_regions)")
    from ..compare import get_comparator

    comp = get_comparator(name, db.feature_config.get("backbone", ""))
    query = [q.region_feats] + [v.region_feats for v in views if v.region_feats is not None]
    sims, planes = comp.compare(query, [region_vectors(f) for f in refs])
    return [float(x) for x in sims], planes
