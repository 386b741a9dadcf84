"""Keyframe selection on the copy benchmark (SSAN Table 2's form): uniform rates against
the learned selector, one table.

    python -m segscan.bench.keyframes [--settings uniform:8 uniform:2 uniform:1 uniform:0.8 ske:0.1:1.5 ...]

Each setting ingests the benchmark folder's gallery with those keyframes (a database of its
own in the folder, reused by later runs), then runs segscan's default query path (SPD, its
shipped threshold) on the test split; queries are encoded at one keyframe a second, as the
query path always does, and the gallery's keyframes resampled on the one-second grid SPD was
trained on (:func:`segscan.index.simmap.time_grid`). Columns: keyframes kept as a share of the 8 fps
basis frames, segment F1 and micro-AP, index and store bytes per hour of video, ingest
speed (the gallery's, measured when its database was built).

``--part train`` is for choosing a setting: the same settings on the folder's train split
(its negative queries weighted to the test split's share), SPD as shipped at its threshold,
and the F1 at the split's own best threshold (the best of about 40 tried); the test split
is not read.

``--against SETTING ...`` adds, for every setting, its F1 minus each named setting's on the same
queries with a 95% paired bootstrap interval (:mod:`segscan.bench.paired`): whether a setting is
above another at the same share, or the two are level on this many queries.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from .scoring import report

DEFAULT = ("uniform:8", "uniform:2", "uniform:1", "uniform:0.8", "uniform:0.5", "ske:0.1:1.5", "ske:0.3:1.5",
           "ske-frames:0.7:1.5")
BASIS_FPS = 8.0


def setting_args(text: str) -> list[str]:
    """'uniform:FPS', 'ske:THRESHOLD:MAX_GAP' (candidates on the one-second grid) or
    'ske-frames:THRESHOLD:MAX_GAP' (candidates on every basis frame) -> benchmark arguments."""
    kind, *vals = text.split(":")
    if kind == "uniform" and len(vals) == 1:
        return ["--keyframes", "uniform", "--keyframe-fps", vals[0]]
    if kind in ("ske", "ske-frames") and len(vals) == 2:
        return ["--keyframes", "ske", "--ske-threshold", vals[0], "--ske-max-gap", vals[1],
                "--ske-grid" if kind == "ske" else "--no-ske-grid"]
    raise argparse.ArgumentTypeError(f"a setting is uniform:FPS, ske:THRESHOLD:MAX_GAP or ske-frames:THRESHOLD:MAX_GAP "
                                     f"(candidates on every basis frame), not {text!r}")


def encoder_config(setting: str):
    """The EncoderConfig of a setting (:func:`setting_args`)."""
    from ..cli import add_keyframe_args, keyframe_settings
    from ..pipeline.extract import EncoderConfig

    ap = argparse.ArgumentParser()
    add_keyframe_args(ap)
    return EncoderConfig(**keyframe_settings(ap.parse_args(setting_args(setting))))


def setting_split(bench: Path, setting: str, part: str = "train", progress: bool = False):
    """``bench``'s ``part`` split with one setting's keyframes (its gallery ingested first) and the
    query path's settings its maps were built with. A train split's negative queries are weighted
    to the test split's share."""
    from ..pipeline.extract import VideoEncoder
    from .run import ingest_gallery
    from .splits import QueryMaps, load_split, load_splits, negative_weight, query_settings

    ecfg = encoder_config(setting)
    ingest_gallery(bench, ecfg, progress=progress)
    maps = query_settings()
    split = load_splits(bench, [part], VideoEncoder(ecfg), maps, progress=progress)[0][part]
    if part == "train":
        test = load_split(bench, "test")  # its query names only, for its share of negative queries
        test.queries = [QueryMaps(p.stem, 0.0, [], 0.0) for p in (bench / "queries" / "test").glob("*.mp4")]
        split.neg_weight = negative_weight(split, test)
    return split, maps


def default_answers(split, maps):
    """(predictions, rankings) of segscan's default query path (SPD as shipped) on the split's maps."""
    from ..align import make_aligner
    from ..query import QueryConfig
    from .scoring import predict

    qcfg = QueryConfig()
    preds, rankings, _ = predict(split, make_aligner(qcfg.aligner, **qcfg.aligner_params), maps)
    return preds, rankings


def split_answers(bench: Path, setting: str, part: str = "train", progress: bool = False):
    """One setting's answers on ``bench``'s ``part`` split through the default query path: (split,
    predictions, rankings, the shipped threshold)."""
    split, maps = setting_split(bench, setting, part, progress)
    return split, *default_answers(split, maps), maps.threshold


