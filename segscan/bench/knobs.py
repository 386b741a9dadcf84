"""Does each tuned constant of the query path earn its place? One run, one table.

    python -m segscan.bench.knobs bench-data/bench-s0-t100n100-r60n30-d60 bench-data/bench-s1-t100n100-r60n30-d60

For every constant of ``QueryConfig`` that was chosen on the benchmark, the default aligner
runs with the shipped value and with each alternative in ``KNOBS`` (the constant switched
off, or its neighbours). For every setting the copy threshold is chosen on the train split
of the first folder; segment F1 is then reported on its test split and on the test split of
every further folder (built with another generator seed: copies that no constant was chosen
on). A constant earns its place when the shipped value beats its alternatives on both.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..align import make_aligner
from ..pipeline.extract import EncoderConfig, VideoEncoder
from ..query import QueryConfig
from .scoring import best_threshold, evaluate, per_edit_f1, predict, table
from .splits import load_splits, method_settings, negative_weight, query_settings

# constant -> the alternatives it is measured against (the first: off, or the plain choice)
KNOBS = {
    "exclusive_refs": [False],
    "exclusive": [False],
    "min_keyframes": [1],
    "grow": [0.0, 0.5],
    "centre": [False],
    "wide_rows": [0],
    "edge_rows": [1],
    "region_bg_quantile": [0.75],
    "candidates": [100],
    "topn": [32],
    "bg_ranks": [None],
}
# the ones that change the maps (the others only change what is done with the aligner's segments)
MAP_KNOBS = {"region_bg_quantile", "candidates", "topn", "bg_ranks"}


def measure(folders: list[Path], cfg: QueryConfig, encoder, cache: dict, maps_cache: dict) -> dict:
    """Train F1 (at its best threshold) and test F1 per folder at that threshold, for one setting."""
    key = tuple((k, repr(getattr(cfg, k))) for k in sorted(MAP_KNOBS))
    if key not in maps_cache:
        s = query_settings(cfg=cfg)
        first, _ = load_splits(folders[0], ["train", "test"], encoder, s, progress=False)
        splits = [first["train"], first["test"]]
        splits += [load_splits(f, ["test"], encoder, s, progress=False)[0]["test"] for f in folders[1:]]
        splits[0].neg_weight = negative_weight(splits[0], splits[1])
        maps_cache[key] = splits
    splits = maps_cache[key]
    aligner = make_aligner(cfg.aligner, cache=cache)
    s = method_settings(query_settings(cfg=cfg), aligner)
    thr, m = best_threshold(splits[0], *predict(splits[0], aligner, s)[:2])
    out = {"threshold": thr, "train_f1": m["f1"]}
    for i, split in enumerate(splits[1:]):
        preds, rankings, _ = predict(split, aligner, s)
        r = evaluate(split, preds, rankings, thr)
        out[f"test{i}_f1"], out[f"test{i}_p"], out[f"test{i}_r"] = r["f1"], r["precision"], r["recall"]
        if i == 0:
            out["per_edit"] = per_edit_f1(split, preds, thr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="built benchmark folders: the first is tuned on")
    ap.add_argument("--knobs", default=",".join(KNOBS), help="constants to measure (default: all)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    encoder = VideoEncoder(EncoderConfig())
    cache: dict = {}
    maps_cache: dict = {}
    base = QueryConfig()
    shipped = measure(args.folders, base, encoder, cache, maps_cache)
    rows = [{"knob": "(shipped)", "value": "", **shipped}]
    print("shipped: " + ", ".join(f"{k} {v:.4f}" for k, v in shipped.items() if k != "per_edit"), flush=True)
    for name in [k for k in args.knobs.split(",") if k]:
        for value in KNOBS[name]:
            r = measure(args.folders, dataclasses.replace(base, **{name: value}), encoder, cache, maps_cache)
            rows.append({"knob": name, "value": f"{value} (shipped {getattr(base, name)})", **r})
            print(f"{name}={value}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items() if k != "per_edit"), flush=True)
    tests = [k for k in shipped if k.endswith("_f1") and k.startswith("test")]
    off = next((r for r in rows if r["knob"] == "exclusive"), None)
    if off:  # what exclusive segments change, per edit of the test split
        edits = [{"edit": e, **{f"{w}_{k}": src["per_edit"][e][k] for w, src in (("on", shipped), ("off", off))
                                for k in ("precision", "recall")}} for e in shipped["per_edit"]]
        print("\nexclusive segments per edit (test split, each at its own train threshold)\n" + table(
            edits, [("edit", "edit", ""), ("off_precision", "P off", ".3f"), ("on_precision", "P on", ".3f"),
                    ("off_recall", "R off", ".3f"), ("on_recall", "R on", ".3f")]))
    for r in rows:
        for k in tests:
            r["d_" + k] = shipped[k] - r[k]  # > 0: the shipped value is better
    cols = [("knob", "constant", ""), ("value", "alternative", ""), ("train_f1", "train F1", ".4f")]
    for i, k in enumerate(tests):
        name = "test" if i == 0 else f"other seed {i}"
        cols += [(k, f"{name} F1", ".4f"), ("d_" + k, f"shipped - alt ({name})", "+.4f")]
    print("\n" + table(rows, cols))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
