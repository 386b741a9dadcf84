"""Video -> keyframe features: decode, select keyframes, run the extractor.

:class:`VideoEncoder` is the one object both ingest and query use, so a gallery video
and a query clip always go through exactly the same steps.
"""
from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from ..index.simmap import GRID_STEP
from ..types import VideoFeatures
from .decode import DecodeOptions, VideoReader
from .backbones import DEFAULT_BACKBONE
from .features import FeatureExtractor, describe_features
from .keyframes import make_selector

log = logging.getLogger(__name__)


@dataclass
class EncoderConfig:
    backbone: str = DEFAULT_BACKBONE
    layers: int = 3
    whitening: str = "auto"
    basis_fps: float = 8.0
    keyframes: str = "uniform"  # or "ske", the learned selector (segscan.pipeline.ske)
    keyframe_fps: float = 1.0  # uniform
    ske_threshold: float = 0.1  # ske: keyframe score threshold (chosen on train: HISTORY.md)
    ske_max_gap: float = 1.5  # ske: seconds after which a keyframe is taken whatever the score
    # ske: candidates only on the one-second map grid (pipeline.ske.keep_rule), the keyframes
    # a map shows; off, any basis frame (SSAN's rule): a third more keyframes, no better F1
    ske_grid: bool = True
    # pictures per forward pass: on a 2-core CPU 8-16 embed 20-40% more a second than 32 (the
    # activations stay in cache), with identical features; BENCHMARKS.md, ingest speed
    batch_size: int = 16
    threads: int | None = None
    device: str | None = None
    keep_regions: bool = True
    crop_borders: bool = True


@dataclass
class EncodedVideo:
    path: str
    info: dict
    features: VideoFeatures
    warnings: list[str] = field(default_factory=list)
    # features of the query-side views (segscan.pipeline.views) by view name: queries only
    views: dict[str, VideoFeatures] = field(default_factory=dict)


def feature_config(c: EncoderConfig) -> dict:
    """Everything that makes two databases' vectors comparable (no model is loaded)."""
    cfg = describe_features(c.backbone, c.layers, c.whitening)
    cfg.update({"keyframes": c.keyframes, "keyframe_fps": c.keyframe_fps, "basis_fps": c.basis_fps,
                "crop_borders": c.crop_borders})
    if c.keyframes == "ske":  # which frames are keyframes depends on the weights too
        from .ske import weights_path

        del cfg["keyframe_fps"]
        w = weights_path()
        if c.ske_grid:
            cfg["ske_step"] = GRID_STEP
        cfg.update({"ske_threshold": c.ske_threshold, "ske_max_gap": c.ske_max_gap,
                    "ske_weights": file_hash(str(w))[:12] if w.exists() else "missing"})
    return cfg


def query_config(c: EncoderConfig) -> EncoderConfig:
    """What a query clip is encoded with: the catalogue's configuration with uniform keyframes
    on the one-second map grid, whatever the catalogue's selector. A query is never stored, so a
    selector saves nothing on it (SKE keeps about as many keyframes as one a second), and rows
    on the grid leave only the catalogue's keyframes to resample (``query.maps.on_time_grid``):
    resampling both sides' irregular keyframes breaks a copy's diagonal where they differ."""
    return replace(c, keyframes="uniform", keyframe_fps=1.0 / GRID_STEP)


def file_hash(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class VideoEncoder:
    """Load the model once; then ``encoder(path) -> EncodedVideo``. Safe to use as a Ray actor body."""

    def __init__(self, config: EncoderConfig | None = None):
        self.config = config or EncoderConfig()
        c = self.config
        self.extractor = FeatureExtractor(c.backbone, layers=c.layers, whitening=c.whitening,
                                          batch_size=c.batch_size, device=c.device, threads=c.threads)
        self.selector = make_selector(c.keyframes, fps=c.keyframe_fps, threshold=c.ske_threshold,
                                      max_gap=c.ske_max_gap, step=GRID_STEP if c.ske_grid else None)
        q = query_config(c)
        self.query_selector = make_selector(q.keyframes, fps=q.keyframe_fps, threshold=q.ske_threshold,
                                            max_gap=q.ske_max_gap)

    def feature_config(self) -> dict:
        return feature_config(self.config)

    def __call__(self, path: str, views=(), query: bool = False) -> EncodedVideo:
        """Decode, select keyframes, extract; ``views`` also describes those views of each keyframe.
        ``query``: a clip to search with, whose keyframes are :func:`query_config`'s."""
        size = (self.extractor.spec.input_size,) * 2
        reader = VideoReader(path, DecodeOptions(fps=self.config.basis_fps, size=size,
                                                 crop_borders=self.config.crop_borders))
        times, glob, regs = [], [], []
        vglob, vregs = defaultdict(list), defaultdict(list)
        for t, g, r, vs in self.extractor.extract_stream(
                (self.query_selector if query else self.selector).select(reader), views=views):
            times.append(t)
            glob.append(g)
            if self.config.keep_regions:
                regs.append(r)
            for name, (vg, vr) in vs.items():
                vglob[name].append(vg)
                if self.config.keep_regions:
                    vregs[name].append(vr)
        info = {"duration": reader.info.duration, "fps": reader.info.fps,
                "width": reader.info.width, "height": reader.info.height}
        rep = reader.report
        if rep.truncated or not info["duration"]:
            # what was read, not what the container claims: a cut-off file is not stored as whole
            info["container_duration"] = info["duration"]
            info["duration"] = rep.decoded_end
        if rep.partial:
            info["decoded_span"] = [round(x, 3) for x in rep.decoded_span]

        def features(g, r):
            return VideoFeatures(times=np.concatenate(times), global_feats=np.concatenate(g),
                                 region_feats=np.concatenate(r) if r else None, duration=info["duration"])

        return EncodedVideo(str(path), info, features(glob, regs), list(reader.report.errors),
                            {n: features(vglob[n], vregs[n]) for n in vglob})