def train_row(setting: str, split, preds: dict, rankings: dict, threshold: float) -> dict:
    """One setting's answers on a train split (``split_answers``): at the shipped threshold and at
    the split's best."""
    from .scoring import best_threshold, evaluate

    m = evaluate(split, preds, rankings, threshold)
    best, bm = best_threshold(split, preds, rankings)
    return {"setting": setting, "f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
            "micro_ap": m["micro_ap"], "best_threshold": best, "best_f1": bm["f1"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", nargs="+", default=list(DEFAULT), metavar="SETTING",
                    help="uniform:FPS, ske:THRESHOLD:MAX_GAP or ske-frames:THRESHOLD:MAX_GAP (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-data")
    ap.add_argument("--media", default=None, metavar="DIR",
                    help="test part: footage held out of every choice, e.g. ../shared/media-extra (see bench run --media)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--part", choices=("test", "train"), default="test",
                    help="train: the settings on a folder's train split, for choosing one (default: %(default)s)")
    ap.add_argument("--bench", default=None, metavar="DIR",
                    help="--part train: a built benchmark folder (default: the seed's default folder under --out)")
    ap.add_argument("--against", nargs="+", default=[], metavar="SETTING",
                    help="add each setting's F1 minus these settings' on the same queries, each with its 95%% "
                         "paired bootstrap interval (segscan.bench.paired): a difference whose interval holds 0 "
                         "is a tie")
    args = ap.parse_args(argv)
    try:
        runs = [(s, setting_args(s)) for s in args.settings]
        for b in args.against:
            setting_args(b)
    except argparse.ArgumentTypeError as exc:
        ap.error(str(exc))
    if args.part == "train":
        if args.media:
            ap.error("--media is held-out footage: it has no train split (use --part test)")
        return _train_table(args)
    from .run import main as run

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in runs:
            out = Path(tmp) / "r.json"
            code = run(["--methods", ",", "--seed", str(args.seed), "--out", args.out, "--json", str(out), "-q",
                        *(["--media", args.media] if args.media else []), *extra])
            if code:
                return code
            r = json.loads(out.read_text())
            seg, cost = r["methods"]["segscan"], r["cost"]
            rows.append({"setting": name, "share": cost["keyframes_per_s"] / BASIS_FPS, "f1": seg["f1"],
                         "recall": seg["recall"], "micro_ap": seg["micro_ap"],
                         "index_mb_h": cost["index_bytes_per_hour"] / 1e6,
                         "store_mb_h": cost["store_bytes_per_hour"] / 1e6,
                         "ingest_x": cost["ingest_x_realtime"] or float("nan"), "query_s": cost["query_p50_s"]})
    if args.against:
        from .paired import query_terms
        from .run import test_folder

        bench = test_folder(Path(args.out), args.seed, Path(args.media) if args.media else None)
        terms = {}
        for name in dict.fromkeys([*args.against, *args.settings]):
            split, preds, _, threshold = split_answers(bench, name, "test")
            terms[name] = query_terms(split, preds, threshold)
        _add_against(rows, terms, args.against)
    cols = [("setting", "keyframes", ""), ("share", "share of 8 fps", ".1%"), ("f1", "seg F1", ".3f"),
            ("recall", "seg R", ".3f"), ("micro_ap", "micro-AP", ".3f"), ("index_mb_h", "index MB/h", ".2f"),
            ("store_mb_h", "store MB/h", ".1f"), ("ingest_x", "ingest x real time", ".1f"),
            ("query_s", "query s (p50)", ".2f")]
    report(rows, cols + _against_cols(args.against), args.json)
    return 0


def _against_cols(baselines: list[str]) -> list[tuple[str, str, str]]:
    return [(f"vs {b}", f"F1 - {b} [95% interval]", "") for b in baselines]


def _add_against(rows: list[dict], terms: dict, baselines: list[str], resamples: int = 2000) -> None:
    """Each row's paired F1 difference from each baseline (:mod:`segscan.bench.paired`; ``terms``:
    setting -> its ``QueryTerms``), as text; the baseline's own row gets -."""
    from .paired import paired_difference

    for r in rows:
        for b in baselines:
            if r["setting"] == b:
                r[f"vs {b}"] = "-"
                continue
            d = paired_difference(terms[r["setting"]], terms[b], resamples)
            r[f"vs {b}"] = f"{d['delta']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
            r.setdefault("bootstrap", {})[b] = d


def _train_table(args) -> int:
    from .run import test_folder
    from .splits import is_built

    bench = Path(args.bench) if args.bench else test_folder(Path(args.out), args.seed)
    if not is_built(bench):
        return 2
    from .paired import query_terms

    rows, terms = [], {}
    for name in dict.fromkeys([*args.settings, *args.against]):  # each setting's answers read once
        split, preds, rankings, threshold = split_answers(bench, name, "train")
        if name in args.settings:
            rows.append(train_row(name, split, preds, rankings, threshold))
        terms[name] = query_terms(split, preds, threshold)
    _add_against(rows, terms, args.against)
    cols = [("setting", "keyframes", ""), ("f1", "seg F1", ".3f"), ("precision", "seg P", ".3f"),
            ("recall", "seg R", ".3f"), ("micro_ap", "micro-AP", ".3f"), ("best_threshold", "best threshold", ".3f"),
            ("best_f1", "F1 at it", ".3f")] + _against_cols(args.against)
    report(rows, cols, args.json, f"{bench.name}, train split")
    return 0


if __name__ == "__main__":
    sys.exit(main())
