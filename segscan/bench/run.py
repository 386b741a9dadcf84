"""Run the copy-segment benchmark: every aligner on the same similarity maps, one table.

    python -m segscan.bench run [--quick] [--out bench-data] [--distractors N] [--vcdb DIR]

Builds (or reuses) the benchmark folder, ingests its gallery, encodes every query once,
assembles the similarity maps once, then aligns them with each method (the peers tuned on
the train split, and segscan's default aligner) and prints segment P/R/F1 (VCSL),
micro-AP (VSC22), video mAP and per-query time; then a cost table. ``--distractors N``
adds N feature-level distractor keyframes to the index and reports the F1 drop.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import logging
import resource
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..align import make_aligner
from ..index.store import Database
from ..pipeline.extract import EncoderConfig, VideoEncoder, feature_config
from ..pipeline.ingest import ingest
from ..query import QueryConfig, QueryResult, Settings, resolve
from ..query.maps import build_maps
from ..query.rank import rank
from ..types import CandidateMap, VideoFeatures
from .metrics import vcsl_f1, video_map, vsc_micro_ap

log = logging.getLogger(__name__)

# parameter grids searched on the train split (small: each point re-aligns every train map)
# (similarities are background-normalised by the query path: unrelated keyframes score about 0)
GRIDS = {
    "tn": {"min_sim": [0.05, 0.1, 0.2], "min_score": [0.1, 0.2], "max_gap": [5.0], "snap_keep": [0.5, 0.85],
           "length_weight": [0.0, 0.03, 0.06, 0.1]},
    # VCSL's peers (align.peers): their own parameters around VCSL's defaults, in keyframes and the
    # query path's similarity units
    "dp": {"min_sim": [0.05, 0.1, 0.2], "ave_sim": [0.1, 0.2, 0.3], "min_length": [1, 2, 4]},
    "hv": {"min_sim": [0.1, 0.2, 0.3], "iou": [0.5, 0.9]},
    "dtw": {"min_sim": [0.1, 0.2, 0.3], "min_length": [1, 2, 4], "discontinue": [3]},
    # learned; on train: the threshold and how boxes are scored (alternatives: a list of grids)
    "spd": [{"score": ["evidence"], "evidence": [0.0, 0.5, 1.0, 2.0]},
            {"score": ["path"], "conf_weight": [0.2, 0.35, 0.5], "length_weight": [0.03, 0.06, 0.1],
             "paths": [0, 3, 20]}],
}
PEERS = ["tn", "dp", "hv", "dtw"]


@dataclass
class QueryMaps:
    """One query's candidates with their maps, as the query path builds them (cached per run)."""

    qid: str
    duration: float
    cands: list[CandidateMap]
    seconds: float  # features + search + map assembly

    @property
    def refs(self) -> list[str]:
        """Reference id per candidate."""
        return [ref_id(c.path) for c in self.cands]

    @property
    def maps(self) -> list:
        return [c.map for c in self.cands]


@dataclass
class Split:
    queries: list[QueryMaps] = field(default_factory=list)
    labels: dict = field(default_factory=dict)  # "qid-ref" -> boxes
    pair_edits: dict = field(default_factory=dict)  # "qid-ref" -> set of edit names
    # weight of a negative query's pairs (a query without any true pair) in segment precision:
    # a train split tuned for a test split with another share of negative queries is weighted to
    # the test's share, so a threshold chosen on it suits the test (see ``negative_weight``)
    neg_weight: float = 1.0

    def negatives(self) -> set[str]:
        """Ids of the queries with no true pair."""
        positive = {k.split("-", 1)[0] for k in self.labels}
        return {q.qid for q in self.queries} - positive


def negative_weight(train: Split, test: Split) -> float:
    """The weight that gives the train split's negative queries the test split's share of queries
    (1 when either split has only one kind)."""
    def ratio(s: Split) -> float | None:
        neg = len(s.negatives())
        pos = len(s.queries) - neg
        return neg / pos if neg and pos else None

    a, b = ratio(train), ratio(test)
    return b / a if a and b else 1.0


