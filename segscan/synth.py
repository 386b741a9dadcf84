"""Synthetic videos with exact ground truth: camera motion over still photos, and edited copies.

Used by the demo corpus, the tests and the benchmark's copy generator. Everything is
seeded and deterministic.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 25.0, crf: int = 23,
                codec: str = "libx264") -> int:
    """Encode RGB uint8 frames (even width/height) to H.264; written to a temporary name, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    n = 0
    rate = _fraction(fps)
    with av.open(str(tmp), mode="w") as out:
        stream = None
        for img in frames:
            if stream is None:
                h, w = img.shape[:2]
                stream = out.add_stream(codec, rate=rate)
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
            img = np.ascontiguousarray(img[: stream.height, : stream.width])
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
            n += 1
        if stream is not None:
            for pkt in stream.encode():
                out.mux(pkt)
    if n == 0:
        tmp.unlink(missing_ok=True)
        raise ValueError("no frames to write")
    os.replace(tmp, path)
    return n


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[..., :3]
    if img.dtype != np.uint8:
        img = (255 * (img.astype(np.float64) / max(img.max(), 1e-9))).astype(np.uint8)
    return img


def resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear resize through PyAV's scaler (no OpenCV needed)."""
    fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    return fr.reformat(width=w, height=h, format="rgb24", interpolation="BILINEAR").to_ndarray()


def pan_frames(photo: np.ndarray, seconds: float, fps: float = 25.0, size=(320, 240), seed: int = 0) -> Iterator[np.ndarray]:
    """A camera moving over ``photo``: a seeded path of pans and zooms, with slow light changes."""
    rng = np.random.default_rng(seed)
    photo = _to_rgb(photo)
    H, W = photo.shape[:2]
    out_w, out_h = size
    n = max(1, int(round(seconds * fps)))
    # a few waypoints (centre x, centre y, zoom) interpolated smoothly
    k = max(2, int(seconds // 3) + 2)
    way = np.stack([rng.uniform(0.3, 0.7, k), rng.uniform(0.3, 0.7, k), rng.uniform(0.45, 0.9, k)], 1)
    tt = np.linspace(0, 1, k)
    for i in range(n):
        t = i / max(n - 1, 1)
        cx, cy, z = (np.interp(t, tt, way[:, j]) for j in range(3))
        cw = z * min(W, H * out_w / out_h)
        ch = cw * out_h / out_w
        x0 = int(np.clip(cx * W - cw / 2, 0, W - cw))
        y0 = int(np.clip(cy * H - ch / 2, 0, H - ch))
        crop = photo[y0:y0 + int(ch), x0:x0 + int(cw)]
        frame = resize(crop, out_w, out_h).astype(np.float32)
        frame *= 0.85 + 0.15 * np.sin(2 * np.pi * (t * seconds / 7.0) + seed)
        yield np.clip(frame, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- edits
@dataclass
class SpatialEdit:
    """A per-frame picture edit; parameters fixed at construction (seeded)."""

    kind: str
    strength: float = 0.5
    seed: int = 0

    def __call__(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        s = self.strength
        rng = np.random.default_rng(self.seed)
        if self.kind == "crop":  # keep a central window of (1 - 0.3 s) of each side
            f = 1.0 - 0.3 * s
            cw, ch = int(w * f), int(h * f)
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            return resize(img[y0:y0 + ch, x0:x0 + cw], w, h)
        if self.kind == "flip":
            return np.ascontiguousarray(img[:, ::-1])
        if self.kind == "gray":
            g = (img @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
            return np.repeat(g[..., None], 3, axis=2)
        if self.kind == "noise":
            noise = np.random.default_rng(int(img[::17, ::13].sum()) + self.seed).normal(0, 25 * s, img.shape)
            return np.clip(img + noise, 0, 255).astype(np.uint8)
        if self.kind == "brightness":
            return np.clip(img.astype(np.float32) * (1 + 0.6 * s) + 20 * s, 0, 255).astype(np.uint8)
        if self.kind == "letterbox":
            b = int(h * 0.15 * s) + 2
            out = img.copy()
            out[:b] = 0
            out[-b:] = 0
            return out
        if self.kind == "logo":
            out = img.copy()
            lw, lh = int(w * 0.25), int(h * 0.15)
            x0, y0 = int(rng.uniform(0, w - lw)), int(rng.uniform(0, h - lh))
            out[y0:y0 + lh, x0:x0 + lw] = (0.4 * out[y0:y0 + lh, x0:x0 + lw] + 0.6 * 255).astype(np.uint8)
            return out
        if self.kind == "blur":
            k = 1 + 2 * int(2 * s + 1)
            f = img.astype(np.float32)
            for ax in (0, 1):
                f = sum(np.roll(f, d, axis=ax) for d in range(-(k // 2), k // 2 + 1)) / k
            return f.astype(np.uint8)
        raise ValueError(f"unknown spatial edit {self.kind!r}")


def read_all(path, fps: float | None = None, size=None) -> tuple[list[np.ndarray], list[float], float]:
    """Every frame of a (short) video with its time; resampled to ``fps`` when given."""
    from .pipeline.decode import DecodeOptions, VideoReader

    reader = VideoReader(path)
    info = reader.info
    w, h = size or (info.width - info.width % 2, info.height - info.height % 2)
    r = VideoReader(path, DecodeOptions(fps=fps or max(info.fps, 1.0) * 1.001, size=(w, h)))
    frames, times = [], []
    for fr in r:
        frames.append(fr.image)
        times.append(fr.time)
    return frames, times, info.fps or fps or 25.0


def copy_segment(src_frames: list[np.ndarray], src_fps: float, start: float, end: float, speed: float = 1.0,
                 out_fps: float = 25.0, edits: Iterable[SpatialEdit] = ()) -> list[np.ndarray]:
    """Frames of source seconds [start, end) played at ``speed``, resampled to ``out_fps``, edited."""
    dur_out = (end - start) / speed
    n = max(1, int(round(dur_out * out_fps)))
    out = []
    edits = list(edits)
    for i in range(n):
        t_src = start + i / out_fps * speed
        j = min(int(round(t_src * src_fps)), len(src_frames) - 1)
        img = src_frames[j]
        for e in edits:
            img = e(img)
        out.append(img)
    return out
