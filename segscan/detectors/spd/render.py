"""One way to turn a similarity map into detector images, used at training and at query time.

A map (rows query keyframes, columns reference keyframes) is cut into square windows of
``WINDOW`` cells that overlap by ``OVERLAP`` cells, so a long reference is never squashed:
each window becomes an image with ``SCALE`` pixels per cell. Channel 0 is the similarity:
unknown cells (not among the neighbours) are 0, known cells ``255 * clip(similarity, 0, 1)``.
The image kinds (``IMAGES``):

- ``similarity``: channel 0 alone;
- ``centred``: adds the map centred twice (each row's and column's mean taken out, the grand
  mean put back) and centred by columns only (each column's mean taken out), both computed
  over the whole map before it is cut, at ``128 + 255 * value``: on footage that looks alike
  at every offset (a fixed camera, one presenter in one studio) the raw map is a bright
  block, and only the centred map shows whether one diagonal stands out;
- ``comparator``: adds the map's two comparator planes (:func:`segscan.compare.visil.planes`),
  the comparator's refined map and its attention-weighted frame similarity, at
  ``128 + 127 * value``: what a learned comparator sees of the same keyframe pairs.

Boxes are kept in cell units; seconds map to cells through the keyframe times, which may be
irregular.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...types import SimilarityMap

WINDOW = 64
OVERLAP = 16
SCALE = 2
IMGSZ = WINDOW * SCALE


@dataclass
class Window:
    q0: int
    r0: int
    image: np.ndarray  # (IMGSZ, IMGSZ) uint8, or (channels, IMGSZ, IMGSZ)


IMAGES = {"similarity": 1, "centred": 3, "comparator": 3}  # image kind -> channels


def map_to_cells(m: SimilarityMap, image: str = "similarity") -> np.ndarray:
    """(rows, cols) uint8 cells of the map, or (channels, rows, cols) for 3-channel images."""
    if image not in IMAGES:
        raise ValueError(f"SPD images are one of {', '.join(IMAGES)}, not {image!r}")
    v = np.where(m.mask, m.values, 0.0).astype(np.float64)
    raw = (np.clip(v, 0.0, 1.0) * 255).astype(np.uint8)
    if image == "similarity":
        return raw
    if image == "comparator":
        if m.planes is None or len(m.planes) != 2:
            raise ValueError("comparator images need the map's two comparator planes (a query run with a comparator)")
        signed = [np.clip(128 + 127 * p, 0, 255).astype(np.uint8) for p in m.planes]
        return np.stack([raw, *signed])
    col = v - v.mean(0, keepdims=True)
    both = col - v.mean(1, keepdims=True) + v.mean()
    centred = [np.clip(128 + 255 * c, 0, 255).astype(np.uint8) for c in (both, col)]
    return np.stack([raw, *centred])


def _starts(n: int) -> list[int]:
    if n <= WINDOW:
        return [0]
    step = WINDOW - OVERLAP
    starts = list(range(0, n - WINDOW + 1, step))
    if starts[-1] != n - WINDOW:
        starts.append(n - WINDOW)
    return starts


def windows(m: SimilarityMap, image: str = "similarity") -> list[Window]:
    """The map's windows; images are (IMGSZ, IMGSZ), or (channels, IMGSZ, IMGSZ) for 3-channel
    kinds (cells outside the map are 0 in every channel)."""
    cells = map_to_cells(m, image)
    lead = cells.shape[:-2]
    nq, nr = cells.shape[-2:]
    out = []
    for q0 in _starts(nq):
        for r0 in _starts(nr):
            tile = np.zeros((*lead, WINDOW, WINDOW), np.uint8)
            part = cells[..., q0:q0 + WINDOW, r0:r0 + WINDOW]
            tile[..., : part.shape[-2], : part.shape[-1]] = part
            out.append(Window(q0, r0, tile.repeat(SCALE, -2).repeat(SCALE, -1)))
    return out


def _steps(times: np.ndarray, step: float) -> np.ndarray:
    if len(times) < 2:
        return np.array([step])
    d = np.diff(times)
    return np.append(d, np.median(d))


def time_to_cell(t: float, times: np.ndarray, step: float) -> float:
    """Fractional cell position of time ``t`` (cell i covers [times[i], times[i] + step_i))."""
    times = np.asarray(times, float)
    if len(times) == 0:
        return 0.0
    st = _steps(times, step)
    i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
    return float(i + np.clip((t - times[i]) / st[i], 0.0, 1.0)) if t >= times[0] else 0.0


def cell_to_time(x: float, times: np.ndarray, step: float) -> float:
    times = np.asarray(times, float)
    st = _steps(times, step)
    i = int(np.clip(np.floor(x), 0, len(times) - 1))
    return float(times[i] + np.clip(x - i, 0.0, 1.0) * st[i])


def box_seconds_to_cells(box, m: SimilarityMap) -> tuple[float, float, float, float]:
    """VCSL box [q0, r0, q1, r1] in seconds -> (x1, y1, x2, y2) in cells (x: reference, y: query)."""
    q0, r0, q1, r1 = box
    return (time_to_cell(r0, m.r_times, m.r_step), time_to_cell(q0, m.q_times, m.q_step),
            time_to_cell(r1, m.r_times, m.r_step), time_to_cell(q1, m.q_times, m.q_step))


def window_labels(boxes_cells, w: Window, min_keep: float = 0.4) -> list[tuple[float, float, float, float]]:
    """YOLO labels (cx, cy, bw, bh normalised) of the boxes visible in window ``w``."""
    out = []
    for x1, y1, x2, y2 in boxes_cells:
        a = max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6)
        cx1, cy1 = max(x1 - w.r0, 0.0), max(y1 - w.q0, 0.0)
        cx2, cy2 = min(x2 - w.r0, WINDOW), min(y2 - w.q0, WINDOW)
        if cx2 - cx1 < 0.5 or cy2 - cy1 < 0.5:
            continue
        if (cx2 - cx1) * (cy2 - cy1) < min_keep * a and (cx2 - cx1) < 4 and (cy2 - cy1) < 4:
            continue
        out.append(((cx1 + cx2) / 2 / WINDOW, (cy1 + cy2) / 2 / WINDOW, (cx2 - cx1) / WINDOW, (cy2 - cy1) / WINDOW))
    return out
