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

from .pipeline.frames import resize_rgb as resize


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 25.0, crf: int = 23,
                codec: str = "libx264", threads: int | None = None) -> int:
    """Encode RGB uint8 frames (even width/height) to H.264; written to a temporary name, then renamed.

    ``threads=1`` makes the output the same on every machine (x264's choices depend on its
    thread count, which by default follows the number of cores).
    """
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
                    stream.options = {"crf": str(crf), "preset": "veryfast",
                                      **({"threads": str(threads)} if threads else {})}
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


def pan_length(seconds: float, fps: float) -> int:
    """Frames :func:`pan_frames` makes for ``seconds`` at ``fps``."""
    return max(1, int(round(seconds * fps)))


def pan_frames(photo: np.ndarray, seconds: float, fps: float = 25.0, size=(320, 240), seed: int = 0) -> Iterator[np.ndarray]:
    """A camera moving over ``photo``: a seeded path of pans and zooms, with slow light changes."""
    rng = np.random.default_rng(seed)
    photo = _to_rgb(photo)
    H, W = photo.shape[:2]
    out_w, out_h = size
    n = pan_length(seconds, fps)
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
        if self.kind == "rotate":  # small rotation with a slight zoom, borders black (an affine edit)
            ang = np.deg2rad((5 + 10 * s) * (1 if rng.random() < 0.5 else -1))
            zoom = 1.0 + 0.1 * s
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            cx, cy = w / 2, h / 2
            c, sn = np.cos(ang) / zoom, np.sin(ang) / zoom
            xs = c * (xx - cx) + sn * (yy - cy) + cx
            ys = -sn * (xx - cx) + c * (yy - cy) + cy
            ok = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
            out = np.zeros_like(img)
            out[ok] = img[ys[ok].astype(int), xs[ok].astype(int)]
            return out
        if self.kind == "gamma":  # contrast and gamma change
            g = 0.5 + s if rng.random() < 0.5 else 1.0 / (0.5 + s)
            f = (img.astype(np.float32) / 255.0) ** g
            f = (f - 0.5) * (1 + 0.5 * s) + 0.5
            return np.clip(f * 255, 0, 255).astype(np.uint8)
        if self.kind == "lowres":  # down to a third of the size and back
            small = resize(img, max(16, (w // 3) & ~1), max(16, (h // 3) & ~1))
            return resize(small, w, h)
        if self.kind == "text":  # a burnt-in caption band with block "letters"
            out = img.copy()
            y0 = int(h * 0.8)
            out[y0:y0 + int(h * 0.1)] = (0.5 * out[y0:y0 + int(h * 0.1)]).astype(np.uint8)
            for k in range(int(rng.integers(8, 20))):
                x = int(w * 0.1 + k * w * 0.04)
                if x + 6 < w:
                    out[y0 + 4:y0 + int(h * 0.1) - 4, x:x + int(rng.integers(3, 7))] = 255
            return out
        if self.kind == "blur":
            k = 1 + 2 * int(2 * s + 1)
            f = img.astype(np.float32)
            for ax in (0, 1):
                f = sum(np.roll(f, d, axis=ax) for d in range(-(k // 2), k // 2 + 1)) / k
            return f.astype(np.uint8)
        raise ValueError(f"unknown spatial edit {self.kind!r}")


SPATIAL_EDITS = ("crop", "flip", "gray", "noise", "brightness", "letterbox", "logo", "rotate", "gamma",
                 "lowres", "text", "blur")


def picture_in_picture(fg: np.ndarray, bg: np.ndarray, scale: float = 0.55, corner: int = 0) -> np.ndarray:
    """``fg`` shrunk to ``scale`` and pasted into ``bg`` (same size) at one of four corners."""
    h, w = bg.shape[:2]
    sw, sh = int(w * scale) & ~1, int(h * scale) & ~1
    small = resize(fg, sw, sh)
    out = bg.copy()
    m = int(0.05 * w)
    x0 = m if corner in (0, 2) else w - sw - m
    y0 = m if corner in (0, 1) else h - sh - m
    out[y0:y0 + sh, x0:x0 + sw] = small
    return out


def read_all(path, fps: float | None = None, size=None) -> tuple[list[np.ndarray], list[float], float]:
    """Every frame of a (short) video with its time; resampled to ``fps`` when given."""
    from .pipeline.decode import DecodeOptions, VideoReader

    reader = VideoReader(path)
    info = reader.info
    w, h = size or (info.width - info.width % 2, info.height - info.height % 2)
    r = VideoReader(path, DecodeOptions(fps=fps or max(info.fps, 1.0) * 1.001, size=(w, h)))
    # frames are timed by their presentation times: pass ``times`` on to copy_segment
    frames, times = [], []
    for fr in r:
        frames.append(fr.image)
        times.append(fr.time)
    return frames, times, info.fps or fps or 25.0


def copy_segment(src_frames: list[np.ndarray], src_times, start: float, end: float, speed: float = 1.0,
                 out_fps: float = 25.0, edits: Iterable[SpatialEdit] = (), drop: float = 0.0,
                 seed: int = 0) -> list[np.ndarray]:
    """Frames of source seconds [start, end) played at ``speed``, resampled to ``out_fps``, edited.

    ``src_times``: each source frame's time (s), or a frame rate for evenly timed frames.
    ``drop``: share of frames dropped (each replaced by the previous kept frame, so timing holds).
    """
    if np.isscalar(src_times):
        src_times = np.arange(len(src_frames)) / float(src_times)
    src_times = np.asarray(src_times, dtype=np.float64)
    dur_out = (end - start) / speed
    n = max(1, int(round(dur_out * out_fps)))
    out = []
    edits = list(edits)
    rng = np.random.default_rng(seed)
    j_prev = None
    for i in range(n):
        t_src = start + i / out_fps * speed
        j = int(np.clip(np.searchsorted(src_times, t_src + 1e-6, side="right") - 1, 0, len(src_frames) - 1))
        if drop and j_prev is not None and rng.random() < drop:
            j = j_prev
        j_prev = j
        img = src_frames[j]
        for e in edits:
            img = e(img)
        out.append(img)
    return out
