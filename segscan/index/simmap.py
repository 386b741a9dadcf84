"""Similarity-map assembly: from per-keyframe neighbour lists to per-video maps.

For every query keyframe the index returns its top-N neighbours (video number,
keyframe index, similarity). Grouped by video, these give one sparse map per
candidate (rows query keyframes, columns that video's keyframes); candidates are
pre-scored by how many query rows they explain and how well, and the best M kept.
A dense map (all query x all reference keyframes, from stored features) can replace
the sparse one for the kept candidates: from the global vectors, or region-level
(each keyframe pair scored by the Chamfer similarity of their region vectors, ViSiL's
frame-to-frame similarity), which sees a cropped or partly changed frame better.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..types import SimilarityMap


@dataclass
class Candidate:
    num: int
    prescore: float
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray


def group_neighbours(neighbours, n_query: int) -> dict[int, Candidate]:
    """``neighbours[i] = (scores, video_nums, keyframe_idx)`` for query keyframe i."""
    parts = defaultdict(lambda: ([], [], []))
    for i, (s, nums, kf) in enumerate(neighbours):
        for num in np.unique(nums):
            sel = nums == num
            r, c, v = parts[int(num)]
            r.append(np.full(int(sel.sum()), i, dtype=np.int32))
            c.append(kf[sel].astype(np.int32))
            v.append(s[sel].astype(np.float32))
    out = {}
    for num, (r, c, v) in parts.items():
        rows, cols, vals = np.concatenate(r), np.concatenate(c), np.concatenate(v)
        # pre-score: mean over query rows of the best similarity this video offers (0 if absent)
        best = np.zeros(n_query, np.float32)
        np.maximum.at(best, rows, vals)
        out[num] = Candidate(num, float(best.sum() / max(n_query, 1)), rows, cols, vals)
    return out


def top_candidates(cands: dict[int, Candidate], m: int) -> list[Candidate]:
    return sorted(cands.values(), key=lambda c: -c.prescore)[:m]


#: seconds per map cell: the uniform one keyframe a second that SPD and the query path's
#: constants were made on. A query clip always gets keyframes on it; the maps of a catalogue
#: of other keyframes are resampled onto it
GRID_STEP = 1.0


def needs_grid(feature_config: dict) -> bool:
    """Whether a database's keyframes are other than the uniform one a second, so that its
    maps are resampled on the grid (uniform keyframes' small jitter, a dropped frame or a slow
    source, is what SPD was trained on and stays as it is)."""
    return feature_config.get("keyframes", "uniform") != "uniform" or \
        abs(float(feature_config.get("keyframe_fps", 1.0)) - 1.0 / GRID_STEP) > 1e-9


def time_grid(times: np.ndarray, step: float = GRID_STEP):
    """(grid times every ``step`` seconds from the first keyframe, and per grid time the
    keyframe nearest to it, the earlier of two as near).

    This resamples a catalogue video's keyframes (a learned selector's irregular ones, or
    another uniform rate) onto the grid, so that a copy's diagonal against a query's
    one-a-second rows is straight and of the slope and scale SPD was trained on. The
    nearest keyframe is the picture closest in time to what the cell stands for, as a
    uniform keyframe stands for its second: exact for a denser uniform rate, and for a
    selector's irregular keyframes no later or earlier on average. The best of the keyframes
    a cell overlaps would smear a copy's diagonal by a cell."""
    times = np.asarray(times, np.float64)
    if not len(times):
        return np.zeros(0), np.zeros(0, np.int64)
    n = int(np.floor((times[-1] - times[0]) / step + 1e-6)) + 1
    grid = times[0] + step * np.arange(n)
    after = np.minimum(np.searchsorted(times, grid - 1e-9, side="left"), len(times) - 1)
    before = np.maximum(after - 1, 0)
    return grid, np.where(grid - times[before] <= times[after] - grid + 1e-9, before, after)


def median_step(times: np.ndarray, default: float = 1.0) -> float:
    if len(times) < 2:
        return default
    return float(np.median(np.diff(times)))


def sparse_map(c: Candidate, q_times: np.ndarray, r_times: np.ndarray) -> SimilarityMap:
    vals = np.full((len(q_times), len(r_times)), -1.0, np.float32)
    mask = np.zeros(vals.shape, bool)
    ok = c.cols < len(r_times)
    np.maximum.at(vals, (c.rows[ok], c.cols[ok]), c.vals[ok])  # a cell seen twice keeps its best
    mask[c.rows[ok], c.cols[ok]] = True
    vals[~mask] = 0.0
    return SimilarityMap(vals, q_times, r_times, mask, median_step(q_times), median_step(r_times))


def dense_map(q_feats: np.ndarray, r_feats: np.ndarray, q_times, r_times) -> SimilarityMap:
    vals = np.asarray(q_feats, np.float32) @ np.asarray(r_feats, np.float32).T
    return SimilarityMap(vals, q_times, r_times, None, median_step(q_times), median_step(r_times))


def chamfer_similarity(q_regions: np.ndarray, r_regions: np.ndarray, symmetric: bool = True,
                       chunk: int = 4096) -> np.ndarray:
    """(Q, R) frame-to-frame Chamfer similarity of (Q, A, D) and (R, B, D) region vectors.

    For each query region its best match among the reference frame's regions, averaged
    over the query regions (ViSiL, eq. 2), for every keyframe pair at once. ``symmetric``
    averages it with the same taken from the reference's side, which is fairer to a
    cropped copy (its regions are zoomed in) and to a copy inside other footage.
    """
    q = np.asarray(q_regions, np.float32)
    r = np.asarray(r_regions, np.float32)
    (nq, a, d), (nr, b, _) = q.shape, r.shape
    out = np.empty((nq, nr), np.float32)
    qf = q.reshape(nq * a, d)
    step = max(1, chunk // b)
    for j in range(0, nr, step):  # chunked over reference keyframes to bound memory
        rr = r[j:j + step]
        s = (qf @ rr.reshape(-1, d).T).reshape(nq, a, len(rr), b)
        out[:, j:j + step] = 0.5 * (s.max(3).mean(1) + s.max(1).mean(2)) if symmetric else s.max(3).mean(1)
    return out
