"""Video decoding with PyAV: basis frames at a fixed rate, timed by the stream's PTS.

Frames are streamed one at a time (never the whole video in memory), scaled by the
decoder to the size the backbone wants, and rotated upright when the container carries
a display matrix. Basis frames are picked on a regular time grid: for each grid time
the decoded frame whose presentation time is nearest is kept, and each decoded frame
is kept at most once, so timestamps are the decoder's own and strictly increasing,
also for variable-frame-rate streams and for sources slower than the basis rate.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Iterator

import av
import numpy as np

from ..errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoNotFoundError,
    VideoTooLargeError,
)
from ..types import Frame, VideoInfo
from .frames import remove_borders

log = logging.getLogger(__name__)

#: Frames larger than this many pixels are refused (16K x 16K would need 768 MiB per RGB frame).
DEFAULT_MAX_PIXELS = 8192 * 8192


@dataclass
class DecodeOptions:
    fps: float = 8.0
    size: tuple[int, int] = (224, 224)  # (width, height) of the frames handed out
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_messages: int = 20  # runs of undecodable packets described in the report; the rest are counted
    crop_borders: bool = True  # remove black letterbox / pillarbox borders

    def __post_init__(self):
        if not (self.fps > 0):
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.size[0] <= 0 or self.size[1] <= 0:
            raise ValueError(f"size must be positive, got {self.size}")


@dataclass
class DecodeReport:
    """What happened while decoding: how many frames, the span they cover, and what was lost.

    ``errors`` describes each run of undecodable packets (decoding goes on after each) and a
    stream that ends before the container's duration (``truncated``: a cut-off file).
    """

    frames_decoded: int = 0
    frames_kept: int = 0
    last_time: float = 0.0  # of the last kept frame
    first_decoded: float | None = None
    last_decoded: float = 0.0
    decoded_end: float = 0.0  # where the decoded picture ends: the last frame's time plus one frame period
    bad_packets: int = 0
    truncated: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.errors)

    @property
    def decoded_span(self) -> tuple[float, float]:
        return (self.first_decoded or 0.0, self.last_decoded)


def _open(path: str):
    if not os.path.exists(path):
        raise VideoNotFoundError(path, "no such file")
    if not os.path.isfile(path):
        raise VideoNotFoundError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise EmptyVideoError(path, "file is empty (0 bytes)")
    try:
        container = av.open(path, mode="r")
    except (av.error.InvalidDataError, UnicodeDecodeError) as exc:
        raise NotAVideoError(path, f"not a readable media file ({exc.__class__.__name__}: {exc})") from exc
    except av.error.FFmpegError as exc:
        raise NotAVideoError(path, f"cannot open: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise NoVideoStreamError(path, "the file has no video stream")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read container metadata without decoding frames."""
    path = str(path)
    container = _open(path)
    try:
        return _info(path, container, container.streams.video[0])
    finally:
        container.close()


def _info(path: str, container, stream) -> VideoInfo:
    cc = stream.codec_context
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    width, height = cc.width or 1, cc.height or 1
    return VideoInfo(
        path=path,
        duration=max(duration, 0.0),
        fps=float(rate) if rate else 0.0,
        width=width,
        height=height,
        codec=cc.name or "",
    )


