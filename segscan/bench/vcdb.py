"""VCDB (and any VCSL-format) segment annotations.

A VCDB copy laid out as VCSL distributes it: ``label_file.json`` maps
``"{query_id}-{reference_id}"`` to boxes ``[q_start, r_start, q_end, r_end]`` in seconds,
``pair_file.csv`` lists ``query_id,reference_id``; videos are ``videos/{id}.*`` (or any
file whose stem is the id under the folder given).
"""
from __future__ import annotations

import csv
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..align import make_aligner
from ..index.store import Database
from ..pipeline.extract import EncoderConfig, VideoEncoder, feature_config
from ..pipeline.ingest import ingest
from ..pipeline.views import pick
from ..query.maps import build_maps
from .scoring import RESULT_COLS, evaluate, predict, table
from .splits import QueryMaps, Split, feature_key, method_settings, query_settings, ref_id


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


def run_vcdb(folder: Path, args) -> int:
    """Ingest every video of a VCSL-format VCDB folder, query each query video, score against its labels."""
    ann = load_annotations(folder)
    found = find_videos(folder, ann.videos)
    if not found:
        print(f"error: no videos named by the annotations found under {folder}", file=sys.stderr)
        return 2
    ecfg = EncoderConfig()
    db_dir = folder / f"segscan-db-{feature_key(ecfg)}"
    # the annotated videos, and every other video in the folder as a distractor
    distractors = find_distractors(folder, ann.videos)
    summary = ingest(sorted(found.values()) + distractors, str(db_dir), ecfg, workers=0, progress=not args.quiet)
    queries = sorted({q for q, _ in ann.pairs if q in found})
    split = Split(labels={k: v for k, v in ann.labels.items() if k.split("-", 1)[0] in found})
    encoder, maps = VideoEncoder(ecfg), query_settings()
    with Database.open(db_dir, readonly=True, feature_config=feature_config(ecfg)) as db:
        nums = defaultdict(list)
        for rec in db.videos():
            nums[ref_id(rec.path)].append(rec.num)
        for qid in tqdm(queries, desc="vcdb queries", disable=args.quiet):
            t0 = time.perf_counter()
            enc = encoder(found[qid], views=maps.config.views, query=True)
            # a video is not a copy of itself
            cands = build_maps(db, enc.features, maps, pick(enc.views, maps.config.views), exclude=nums[qid])
            split.queries.append(QueryMaps(qid, enc.features.duration, cands, time.perf_counter() - t0))
    rows = []
    aligner = maps.config.aligner
    for name in [m for m in args.methods.split(",") if m] + ["default"]:
        al = make_aligner(aligner) if name == "default" else make_aligner(name)
        s = method_settings(maps, al)
        preds, rankings, secs = predict(split, al, s)
        m = evaluate(split, preds, rankings, s.threshold)
        rows.append({"method": f"{'segscan default (' + aligner + ')' if name == 'default' else name.upper()}",
                     **m, "query_s": float(np.median(secs))})
    print(f"\nVCDB at {folder}: {len(found)} annotated videos and {len(distractors)} others "
          f"({summary.speed:.1f}x real time ingest), {len(queries)} queries, "
          f"{len(split.labels)} labelled pairs; shipped defaults and copy thresholds\n")
    print(table(rows, RESULT_COLS))
    out = Path(args.json) if args.json else folder / "segscan-results.json"
    out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0