def feature_key(ecfg: EncoderConfig) -> str:
    """Short digest of the feature configuration: a benchmark keeps one database per configuration."""
    import hashlib

    return hashlib.sha1(json.dumps(feature_config(ecfg), sort_keys=True).encode()).hexdigest()[:10]


def query_settings(map_mode: str | None = None, cfg: QueryConfig | None = None) -> Settings:
    """The settings the benchmark builds maps with: the query path's defaults (or ``cfg``), with the
    map kind fixed (``map_mode``, else the default aligner's), so every method sees the same maps."""
    cfg = cfg or QueryConfig()
    if map_mode:
        cfg = dataclasses.replace(cfg, map_mode=map_mode)
    return resolve(cfg, make_aligner(cfg.aligner, **cfg.aligner_params))


def method_settings(maps: Settings, aligner) -> Settings:
    """The query path's settings for ``aligner`` on the benchmark's maps (its own thresholds)."""
    return resolve(dataclasses.replace(maps.config, map_mode=maps.map_mode), aligner)


def cached_queries(bench: Path, part: str, progress: bool = False, map_mode: str | None = None) -> list["QueryMaps"]:
    """The maps of one split's queries against the benchmark's database (ingested by ``run``)."""
    splits, _ = load_splits(bench, [part], VideoEncoder(EncoderConfig()), query_settings(map_mode), progress=progress)
    return splits[part].queries


def ref_id(path: str) -> str:
    return Path(path).stem


def load_split(bench: Path, part: str) -> Split:
    s = Split()
    s.labels = json.loads((bench / "truth" / f"{part}_label_file.json").read_text())
    with open(bench / "truth" / f"{part}_pairs.csv") as f:
        for row in csv.DictReader(f):
            key = f"{row['query_id']}-{row['reference_id']}"
            edits = s.pair_edits.setdefault(key, set())
            edits.add(row["temporal"].split()[0])
            edits.update(e for e in row["spatial"].split("+") if e)
            edits.update(e for e in row["query_edits"].split("+") if e)
    return s


def encode_queries(bench: Path, part: str, encoder: VideoEncoder, db, settings: Settings, cache: Path,
                   progress=True) -> list[QueryMaps]:
    out = []
    cache.mkdir(parents=True, exist_ok=True)
    paths = sorted((bench / "queries" / part).glob("*.mp4"))
    for p in tqdm(paths, desc=f"{part}: queries", disable=not progress):
        t0 = time.perf_counter()
        npz = cache / f"{p.stem}.npz"
        z = np.load(npz) if npz.exists() else None
        if z is not None and "regions" in z.files:  # cached: count the time the features took when made
            feats = VideoFeatures(z["times"], z["global"], z["regions"], duration=float(z["duration"]))
            flipped = VideoFeatures(z["times"], z["flipped"], z["flipped_regions"], duration=float(z["duration"]))
            feat_s = float(z["seconds"]) if "seconds" in z.files else 0.0
        else:
            enc = encoder(str(p), flip=True)
            feats, flipped = enc.features, enc.flipped
            feat_s = time.perf_counter() - t0
            np.savez(npz, **{"times": feats.times, "global": feats.global_feats, "regions": feats.region_feats,
                             "flipped": flipped.global_feats, "flipped_regions": flipped.region_feats,
                             "duration": feats.duration, "seconds": feat_s})
        t1 = time.perf_counter()
        flip = flipped if settings.config.flip else None
        cands = build_maps(db, feats, settings, flip)
        out.append(QueryMaps(p.stem, feats.duration, cands, feat_s + time.perf_counter() - t1))
    return out


def query_results(split: Split, aligner, settings: Settings) -> tuple[dict[str, QueryResult], list[float]]:
    """Every query of the split through the query path's ranking (``query.rank``) on its cached
    maps: (qid -> the result query.py gives, seconds per query)."""
    out, secs = {}, []
    for q in split.queries:
        t0 = time.perf_counter()
        matches = rank(q.cands, aligner, settings)
        secs.append(time.perf_counter() - t0 + q.seconds)
        out[q.qid] = QueryResult(q.qid, q.duration, matches, {})
    return out, secs


