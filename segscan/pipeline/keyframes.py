"""Keyframe selection: which basis frames get features.

A selector consumes the stream of basis frames and yields the keyframes, in order.
Selectors may buffer (the learned SKE scores windows of 24x24 frames at a time), so the
interface is a stream transform rather than a per-frame predicate; callers only ever
see ``selector.select(frames) -> iterator of frames``.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import numpy as np

from ..types import Frame


class KeyframeSelector(Protocol):
    name: str

    def select(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Yield the keyframes among ``frames`` (in order, each at most once)."""


def next_mark(mark: float | None, t: float, step: float) -> float:
    """After a keyframe at ``t``: the next time a uniform keyframe every ``step`` seconds is due,
    on the marks of ``mark`` (the one just due; None: ``t`` is the first keyframe). A mark that
    passed without a frame, in a gap of the stream, is skipped."""
    mark = t if mark is None else mark
    while mark <= t + 1e-6:
        mark += step
    return mark


class UniformSelector:
    """One keyframe every ``1/fps`` seconds of presentation time (the first frame included).

    A clip too short for ``min_keyframes`` keyframes at that rate gets them anyway, spread
    over its basis frames: a one-keyframe video could never be matched (a segment needs two).
    """

    name = "uniform"

    def __init__(self, fps: float = 1.0, min_keyframes: int = 2):
        if not (fps > 0):
            raise ValueError(f"keyframe fps must be > 0, got {fps}")
        self.fps = fps
        self.min_keyframes = min_keyframes

    def select(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        step = 1.0 / self.fps
        next_t = None
        kept, held = 0, []  # held: basis frames since the last keyframe, while too few are kept
        for fr in frames:
            if next_t is None or fr.time >= next_t - 1e-6:
                yield fr
                kept += 1
                held = []
                next_t = next_mark(next_t, fr.time, step)
            elif kept < self.min_keyframes:
                held.append(fr)
        need = min(self.min_keyframes - kept, len(held))
        if need > 0:  # the clip ended first: the held frames, evenly spaced, ending with the last
            for i in sorted({int(round(x)) for x in np.linspace(len(held) - 1, 0, need, endpoint=False)}):
                yield held[i]

    def __repr__(self):
        return f"UniformSelector(fps={self.fps})"


SELECTORS = ("uniform", "ske")


def make_selector(name: str, fps: float, threshold: float, max_gap: float, weights=None,
                  step: float | None = None) -> KeyframeSelector:
    """``uniform`` takes ``fps``; ``ske`` (:mod:`segscan.pipeline.ske`) takes the score
    ``threshold``, the ``max_gap`` in seconds between keyframes, its ``weights`` and the
    ``step`` of the grid its candidates lie on (None: every basis frame)."""
    if name == "uniform":
        return UniformSelector(fps=fps)
    if name == "ske":
        from .ske import SKESelector

        return SKESelector(threshold=threshold, max_gap=max_gap, weights=weights, step=step)
    raise ValueError(f"unknown keyframe selector {name!r}; choose from {list(SELECTORS)}")
