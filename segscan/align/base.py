"""The aligner interface and registry."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..index.simmap import median_step
from ..types import Segment, SimilarityMap


class Aligner(Protocol):
    name: str

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
    t = seg.r_start + (m.q_times[rows] - seg.q_start) * _speed(seg)
    return rows, interp_columns(np.where(m.mask, m.values, 0.0), rows, t, m.r_times)


def _speed(seg: Segment) -> float:
    return (seg.r_end - seg.r_start) / max(seg.q_end - seg.q_start, 1e-9)


def line_mean(seg: Segment, m: SimilarityMap) -> tuple[float, int]:
    """(mean similarity, query keyframes) along a segment's line (:func:`line_values`)."""
    rows, v = line_values(seg, m)
    return (float(v.mean()) if v.size else 0.0), len(rows)


def _on_line(seg: Segment, q0: float, q1: float) -> Segment:
    """The part of ``seg``'s line over the query span [q0, q1]."""
    sp = _speed(seg)
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
    return _on_line(seg, q0, min(q1, seg.q_end))


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


def refine_offset(seg: Segment, values: np.ndarray, q_times: np.ndarray, r_times: np.ndarray,
                  window: int = 3, max_speed_error: float = 0.1, wide_rows: int = 0,
                  wide_margin: float = 0.02) -> Segment:
    """Re-place a 1x-speed segment on its best time offset, to a fraction of a keyframe.

    ``values`` is a dense (Q, R) keyframe similarity of the query and the segment's
    reference video. It is centred twice (each row's and each column's mean taken out,
    the grand mean put back), which removes what a keyframe has in common with the whole
    other video: on footage that changes little (a talking head, a fixed camera) every
    offset scores alike on the raw values, and only what changes over time tells them
    apart. Offsets within ``window`` reference steps of the segment's own are scored by
    the mean centred similarity along their diagonal (linearly interpolated between
    reference keyframes); a parabola through the best one and its two neighbours gives
    the sub-keyframe offset. Segments off unit speed (by more than ``max_speed_error``),
    or too short to say, are returned unchanged; the score stays.

    A segment of at least ``wide_rows`` query keyframes (0: none) is also tried at every
    offset where it fits the reference, and moves to the best of those when it beats the
    best nearby one by more than ``wide_margin``: on a fixed camera the aligner can lock on
    to an offset far from the true one. The query span it had came from the wrong
    diagonal, so it then grows over the neighbouring query keyframes that are at least as
    similar on the new diagonal as the weakest one inside it (:func:`_grown`).
    """
    if len(r_times) < 2 or unit_offset(seg, max_speed_error) is None:
        return seg
    rows = segment_rows(seg, q_times)
    if len(rows) < 2:
        return seg
    v = np.asarray(values, np.float64)
    v = v - v.mean(1, keepdims=True) - v.mean(0, keepdims=True) + v.mean()
    step = median_step(r_times)
    reach = max(window, len(r_times) + 1) if wide_rows and len(rows) >= wide_rows else window
    ks = np.arange(-reach, reach + 1)
    offs = (seg.r_start - seg.q_start) + ks * step
    t = q_times[rows][None, :] + offs[:, None]  # (offsets, rows): reference time of each row
    inside = (t >= r_times[0] - 1e-6) & (t <= r_times[-1] + 1e-6)
    vals = interp_columns(v, rows[None, :], t, r_times)
    n = inside.sum(1)
    score = np.where(n >= max(2, 0.5 * len(rows)), np.where(inside, vals, 0).sum(1) / np.maximum(n, 1), -np.inf)
    near = np.abs(ks) <= window
    b = int(np.flatnonzero(near)[np.argmax(score[near])])
    if not np.isfinite(score[b]):
        return seg
    far = int(np.argmax(score))
    if score[far] > score[b] + wide_margin:
        b = far
    off = float(offs[b])
    if 0 < b < len(offs) - 1 and np.isfinite(score[b - 1]) and np.isfinite(score[b + 1]):
        curv = score[b - 1] - 2 * score[b] + score[b + 1]
        if curv < 0:
            off += float(np.clip(0.5 * (score[b - 1] - score[b + 1]) / curv, -0.5, 0.5)) * step
    q0, q1 = seg.q_start, seg.q_end
    if abs(ks[b]) > window:
        q0, q1 = _grown(values, q_times, r_times, rows, off, np.min)
    q0 = max(q0, float(r_times[0]) - off)  # keep the two spans equal and inside the reference
    q1 = min(q1, float(r_times[-1]) + step - off)
    if q1 <= q0:
        return seg
    return Segment(q0, q1, q0 + off, q1 + off, seg.score)


