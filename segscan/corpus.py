"""The shared corpus (``../shared``), read-only: real clips with their content groups,
the benchmark's photos, the descriptor photos, and the seeded splits over them.

Splits live here, not in the benchmark, so training code and benchmarks read the same
definition of what is train and what is test without depending on each other.
"""
from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_MEDIA = SHARED / "media"
DEFAULT_IMAGES = SHARED / "images"
DEFAULT_PHOTOS = SHARED / "photos"
IMAGE_EXTS = (".jpg", ".jpeg", ".png")


@dataclass
class Clip:
    path: Path
    content_group: str
    category: str
    duration: float
    fps: float
    width: int
    height: int
    codec: str


def is_shared_media(media: str | Path) -> bool:
    """Whether ``media`` is the shared clips the benchmark splits (training reads its train
    groups); any other footage folder is held out of all training and every choice."""
    return Path(media).resolve() == DEFAULT_MEDIA.resolve()


def load_clips(media: str | Path = DEFAULT_MEDIA) -> list[Clip]:
    media = Path(media)
    tsv = media / "SOURCES.tsv"
    if not tsv.exists():
        raise FileNotFoundError(f"{tsv} not found: the shared clips are needed here")
    clips = []
    with open(tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            p = media / row["file"]
            if not p.exists():
                continue
            clips.append(Clip(p, row["content_group"], row["category"], float(row["duration_s"] or 0),
                              float(row["fps"] or 0), int(row["width"] or 0), int(row["height"] or 0), row["codec"]))
    return clips


def split_groups(clips: list[Clip], seed: int, test_share: float = 0.4, holdout_share: float = 0.25) -> dict[str, str]:
    """content_group -> 'train' | 'test' | 'train-holdout' | 'test-holdout' (seeded, by group)."""
    groups = sorted({c.content_group for c in clips})
    rng = np.random.default_rng(seed)
    rng.shuffle(groups)
    n_test = int(round(len(groups) * test_share))
    out = {}
    for i, g in enumerate(groups):
        out[g] = "test" if i < n_test else "train"
    for split in ("train", "test"):
        gs = [g for g in groups if out[g] == split]
        for g in gs[: int(round(len(gs) * holdout_share))]:
            out[g] = split + "-holdout"
    return out


def held_out_group(group: str) -> bool:
    """A fifth of the content groups (by a hash of the name), which a training run on train
    footage keeps aside to choose its checkpoint on footage it did not learn."""
    return zlib.crc32(group.encode()) % 5 == 0


def group_fold(group: str, folds: int) -> int:
    """The fold (of ``folds``) of a content group, for cross-fitting: a stage whose inputs come
    from a model trained on the other folds sees, in training, what that model makes of footage
    it never learned, as on new footage. Independent of :func:`held_out_group`'s draw."""
    return zlib.crc32(group.encode()) // 5 % folds


def clips_of(clips: list[Clip], seed: int, part: str) -> list[Clip]:
    """The clips whose content group is in ``part`` ('train' or 'test', holdouts included)."""
    split = split_groups(clips, seed)
    return [c for c in clips if split[c.content_group].startswith(part)]


def images_in(folder: str | Path, contains: str = "") -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS and contains in p.name)


def photo_part(path: Path, root: Path = DEFAULT_PHOTOS) -> str:
    """'train', 'val' or 'test' for a descriptor photo, by its source folder, so
    near-identical photos of one source never sit on two sides. A fifth of the folders
    (by a hash of the name) are test, never trained on; a tenth are 'val', which a
    training run may hold out to choose between runs without reading test."""
    h = zlib.crc32(path.relative_to(root).parts[0].encode())
    return "test" if h % 5 == 0 else "val" if h % 10 == 1 else "train"


def photos_of(part: str | tuple[str, ...], root: str | Path = DEFAULT_PHOTOS) -> list[Path]:
    root = Path(root)
    parts = (part,) if isinstance(part, str) else part
    return [p for p in images_in(root) if photo_part(p, root) in parts]
