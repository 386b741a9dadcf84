"""The classic temporal aligners as the VCSL benchmark (He et al., CVPR 2022) defines its baselines.

Each works on map cells (keyframe indices), like VCSL's, and is written here from the papers
and VCSL's description of them:

- ``dp``: Chou, Chen & Lee (IEEE TMM 2015), pattern-based localisation: similarities shifted
  to be non-negative are accumulated over the whole map, each cell from the best of its
  top-left (full weight), top and left (half weight) neighbours; a path stops growing after
  more than ``discontinue`` consecutive cells under ``min_sim``. The best accumulated cell's
  path is traced back, its bounding box is blocked, and the search repeats.
- ``hv``: temporal Hough voting (Douze, Jegou & Schmid, IEEE TMM 2010): cells under
  ``min_sim`` are zeroed, every time offset that a cell at or above it votes for scores the
  sum of its whole diagonal, and each of the best offsets is a segment spanning that whole
  diagonal (boxes overlapping a better one by IoU > ``iou`` dropped).
- ``dtw``: dynamic time warping of the whole map, corner to corner, on 1 - similarity.

DP's and DTW's paths are cut where they run straight down or across for more than
``discontinue`` (DTW) or ``diagonal_thres`` (DP) cells; pieces longer than ``min_length``
cells on both axes whose mean similarity exceeds ``min_sim`` (DTW) or ``ave_sim`` (DP)
are segments. A segment's score is its path's mean similarity (VCSL reports boxes without
scores; the benchmark needs one to rank and threshold them). The Temporal Network is in
``tn.py``.
"""
from __future__ import annotations

import numpy as np

from ..types import Segment, SimilarityMap
from .base import path_segment, register


def _values(m: SimilarityMap) -> np.ndarray:
    return np.where(m.mask, m.values, 0.0).astype(np.float64)


def _anti_diagonals(nq: int, nr: int):
    """Cells (rows, cols) of each anti-diagonal i + j = k, k increasing, inside [1, nq) x [1, nr)."""
    for k in range(2, nq + nr - 1):
        i = np.arange(max(1, k - nr + 1), min(nq, k))
        if len(i):
            yield i, k - i


def straight_runs_cut(path: np.ndarray, max_run: int) -> list[tuple[int, int]]:
    """Half-open ranges of a path's points left when runs of more than ``max_run`` points that keep
    the query (or the reference) index fixed, a path running straight across (or down), are removed."""
    drop = np.zeros(len(path), bool)
    for axis in (0, 1):
        same = np.concatenate([[False], np.diff(path[:, axis]) == 0, [False]])
        edges = np.flatnonzero(np.diff(same.astype(np.int8)))
        for s, e in edges.reshape(-1, 2):  # steps s..e-1 keep the index: points s..e
            if e - s + 1 > max_run:
                drop[s:e + 1] = True
    keep = np.concatenate([[False], ~drop, [False]])
    edges = np.flatnonzero(np.diff(keep.astype(np.int8)))
    return [(int(s), int(e)) for s, e in edges.reshape(-1, 2)]


class _Pieces:
    """The pieces of a map's paths left by ``straight_runs_cut``, with what the filter asks of each."""

    def __init__(self, S: np.ndarray, paths: list[np.ndarray], max_run: int):
        self.subs = [p[s:e] for p in paths for s, e in straight_runs_cut(p, max_run)]
        self.length = np.array([len(x) for x in self.subs])
        self.mean = np.array([S[x[:, 0], x[:, 1]].mean() for x in self.subs])
        self.extent = np.array([min(x[-1, 0] - x[0, 0], x[-1, 1] - x[0, 1]) for x in self.subs])

    def segments(self, m: SimilarityMap, min_length: int, min_mean: float) -> list[Segment]:
        """Pieces longer than ``min_length`` points and cells on both axes, mean similarity above ``min_mean``."""
        if not self.subs:
            return []
        ok = (self.length > min_length) & (self.extent > min_length) & (self.mean > min_mean)
        return [path_segment(m, self.subs[i][:, 0], self.subs[i][:, 1], float(self.mean[i]))
                for i in np.flatnonzero(ok)]


class _Cached:
    """A map's path pieces, kept in ``cache`` per map object (shared by the aligners given the same
    dict: the benchmark's grid search filters the same pieces instead of searching again)."""

    cache: dict | None = None

    def _pieces(self, m: SimilarityMap, key, max_run: int) -> _Pieces:
        if self.cache is None:
            return _Pieces(_values(m), self._search(m), max_run)
        k = (id(m), key, max_run)
        if k not in self.cache:  # the map is kept with its entry, so its id stays its own
            self.cache[k] = (m, _Pieces(_values(m), self._search(m), max_run))
        return self.cache[k][1]


