"""The ViSiL ablation (as ViSiL's Table 3) on a benchmark split: each step of the comparator, one run.

    python -m segscan.bench.visil [--bench DIR] [--weights PT] [--part test] [--distractors N]

Every row scores the same pairs: each query of the split against the candidates the query
path shortlists for it (a copied reference the shortlist missed counts as not found).
Rows: the index's pre-score (the shortlist's own order); the query path's order without
a comparator (its best segment score per listed reference); the Chamfer similarity of the
whitened region vectors (the query path's region maps before each row's background is
subtracted); the same with the learned attention; the full comparator; the query path's
score times the comparator's similarity. Each step pools the rows of its frame-to-frame
or refined matrix as the weights do (``ViSiLConfig.pooling``). Pair AP pools all
queries' pairs (copy detection: one threshold for every query); video mAP ranks each
copying query's shortlist. Time: per candidate pair, batched per query, at the split's
sizes, and for a 60 x 60 keyframe map with one view and with the query path's six.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..compare.visil import ViSiL, load, weights_path
from ..pipeline.backbones import DEFAULT_BACKBONE
from .distractors import DISTRACTOR_PREFIX
from .pairs import load_pairs, pair_metrics, scores
from .scoring import table

COLS = [("row", "frame / video similarity", ""), ("pair_ap", "pair AP", ".3f"), ("video_map", "video mAP", ".3f"),
        ("ms_pair", "ms per pair", ".2f")]


def timed(model, queries, refs):
    t0 = time.perf_counter()
    s = scores(model, queries, refs)
    return s, 1000 * (time.perf_counter() - t0) / max(1, sum(len(q.candidates) for q in queries))


def synthetic_ms(model, views: int, n: int = 60, pairs: int = 20, reps: int = 3) -> float:
    """Milliseconds per pair for ``pairs`` candidates of n x n keyframes, 9 regions of model.cfg.dim."""
    g = torch.Generator().manual_seed(0)
    unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)
    q, refs = unit(views, n, 9, model.cfg.dim), [unit(n, 9, model.cfg.dim) for _ in range(pairs)]
    with torch.inference_mode():
        model(q, refs)
        t0 = time.perf_counter()
        for _ in range(reps):
            model(q, refs)
    return 1000 * (time.perf_counter() - t0) / (reps * pairs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="bench-data/bench-s0-t100n100-r60n30-d60")
    ap.add_argument("--part", default="test", choices=["train", "test"])
    ap.add_argument("--weights", default=str(weights_path(DEFAULT_BACKBONE)))
    ap.add_argument("--held-out", action="store_true",
                    help="only the train queries training kept aside for picking its checkpoint, those copying "
                         "held-out content groups (with --part train)")
    ap.add_argument("--distractors", type=int, default=0,
                    help="feature-level distractor keyframes in the catalogue (as bench run --distractors): the "
                         "shortlists are what the query path finds among them")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    full = load(args.weights)
    queries, refs = load_pairs(Path(args.bench), args.part, distractors=args.distractors)
    if args.held_out:
        queries = [q for q in queries if q.held_out]
    rows = [{"row": "index pre-score (the shortlist's order)", **pair_metrics(queries, [np.array(q.prescores) for q in queries]),
             "ms_pair": 0.0},
            {"row": "the query path's order (best segment score; unlisted last)",
             **pair_metrics(queries, [np.array(q.listed) for q in queries]), "ms_pair": 0.0}]
    steps = [("Chamfer of whitened region vectors (the query path's maps, before their background)",
              ViSiL(replace(full.cfg, attention=False, comparator=False)))]
    attention = ViSiL(replace(full.cfg, comparator=False))  # the trained attention alone (Table 3's third row)
    attention.load_state_dict(full.state_dict())
    steps += [("+ attention", attention), ("+ comparator CNN (ViSiL)", full)]
    for name, model in steps:
        s, ms = timed(model.eval(), queries, refs)
        rows.append({"row": name, **pair_metrics(queries, s), "ms_pair": ms})
        if model is full:
            full_s, full_ms = s, ms
    # the query path's verdict weighed by the comparator's (clipped at 0: a dissimilar pair scores 0);
    # references the path does not list keep their place after every listed one
    fused = [np.where(q.on_list, np.array(q.listed) * np.maximum(v, 0), np.array(q.listed))
             for q, v in zip(queries, full_s)]
    rows.append({"row": "the query path's score x the comparator's", **pair_metrics(queries, fused),
                 "ms_pair": full_ms})
    speed = {f"{v} view(s)": round(synthetic_ms(full, v), 2) for v in (1, queries[0].regions.shape[0])}
    shortlisted = sum(r.startswith(DISTRACTOR_PREFIX) for q in queries for r in q.candidates)
    print(f"\n{args.bench} {args.part} split: {len(queries)} queries, {rows[0]['pairs']} shortlisted pairs "
          f"({shortlisted} of distractors; {args.distractors:,} distractor keyframes), {rows[0]['copies']} copied references\n")
    print(table(rows, COLS))
    print(f"\ncomparator, 60 x 60 keyframes, 20 candidates batched: ms per pair {speed} "
          f"({torch.get_num_threads()} threads)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "ms_60x60": speed, "weights": args.weights}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