def predict(split: Split, aligner, settings: Settings):
    """(listed boxes with scores per pair, rankings, seconds per query) of the query path."""
    results, secs = query_results(split, aligner, settings)
    preds, rankings = {}, {}
    for qid, res in results.items():
        rankings[qid] = [ref_id(m.path) for m in res.matches]
        for m in res.matches:
            preds[f"{qid}-{ref_id(m.path)}"] = [(s.as_box(), s.score) for s in m.segments]
    return preds, rankings, secs


def evaluate(split: Split, preds: dict, rankings: dict, threshold: float) -> dict:
    kept = {k: [b for b, s in v if s >= threshold] for k, v in preds.items()}
    kept = {k: v for k, v in kept.items() if v}
    weight = None
    if split.neg_weight != 1.0:
        neg = split.negatives()
        weight = lambda key: split.neg_weight if key.split("-", 1)[0] in neg else 1.0
    seg = vcsl_f1(kept, split.labels, weight)
    relevant = defaultdict(set)
    for key in split.labels:
        q, r = key.split("-", 1)
        relevant[q].add(r)
    for q in split.queries:
        relevant.setdefault(q.qid, set())
    return {"precision": seg["precision"], "recall": seg["recall"], "f1": seg["f1"],
            "micro_ap": vsc_micro_ap(preds, split.labels), "video_map": video_map(rankings, relevant)}


