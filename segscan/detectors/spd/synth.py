"""Synthetic similarity maps with known copy patterns, to add to the real training maps.

Similarities are in the query path's normalised units (each query keyframe's background
subtracted), so unrelated cells sit around 0 and copied cells a few tenths above.

Backgrounds are either real maps without copies (from the train split) or random sparse
noise; copies are inserted as lines of high similarity with the slopes speed changes
give (0.5x-2x), gaps (dropped keyframes, missed neighbours), jitter and a faint halo
(neighbouring seconds of slowly changing footage look alike).

A real background may carry a comparator's planes (its refined map and its frame
similarity, :func:`segscan.compare.visil.planes`); ``with_comparator_planes`` then draws the
same copies into the frame similarity and runs the comparator's CNN on it again, so the
refined plane is the comparator's own answer to the drawn copies.
"""
from __future__ import annotations

import numpy as np

from ...types import SimilarityMap

SLOPES = [0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.33, 1.5, 2.0]


def random_background(rng, nq: int, nr: int, dense: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Noise in normalised units; ``dense`` knows every cell (as dense and region-level maps do)."""
    density = 1.0 if dense else rng.uniform(0.03, 0.5)
    mask = rng.random((nq, nr)) < density
    vals = np.clip(rng.normal(rng.uniform(-0.05, 0.1), rng.uniform(0.04, 0.1), (nq, nr)), -0.3, 0.5)
    if rng.random() < 0.4:  # bright bands: static footage similar to many keyframes
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.5:
                i = int(rng.integers(nq))
                vals[i] += rng.uniform(0.1, 0.3)
                mask[i] |= rng.random(nr) < 0.5
            else:
                j = int(rng.integers(nr))
                vals[:, j] += rng.uniform(0.1, 0.3)
                mask[:, j] |= rng.random(nq) < 0.5
    return vals.astype(np.float32), mask


def insert_copies(rng, vals: np.ndarray, mask: np.ndarray, n: int) -> list[tuple[float, float, float, float]]:
    """Draw ``n`` copy patterns into the map; returns their boxes in cells (x1, y1, x2, y2)."""
    nq, nr = vals.shape
    boxes = []
    for _ in range(n):
        slope = float(rng.choice(SLOPES))
        max_lq = min(nq, int(nr / slope))
        if max_lq < 2:
            continue
        lq = int(rng.integers(2, max(3, min(max_lq, 45)) + 1))
        lq = min(lq, max_lq)
        q0 = int(rng.integers(0, nq - lq + 1))
        lr = max(1, int(round(lq * slope)))
        r0 = int(rng.integers(0, max(1, nr - lr + 1)))
        level = rng.uniform(0.12, 0.6)
        drop = rng.uniform(0.0, 0.45)
        for k in range(lq):
            for j in range(int(np.floor(k * slope)), max(int(np.floor((k + 1) * slope)), int(np.floor(k * slope)) + 1)):
                i, jj = q0 + k, r0 + j
                if jj >= nr or rng.random() < drop:
                    continue
                jj = int(np.clip(jj + (rng.integers(-1, 2) if rng.random() < 0.15 else 0), 0, nr - 1))
                v = np.clip(level + rng.normal(0, 0.06), 0.05, 1.0)
                vals[i, jj] = max(vals[i, jj], v)
                mask[i, jj] = True
                for dj in (-1, 1):  # halo
                    if 0 <= jj + dj < nr and rng.random() < 0.4:
                        vals[i, jj + dj] = max(vals[i, jj + dj], v - rng.uniform(0.05, 0.2))
                        mask[i, jj + dj] = True
        boxes.append((float(r0), float(q0), float(min(r0 + lr, nr)), float(q0 + lq)))
    return boxes


def synthetic_map(rng, background: SimilarityMap | None = None, max_copies: int = 3, dense: bool = False):
    if background is not None:
        vals, mask = background.values.copy(), background.mask.copy()
    else:
        nq = int(rng.integers(4, 80))
        nr = int(rng.integers(4, 240))
        vals, mask = random_background(rng, nq, nr, dense)
    n = int(rng.integers(0, max_copies + 1)) if rng.random() < 0.85 else 0
    boxes = insert_copies(rng, vals, mask, n)
    nq, nr = vals.shape
    m = SimilarityMap(vals, np.arange(nq, dtype=float), np.arange(nr, dtype=float), mask)
    return m, boxes


def with_comparator_planes(model, background: SimilarityMap, drawn: SimilarityMap) -> SimilarityMap:
    """``drawn`` (copies drawn on ``background``) with the comparator planes ``model`` (a
    :class:`segscan.compare.visil.ViSiL`) gives it: the drawn similarity added to the background's
    frame similarity, in its units (a least-squares slope of one on the other over the
    background's cells), and the CNN run on the result."""
    import torch

    from ...compare.visil import planes

    if background.planes is None:
        raise ValueError("the background map has no comparator planes (built without a comparator)")
    v, sf = background.values.ravel().astype(np.float64), background.planes[1].ravel().astype(np.float64)
    var = v.var()
    slope = max(float(((v - v.mean()) * (sf - sf.mean())).mean() / var), 0.0) if var > 0 else 1.0
    frame = np.clip(background.planes[1] + slope * (drawn.values - background.values), -1.0, 1.0)
    with torch.inference_mode():
        t = torch.from_numpy(frame.astype(np.float32))[None]
        lengths = torch.tensor([frame.shape[1]])
        sv, _ = model.refine(t, lengths)
        pl = planes(t, sv, lengths, model.stride)[0]
    return SimilarityMap(drawn.values, drawn.q_times, drawn.r_times, drawn.mask, drawn.q_step, drawn.r_step, pl)
