"""The shared real clips (``../shared/media`` with its SOURCES.tsv), read-only."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"


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


def load_clips(media: str | Path = DEFAULT_MEDIA) -> list[Clip]:
    media = Path(media)
    tsv = media / "SOURCES.tsv"
    if not tsv.exists():
        raise FileNotFoundError(f"{tsv} not found: the shared clips are needed for this benchmark")
    clips = []
    with open(tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            p = media / row["file"]
            if not p.exists():
                continue
            clips.append(Clip(p, row["content_group"], row["category"], float(row["duration_s"] or 0),
                              float(row["fps"] or 0), int(row["width"] or 0), int(row["height"] or 0), row["codec"]))
    return clips