def best_threshold(split: Split, preds, rankings) -> tuple[float, dict]:
    scores = sorted({round(s, 3) for v in preds.values() for _, s in v})
    cands = [0.0] + scores[:: max(1, len(scores) // 40)]
    best = (0.0, {"f1": -1})
    for t in cands:
        m = evaluate(split, preds, rankings, t)
        if m["f1"] > best[1]["f1"]:
            best = (t, m)
    return best


def tune(name: str, train: Split, maps: Settings, fixed: dict | None = None) -> tuple[dict, float, float]:
    """Grid search on the train split: (params, score threshold, train F1); ``fixed`` params are not searched."""
    grids = GRIDS.get(name, {})
    points = [dict(zip(g, values)) for g in (grids if isinstance(grids, list) else [grids])
              for values in itertools.product(*g.values())]
    best = ({}, 0.0, -1.0)
    for params in points:
        al = make_aligner(name, **(fixed or {}), **params)
        preds, rankings, _ = predict(train, al, method_settings(maps, al))
        t, m = best_threshold(train, preds, rankings)
        if m["f1"] > best[2]:
            best = (params, t, m["f1"])
    return best


def per_edit_f1(split: Split, preds: dict, threshold: float) -> dict:
    """Segment F1 over the true pairs that carry each edit (precision from predictions on those pairs)."""
    by_edit = defaultdict(list)
    for key, edits in split.pair_edits.items():
        for e in edits:
            by_edit[e].append(key)
    out = {}
    for e, keys in sorted(by_edit.items()):
        kept = {k: [b for b, s in preds.get(k, []) if s >= threshold] for k in keys}
        m = vcsl_f1({k: v for k, v in kept.items() if v}, {k: split.labels[k] for k in keys})
        out[e] = {"pairs": len(keys), "f1": m["f1"], "recall": m["recall"]}
    return out


RESULT_COLS = [("method", "method", ""), ("precision", "seg P", ".3f"), ("recall", "seg R", ".3f"),
               ("f1", "seg F1", ".3f"), ("micro_ap", "micro-AP", ".3f"), ("video_map", "video mAP", ".3f"),
               ("query_s", "query s (p50)", ".3f")]


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    lines = [head, sep]
    for r in rows:
        lines.append("| " + " | ".join(format(r[c[0]], c[2]) if c[2] else str(r[c[0]]) for c in cols) + " |")
    return "\n".join(lines)


def run_vcdb(folder: Path, args) -> int:
    """Ingest every video of a VCSL-format VCDB folder, query each query video, score against its labels."""
    from .vcdb import find_distractors, find_videos, load_annotations

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
            enc = encoder(found[qid], flip=True)
            # a video is not a copy of itself
            cands = build_maps(db, enc.features, maps, enc.flipped, exclude=nums[qid])
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


def check_same_split(bench: Path, other: Path) -> None:
    """Exit with a message unless ``other`` is a benchmark folder with ``bench``'s source split and gallery."""
    def key(b: Path):
        try:
            meta = json.loads((b / "meta.json").read_text())
            gallery = sorted(ref_id(x) for x in (b / "gallery.txt").read_text().split())
        except (OSError, ValueError) as e:
            raise SystemExit(f"error: {b} is not a built benchmark folder ({e})")
        return meta["split"], gallery

    if key(bench) != key(other):
        raise SystemExit(f"error: {other} does not share {bench}'s train/test split and gallery "
                         "(build it with the same --seed, e.g. --size 10 10 300 60)")


def load_splits(bench: Path, parts: list[str], encoder, settings: Settings, distractors: int = 0,
                base: Path | None = None, seed: int = 0, progress: bool = True) -> tuple[dict, dict]:
    """The maps of ``parts`` against ``bench``'s database (with ``distractors`` distractor keyframes
    from the base file ``base``), and the database's stats."""
    ecfg = encoder.config
    fkey = feature_key(ecfg)
    db_dir = bench / f"db-{fkey}"
    if not db_dir.exists():
        raise SystemExit(f"error: {db_dir} not found; run the benchmark on {bench} once first "
                         "(python -m segscan.bench run)")
    splits = {}
    with Database.open(db_dir, readonly=True, feature_config=feature_config(ecfg)) as db:
        stats = db.stats()
        if distractors:
            from .distractors import with_distractors

            db = with_distractors(db, distractors, base, encoder, seed=seed, progress=progress)
        for part in parts:
            s = load_split(bench, part)
            s.queries = encode_queries(bench, part, encoder, db, settings, bench / f"features-{fkey}" / part, progress)
            splits[part] = s
    return splits, stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run"], nargs="?", default="run")
    ap.add_argument("--out", default="bench-data", help="benchmark folder (built on first use)")
    ap.add_argument("--quick", action="store_true", help="a small benchmark for development (< 3 min)")
    ap.add_argument("--seed", type=int, default=0)
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
    ap.add_argument("--spd-weights", default=None, metavar="PT",
                    help="SPD weights to evaluate (default: the shipped ones)")
    ap.add_argument("--json", default=None, help="also write results here (they always go to the benchmark folder, "
                    "results-MAP-dN.json)")
    ap.add_argument("--vcdb", default=None, metavar="DIR",
                    help="evaluate on a real VCDB copy instead: DIR holds label_file.json, pair_file.csv and the "
                         "videos (any file whose name is a video id); aligners run with their shipped defaults")
    ap.add_argument("--tune-on", default=None, metavar="DIR",
                    help="tune every method on the train split of this benchmark folder instead (same --seed, so "
                         "the same sources and gallery; e.g. one built with --size 10 10 300 60 has 5x the train "
                         "queries). Either way a train split's negative queries are weighted to the test's share")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.vcdb:
        return run_vcdb(Path(args.vcdb), args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .generate import BenchConfig, build

    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    if args.size:
        cfg = dataclasses.replace(cfg, test_queries=args.size[0], test_negatives=args.size[1],
                                  train_queries=args.size[2], train_negatives=args.size[3])
    cfg.seed = args.seed
    bench = Path(args.out) / cfg.key()
    progress = not args.quiet
    t_all = time.time()
    t0 = time.time()
    build(bench, cfg, progress=progress)
    t_build = time.time() - t0

    ecfg = EncoderConfig()
    fkey = feature_key(ecfg)
    db_dir = bench / f"db-{fkey}"
    summary = ingest([str(bench / "gallery.txt")], str(db_dir), ecfg, workers=0, progress=progress)
    ingest_log = db_dir.with_name(db_dir.name + "-ingest.json")
    if summary.added:  # remember the speed measured when the gallery was ingested
        ingest_log.write_text(json.dumps({"x_realtime": summary.speed, "video_s": summary.video_seconds,
                                          "seconds": summary.seconds}) + "\n")
    ingest_speed = json.loads(ingest_log.read_text())["x_realtime"] if ingest_log.exists() else None
    encoder = VideoEncoder(ecfg)
    qcfg = QueryConfig()
    if args.candidates:
        qcfg.candidates = args.candidates
    if args.region_bg_quantile is not None:
        qcfg.region_bg_quantile = args.region_bg_quantile
    maps = query_settings(args.map, qcfg)
    base = bench / f"distractor-base-{fkey}.npz"
    tune_on = Path(args.tune_on) if args.tune_on else None
    if tune_on:
        check_same_split(bench, tune_on)
    more = {"distractors": args.distractors, "base": base, "seed": args.seed, "progress": progress}
    splits, stats = load_splits(bench, ["test"] if tune_on else ["train", "test"], encoder, maps, **more)
    if tune_on:
        splits["train"] = load_splits(tune_on, ["train"], encoder, maps, **more)[0]["train"]
    splits["train"].neg_weight = negative_weight(splits["train"], splits["test"])

    rows, results = [], {}
    from ..align.spd import DEFAULT_WEIGHTS

    spd_weights = Path(args.spd_weights) if args.spd_weights else DEFAULT_WEIGHTS
    methods = [m for m in args.methods.split(",") if m and (m != "spd" or spd_weights.exists())]
    for name in methods:
        # SPD: the detector runs once per map; the grid only rescores its boxes
        # DP and DTW: their paths once per map; the grid only filters them
        fixed = {"weights": str(spd_weights), "cache": {}} if name == "spd" else (
            {"cache": {}} if name in ("dp", "dtw") else {})
        params, thr, train_f1 = tune(name, splits["train"], maps, fixed)
        al = make_aligner(name, **fixed, **params)
        preds, rankings, secs = predict(splits["test"], al, method_settings(maps, al))
        m = evaluate(splits["test"], preds, rankings, thr)
        label = "SPD (learned, threshold from train)" if name == "spd" else f"{name.upper()} (tuned on train)"
        rows.append({"method": label, **m, "query_s": float(np.median(secs)),
                     "params": params, "threshold": thr})
        results[name] = {**rows[-1], "train_f1": train_f1, "per_edit": per_edit_f1(splits["test"], preds, thr)}
    # segscan's default, exactly as query.py runs it (no tuning)
    default = make_aligner(qcfg.aligner, **qcfg.aligner_params)
    thr = maps.threshold
    preds, rankings, secs = predict(splits["test"], default, maps)
    m = evaluate(splits["test"], preds, rankings, thr)
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
        "gallery_videos": stats["videos"], "gallery_keyframes": stats["vectors"] + args.distractors,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "build_s": t_build, "total_s": time.time() - t_all, "test_queries": n_test,
        "tuned_on": f"{(tune_on or bench).name} train split, {len(splits['train'].queries)} queries",
        "train_negative_weight": round(splits["train"].neg_weight, 3),
    }
    print(f"\nbenchmark {bench.name} ({maps.map_mode} maps): {n_test} test queries, gallery {stats['videos']} videos / "
          f"{cost['gallery_keyframes']} keyframes (distractor keyframes: {args.distractors})\n")
    print(table(rows, RESULT_COLS))
    print("\n" + table([{"figure": k, "value": (f"{v:.3g}" if isinstance(v, float) else str(v))} for k, v in cost.items()],
                       [("figure", "cost", ""), ("value", "value", "")]))
    # always kept in the benchmark folder too, so a distractor run compares with the latest plain run
    text = json.dumps({"rows": rows, "methods": results, "cost": cost, "config": asdict(cfg),
                       "distractors": args.distractors, "map": maps.map_mode,
                       "written": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2, default=float) + "\n"
    own = bench / f"results-{maps.map_mode}-d{args.distractors}.json"
    out = Path(args.json) if args.json else own
    for path in {out, own}:
        path.write_text(text)
    if args.distractors:
        base = bench / f"results-{maps.map_mode}-d0.json"
        if base.exists():
            bj = json.loads(base.read_text())
            b = {r["method"]: r["f1"] for r in bj["rows"]}
            print(f"\nF1 drop with distractors (against the run without them of {bj.get('written', '?')}): " + ", ".join(
                f"{r['method']}: {b[r['method']] - r['f1']:+.3f}" for r in rows if r["method"] in b))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