@register("dp")
class DynamicProgramming(_Cached):
    # no thresholds of its own: the benchmark tunes one per run (everything found is listed)
    list_floor = copy_threshold = 0.0
    maps = "regions"

    def __init__(self, discontinue: int = 3, min_sim: float = 0.1, ave_sim: float = 0.2, min_length: int = 2,
                 diagonal_thres: int = 30, max_paths: int = 100, cache: dict | None = None):
        self.discontinue, self.min_sim, self.ave_sim = discontinue, min_sim, ave_sim
        self.min_length, self.diagonal_thres, self.max_paths = min_length, diagonal_thres, max_paths
        self.cache = cache

    def align(self, maps):
        return [self.align_one(m) for m in maps]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        pieces = self._pieces(m, (self.discontinue, self.min_sim, self.max_paths), self.diagonal_thres)
        return pieces.segments(m, self.min_length, self.ave_sim)

    def accumulate(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(accumulated scores, back pointers: 0 top-left, 1 top, 2 left, -1 where a path starts)."""
        sp = S + 1.0  # non-negative: similarities in the query path's units lie above -1
        D = sp.copy()
        U = np.zeros(S.shape, np.int32)  # consecutive unmatched cells ending here
        B = -np.ones(S.shape, np.int8)
        for i, j in _anti_diagonals(*S.shape):
            cand = np.stack([D[i - 1, j - 1] + sp[i, j], D[i - 1, j] + 0.5 * sp[i, j], D[i, j - 1] + 0.5 * sp[i, j]])
            k = cand.argmax(0)
            pi, pj = i - (k < 2), j - (k != 1)
            u = np.where(S[i, j] < self.min_sim, U[pi, pj] + 1, 0)
            U[i, j] = u
            ok = u <= self.discontinue
            D[i[ok], j[ok]] = cand[k[ok], np.flatnonzero(ok)]
            B[i[ok], j[ok]] = k[ok]
        return D, B

    def _search(self, m: SimilarityMap) -> list[np.ndarray]:
        S = _values(m)
        if S.size == 0:
            return []
        D, B = self.accumulate(S)
        paths = []
        for _ in range(self.max_paths):
            i, j = np.unravel_index(int(np.argmax(D)), D.shape)
            if D[i, j] == -np.inf:
                break
            cells = [(i, j)]
            while B[i, j] != -1:
                b = B[i, j]
                i, j = i - (b < 2), j - (b != 1)
                if D[i, j] == -np.inf:
                    break
                cells.append((i, j))
            path = np.array(cells[::-1], dtype=np.int64)
            (r1, c1), (r2, c2) = path[0], path[-1]
            D[r1:r2 + 1, c1:c2 + 1] = -np.inf
            paths.append(path)
        return paths


def _iou_cells(box, kept) -> float:
    """Largest IoU of an inclusive cell box [q0, r0, q1, r1] with any of ``kept``."""
    best = 0.0
    for k in kept:
        w = min(box[2], k[2]) - max(box[0], k[0]) + 1
        h = min(box[3], k[3]) - max(box[1], k[1]) + 1
        if w <= 0 or h <= 0:
            continue
        inter = w * h
        a = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
        b = (k[2] - k[0] + 1) * (k[3] - k[1] + 1)
        best = max(best, inter / (a + b - inter))
    return best


@register("hv")
class HoughVoting:
    # no thresholds of its own: the benchmark tunes one per run (everything found is listed)
    list_floor = copy_threshold = 0.0
    maps = "regions"

    def __init__(self, min_sim: float = 0.2, iou: float = 0.9, max_peaks: int = 100):
        self.min_sim, self.iou, self.max_peaks = min_sim, iou, max_peaks

    def align(self, maps):
        return [self.align_one(m) for m in maps]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        S = _values(m)
        S[S < self.min_sim] = 0.0
        rows, cols = np.nonzero(S >= self.min_sim)
        nq, nr = S.shape
        votes = []
        for off in np.unique(cols - rows):
            q = np.arange(max(0, -off), min(nq, nr - off))
            if len(q):
                votes.append((float(S[q, q + off].sum()), int(off), q))
        votes.sort(key=lambda v: -v[0])
        segs, kept = [], []
        for total, off, q in votes[: self.max_peaks]:
            if total <= 0:
                continue
            box = (int(q[0]), int(q[0] + off), int(q[-1]), int(q[-1] + off))
            if kept and _iou_cells(box, kept) > self.iou:
                continue
            kept.append(box)
            segs.append(path_segment(m, q, q + off, total / len(q)))
        return segs


@register("dtw")
class DTW(_Cached):
    # no thresholds of its own: the benchmark tunes one per run (everything found is listed)
    list_floor = copy_threshold = 0.0
    maps = "regions"

    def __init__(self, discontinue: int = 3, min_sim: float = 0.2, min_length: int = 2, cache: dict | None = None):
        self.discontinue, self.min_sim, self.min_length = discontinue, min_sim, min_length
        self.cache = cache

    def align(self, maps):
        return [self.align_one(m) for m in maps]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        return self._pieces(m, None, self.discontinue).segments(m, self.min_length, self.min_sim)

    def _search(self, m: SimilarityMap) -> list[np.ndarray]:
        """The one warping path from the first cell to the last."""
        C = 1.0 - _values(m)
        nq, nr = C.shape
        if C.size == 0:
            return []
        D = np.full((nq, nr), np.inf)
        D[0] = np.cumsum(C[0])
        D[:, 0] = np.cumsum(C[:, 0])
        for i, j in _anti_diagonals(nq, nr):
            D[i, j] = C[i, j] + np.minimum(np.minimum(D[i - 1, j - 1], D[i - 1, j]), D[i, j - 1])
        i, j = nq - 1, nr - 1
        cells = [(i, j)]
        while (i, j) != (0, 0):
            if i == 0:
                j -= 1
            elif j == 0:
                i -= 1
            else:
                k = int(np.argmin([D[i - 1, j - 1], D[i - 1, j], D[i, j - 1]]))
                i, j = (i - 1, j - 1) if k == 0 else ((i - 1, j) if k == 1 else (i, j - 1))
            cells.append((i, j))
        return [np.array(cells[::-1], dtype=np.int64)]