def _grown(values: np.ndarray, q_times: np.ndarray, r_times: np.ndarray, rows: np.ndarray, off: float,
           floor_of) -> tuple[float, float]:
    """The query span (seconds) of ``rows`` grown on both sides over the neighbouring query
    keyframes whose similarity on the diagonal at ``off`` is at least ``floor_of(similarities
    of rows)`` (keyframes whose reference time falls outside the reference never count, for
    the floor nor for growing)."""
    all_rows = np.arange(len(q_times))
    t = q_times + off
    inside = (t >= r_times[0] - 1e-6) & (t <= r_times[-1] + 1e-6)
    sim = np.full(len(q_times), -np.inf)
    sim[inside] = interp_columns(np.asarray(values, np.float64), all_rows[inside], t[inside], r_times)
    lo, hi = int(rows[0]), int(rows[-1])
    own = sim[rows][np.isfinite(sim[rows])]
    floor = floor_of(own) if own.size else np.inf
    while lo > 0 and sim[lo - 1] >= floor:
        lo -= 1
    while hi < len(q_times) - 1 and sim[hi + 1] >= floor:
        hi += 1
    end = float(q_times[hi + 1]) if hi + 1 < len(q_times) else float(q_times[hi]) + median_step(q_times)
    return float(q_times[lo]), end


def grow_ends(seg: Segment, values: np.ndarray, q_times: np.ndarray, r_times: np.ndarray,
              rel: float) -> Segment:
    """Extend a 1x-speed segment over the query keyframes next to its ends whose similarity on
    its diagonal is at least ``rel`` times the median inside it (``rel`` 0: unchanged).

    The counterpart of :func:`trim_ends`: a detector's box can also stop a keyframe or two short
    of a copy whose footage goes on matching as well as the rest of it (a talking head, a fixed
    camera), and the offset refinement only moves a segment, it does not lengthen it. The
    segment is only ever extended, within the reference.
    """
    off = unit_offset(seg)
    if rel <= 0 or off is None or len(r_times) < 2:
        return seg
    rows = segment_rows(seg, q_times)
    if len(rows) < 2:
        return seg
    q0, q1 = _grown(values, q_times, r_times, rows, off, lambda v: rel * float(np.median(v)))
    q0, q1 = min(q0, seg.q_start), max(q1, seg.q_end)
    q1 = min(q1, max(seg.q_end, float(r_times[-1]) + median_step(r_times) - off))
    return Segment(q0, q1, q0 + off, q1 + off, seg.score)


def unit_offset(seg: Segment, max_speed_error: float = 0.1) -> float | None:
    """The time offset (reference minus query) of a 1x-speed segment; None for other speeds."""
    dq = seg.q_end - seg.q_start
    if dq <= 0 or abs((seg.r_end - seg.r_start) / dq - 1.0) > max_speed_error:
        return None
    return 0.5 * ((seg.r_start - seg.q_start) + (seg.r_end - seg.q_end))


def merge_diagonal(segs: list[Segment], step: float) -> list[Segment]:
    """Join 1x-speed segments that lie on one diagonal (offsets within half a ``step``) and whose
    query spans overlap or touch (gap up to one step): pieces of one copy the aligner found apart."""
    out: list[Segment] = []
    rest = [s for s in segs if unit_offset(s) is None]
    ones = sorted((s for s in segs if unit_offset(s) is not None), key=lambda s: s.q_start)
    for s in ones:
        for i, k in enumerate(out):
            if abs(unit_offset(s) - unit_offset(k)) <= 0.5 * step and s.q_start <= k.q_end + step + 1e-6 \
                    and k.q_start <= s.q_end + step + 1e-6:
                # the longer piece's offset stands for the joined one
                off = unit_offset(k if k.q_end - k.q_start >= s.q_end - s.q_start else s)
                q0, q1 = min(s.q_start, k.q_start), max(s.q_end, k.q_end)
                out[i] = Segment(q0, q1, q0 + off, q1 + off, max(s.score, k.score))
                break
        else:
            out.append(s)
    return out + rest


