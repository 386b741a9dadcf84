"""Find the videos a clip copies from, and which seconds match which seconds.

  python query.py clip.mp4 --db segscan-db --topk 100
  python query.py clip.mp4 --json result.json
  python query.py uploads/ more.txt --report report.csv --json results.json   # batch

Prints a ranked table per clip (video, score, matched segments as query mm:ss-mm:ss <->
reference mm:ss-mm:ss); --json writes the same as JSON (one object for one clip, a list
for several), --report writes one CSV row per matched segment. Clips may be files,
folders or list files. Exit status 0 when every clip was searched (also when nothing
matches), 1 when some clips could not be read (each is reported, the rest still run),
2 for a missing database or bad arguments.
"""
import argparse
import json
import os
import sys

from . import add_encoder_args, encoder_config, run_main
from ..align.tn import TemporalNetwork
from ..compare import COMPARATORS
from ..pipeline.views import VIEWS
from ..query import QueryConfig
from ..report.rows import fmt_time, write_atomic, write_segment_csv


def format_table(res) -> str:
    lines = [f"query: {res.query}  ({res.duration:.1f} s)  {len(res.matches)} match(es)"]
    if not res.matches:
        lines.append("no copied segments found")
        return "\n".join(lines)
    lines.append(f"{'#':>3}  {'score':>6}  {'copy':<4}  {'video':<16}  segments (query <-> reference)  path")
    for i, m in enumerate(res.matches, 1):
        segs = ", ".join(f"{fmt_time(s.q_start)}-{fmt_time(s.q_end)} <-> {fmt_time(s.r_start)}-{fmt_time(s.r_end)}"
                         for s in m.segments[:4])
        if len(m.segments) > 4:
            segs += f" (+{len(m.segments) - 4})"
        lines.append(f"{i:>3}  {m.score:6.3f}  {'yes' if m.copy else '-':<4}  {m.video_id:<16}  {segs}  {m.path}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", help="query video files, folders or list files")
    ap.add_argument("--db", default="segscan-db", help="database directory (default: %(default)s)")
    ap.add_argument("--topk", type=int, default=QueryConfig.topk,
                    help="videos to return, at most --candidates of them (default: %(default)s)")
    ap.add_argument("--topn", type=int, default=QueryConfig.topn,
                    help="index neighbours per query keyframe (default: %(default)s)")
    ap.add_argument("--candidates", type=int, default=QueryConfig.candidates,
                    help="candidate videos aligned after pre-scoring: the ranked list holds at most this many. More "
                         "finds more weak matches, but in a catalogue of a million keyframes each extra candidate "
                         "is mostly a chance for a false segment (100 instead of 20 cost 8 F1 points there, "
                         "docs/BENCHMARKS.md) (default: %(default)s)")
    ap.add_argument("--aligner", default=QueryConfig.aligner,
                    help="temporal aligner: spd (the YOLO similarity-pattern detector: best segment F1 on the "
                         "benchmark), tn (Temporal Network: no weights, ten times cheaper), dp, hv, dtw "
                         "(default: %(default)s)")
    ap.add_argument("--aligner-param", action="append", default=[], metavar="KEY=VALUE",
                    help="set one of the aligner's parameters, e.g. min_sim=0.2 (repeatable)")
    ap.add_argument("--map", dest="map_mode", default="auto", choices=["auto", "sparse", "dense", "regions"],
                    help="similarity maps of the candidates: 'regions' (all keyframe pairs, region-level Chamfer "
                         "similarity: the rerank stage, best at finding cropped and edited copies), 'sparse' (index "
                         "neighbours only: fastest; the thresholds were chosen for region maps, so set --min-score and "
                         "--threshold for it, e.g. 0.25 and 0.25 with --aligner-param min_sim=0.2 "
                         "--aligner-param length_weight=0), "
                         "'dense' (all keyframe pairs, global vectors) or 'auto' (the aligner's own kind: what SPD's "
                         "weights were trained on, regions for tn) (default: %(default)s)")
    ap.add_argument("--region-bg-quantile", type=float, default=QueryConfig.region_bg_quantile, metavar="Q",
                    help="region maps: each query keyframe's background is this quantile of its similarities to "
                         "all candidates' keyframes (default: %(default)s, the median, what the thresholds were "
                         "chosen for)")
    ap.add_argument("--views", nargs="*", default=list(QueryConfig.views), metavar="VIEW", choices=VIEWS,
                    help="other pictures of each query keyframe also searched, each map cell keeping the best: "
                         "flip (the mirror), quarters (the 2x2 quarters: a copy shown in a corner), centre; "
                         "each costs one more feature pass per keyframe (default: %(default)s)")
    ap.add_argument("--no-flip", dest="flip", action="store_false",
                    help="do not search with the mirrored query (faster, misses flipped copies)")
    ap.add_argument("--no-exclusive", dest="exclusive", action="store_false",
                    help="list every reference place a query span matches (by default one per query span, unless "
                         "the reference repeats itself there)")
    ap.add_argument("--comparator", default=QueryConfig.comparator, choices=COMPARATORS,
                    help="rank the matches by a learned video-to-video comparator's similarity (visil: "
                         "segscan.compare.visil; segments and copy decisions stay the aligner's; default: off)")
    ap.add_argument("--min-score", type=float, default=None,
                    help="list segments (and videos) scoring at least this, in the aligner's score units "
                         f"(default: the aligner's own; spd and tn: {TemporalNetwork.list_floor})")
    ap.add_argument("--threshold", type=float, default=None,
                    help="declare a video a copy (the 'copy' column, \"copy\" in JSON, the report's copy "
                         "column) when its best segment scores at least this (default: the aligner's own, the "
                         "segment-F1-best threshold on the benchmark's train split: spd's model card says, "
                         f"tn: {TemporalNetwork.copy_threshold})")
    ap.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    ap.add_argument("--report", metavar="FILE", help="write a CSV report: one row per matched segment")
    ap.add_argument("--explain", metavar="DIR",
                    help="write per match its similarity map with the segments as boxes (…-map.png) and the "
                         "segments' end frames, query beside reference (…-frames.png)")
    add_encoder_args(ap)
    args = ap.parse_args(argv)
    for name in ("topk", "topn", "candidates"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be > 0")
    if not 0.0 <= args.region_bg_quantile <= 1.0:
        ap.error("--region-bg-quantile must be within [0, 1]")
    aligner_params = {}
    for item in args.aligner_param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            ap.error(f"--aligner-param takes KEY=VALUE, got {item!r}")
        try:
            aligner_params[key] = json.loads(value)
        except json.JSONDecodeError:
            aligner_params[key] = value
    try:
        from ..align import make_aligner

        aligner = make_aligner(args.aligner, **aligner_params)  # one for all clips (SPD loads its model once)
    except (TypeError, ValueError) as exc:
        ap.error(f"--aligner {args.aligner} with {aligner_params}: {exc}")

    def run():
        # a failed run must not leave the previous run's outputs looking like its own
        for out in (args.json, args.report):
            if out and os.path.isfile(out):
                os.unlink(out)
        from ..errors import VideoError
        from ..index.store import Database
        from ..pipeline.extract import VideoEncoder, feature_config
        from ..pipeline.ingest import expand_inputs
        from ..query import query_video

        cfg = QueryConfig(topn=args.topn, candidates=args.candidates, topk=args.topk, aligner=args.aligner,
                          aligner_params=aligner_params,
                          map_mode=args.map_mode, min_score=args.min_score, threshold=args.threshold,
                          region_bg_quantile=args.region_bg_quantile,
                          views=tuple(v for v in args.views if args.flip or v != "flip"),
                          exclusive=args.exclusive, comparator=args.comparator)
        enc_cfg = encoder_config(args)
        paths, missing = expand_inputs(args.clips)
        failed = list(missing)
        results = []
        with Database.open(args.db, readonly=True, feature_config=feature_config(enc_cfg)) as db:
            encoder = VideoEncoder(enc_cfg)
            for path in paths:
                try:
                    res = query_video(db, encoder, path, cfg, aligner)
                except VideoError as exc:
                    failed.append((path, exc.reason))
                    print(f"error: {exc}", file=sys.stderr)
                    continue
                results.append(res)
                print(format_table(res))
                if args.explain:
                    from ..report.explain import write_explanations

                    write_explanations(res, args.explain)
                t = res.timings
                print(f"time: {t['total']:.2f} s (features {t['features']:.2f}, search {t['search']:.3f}, "
                      f"align and refine {t['align']:.3f})")
        for p, why in missing:
            print(f"error: {p}: {why}", file=sys.stderr)
        if len(args.clips) == 1 and len(paths) + len(missing) == 1 and failed:
            return 2  # the one clip asked for could not be read
        if args.json:
            payload = results[0].to_json() if len(results) == 1 and len(paths) == 1 else [r.to_json() for r in results]
            write_atomic(args.json, lambda f: json.dump(payload, f, indent=2))
        if args.report:
            write_segment_csv(args.report, [r.to_json() for r in results], failed)
        if len(paths) + len(missing) > 1:
            print(f"{len(results)} clip(s) searched, {sum(bool(r.matches) for r in results)} with matches, "
                  f"{len(failed)} unreadable")
        return 1 if failed else 0

    return run_main(run, verbose=args.verbose, debug=args.debug)

