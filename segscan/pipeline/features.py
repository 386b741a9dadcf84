"""Region features (L_N-iMAC), PCA whitening and the per-keyframe global vector.

L_N-iMAC (as in ViSiL): from each of the last N tapped feature maps, max-pool a 3x3 grid
of regions, l2-normalise each region vector per layer, concatenate the layers and
l2-normalise again. A learned PCA whitening (trained by
``python -m segscan.train.whitening``) maps the concatenation to D dimensions. The
keyframe's global vector, the one the index holds, is the l2-normalised sum of its
whitened region vectors.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..detectors import WEIGHTS_DIR
from ..errors import WeightsNotFoundError
from .backbones import DEFAULT_BACKBONE, BackboneSpec, load_backbone
from .fuse import fold_same_padding, fuse_batchnorm, inplace_activations

log = logging.getLogger(__name__)

_THREADS_SET = False


def set_threads(n: int | None) -> None:
    """Set torch's intra-op thread count once per process (later calls are ignored)."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    torch.set_num_threads(max(1, n or os.cpu_count() or 1))
    _THREADS_SET = True


def whitening_path(backbone: str, layers: int) -> Path:
    return WEIGHTS_DIR / f"whitening-{backbone}-L{layers}.npz"


@dataclass
class Whitening:
    """PCA whitening: ``y = normalize(((x - mean) @ proj) / sqrt(eigvals + eps))``."""

    mean: np.ndarray  # (Din,)
    proj: np.ndarray  # (Din, Dout)
    scale: np.ndarray  # (Dout,)

    def __post_init__(self):
        if self.proj.shape[0] != self.mean.shape[0] or self.proj.shape[1] != self.scale.shape[0]:
            raise ValueError(f"whitening shapes disagree: mean {self.mean.shape} proj {self.proj.shape} scale {self.scale.shape}")

    @property
    def dim(self) -> int:
        return int(self.proj.shape[1])

    @classmethod
    def fit(cls, x: np.ndarray, dim: int, eps: float = 1e-6) -> "Whitening":
        x = np.asarray(x, dtype=np.float64)
        if len(x) < dim:
            raise ValueError(f"need at least {dim} samples to learn a {dim}-d whitening, got {len(x)}")
        mean = x.mean(0)
        cov = np.cov(x - mean, rowvar=False)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1][:dim]
        vals, vecs = vals[order], vecs[:, order]
        scale = 1.0 / np.sqrt(np.maximum(vals, 0) + eps * vals.max())
        return cls(mean.astype(np.float32), vecs.astype(np.float32), scale.astype(np.float32))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, device=x.device)
        proj = torch.as_tensor(self.proj * self.scale[None, :], device=x.device)
        return F.normalize((x - mean) @ proj, dim=-1)

    def save(self, path: str | os.PathLike, **meta) -> None:
        path = Path(path)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, mean=self.mean, proj=self.proj, scale=self.scale,
                 **{k: np.asarray(v) for k, v in meta.items()})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Whitening":
        with np.load(path) as z:
            return cls(z["mean"], z["proj"], z["scale"])


def imac(maps: list[torch.Tensor], grid: int = 3) -> torch.Tensor:
    """L_N-iMAC: (B, grid*grid, sum C) region vectors from a list of (B, C, H, W) maps."""
    parts = []
    for m in maps:
        r = F.adaptive_max_pool2d(m, grid)  # (B, C, g, g)
        r = r.flatten(2).transpose(1, 2)  # (B, g*g, C)
        parts.append(F.normalize(r, dim=-1))
    return F.normalize(torch.cat(parts, dim=-1), dim=-1)


def resolve_whitening(backbone: str, layers: int, whitening: str | None) -> Path | None:
    """The whitening file to use: "auto" = the shipped one if present, "none" = none, else a path."""
    if whitening in ("none", None):
        return None
    if whitening == "auto":
        p = whitening_path(backbone, layers)
        if p.exists():
            return p
        log.warning("no whitening for %s L%d at %s: using raw iMAC features", backbone, layers, p)
        return None
    p = Path(whitening)
    if not p.exists():
        raise WeightsNotFoundError(f"whitening file {p} not found; train one with python -m segscan.train.whitening")
    return p


def describe_features(backbone: str, layers: int, whitening: str | None) -> dict:
    """The feature configuration, computed without loading the backbone."""
    from .backbones import get_spec

    spec = get_spec(backbone)
    if spec.global_dim:
        return {"backbone": spec.name, "layers": 0, "dim": spec.global_dim, "whitening": "",
                "input_size": spec.input_size}
    wfile = resolve_whitening(backbone, layers, whitening)
    if wfile is not None:
        with np.load(wfile) as z:
            dim = int(z["proj"].shape[1])
        digest = hashlib.sha256(wfile.read_bytes()).hexdigest()[:16]
    else:
        dim, digest = int(sum(spec.tap_channels[-layers:])), ""
    return {"backbone": spec.name, "layers": layers, "dim": dim, "whitening": digest,
            "input_size": spec.input_size}


