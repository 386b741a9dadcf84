"""VCDB (and any VCSL-format) segment annotations.

A VCDB copy laid out as VCSL distributes it: ``label_file.json`` maps
``"{query_id}-{reference_id}"`` to boxes ``[q_start, r_start, q_end, r_end]`` in seconds,
``pair_file.csv`` lists ``query_id,reference_id``; videos are ``videos/{id}.*`` (or any
file whose stem is the id under the folder given).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Annotations:
    labels: dict  # "q-r" -> list of boxes
    pairs: list  # (q, r)

    @property
    def videos(self) -> set:
        return {v for p in self.pairs for v in p}

    def boxes(self, q: str, r: str) -> list:
        return self.labels.get(f"{q}-{r}", [])


def load_annotations(folder: str | Path, drop_self_pairs: bool = True) -> Annotations:
    folder = Path(folder)
    labels_path, pairs_path = folder / "label_file.json", folder / "pair_file.csv"
    for p in (labels_path, pairs_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} not found: a VCSL-format folder has label_file.json and pair_file.csv")
    raw = json.loads(labels_path.read_text())
    labels = {}
    for key, boxes in raw.items():
        for b in boxes:
            if len(b) != 4 or b[2] < b[0] or b[3] < b[1]:
                raise ValueError(f"{labels_path}: bad box {b} for {key}")
        labels[key] = [[float(x) for x in b] for b in boxes]
    pairs = []
    with open(pairs_path, newline="") as f:
        for row in csv.DictReader(f):
            q, r = row["query_id"], row["reference_id"]
            if drop_self_pairs and q == r:
                continue
            pairs.append((q, r))
    if drop_self_pairs:
        labels = {k: v for k, v in labels.items() if k.split("-", 1)[0] != k.split("-", 1)[1]}
    return Annotations(labels, pairs)


def find_videos(folder: str | Path, ids: set) -> dict:
    """Map video ids to files under ``folder`` by file stem."""
    found = {}
    for p in Path(folder).rglob("*"):
        if p.is_file() and p.stem in ids:
            found[p.stem] = str(p)
    return found


def find_distractors(folder: str | Path, ids: set) -> list[str]:
    """Video files under ``folder`` that no annotation names (VCDB's background videos, for one)."""
    from ..pipeline.ingest import VIDEO_EXTS

    return sorted(str(p) for p in Path(folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in VIDEO_EXTS and p.stem not in ids)
