"""Exclusive segments: a copied query span comes from one place of the reference.

On self-similar references (a fixed camera, a talking head, a repeated shot) the same query
span matches at several reference offsets, and an aligner reports each. Per (query,
reference) pair, a segment whose query span overlaps a better-scored segment's at another
offset keeps only the part of its span that the better one does not cover (and goes when
that is under ``min_rows`` query keyframes), unless the reference repeats itself there: its
own keyframes under the two segments' lines are alike beyond what its footage has in common
everywhere. Such a segment is kept whole and marked ``repeat``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..align.base import on_line, segment_rows, speed
from ..index.simmap import median_step
from ..types import CandidateMap, Segment


def offset(seg: Segment) -> float:
    """Reference minus query time at the segment's centre."""
    return 0.5 * ((seg.r_start - seg.q_start) + (seg.r_end - seg.q_end))


def _centred(g: np.ndarray) -> np.ndarray:
    """A similarity matrix with each row's and column's mean taken out (the grand mean put back):
    what all keyframes of the footage share is removed, what tells two moments apart stays."""
    return g - g.mean(1, keepdims=True) - g.mean(0, keepdims=True) + g.mean()


def _ref_index(seg: Segment, t: np.ndarray, r_times: np.ndarray) -> np.ndarray:
    """The reference keyframe nearest to the segment's line at query times ``t``."""
    rt = seg.r_start + (t - seg.q_start) * speed(seg)
    return np.abs(r_times[None, :] - rt[:, None]).argmin(1)


def repeats(a: Segment, b: Segment, q_times: np.ndarray, r_times: np.ndarray, ref_self: np.ndarray) -> bool:
    """Whether the reference shows under ``b``'s line, over the query span both cover, what it shows
    under ``a``'s: the centred self-similarity of those reference keyframes (``ref_self``) reaches
    half of what each of ``a``'s keyframes has with itself (the level an exact repeat reaches)."""
    t = q_times[(q_times >= max(a.q_start, b.q_start) - 1e-6) & (q_times < min(a.q_end, b.q_end) - 1e-6)]
    if len(t) == 0:
        return False
    ia, ib = _ref_index(a, t, r_times), _ref_index(b, t, r_times)
    own = float(ref_self[ia, ia].mean())
    return own > 0 and float(ref_self[ia, ib].mean()) >= 0.5 * own


def _outside(seg: Segment, k: Segment) -> list[Segment]:
    """The parts of ``seg``'s line over query times that ``k`` does not cover."""
    parts = []
    if seg.q_start < k.q_start:
        parts.append(on_line(seg, seg.q_start, k.q_start))
    if seg.q_end > k.q_end:
        parts.append(on_line(seg, k.q_end, seg.q_end))
    return parts


def exclusive_segments(segs: list[Segment], q_times: np.ndarray, r_times: np.ndarray,
                       ref_global: np.ndarray | None, min_rows: int = 2) -> list[Segment]:
    """One reference place per query span (see the module's docstring); best-scored first."""
    q_step = median_step(q_times)
    r_step = median_step(r_times)
    ref_self = None
    kept: list[Segment] = []
    for s in sorted(segs, key=lambda x: -x.score):
        pieces = [s]
        for k in kept:
            nxt = []
            for p in pieces:
                overlap = min(p.q_end, k.q_end) - max(p.q_start, k.q_start)
                if overlap <= 0.5 * q_step or abs(offset(p) - offset(k)) <= r_step:
                    nxt.append(p)
                    continue
                if ref_global is not None and len(r_times) > 1:
                    if ref_self is None:
                        g = np.asarray(ref_global, np.float32)
                        ref_self = _centred(g @ g.T)
                    if repeats(k, p, q_times, r_times, ref_self):
                        nxt.append(replace(p, repeat=True))
                        continue
                nxt += [x for x in _outside(p, k) if len(segment_rows(x, q_times)) >= min(min_rows, len(q_times))]
            pieces = nxt
        kept += pieces
    return sorted(kept, key=lambda x: x.q_start)


def shares_footage(ka: CandidateMap, a: Segment, kb: CandidateMap, b: Segment) -> bool:
    """Whether reference ``kb`` under ``b``'s line shows the footage reference ``ka`` shows under
    ``a``'s, over the query span both cover: the two references' keyframes there are at least as
    alike as the query's keyframes are to ``ka``'s, its better-scored source (a re-upload or
    another copy of the same footage is; a video that only looks similar is not)."""
    if ka.ref_global is None or kb.ref_global is None or ka.query_global is None:
        return True
    q_times = ka.map.q_times
    rows = np.flatnonzero((q_times >= max(a.q_start, b.q_start) - 1e-6) & (q_times < min(a.q_end, b.q_end) - 1e-6))
    if len(rows) == 0:
        return True
    ia = _ref_index(a, q_times[rows], ka.map.r_times)
    ib = _ref_index(b, q_times[rows], kb.map.r_times)
    between = float(np.sum(ka.ref_global[ia] * kb.ref_global[ib], axis=1).mean())
    to_source = float(np.sum(ka.query_global[rows] * ka.ref_global[ia], axis=1).mean())
    return between >= to_source


def exclusive_references(found: list[tuple[CandidateMap, list[Segment]]], min_rows: int = 2):
    """Across references: a query span claimed by a better-scored segment of another reference is
    left to it, unless the two references share that footage (``shares_footage``); the weaker
    segment keeps the seconds the better one does not cover. Returns ``found`` with what is left
    (references left without segments dropped)."""
    if len(found) < 2:
        return found
    q_times = found[0][0].map.q_times
    q_step = median_step(q_times)
    flat = sorted(((i, x) for i, (_, segs) in enumerate(found) for x in segs), key=lambda t: -t[1].score)
    kept: list[tuple[int, Segment]] = []
    for i, s in flat:
        pieces = [s]
        for j, k in kept:
            if j == i:
                continue
            nxt = []
            for p in pieces:
                overlap = min(p.q_end, k.q_end) - max(p.q_start, k.q_start)
                if overlap <= 0.5 * q_step or shares_footage(found[j][0], k, found[i][0], p):
                    nxt.append(p)
                else:
                    nxt += [x for x in _outside(p, k) if len(segment_rows(x, q_times)) >= min(min_rows, len(q_times))]
            pieces = nxt
        kept += [(i, p) for p in pieces]
    out = []
    for i, (c, _) in enumerate(found):
        segs = sorted((p for j, p in kept if j == i), key=lambda x: x.q_start)
        if segs:
            out.append((c, segs))
    return out
