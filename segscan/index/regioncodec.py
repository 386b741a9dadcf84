"""How the store keeps region vectors, the bulk of a catalogue's bytes.

Every keyframe keeps R region vectors (3x3) of D dimensions for the region maps and the
comparator. Kept as float16 they take 2*R*D bytes (4.6 KB at 9 x 256); ``int8`` keeps each
vector as signed bytes scaled by its own largest magnitude (one float16 scale per vector),
half the bytes. Region vectors are unit-length and whitened, so their components are of
similar size and a per-vector scale loses little. Decoding gives float16 either way, so
everything that reads region vectors is unchanged.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

CODECS = ("float16", "int8")
DEFAULT_CODEC = "float16"


def check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise ValueError(f"unknown region codec {codec!r} (one of: {', '.join(CODECS)})")
    return codec


def encode(regions: np.ndarray, codec: str) -> dict[str, np.ndarray]:
    """(K, R, D) region vectors -> the arrays the store packs for ``codec``."""
    regions = np.asarray(regions, dtype=np.float32)
    if check_codec(codec) == "float16":
        return {"regions": regions.astype(np.float16)}
    peak = np.abs(regions).max(axis=-1)  # (K, R)
    # the scale is stored as float16: quantise against the value decoding will see
    scale = peak.astype(np.float16).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)[..., None]
    codes = np.clip(np.rint(regions / safe * 127.0), -127, 127).astype(np.int8)
    return {"regions_i8": codes, "regions_scale": scale.astype(np.float16)}


def decode(arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The (K, R, D) float16 region vectors from packed arrays (None: stored without them)."""
    names = set(arrays.keys())  # a dict or an open .npz
    if "regions" in names:
        return arrays["regions"]
    if "regions_i8" in names:
        codes = arrays["regions_i8"].astype(np.float32)
        scale = arrays["regions_scale"].astype(np.float32)[..., None] / 127.0
        return (codes * scale).astype(np.float16)
    return None


def bytes_per_keyframe(regions: int, dim: int, codec: str) -> int:
    """Bytes one keyframe's region vectors take under ``codec`` (arrays only, no container)."""
    if check_codec(codec) == "float16":
        return 2 * regions * dim
    return regions * dim + 2 * regions
