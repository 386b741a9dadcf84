"""Operations on decoded frames: letterbox / pillarbox removal, and resizing through PyAV's
scaler (no OpenCV needed)."""
from __future__ import annotations

import av
import numpy as np


def remove_borders(img: np.ndarray, dark: float = 24.0, max_share: float = 0.3) -> np.ndarray:
    """Crop uniform dark bars (letterbox, pillarbox) and scale the rest back to the same size.

    A row or column counts as border when its brightest pixel is below ``dark``; at most
    ``max_share`` of each dimension is removed from each side, and nothing is done when
    the whole frame is dark.
    """
    h, w = img.shape[:2]
    lum = img.max(axis=2)
    rows = lum.max(axis=1) < dark
    cols = lum.max(axis=0) < dark
    if rows.all() or cols.all():
        return img

    def edge(flags, n):
        a = 0
        while a < int(n * max_share) and flags[a]:
            a += 1
        b = 0
        while b < int(n * max_share) and flags[n - 1 - b]:
            b += 1
        return a, b

    top, bottom = edge(rows, h)
    left, right = edge(cols, w)
    if top + bottom < 2 and left + right < 2:
        return img
    return resize_rgb(img[top:h - bottom, left:w - right], w, h)


def resize_rgb(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear resize of an RGB uint8 image through PyAV's scaler (no OpenCV needed)."""
    fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    return fr.reformat(width=w, height=h, format="rgb24", interpolation="BILINEAR").to_ndarray()
