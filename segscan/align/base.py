"""The aligner interface and registry."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

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


def snap_to_unit_speed(seg: Segment, m: SimilarityMap, rows: np.ndarray, cols: np.ndarray,
                       share: float = 0.7) -> Segment:
    """When a path runs at about 1x speed, place the reference span at the path's median time offset.

    Paths over slowly changing footage wander by a keyframe or two, mostly at their ends,
    which stretches the reference span; a copy at normal speed has one offset. The path
    counts as 1x when at least ``share`` of its matches lie within one keyframe step of the
    median offset (a stray end match does not decide it; a 2x path spreads its offsets).
    """
    if len(rows) < 3:
        return seg
    offsets = m.r_times[cols] - m.q_times[rows]
    off = float(np.median(offsets))
    tol = max(m.q_step, m.r_step) + 1e-6
    if np.mean(np.abs(offsets - off) <= tol) < share:
        return seg
    r0 = max(0.0, seg.q_start + off)
    return Segment(seg.q_start, seg.q_end, r0, r0 + (seg.q_end - seg.q_start), seg.score)


def nms_segments(segs: list[Segment], iou: float = 0.5) -> list[Segment]:
    """Drop segments whose box overlaps a better one by more than ``iou`` (of the smaller box)."""
    keep: list[Segment] = []
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
    return keep
