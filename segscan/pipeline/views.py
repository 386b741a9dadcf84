"""Query-side views: other pictures of each query keyframe, searched beside it.

A copy may be mirrored, or fill only part of the query's frame (picture-in-picture, a copy
pasted beside other footage); one vector of the whole frame then misses it. The query path
can also describe each keyframe's mirror, its 2x2 quarters and its centre, search each in
the index and keep, per map cell, the best view's similarity. The catalogue keeps one set
of vectors per keyframe, so views cost only at query time.
"""
from __future__ import annotations

import numpy as np

VIEWS = ("flip", "quarters", "centre")


def check_views(names) -> tuple[str, ...]:
    names = tuple(names)
    bad = [n for n in names if n not in VIEWS]
    if bad:
        raise ValueError(f"unknown query view(s) {', '.join(bad)}; choose from {', '.join(VIEWS)}")
    return names


def expand(names) -> list[str]:
    """The feature sets a list of views makes (``quarters`` is four)."""
    return [x for n in check_views(names) for x in ([f"quarter{i}" for i in range(4)] if n == "quarters" else [n])]


def pick(features: dict, names) -> list:
    """The feature sets of ``names`` from an encoded clip's views; a clip encoded without one
    of them is an error rather than a silent loss of that view."""
    wanted = expand(names)
    missing = [n for n in wanted if n not in features]
    if missing:
        raise ValueError(f"query features lack the view(s) {', '.join(missing)}")
    return [features[n] for n in wanted]


def view_images(images: np.ndarray, names) -> list[tuple[str, np.ndarray]]:
    """(name, (B, h, w, 3) images) for each view of a (B, H, W, 3) batch; crops keep their
    own size (the feature extractor resizes them to its input)."""
    h, w = images.shape[1:3]
    out = []
    for n in check_views(names):
        if n == "flip":
            out.append(("flip", images[:, :, ::-1]))
        elif n == "quarters":
            hh, hw = h // 2, w // 2
            for i, (y, x) in enumerate(((0, 0), (0, hw), (hh, 0), (hh, hw))):
                out.append((f"quarter{i}", images[:, y:y + hh, x:x + hw]))
        elif n == "centre":
            out.append(("centre", images[:, h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2]))
    return out
