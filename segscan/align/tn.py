"""Temporal Network alignment (Tan, Ngo, Hauptmann & Ngo, ACM MM 2009).

The matches of each query keyframe (its top-k reference keyframes above a similarity
threshold) are the nodes of a network; an edge joins two matches when both the query
and the reference move forward in time by at most ``max_gap`` seconds, which allows
speed changes and dropped keyframes but not reversals. The path of maximum total
similarity is a copied segment pair; its nodes are taken out and the search repeats
for further segments. Paths shorter than ``min_keyframes`` or with a mean similarity
below ``min_score`` are discarded. A segment's score is its path's mean similarity plus
``length_weight`` times the log of its length in query keyframes (``length_scored``).
"""
from __future__ import annotations

import numpy as np

from ..types import Segment, SimilarityMap
from .base import length_scored, nms_segments, path_segment, register, snap_to_unit_speed


@register("tn")
class TemporalNetwork:
    # the query path's defaults for this aligner's scores (QueryConfig.min_score / threshold): list
    # segments from 0.2; declare a copy from the segment-F1-best threshold on the benchmark's train
    # split with these defaults on region maps (docs/BENCHMARKS.md)
    list_floor, copy_threshold = 0.2, 0.37
    maps = "regions"
    # defaults for the query path's default maps (region-level, each row's median subtracted): the values
    # the benchmark's grid search chose on its train split (docs/BENCHMARKS.md)
    def __init__(self, top_k: int = 5, min_sim: float = 0.1, max_gap: float = 5.0, min_keyframes: int = 2,
                 min_score: float = 0.1, max_paths: int = 8, gap_penalty: float = 0.02, max_speed: float = 2.2,
                 snap: bool = True, snap_keep: float = 0.5, length_weight: float = 0.06):
        self.top_k, self.min_sim, self.max_gap = top_k, min_sim, max_gap
        self.min_keyframes, self.min_score, self.max_paths = min_keyframes, min_score, max_paths
        self.gap_penalty, self.max_speed, self.snap, self.snap_keep = gap_penalty, max_speed, snap, snap_keep
        self.length_weight = length_weight

    def align(self, maps: list[SimilarityMap]) -> list[list[Segment]]:
        return [self.align_one(m) for m in maps]

    def _nodes(self, m: SimilarityMap):
        v = np.where(m.mask, m.values, -np.inf)
        k = min(self.top_k, v.shape[1])
        if k == 0:
            return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
        top = np.argpartition(-v, k - 1, axis=1)[:, :k]
        rows = np.repeat(np.arange(v.shape[0]), k)
        cols = top.ravel()
        sims = v[rows, cols]
        ok = sims >= self.min_sim
        return rows[ok], cols[ok], sims[ok]

    def align_one(self, m: SimilarityMap) -> list[Segment]:
        rows, cols, sims = self._nodes(m)
        if len(rows) == 0:
            return []
        order = np.lexsort((cols, rows))
        rows, cols, sims = rows[order], cols[order], sims[order]
        qt, rt = m.q_times[rows], m.r_times[cols]
        n = len(rows)
        # predecessor candidates: forward in both axes within max_gap seconds
        dq = qt[None, :] - qt[:, None]  # [a, b] = t_q(b) - t_q(a)
        dr = rt[None, :] - rt[:, None]
        adj = (dq > 1e-9) & (dq <= self.max_gap + 1e-9) & (dr > 1e-9) & (dr <= self.max_gap + 1e-9)
        # local speed within [1/max_speed, max_speed] (half a keyframe of slack for rounding)
        slack = 0.5 * max(m.q_step, m.r_step)
        adj &= (dr <= self.max_speed * dq + slack) & (dq <= self.max_speed * dr + slack)
        # penalise jumps that skip keyframes (optional)
        if self.gap_penalty:
            weight = -self.gap_penalty * (np.abs(dq - dr))
        else:
            weight = np.zeros((n, n))
        alive = np.ones(n, bool)
        segs: list[Segment] = []
        for _ in range(self.max_paths):
            score = np.where(alive, sims, -np.inf)
            pred = np.full(n, -1)
            for b in range(n):  # nodes are in topological order (sorted by query time)
                if not alive[b]:
                    continue
                cand = np.where(adj[:b, b] & alive[:b], score[:b] + weight[:b, b], -np.inf)
                if cand.size:
                    a = int(np.argmax(cand))
                    if cand[a] > 0:
                        score[b] = sims[b] + cand[a]
                        pred[b] = a
            end = int(np.argmax(score))
            if not np.isfinite(score[end]) or score[end] <= 0:
                break
            path = [end]
            while pred[path[-1]] >= 0:
                path.append(int(pred[path[-1]]))
            path = np.array(path[::-1])
            alive[path] = False
            # matches inside the found box are the same copy seen off-diagonal: drop them too
            inside = (rows >= rows[path].min()) & (rows <= rows[path].max()) & \
                     (cols >= cols[path].min()) & (cols <= cols[path].max())
            alive[inside] = False
            mean = float(sims[path].mean())
            if len(path) >= self.min_keyframes and mean >= self.min_score:
                seg = path_segment(m, rows[path], cols[path], mean)
                if self.snap:
                    seg = snap_to_unit_speed(seg, m, rows[path], cols[path], keep=self.snap_keep,
                                             extend_min=self.min_sim)
                segs.append(length_scored(seg, m.q_step, self.length_weight))
            if not alive.any():
                break
        return nms_segments(segs)