class FeatureExtractor:
    """Backbone + iMAC + whitening, batched, under ``torch.inference_mode``.

    ``whitening``: "auto" uses the shipped file for this backbone and N if there is one
    (and logs that raw iMAC is used otherwise), "none" never whitens, a path loads that file.
    """

    def __init__(self, backbone: str = DEFAULT_BACKBONE, layers: int = 3, whitening: str = "auto",
                 batch_size: int = 16, device: str | None = None, threads: int | None = None):
        if not 1 <= layers <= 3:
            raise ValueError(f"layers (the N of L_N-iMAC) must be 1..3, got {layers}")
        set_threads(threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.spec: BackboneSpec
        self.spec, model = load_backbone(backbone)
        self.embedder = model if self.spec.global_dim else None
        if self.embedder is None:
            fuse_batchnorm(model)  # inference only: same features, one pass less per layer
            fold_same_padding(model)  # the same again for the separate padding before convolutions
            inplace_activations(model)  # and for the copy each activation made
        self.model = None if self.embedder else model.to(self.device).to(memory_format=torch.channels_last)
        self.layers = 0 if self.embedder else layers
        self.batch_size = batch_size
        self.whitening_file = None if self.embedder else resolve_whitening(backbone, layers, whitening)
        self.whitening: Whitening | None = None
        if self.whitening_file is not None:
            self.whitening = Whitening.load(self.whitening_file)
        mean = torch.tensor(self.spec.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.spec.std, dtype=torch.float32).view(1, 3, 1, 1)
        self._mean, self._std = mean.to(self.device), std.to(self.device)

    @property
    def raw_dim(self) -> int:
        return self.spec.global_dim or int(sum(self.spec.tap_channels[-self.layers:]))

    @property
    def dim(self) -> int:
        return self.whitening.dim if self.whitening is not None else self.raw_dim

    def config(self) -> dict:
        """What determines the features: stored with a database so mixing configurations is caught."""
        return describe_features(self.spec.name, self.layers,
                                 str(self.whitening_file) if self.whitening_file else "none")

    def _preprocess(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        x = x.permute(0, 3, 1, 2).float()
        s = self.spec.input_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self._mean) / self._std
        return x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def raw_regions(self, images: np.ndarray) -> torch.Tensor:
        """(B, 9, raw_dim) unwhitened iMAC region vectors for (B, H, W, 3) uint8 images."""
        if self.embedder is not None:
            s = self.spec.input_size
            x = self._preprocess(images) if images.shape[1:3] != (s, s) else torch.from_numpy(np.ascontiguousarray(images))
            if x.dtype != torch.uint8:  # resized: back to pixels
                x = x.permute(0, 2, 3, 1).round().clamp(0, 255).to(torch.uint8)
            return self.embedder(x.cpu().numpy())[:, None, :].expand(-1, 9, -1).to(self.device)
        maps = self.model(self._preprocess(images))
        return imac([m.float() for m in maps[-self.layers:]])

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (global (B, D) float32, regions (B, 9, D) float16) for a batch of images."""
        out_g, out_r = [], []
        for i in range(0, len(images), self.batch_size):
            r = self.raw_regions(images[i:i + self.batch_size])
            if self.whitening is not None:
                r = self.whitening.apply(r)
            g = F.normalize(r.sum(1), dim=-1)
            out_g.append(g.cpu().numpy().astype(np.float32))
            out_r.append(r.cpu().numpy().astype(np.float16))
        if not out_g:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, 9, self.dim), np.float16)
        return np.concatenate(out_g), np.concatenate(out_r)

    def extract_stream(self, frames: Iterable, batch: int | None = None, views=()):
        """Features for a stream of Frame objects: yields (times, global, regions, views) per batch.

        ``views`` names query-side views (:mod:`segscan.pipeline.views`); the last item is a
        dict of each view's (global, regions) for the batch, empty without views.
        """
        from .views import view_images

        batch = batch or self.batch_size
        buf_t, buf_i = [], []

        def run():
            images = np.stack(buf_i)
            g, r = self(images)
            return np.array(buf_t), g, r, {n: self(np.ascontiguousarray(v)) for n, v in view_images(images, views)}

        for fr in frames:
            buf_t.append(fr.time)
            buf_i.append(fr.image)
            if len(buf_i) >= batch:
                yield run()
                buf_t, buf_i = [], []
        if buf_i:
            yield run()
