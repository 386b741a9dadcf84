"""What the store keeps per video: its record, and its features packed for LMDB."""
from __future__ import annotations

import io
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from ..types import VideoFeatures
from .regioncodec import DEFAULT_CODEC, Codebook
from .regioncodec import decode as decode_regions
from .regioncodec import encode as encode_regions


@dataclass
class VideoRecord:
    video_id: str
    num: int
    path: str
    content_hash: str
    duration: float
    fps: float
    width: int
    height: int
    n_keyframes: int
    times: list[float]
    ingested_at: float = field(default_factory=time.time)
    warnings: list[str] = field(default_factory=list)
    # set for a partly decoded video: the seconds its frames cover (None: the whole stream decoded)
    decoded_span: list[float] | None = None

    @classmethod
    def make(cls, video_id: str, num: int, path, content_hash: str, info: dict, feats: VideoFeatures,
             warnings=None) -> "VideoRecord":
        """The record of a video being added: what the container said (``info``) and its keyframes."""
        return cls(video_id=video_id, num=num, path=str(path), content_hash=content_hash,
                   duration=float(info.get("duration", feats.duration)), fps=float(info.get("fps", 0.0)),
                   width=int(info.get("width", 0)), height=int(info.get("height", 0)), n_keyframes=len(feats),
                   times=[round(float(t), 4) for t in feats.times], warnings=list(warnings or []),
                   decoded_span=info.get("decoded_span"))

    def __post_init__(self):
        if len(self.times) != self.n_keyframes:
            raise ValueError(f"{self.video_id}: {self.n_keyframes} keyframes but {len(self.times)} times")


def pack_features(f: VideoFeatures, region_codec: str = DEFAULT_CODEC, codebook: Codebook | None = None) -> bytes:
    buf = io.BytesIO()
    arrays = {"times": f.times, "global": f.global_feats.astype(np.float16)}
    if f.region_feats is not None:
        arrays.update(encode_regions(f.region_feats, region_codec, codebook))
    np.savez(buf, **arrays)
    return buf.getvalue()


def as_stored(g: np.ndarray) -> np.ndarray:
    """Global vectors as the store keeps them (float16) and gives them back (float32, unit length).

    The index is always fed these, so an index rebuilt from the store equals the one built at ingest.
    """
    g = np.asarray(g, dtype=np.float16).astype(np.float32)
    return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)


def unpack_features(b: bytes, codebook: Codebook | None = None, duration: float = 0.0) -> VideoFeatures:
    with np.load(io.BytesIO(b)) as z:
        regions = decode_regions(z, codebook)
        return VideoFeatures(times=z["times"], global_feats=as_stored(z["global"]), region_feats=regions,
                             duration=duration)


def num_key(num: int) -> bytes:
    return struct.pack(">Q", num)
