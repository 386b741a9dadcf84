"""The aligner interface and registry."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..types import Segment, SimilarityMap


class Aligner(Protocol):
    """What the query path asks of an aligner: its segments, the two score thresholds it was
    tuned for (``query.config.resolve`` uses them when the caller sets none) and the map kind
    it expects."""

    name: str
    list_floor: float  # segments scoring below it are not listed
    copy_threshold: float  # a segment scoring at least this is declared a copy
    maps: str  # "sparse", "dense" or "regions": the similarity maps it was made for

    def align(self, maps: list[SimilarityMap]) -> list[list[Segment]]:
        """Aligned segments for each map (batched, so learned aligners can batch)."""


ALIGNERS: dict[str, Callable[..., Aligner]] = {}


def register(name: str):
    def deco(cls):
        cls.name = name
        ALIGNERS[name] = cls
        return cls

    return deco


def make_aligner(name: str, **params) -> Aligner:
    try:
        cls = ALIGNERS[name]
    except KeyError:
        raise ValueError(f"unknown aligner {name!r}; choose from {sorted(ALIGNERS)}") from None
    return cls(**params)


def path_segment(m: SimilarityMap, rows: np.ndarray, cols: np.ndarray, score: float) -> Segment:
    """Segment spanned by a path of (row, col) cells; each keyframe stands for one step of time."""
    q0, q1 = float(m.q_times[rows.min()]), float(m.q_times[rows.max()]) + m.q_step
    r0, r1 = float(m.r_times[cols.min()]), float(m.r_times[cols.max()]) + m.r_step
    return Segment(q0, q1, r0, r1, float(score))


def diagonal_values(m: SimilarityMap, rows: np.ndarray, offset: float) -> np.ndarray:
    """Similarity of each query row with the reference keyframe ``offset`` seconds later.

    Cells the map does not know (not among a sparse map's neighbours), or times with no
    reference keyframe within half a step, count as 0: unrelated in normalised units.
    """
    t = m.q_times[rows] + offset
    last = len(m.r_times) - 1
    hi = np.clip(np.searchsorted(m.r_times, t), 0, last)
    lo = np.maximum(hi - 1, 0)
    j = np.where(np.abs(m.r_times[lo] - t) <= np.abs(m.r_times[hi] - t), lo, hi)
    ok = (np.abs(m.r_times[j] - t) <= 0.5 * m.r_step + 1e-6) & m.mask[rows, j]
    return np.where(ok, m.values[rows, j], 0.0)


def snap_to_unit_speed(seg: Segment, m: SimilarityMap, rows: np.ndarray, cols: np.ndarray,
                       keep: float = 0.5, extend_min: float | None = None) -> Segment:
    """When a path is explained by one 1x-speed diagonal, report that diagonal's span instead.

    Paths over slowly changing footage wander off the true diagonal by a keyframe or
    two (mostly at their ends), which stretches or shifts the reference span; a copy at
    normal speed has a single time offset. Each offset the path visits (and its
    neighbours by one reference step) is scored by the mean similarity along its
    diagonal over the path's query rows; when the best one keeps at least ``keep`` of
    the path's own mean similarity, the segment becomes that diagonal. A 2x or
    slowed-down path loses most of its similarity on any single diagonal and is left
    alone. With ``extend_min`` the diagonal is also extended over neighbouring query rows
    while its cells stay at or above that similarity (ends the path skipped).
    """
    if len(rows) < 3:
        return seg
    path_mean = float(m.values[rows, cols].mean())
    if path_mean <= 0:
        return seg
    visited = np.unique(np.round(m.r_times[cols] - m.q_times[rows], 3))
    cands = np.unique(np.concatenate([visited, visited - m.r_step, visited + m.r_step]))
    span = np.arange(rows.min(), rows.max() + 1)
    means = np.array([diagonal_values(m, span, o).mean() for o in cands])
    best = int(np.argmax(means))
    if means[best] < keep * path_mean:
        return seg
    off = float(cands[best])
    i0, i1 = int(span[0]), int(span[-1])
    if extend_min is not None:
        while i0 > 0 and diagonal_values(m, np.array([i0 - 1]), off)[0] >= extend_min:
            i0 -= 1
        while i1 < len(m.q_times) - 1 and diagonal_values(m, np.array([i1 + 1]), off)[0] >= extend_min:
            i1 += 1
    # keep the two spans equal and inside the reference video
    q0 = max(float(m.q_times[i0]), float(m.r_times[0]) - off)
    q1 = min(float(m.q_times[i1]) + m.q_step, float(m.r_times[-1]) + m.r_step - off)
    if q1 <= q0:
        return seg
    return Segment(q0, q1, q0 + off, q1 + off, seg.score)


def interp_columns(values: np.ndarray, rows: np.ndarray, t: np.ndarray, r_times: np.ndarray) -> np.ndarray:
    """``values[row]`` at reference time ``t``, linearly interpolated between the two reference
    keyframes around it (clamped at the ends); ``rows`` and ``t`` broadcast together."""
    hi = np.clip(np.searchsorted(r_times, t), 1, len(r_times) - 1)
    w = np.clip((t - r_times[hi - 1]) / np.maximum(r_times[hi] - r_times[hi - 1], 1e-9), 0.0, 1.0)
    return (1 - w) * values[rows, hi - 1] + w * values[rows, hi]


def segment_rows(seg: Segment, q_times: np.ndarray) -> np.ndarray:
    """The query keyframes (indices) a segment spans: those at or after its start and before its end."""
    return np.where((q_times >= seg.q_start - 1e-6) & (q_times < seg.q_end - 1e-6))[0]


def line_values(seg: Segment, m: SimilarityMap) -> tuple[np.ndarray, np.ndarray]:
    """(query rows, similarities) along a segment's line through a dense map: each query keyframe
    inside the segment is taken to its reference time on the line, and the map is interpolated
    between the two reference keyframes around it (no similarities with fewer than 2 of them)."""
    rows = segment_rows(seg, m.q_times)
    if len(rows) == 0 or len(m.r_times) < 2:
        return rows, np.zeros(0)
    t = seg.r_start + (m.q_times[rows] - seg.q_start) * speed(seg)
    return rows, interp_columns(np.where(m.mask, m.values, 0.0), rows, t, m.r_times)


def speed(seg: Segment) -> float:
    return (seg.r_end - seg.r_start) / max(seg.q_end - seg.q_start, 1e-9)


def line_mean(seg: Segment, m: SimilarityMap) -> tuple[float, int]:
    """(mean similarity, query keyframes) along a segment's line (:func:`line_values`)."""
    rows, v = line_values(seg, m)
    return (float(v.mean()) if v.size else 0.0), len(rows)


def on_line(seg: Segment, q0: float, q1: float) -> Segment:
    """The part of ``seg``'s line over the query span [q0, q1]."""
    sp = speed(seg)
    return Segment(q0, q1, seg.r_start + (q0 - seg.q_start) * sp, seg.r_start + (q1 - seg.q_start) * sp, seg.score)


def trim_ends(seg: Segment, m: SimilarityMap, rel: float, min_rows: int = 2) -> Segment:
    """Drop the query keyframes at either end of a segment whose similarity on its line is below
    ``rel`` times the median along the line (at least ``min_rows`` stay; ``rel`` 0: unchanged).

    A detector's box is a regression of where the pattern is; on a weak diagonal it can reach a
    keyframe or two into footage on either side of the copy, which matches nothing on the line
    (near 0 in background-normalised units) while the copy's own keyframes match clearly.
    """
    rows, v = line_values(seg, m)
    if rel <= 0 or len(v) <= min_rows:
        return seg
    floor = rel * float(np.median(v))
    i0, i1 = 0, len(v) - 1
    while i1 - i0 + 1 > min_rows and v[i0] < floor:
        i0 += 1
    while i1 - i0 + 1 > min_rows and v[i1] < floor:
        i1 -= 1
    if i0 == 0 and i1 == len(v) - 1:
        return seg
    q0 = max(seg.q_start, float(m.q_times[rows[i0]]))
    q1 = float(m.q_times[rows[i1] + 1]) if rows[i1] + 1 < len(m.q_times) else seg.q_end
    return on_line(seg, q0, min(q1, seg.q_end))


def length_scored(seg: Segment, q_step: float, weight: float) -> Segment:
    """The segment with ``weight * ln(keyframes it spans in the query)`` added to its score.

    A path's mean similarity says how alike the matched keyframes are, not how much
    evidence there is: two keyframes of similar-looking footage reach the same mean as
    ten keyframes of a true copy. On the benchmark's train split, the mean plus a log-length
    term separates true from false segments better than the mean alone (docs/BENCHMARKS.md).
    """
    if not weight:
        return seg
    n = max(1.0, round((seg.q_end - seg.q_start) / max(q_step, 1e-9)))
    return Segment(seg.q_start, seg.q_end, seg.r_start, seg.r_end, seg.score + weight * float(np.log(n)))


def nms_segments(segs: list[Segment], iou: float = 0.5, keep: list[Segment] | None = None) -> list[Segment]:
    """Drop segments whose box overlaps a better one, or one of ``keep``, by more than ``iou``
    (of the smaller box)."""
    keep = list(keep or [])
    first = len(keep)
    for s in sorted(segs, key=lambda s: -s.score):
        ok = True
        for k in keep:
            iq = max(0.0, min(s.q_end, k.q_end) - max(s.q_start, k.q_start))
            ir = max(0.0, min(s.r_end, k.r_end) - max(s.r_start, k.r_start))
            inter = iq * ir
            a = (s.q_end - s.q_start) * (s.r_end - s.r_start)
            b = (k.q_end - k.q_start) * (k.r_end - k.r_start)
            if inter > 0 and inter / max(min(a, b), 1e-9) > iou:
                ok = False
                break
        if ok:
            keep.append(s)
    return keep[first:]
