"""Segment refinement: each aligned segment re-placed on its best time offset and its ends settled.

The aligners say which diagonal of a map holds a copy; these steps, run on the dense region
similarity of the two videos, place it to a fraction of a keyframe (refine_offset), join
pieces of one copy (merge_diagonal), settle its ends (grow_ends, snap_to_edges,
centre_ends) and drop what is no evidence of a copy (refine_segments).
"""
from __future__ import annotations

import numpy as np

from ..align.base import interp_columns, nms_segments, on_line, segment_rows, speed
from ..index.simmap import median_step
from ..types import Segment


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
    sp = speed(seg)
    if sp > 0 and len(r_times) > 1:  # the reference ends bound the line, as they bound the segment
        q0 = max(q0, min(seg.q_start, seg.q_start + (float(r_times[0]) - seg.r_start) / sp))
    return on_line(seg, q0, q1) if q1 > q0 else seg


def refine_segments(segs: list[Segment], values: np.ndarray, q_times: np.ndarray, r_times: np.ndarray,
                    window: int = 3, edge_rows: int = 0, wide_rows: int = 0, centre: bool = True,
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