class VideoReader:
    """Iterate basis frames of one video.

    >>> reader = VideoReader("clip.mp4", DecodeOptions(fps=8))
    >>> for frame in reader: ...   # Frame(index, time, image)
    >>> reader.report.errors       # packets that could not be decoded, if any

    Raises the typed errors of :mod:`segscan.errors`: missing file, not a video, no video
    stream, too large, zero frames; a stream that fails part-way is decoded as far as
    possible and the failures listed in ``report.errors``; if nothing at all decodes,
    :class:`CorruptVideoError` is raised.
    """

    def __init__(self, path: str | os.PathLike, options: DecodeOptions | None = None):
        self.path = str(path)
        self.options = options or DecodeOptions()
        self.report = DecodeReport()
        container = _open(self.path)
        try:
            stream = container.streams.video[0]
            self.info = _info(self.path, container, stream)
            if self.info.width * self.info.height > self.options.max_pixels:
                raise VideoTooLargeError(
                    self.path,
                    f"frame size {self.info.width}x{self.info.height} exceeds the limit of "
                    f"{self.options.max_pixels} pixels",
                )
        finally:
            container.close()

    def _decoded(self, container, stream) -> Iterator[tuple[float, "av.VideoFrame"]]:
        """Decoded frames with their times (s, relative to the stream start), skipping bad packets."""
        start = stream.start_time if stream.start_time is not None else None
        tb = stream.time_base
        last_t = -np.inf
        bad = None  # the current run of undecodable packets: [first time, last time, count, message]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                # every later packet is still tried: decoding picks up again at the next decodable frame
                t_pkt = _pkt_time(packet)
                self.report.bad_packets += 1
                bad = [t_pkt, t_pkt, 1, str(exc)] if bad is None else [bad[0], t_pkt, bad[2] + 1, bad[3]]
                continue
            if bad is not None and frames:
                self._note_bad(bad)
                bad = None
            for fr in frames:
                pts = fr.pts if fr.pts is not None else fr.dts
                if pts is None:
                    continue
                if start is None:
                    start = pts
                t = float((pts - start) * tb) if tb is not None else float(fr.time or 0.0)
                if t <= last_t:  # out-of-order or duplicate timestamps: keep the first
                    continue
                last_t = t
                self.report.frames_decoded += 1
                if self.report.first_decoded is None:
                    self.report.first_decoded = t
                self.report.last_decoded = t
                yield t, fr
        if bad is not None:
            self._note_bad(bad)

    def _note_bad(self, run) -> None:
        n_runs = sum(1 for e in self.report.errors if e.startswith("undecodable"))
        if n_runs < self.options.max_messages:
            self.report.errors.append(f"undecodable {run[2]} packet(s) at {run[0]:.2f}-{run[1]:.2f}s: {run[3]}")

    def _check_complete(self) -> None:
        """A stream whose frames stop well before the container's duration was cut off."""
        dur, fps = self.info.duration, self.info.fps
        end = self.report.decoded_end = self.report.last_decoded + (1.0 / fps if fps > 0 else 0.0)
        # a second (or 5%) of slack: containers round, and audio may outlast the picture
        if dur > 0 and self.report.frames_decoded and dur - end > max(1.0, 0.05 * dur):
            self.report.truncated = True
            self.report.errors.append(f"truncated: frames decode up to {end:.2f}s of the container's {dur:.2f}s")

    def __iter__(self) -> Iterator[Frame]:
        opts = self.options
        step = 1.0 / opts.fps
        container = _open(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            target = None  # next grid time
            prev = None  # (time, frame, kept) of the previous decoded frame
            index = 0
            try:
                for t, fr in self._decoded(container, stream):
                    if target is None:
                        target = t  # the grid starts at the first frame
                    kept_current = False
                    while target <= t + 1e-9:
                        # the grid time lies in (prev, t]: the nearer frame stands for it (ties: earlier)
                        if prev is not None and (target - prev[0]) <= (t - target) + 1e-9:
                            if not prev[2]:
                                yield self._emit(index, prev[0], prev[1])
                                index += 1
                                prev = (prev[0], prev[1], True)
                            target += step  # a frame already kept is not kept twice
                            continue
                        yield self._emit(index, t, fr)
                        index += 1
                        kept_current = True
                        # next grid point strictly after this frame
                        target += step * (np.floor((t - target) / step + 1e-9) + 1)
                        break
                    prev = (t, fr, kept_current)
            except av.error.FFmpegError as exc:  # demuxer failure (truncated container)
                self.report.errors.append(f"demux stopped: {exc}")
        finally:
            container.close()
        self._check_complete()
        if self.report.frames_kept == 0:
            if self.report.errors:
                raise CorruptVideoError(self.path, "no frame could be decoded: " + self.report.errors[0])
            raise EmptyVideoError(self.path, "the video stream has no frames")
        if self.report.errors:
            log.warning("%s: decoded up to %.2fs with %d error(s): %s", self.path,
                        self.report.last_time, len(self.report.errors), self.report.errors[0])

    def _emit(self, index: int, t: float, fr) -> Frame:
        self.report.frames_kept += 1
        self.report.last_time = t
        return Frame(index=index, time=t, load=lambda: self._convert(fr), thumb=lambda: self._thumbnail(fr))

    def _convert(self, fr) -> np.ndarray:
        w, h = self.options.size
        rot = _rotation(fr)
        if rot % 2 == 1:
            w, h = h, w  # scale before rotating, so the rotated image has the asked size
        img = fr.reformat(width=w, height=h, format="rgb24").to_ndarray()
        if self.options.crop_borders:
            img = remove_borders(img)
        if rot:
            img = np.ascontiguousarray(np.rot90(img, k=rot))
        return img

    @staticmethod
    def _thumbnail(fr) -> np.ndarray:
        """The whole picture averaged down to Frame.THUMB pixels a side (borders kept: the
        keyframe selector looks at change over time, which borders do not have)."""
        if fr.format.name in ("yuv420p", "yuvj420p"):
            img = _yuv420_thumbnail(fr, Frame.THUMB)
        else:
            img = fr.reformat(width=Frame.THUMB, height=Frame.THUMB, format="rgb24", interpolation="AREA").to_ndarray()
        rot = _rotation(fr)
        return np.ascontiguousarray(np.rot90(img, k=rot)) if rot else img


_THUMB_SAMPLES = 4  # samples per thumbnail pixel and axis


def _yuv420_thumbnail(fr, side: int) -> np.ndarray:
    """Every basis frame gets a thumbnail, so it must cost little: swscale's area filter
    takes about 3 ms on a 720p frame (0.3 s per minute of video at 8 fps); averaging a
    4x4 grid of samples per thumbnail pixel straight from the YUV planes takes a tenth."""
    n = side * _THUMB_SAMPLES

    def plane(i: int, h: int, w: int) -> np.ndarray:
        p = fr.planes[i]
        a = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
        rows = ((np.arange(n) + 0.5) * h / n).astype(np.intp)
        cols = ((np.arange(n) + 0.5) * w / n).astype(np.intp)
        return a[np.ix_(rows, cols)].reshape(side, _THUMB_SAMPLES, side, _THUMB_SAMPLES).mean((1, 3))

    y = plane(0, fr.height, fr.width)
    u = plane(1, (fr.height + 1) // 2, (fr.width + 1) // 2) - 128.0
    v = plane(2, (fr.height + 1) // 2, (fr.width + 1) // 2) - 128.0
    if fr.format.name == "yuv420p":  # limited range (BT.601)
        y, u, v = (y - 16.0) * 1.164, u * 1.138, v * 1.138
    rgb = np.stack([y + 1.402 * v, y - 0.344 * u - 0.714 * v, y + 1.772 * u], -1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _rotation(fr) -> int:
    """Quarter turns that make the picture upright (the stream's display matrix)."""
    return int(round((getattr(fr, "rotation", 0) or 0) / 90.0)) % 4


def _pkt_time(packet) -> float:
    try:
        return float(packet.pts * packet.time_base) if packet.pts is not None else -1.0
    except Exception:  # noqa: BLE001 - only for an error message
        return -1.0


def read_frames(path, fps: float = 8.0, size=(224, 224)) -> tuple[list[Frame], DecodeReport]:
    """Decode a whole (short) video into memory; for tests and tools, not for ingest."""
    reader = VideoReader(path, DecodeOptions(fps=fps, size=tuple(size)))
    frames = list(reader)
    return frames, reader.report
