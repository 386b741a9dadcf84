"""Classic temporal aligners, run on the same similarity maps as segscan's own.

- ``dp``: dynamic programming (local alignment, in the spirit of Chou et al., ICME 2015 /
  VCSL's DP baseline): cells score ``S - bias``; the best monotone path with diagonal,
  horizontal and vertical moves that restarts at zero is a segment; its cells are masked
  and the search repeats.
- ``hv``: temporal Hough voting (Douze et al., 2010; used for VCDB by Jiang et al., 2014):
  every match votes for its time offset ``t_r - t_q``; peaks of the vote histogram give
  segments spanning their supporting matches (split at gaps longer than ``max_gap``).
  Cannot follow speed changes, by construction.
- ``dtw``: dynamic time warping (subsequence DTW, open begin and end on the reference
  axis) over each run of query keyframes that have strong matches.
"""
from __future__ import annotations

import numpy as np

from ..types import Segment, SimilarityMap
from .base import nms_segments, path_segment, register


def _values(m: SimilarityMap) -> np.ndarray:
    return np.where(m.mask, m.values, 0.0).astype(np.float64)


@register("dp")
class DynamicProgramming:
    # no thresholds of its own: the benchmark tunes one per run (everything found is listed)
    list_floor = copy_threshold = 0.0
    maps = "regions"

    # defaults: the train-split choices for normalised similarities (docs/BENCHMARKS.md)
    def __init__(self, bias: float = 0.05, min_keyframes: int = 2, min_score: float = 0.2, max_paths: int = 8,
                 step_penalty: float = 0.1):
        self.bias, self.min_keyframes, self.min_score = bias, min_keyframes, min_score
        self.max_paths, self.step_penalty = max_paths, step_penalty

    def align(self, maps):
        return [self.align_one(m) for m in maps]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        S = _values(m)
        nq, nr = S.shape
        if nq == 0 or nr == 0:
            return []
        gain = S - self.bias
        blocked = np.zeros_like(S, bool)
        segs = []
        for _ in range(self.max_paths):
            g = np.where(blocked, -1e9, gain)
            D = np.zeros((nq + 1, nr + 1))
            move = np.zeros((nq + 1, nr + 1), np.int8)  # 0 stop, 1 diag, 2 up, 3 left
            for i in range(1, nq + 1):
                diag = D[i - 1, :-1] + g[i - 1]
                up = D[i - 1, 1:] + g[i - 1] - self.step_penalty
                row = np.zeros(nr + 1)
                mv = np.zeros(nr + 1, np.int8)
                best = np.maximum(diag, up)
                mv[1:] = np.where(diag >= up, 1, 2)
                row[1:] = best
                for j in range(1, nr + 1):  # horizontal moves depend on this row
                    left = row[j - 1] + g[i - 1, j - 1] - self.step_penalty
                    if left > row[j]:
                        row[j], mv[j] = left, 3
                    if row[j] <= 0:
                        row[j], mv[j] = 0.0, 0
                D[i], move[i] = row, mv
            i, j = np.unravel_index(int(np.argmax(D)), D.shape)
            if D[i, j] <= 0:
                break
            cells = []
            while i > 0 and j > 0 and move[i, j] != 0:
                cells.append((i - 1, j - 1))
                mv = move[i, j]
                i, j = (i - 1, j - 1) if mv == 1 else ((i - 1, j) if mv == 2 else (i, j - 1))
            cells = np.array(cells[::-1])
            rows, cols = cells[:, 0], cells[:, 1]
            blocked[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
            sims = S[rows, cols]
            if len(np.unique(rows)) >= self.min_keyframes and sims.mean() >= self.min_score:
                segs.append(path_segment(m, rows, cols, float(sims.mean())))
        return nms_segments(segs)


@register("hv")
class HoughVoting:
    # no thresholds of its own: the benchmark tunes one per run (everything found is listed)
    list_floor = copy_threshold = 0.0
    maps = "regions"

    def __init__(self, min_sim: float = 0.2, bin_seconds: float = 1.0, min_votes: int = 2, max_gap: float = 3.0,
                 min_score: float = 0.1, max_peaks: int = 8):
        self.min_sim, self.bin, self.min_votes = min_sim, bin_seconds, min_votes
        self.max_gap, self.min_score, self.max_peaks = max_gap, min_score, max_peaks

    def align(self, maps):
        return [self.align_one(m) for m in maps]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        S = _values(m)
        rows, cols = np.nonzero(S >= self.min_sim)
        if len(rows) == 0:
            return []
        sims = S[rows, cols]
        off = m.r_times[cols] - m.q_times[rows]
        bins = np.round(off / self.bin).astype(int)
        used = np.zeros(len(rows), bool)
        segs = []
        for _ in range(self.max_peaks):
            free = ~used
            if not free.any():
                break
            ub, inv = np.unique(bins[free], return_inverse=True)
            votes = np.bincount(inv, weights=sims[free])
            b = ub[int(np.argmax(votes))]
            sel = free & (np.abs(bins - b) <= 1)  # the peak and its neighbour bins
            used |= sel
            idx = np.flatnonzero(sel)
            idx = idx[np.argsort(m.q_times[rows[idx]])]
            # split the supporting matches at gaps in query time
            qt = m.q_times[rows[idx]]
            cuts = np.flatnonzero(np.diff(qt) > self.max_gap) + 1
            for part in np.split(idx, cuts):
                if len(np.unique(rows[part])) < self.min_votes:
                    continue
                score = float(sims[part].mean())
                if score >= self.min_score:
                    segs.append(path_segment(m, rows[part], cols[part], score))
        return nms_segments(segs)


@register("dtw")
class DTW:
    # no thresholds of its own: the benchmark tunes one per run (everything found is listed)
    list_floor = copy_threshold = 0.0
    maps = "regions"

    def __init__(self, min_sim: float = 0.1, max_gap: float = 3.0, min_keyframes: int = 2, min_score: float = 0.2):
        self.min_sim, self.max_gap, self.min_keyframes, self.min_score = min_sim, max_gap, min_keyframes, min_score

    def align(self, maps):
        return [self.align_one(m) for m in maps]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        S = _values(m)
        strong = np.flatnonzero(S.max(axis=1) >= self.min_sim) if S.size else np.zeros(0, int)
        if len(strong) == 0:
            return []
        cuts = np.flatnonzero(np.diff(m.q_times[strong]) > self.max_gap) + 1
        segs = []
        for run in np.split(strong, cuts):
            i0, i1 = int(run[0]), int(run[-1]) + 1
            C = 1.0 - S[i0:i1]
            n, k = C.shape
            D = np.full((n, k), np.inf)
            back = np.zeros((n, k), np.int8)
            D[0] = C[0]  # open begin on the reference axis
            for i in range(1, n):
                prev = D[i - 1]
                diag = np.concatenate([[np.inf], prev[:-1]])
                up = prev
                best = np.minimum(diag, up)
                back[i] = np.where(diag <= up, 1, 2)
                row = best + C[i]
                for j in range(1, k):
                    if row[j - 1] + C[i, j] < row[j]:
                        row[j] = row[j - 1] + C[i, j]
                        back[i, j] = 3
                D[i] = row
            j = int(np.argmin(D[-1]))  # open end
            i = n - 1
            cells = [(i, j)]
            while i > 0:
                b = back[i, j]
                i, j = (i - 1, j - 1) if b == 1 else ((i - 1, j) if b == 2 else (i, j - 1))
                cells.append((i, j))
            cells = np.array(cells[::-1])
            rows, cols = cells[:, 0] + i0, cells[:, 1]
            sims = S[rows, cols]
            good = sims >= self.min_sim
            if good.sum() < self.min_keyframes:
                continue
            rows, cols, sims = rows[good], cols[good], sims[good]
            if sims.mean() >= self.min_score:
                segs.append(path_segment(m, rows, cols, float(sims.mean())))
        return nms_segments(segs)
