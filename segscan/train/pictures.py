"""The descriptor's training pictures: train-folder photos, BSDS500 train photos and frames
of the benchmark's train content groups, each photo its own group and the clips of one
content group (the same footage) one group, drawn so that a batch never holds two pictures
of one group; optionally with clusters of groups that look alike (hard negatives)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..corpus import clips_of, images_in, load_clips, photos_of
from .augment import copy_view

log = logging.getLogger(__name__)
SOURCE_SIZE = 256  # pictures are held at this size (short side) before augmentation


def _short_side(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    f = size / min(w, h)
    return img.resize((max(size, int(round(w * f))), max(size, int(round(h * f)))), Image.BILINEAR)


class Pictures:
    """The training pictures: photos (one group each) and clip frames (one group per content
    group). ``clips``: (path, content group) pairs."""

    def __init__(self, photos: list[Path], clips: list[tuple[Path, str]], fps: float):
        from ..errors import VideoError
        from ..pipeline.decode import DecodeOptions, VideoReader

        self.images: list[Image.Image] = []
        self.group: list[int] = []
        for p in photos:
            self.images.append(_short_side(Image.open(p).convert("RGB"), SOURCE_SIZE))
            self.group.append(len(self.group))
        g0 = len(self.group)
        content = {c: g0 + k for k, c in enumerate(dict.fromkeys(c for _, c in clips))}
        for p, c in clips:
            try:
                for fr in VideoReader(p, DecodeOptions(fps=fps, size=(SOURCE_SIZE * 4 // 3, SOURCE_SIZE))):
                    self.images.append(Image.fromarray(fr.image))
                    self.group.append(content[c])
            except VideoError as exc:
                log.warning("skipping %s", exc)
        self.group_arr = np.asarray(self.group)
        self.n_groups = int(self.group_arr.max()) + 1 if self.group else 0
        self.by_group = [np.flatnonzero(self.group_arr == g) for g in range(self.n_groups)]

    def draw_groups(self, rng: np.random.Generator, n: int, near: np.ndarray | None = None,
                    share: float = 0.0, cluster: int = 4) -> np.ndarray:
        """n distinct groups: ``share`` of them in clusters of ``cluster`` groups that look alike
        (``near[g]``: the groups nearest to ``g``, nearest first), the rest drawn at random."""
        chosen: dict[int, None] = {}
        while near is not None and len(chosen) < int(n * share):
            g = int(rng.integers(self.n_groups))
            for h in [g, *near[g][:cluster - 1]]:
                if len(chosen) < int(n * share):
                    chosen.setdefault(int(h))
        rest = np.setdiff1d(np.arange(self.n_groups), list(chosen))
        return np.concatenate([np.fromiter(chosen, np.int64, len(chosen)),
                               rng.choice(rest, n - len(chosen), replace=False)]).astype(np.int64)

    def batch(self, rng: np.random.Generator, n: int, size: int, near: np.ndarray | None = None,
              share: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Two views each of n pictures from n distinct groups, as float (n, 3, size, size),
        and the n groups (``near``, ``share``: :meth:`draw_groups`)."""
        groups = self.draw_groups(rng, n, near, share)
        idx = [int(rng.choice(self.by_group[g])) for g in groups]
        a, b = [], []
        for i in idx:
            other = self.images[int(rng.integers(len(self.images)))]
            a.append(copy_view(self.images[i], other, rng, size))
            b.append(copy_view(self.images[i], other, rng, size))

        return as_batch(a), as_batch(b), groups


def as_batch(pictures: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) pictures as the model's float (n, 3, H, W) input, channels last."""
    return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)


def load_pictures(media: Path, images: Path, photos: Path, fps: float, split_seed: int,
                  photo_parts: tuple[str, ...] = ("train",)) -> Pictures:
    clips = [(c.path, c.content_group) for c in clips_of(load_clips(media), split_seed, "train")] if media.is_dir() else []
    pics = (photos_of(photo_parts, photos) if photos.is_dir() else []) + (
        images_in(images, "__train__") if images.is_dir() else [])
    if not clips and not pics:
        raise FileNotFoundError(f"no training data: neither {media} nor {photos} nor {images} is there")
    return Pictures(pics, clips, fps)