def snap_to_edges(seg: Segment, q_times: np.ndarray, r_times: np.ndarray, rows: int) -> Segment:
    """Run a 1x-speed segment that stops within ``rows`` keyframes of the query's first (last)
    keyframe on to it, as far as the reference allows.

    A clip cut out of a copy starts where the copied footage does, but its first and last
    keyframes often match weakly (a cut, a fade, a heavy crop), and the aligner's path starts
    at the first keyframe above its floor.
    """
    off = unit_offset(seg)
    if rows <= 0 or off is None or len(q_times) < 2:
        return seg
    q_step, r_step = median_step(q_times), median_step(r_times)
    q0, q1 = seg.q_start, seg.q_end  # only ever extended, never cut
    if q0 <= float(q_times[0]) + rows * q_step + 1e-6:
        q0 = min(q0, max(float(q_times[0]), float(r_times[0]) - off))
    if q1 >= float(q_times[-1]) + (1 - rows) * q_step - 1e-6:
        q1 = max(q1, min(float(q_times[-1]) + q_step, float(r_times[-1]) + r_step - off))
    return Segment(q0, q1, q0 + off, q1 + off, seg.score)


def centre_ends(seg: Segment, q_times: np.ndarray, r_times: np.ndarray) -> Segment:
    """Move each end of a segment that lies inside the clip half a query keyframe step back.

    The aligners give a segment the span [first keyframe, last keyframe + one step): each
    keyframe standing for the step after it. But a keyframe is one instant: the copy starts
    somewhere between the last keyframe that does not match and the first that does, and
    ends somewhere between the last that matches and the next; halfway is the estimate with
    the least expected error (a quarter step rather than a half). Ends at the clip's first or
    last keyframe stay (the clip starts or ends there), and the reference span follows the
    line, inside the reference.
    """
    if len(q_times) < 2:
        return seg
    step = median_step(q_times)
    q0, q1 = seg.q_start, seg.q_end
    if q0 > float(q_times[0]) + 1e-6:
        q0 -= 0.5 * step
    if q1 < float(q_times[-1]) + step - 1e-6:
        q1 -= 0.5 * step
    sp = _speed(seg)
    if sp > 0 and len(r_times) > 1:  # the reference ends bound the line, as they bound the segment
        q0 = max(q0, min(seg.q_start, seg.q_start + (float(r_times[0]) - seg.r_start) / sp))
    return _on_line(seg, q0, q1) if q1 > q0 else seg


def refine_segments(segs: list[Segment], values: np.ndarray, q_times: np.ndarray, r_times: np.ndarray,
                    window: int = 3, edge_rows: int = 1, wide_rows: int = 0, centre: bool = True,
                    grow: float = 0.0, min_rows: int = 1) -> list[Segment]:
    """Every segment through :func:`refine_offset`; pieces now on one diagonal joined
    (:func:`merge_diagonal`), grown over neighbouring keyframes that match as well as the
    segment does (:func:`grow_ends`, with ``grow`` > 0) and run to the clip's ends when close
    to them (:func:`snap_to_edges`); then those that coincide with a stronger one go, the rest
    have their inner ends placed between keyframes (:func:`centre_ends`), and those that cover
    fewer than ``min_rows`` query keyframes are dropped."""
    segs = [refine_offset(x, values, q_times, r_times, window=window, wide_rows=wide_rows) for x in segs]
    segs = merge_diagonal(segs, median_step(r_times)) if len(r_times) > 1 else segs
    if grow > 0:
        segs = [grow_ends(x, values, q_times, r_times, grow) for x in segs]
    segs = nms_segments([snap_to_edges(x, q_times, r_times, edge_rows) for x in segs])
    segs = [centre_ends(x, q_times, r_times) for x in segs] if centre else segs
    return [x for x in segs if len(segment_rows(x, q_times)) >= min(min_rows, len(q_times))]


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
