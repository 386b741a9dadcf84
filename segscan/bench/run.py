"""Run the copy-segment benchmark: every aligner on the same similarity maps, one table.

    python -m segscan.bench run [--quick] [--out bench-data] [--distractors N] [--vcdb DIR] [--media DIR]

Builds (or reuses) the benchmark folder, ingests its gallery, encodes every query once,
assembles the similarity maps once, then aligns them with each method (the peers tuned on
the train split, and segscan's default aligner) and prints segment P/R/F1 (VCSL),
micro-AP (VSC22), video mAP and per-query time; then a cost table. ``--distractors N``
adds N feature-level distractor keyframes to the index and reports the F1 drop.
``--media ../shared/media-extra`` makes the same benchmark from footage no model was
trained and no constant chosen on, the check that a choice holds beyond the footage it was
made on.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..align import make_aligner
from ..cli import add_keyframe_args, keyframe_settings
from ..compare import COMPARATORS
from ..pipeline.extract import EncoderConfig, VideoEncoder
from ..pipeline.ingest import ingest
from ..pipeline.views import check_views
from ..index.regioncodec import CODECS, DEFAULT_CODEC
from ..query import QueryConfig
from .metrics import vsc_micro_ap
from .scoring import RESULT_COLS, evaluate, listed, per_edit_f1, predict, query_results, table, tune
from .splits import (check_same_split, database_dir, divide, feature_key, held_out_references, load_splits,
                     method_settings, negative_weight, query_settings)
from .vcdb import run_vcdb

log = logging.getLogger(__name__)

# parameter grids searched on the train split (small: each point re-aligns every train map)
# (similarities are background-normalised by the query path: unrelated keyframes score about 0)

def bench_folder(out: Path, key: str) -> Path:
    """The benchmark folder for ``key``: ``out/key``, or ``out`` itself when it is that folder
    (a built folder of other settings is refused, not nested into)."""
    if (out / "meta.json").exists():
        if out.name != key:
            raise SystemExit(f"error: {out} is the benchmark folder {out.name}, not {key}: pass the folder "
                             "above it as --out, or the --seed and --size it was built with")
        return out
    return out / key


def held_out_footage(media: Path | None) -> bool:
    """Whether ``media`` is footage other than the shared media: held out of every choice."""
    from ..corpus import is_shared_media

    return media is not None and not is_shared_media(media)


def bench_config(seed: int = 0, media: Path | None = None, quick: bool = False, size=None):
    """The benchmark's configuration for a seed, footage (held-out footage is all test) and size
    (test queries, test negatives, train queries, train negatives)."""
    from .generate import BenchConfig

    cfg = BenchConfig.quick() if quick else BenchConfig()
    if size:
        cfg = dataclasses.replace(cfg, test_queries=size[0], test_negatives=size[1], train_queries=size[2],
                                  train_negatives=size[3])
    cfg.seed = seed
    return cfg.held_out() if held_out_footage(media) else cfg


def config_folder(out: Path, cfg, media: Path | None = None) -> Path:
    """The folder of configuration ``cfg`` on ``media`` (held-out footage is named in it)."""
    return bench_folder(out, cfg.key(Path(media).name if held_out_footage(media) else ""))


def test_folder(out: Path, seed: int = 0, media: Path | None = None) -> Path:
    """The default-size benchmark folder ``bench run`` builds for a seed and footage."""
    return config_folder(out, bench_config(seed, media), media)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run"], nargs="?", default="run")
    ap.add_argument("--out", default="bench-data",
                    help="where the benchmark folders live, one per seed and size (OUT/bench-s0-..., built on "
                         "first use); a built benchmark folder itself is used as it is")
    ap.add_argument("--quick", action="store_true", help="a small benchmark for development (< 3 min)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--media", default=None, metavar="DIR",
                    help="footage the copies are cut from (default: ../shared/media). Other footage, e.g. "
                         "../shared/media-extra, is held out: all of it is test, in a folder of its own "
                         "(bench-NAME-s0-...), and methods are tuned with --tune-on on a folder of the shared media")
    ap.add_argument("--backbone", default=None, help="feature backbone (default: the encoder's default)")
    ap.add_argument("--distractors", type=int, default=0, help="extra feature-level distractor keyframes")
    ap.add_argument("--size", nargs=4, type=int, default=None, metavar=("TEST_Q", "TEST_NEG", "TRAIN_Q", "TRAIN_NEG"),
                    help="query counts instead of the default (100 100 60 30); the split stays the seed's, so a "
                         "folder with more train queries gives SPD more training maps")
    ap.add_argument("--methods", default="tn,dp,hv,dtw,spd",
                    help="aligners to tune on train and run on test (comma-separated; spd needs its weights)")
    ap.add_argument("--map", default=None, choices=["sparse", "dense", "regions"],
                    help="similarity maps every aligner sees (default: the query path's for its default aligner, "
                         "SPD's model card names the maps its weights were trained on)")
    ap.add_argument("--candidates", type=int, default=None, metavar="M",
                    help="candidate videos aligned per query (default: the query path's)")
    ap.add_argument("--region-bg-quantile", type=float, default=None, metavar="Q",
                    help="region maps: the quantile of each row's similarities taken as its background "
                         "(default: the query path's, the median)")
    ap.add_argument("--views", nargs="*", default=None, metavar="VIEW",
                    help="query-side views searched (default: the query path's; segscan.pipeline.views)")
    ap.add_argument("--comparator", default=None, choices=COMPARATORS,
                    help="rank each query's matches by this comparator's similarity (segscan.compare)")
    ap.add_argument("--region-codec", default=DEFAULT_CODEC, choices=CODECS,
                    help="how the gallery's database keeps region vectors (segscan.index.regioncodec); another "
                         "than the default gets a database of its own in the folder, and its own results file")
    add_keyframe_args(ap.add_argument_group("keyframes of gallery and queries (a database of its own per setting)"))
    ap.add_argument("--spd-weights", default=None, metavar="PT",
                    help="SPD weights to evaluate (default: the shipped ones)")
    ap.add_argument("--json", default=None, help="also write results here (they always go to the benchmark folder: "
                    "results-MAP-dN.json, with -BACKBONE, -COMPARATOR and -CODEC before -dN when not the defaults)")
    ap.add_argument("--vcdb", default=None, metavar="DIR",
                    help="evaluate on a real VCDB copy instead: DIR holds label_file.json, pair_file.csv and the "
                         "videos (any file whose name is a video id); aligners run with their shipped defaults")
    ap.add_argument("--tune-on", default=None, metavar="DIR",
                    help="tune every method on the train split of this benchmark folder instead (same --seed, so "
                         "the same sources and gallery; e.g. one built with --size 10 10 300 60 has 5x the train "
                         "queries). Either way a train split's negative queries are weighted to the test's share")
    ap.add_argument("--choice", action="store_true",
                    help="choose on the train split alone (of --tune-on's folder if given): methods are tuned on the "
                         "queries training may learn and scored on those of held-out content groups, which no "
                         "model of the project learned (segscan.bench.splits.divide); the test split is not read")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.vcdb:
        return run_vcdb(Path(args.vcdb), args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from ..corpus import DEFAULT_MEDIA
    from .generate import build

    media = Path(args.media) if args.media else DEFAULT_MEDIA
    held_out = held_out_footage(media)
    if held_out and not (media / "SOURCES.tsv").exists():
        ap.error(f"--media {media}: not a footage folder (no SOURCES.tsv)")
    cfg = bench_config(args.seed, media, args.quick, args.size)
    bench = config_folder(Path(args.out), cfg, media)
    methods = [m for m in args.methods.split(",") if m]
    if held_out and args.choice:
        ap.error("--choice reads a train split: held-out footage has none")
    if held_out and methods and not args.tune_on:
        ap.error("held-out footage has no train split: tune the methods with --tune-on FOLDER (one of the shared "
                 "media), or run the default alone with --methods ,")
    progress = not args.quiet
    t_all = time.time()
    t0 = time.time()
    build(bench, cfg, media=media, progress=progress)
    t_build = time.time() - t0

    ecfg = EncoderConfig(**({"backbone": args.backbone} if args.backbone else {}), **keyframe_settings(args))
    fkey = feature_key(ecfg)
    ingest_speed = ingest_gallery(bench, ecfg, args.region_codec, progress)
    encoder = VideoEncoder(ecfg)
    qcfg = QueryConfig()
    if args.candidates:
        qcfg.candidates = args.candidates
    if args.region_bg_quantile is not None:
        qcfg.region_bg_quantile = args.region_bg_quantile
    if args.views is not None:
        qcfg.views = check_views(args.views)
    from ..align.spd import DEFAULT_WEIGHTS
    from ..detectors.cards import SPDCard

    spd_weights = Path(args.spd_weights) if args.spd_weights else DEFAULT_WEIGHTS
    methods = [m for m in methods if m != "spd" or spd_weights.exists()]
    # SPD trained on a comparator's planes needs that comparator's, as in the query path
    qcfg.comparator = (SPDCard.load(spd_weights).comparator if "spd" in methods else None) or args.comparator
    maps = query_settings(args.map, qcfg)
    base = bench / f"distractor-base-{fkey}.npz"
    tune_on = Path(args.tune_on) if args.tune_on else None
    if tune_on and not held_out:
        check_same_split(bench, tune_on)
    more = {"distractors": args.distractors, "base": base, "seed": args.seed, "progress": progress,
            "region_codec": args.region_codec}
    # the train split is read only to tune methods; the default runs as shipped
    parts = ["test"] if tune_on or not methods else ["train", "test"]
    if args.choice:
        source = tune_on or bench
        whole, stats = load_splits(source, ["train"], encoder, maps, **more)
        splits = dict(zip(("train", "test"), divide(whole["train"], held_out_references(source))))
    else:
        splits, stats = load_splits(bench, parts, encoder, maps, **more)
        if tune_on and methods:
            splits["train"] = load_splits(tune_on, ["train"], encoder, maps, **more)[0]["train"]
    if methods:
        splits["train"].neg_weight = negative_weight(splits["train"], splits["test"])

    rows, results = [], {}
    for name in methods:
        # SPD: the detector runs once per map; the grid only rescores its boxes
        # DP and DTW: their paths once per map; the grid only filters them
        fixed = {"weights": str(spd_weights), "cache": {}} if name == "spd" else (
            {"cache": {}} if name in ("dp", "dtw") else {})
        params, thr, train_f1, train_preds = tune(name, splits["train"], maps, fixed)
        al = make_aligner(name, **fixed, **params)
        preds, rankings, secs = predict(splits["test"], al, method_settings(maps, al))
        m = evaluate(splits["test"], preds, rankings, thr)
        label = "SPD (learned, threshold from train)" if name == "spd" else f"{name.upper()} (tuned on train)"
        rows.append({"method": label, **m, "query_s": float(np.median(secs)),
                     "params": params, "threshold": thr})
        # per edit on train too: a choice made on the total can hide an edit it gives up
        results[name] = {**rows[-1], "train_f1": train_f1, "per_edit": per_edit_f1(splits["test"], preds, thr),
                         "train_per_edit": per_edit_f1(splits["train"], train_preds, thr)}
    # segscan's default, exactly as query.py runs it (no tuning)
    default = make_aligner(qcfg.aligner, **qcfg.aligner_params)
    thr = maps.threshold
    answers, secs = query_results(splits["test"], default, maps)
    preds, rankings = listed(answers)
    m = evaluate(splits["test"], preds, rankings, thr)
    if qcfg.comparator:  # segments ranked across queries by their comparator-weighed confidence
        m["micro_ap_score"] = m["micro_ap"]
        m["micro_ap"] = vsc_micro_ap(listed(answers, confidence=True)[0], splits["test"].labels)
        print(f"micro-AP by segment score {m['micro_ap_score']:.4f}, by confidence (score x {qcfg.comparator}'s "
              f"similarity) {m['micro_ap']:.4f}")
    rows.append({"method": f"segscan default ({qcfg.aligner})", **m, "query_s": float(np.median(secs)),
                 "params": {}, "threshold": thr})
    results["segscan"] = {**rows[-1], "per_edit": per_edit_f1(splits["test"], preds, thr)}

    n_test = len(splits["test"].queries)
    qs = [q.seconds for q in splits["test"].queries]
    hours = stats["hours"] or 1e-9
    cost = {
        "ingest_x_realtime": round(ingest_speed, 2) if ingest_speed else None,
        "query_p50_s": float(np.percentile(qs, 50)), "query_p95_s": float(np.percentile(qs, 95)),
        "index_bytes_per_hour": stats["index_bytes"] / hours, "store_bytes_per_hour": stats["bytes"] / hours,
        "region_codec": stats["region_codec"],
        "feature_bytes_per_keyframe": stats["feature_bytes"] / max(stats["vectors"], 1),
        "gallery_videos": stats["videos"], "gallery_keyframes": stats["vectors"] + args.distractors,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "build_s": t_build, "total_s": time.time() - t_all, "test_queries": n_test,
    }
    if methods:
        cost.update({"tuned_on": f"{(tune_on or bench).name} train split, {len(splits['train'].queries)} queries",
                     "train_negative_weight": round(splits["train"].neg_weight, 3)})
    cost["keyframes"] = keyframe_tag(ecfg) or "uniform-1fps"
    cost["keyframes_per_s"] = stats["vectors"] / max(stats["hours"] * 3600, 1e-9)
    scored = (f"{n_test} train queries of held-out content groups (the choice set)" if args.choice
              else f"{n_test} test queries")
    print(f"\nbenchmark {(tune_on or bench).name if args.choice else bench.name} ({maps.map_mode} maps): {scored}, gallery {stats['videos']} videos / "
          f"{cost['gallery_keyframes']} keyframes (distractor keyframes: {args.distractors})\n")
    print(table(rows, RESULT_COLS))
    print("\n" + table([{"figure": k, "value": (f"{v:.3g}" if isinstance(v, float) else str(v))} for k, v in cost.items()],
                       [("figure", "cost", ""), ("value", "value", "")]))
    # always kept in the benchmark folder too, so a distractor run compares with the latest plain run
    text = json.dumps({"rows": rows, "methods": results, "cost": cost, "config": asdict(cfg), "media": str(media),
                       "distractors": args.distractors, "map": maps.map_mode, "views": list(qcfg.views),
                       "written": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2, default=float) + "\n"
    # a run on another backbone, with a comparator or another region codec keeps a file of its own,
    # so it neither replaces nor is compared with a plain one
    comparator = Path(qcfg.comparator).stem if (qcfg.comparator or "").endswith(".pt") else qcfg.comparator
    other = [ecfg.backbone if ecfg.backbone != EncoderConfig().backbone else "", comparator or "",
             args.region_codec if args.region_codec != DEFAULT_CODEC else "", keyframe_tag(ecfg),
             "choice" if args.choice else ""]
    tag = "".join(f"-{t}" for t in other if t)
    own = bench / f"results-{maps.map_mode}{tag}-d{args.distractors}.json"
    out = Path(args.json) if args.json else own
    for path in {out, own}:
        path.write_text(text)
    if args.distractors:
        base = bench / f"results-{maps.map_mode}{tag}-d0.json"
        if base.exists():
            bj = json.loads(base.read_text())
            b = {r["method"]: r["f1"] for r in bj["rows"]}
            print(f"\nF1 drop with distractors (against the run without them of {bj.get('written', '?')}): " + ", ".join(
                f"{r['method']}: {b[r['method']] - r['f1']:+.3f}" for r in rows if r["method"] in b))
    print(f"\nresults: {out}")
    return 0


def ingest_gallery(bench: Path, ecfg: EncoderConfig, region_codec: str = DEFAULT_CODEC,
                   progress: bool = True) -> float | None:
    """The folder's gallery into its database for ``ecfg`` (videos already there are skipped), and
    the ingest speed (x real time) measured when the database was built, kept beside it."""
    db_dir = database_dir(bench, ecfg, region_codec)
    summary = ingest([str(bench / "gallery.txt")], str(db_dir), ecfg, workers=0, progress=progress,
                     region_codec=region_codec)
    log = db_dir.with_name(db_dir.name + "-ingest.json")
    if summary.added:
        log.write_text(json.dumps({"x_realtime": summary.speed, "video_s": summary.video_seconds,
                                   "seconds": summary.seconds}) + "\n")
    return json.loads(log.read_text())["x_realtime"] if log.exists() else None


def keyframe_tag(ecfg: EncoderConfig) -> str:
    """'' for the default keyframes, else e.g. 'uniform-2fps' or 'ske-t0.5-g1.5'."""
    if ecfg.keyframes == "ske":
        return f"ske-t{ecfg.ske_threshold:g}-g{ecfg.ske_max_gap:g}"
    return "" if ecfg.keyframe_fps == EncoderConfig().keyframe_fps else f"uniform-{ecfg.keyframe_fps:g}fps"


if __name__ == "__main__":
    sys.exit(main())
