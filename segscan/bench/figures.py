"""Figures of the foundation: ingest speed and memory, query latency, copy detection.

    python -m segscan.bench.figures [--media ../shared/media] [--copies 50] [--copy-seeds 1 2] [--out docs/figures.json]

1. Ingest every shared clip (in this process, default backbone, 1 keyframe/s): speed as a
   multiple of real time, overall and for the 360p-720p H.264 clips, and peak memory.
2. Query a 60-second clip (edited pieces of several clips) against that index: end-to-end
   time, and index search + alignment time.
3. ``--copies`` seeded copies (crop + flip + re-encode of a 10-second segment of a clip of
   at least 10 s): share found at rank 1 with all four boundaries within 1 s, and the share
   of those also declared a copy (best segment at or above the query's copy threshold).
   ``--copy-seeds`` measures it on the copies of more seeds as well (50 copies are few: one
   copy is 2 points), reported per seed and together.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..index.store import Database
from ..pipeline.extract import EncoderConfig, VideoEncoder
from ..pipeline.ingest import ingest
from ..align import make_aligner
from ..query import QueryConfig, query_video, resolve
from ..synth import SpatialEdit, copy_segment, read_all, write_video
from ..corpus import DEFAULT_MEDIA, load_clips


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def query60_pieces(rng, long_clips: list) -> list:
    """The 60-second query's six (clip, start) pieces, drawn from ``rng``."""
    return [(c, float(rng.uniform(0, c.duration - 10.2))) for c in rng.choice(long_clips, 6, replace=False)]


def write_query60(path: Path, long_clips: list, seed: int, size=(320, 240)) -> Path:
    """The 60-second query: six 10-second pieces of ``long_clips`` (at least 10.5 s), each cropped."""
    pieces = []
    for c, start in query60_pieces(np.random.default_rng(seed), long_clips):
        frames, ftimes, _ = read_all(c.path, fps=25.0, size=size)
        pieces += copy_segment(frames, ftimes, start, start + 10.0, 1.0, 25.0, [SpatialEdit("crop", 0.3)])
    write_video(pieces, path, 25.0, crf=28)
    return path


def timed_query(db, encoder, path: Path, qcfg, repeats: int = 3) -> tuple[float, float]:
    """Median seconds of the whole query of ``path`` (decode, features, search, align, refine) and
    of its search + alignment, after one query to warm up (model pages, caches)."""
    query_video(db, encoder, str(path), qcfg)
    times = [query_video(db, encoder, str(path), qcfg).timings for _ in range(repeats)]
    return (float(np.median([t["total"] for t in times])),
            float(np.median([t["search"] + t["align"] for t in times])))


def copy_rng(seed: int, long_clips: list):
    """The copies' random stream of a seed: past the draws that pick the 60-second query's pieces,
    so that the copies of the run's own seed and of ``--copy-seeds`` are drawn alike."""
    rng = np.random.default_rng(seed)
    query60_pieces(rng, long_clips)
    return rng


def copy_figure(db, encoder, clips, long_clips, rng, n: int, qcfg, work: Path, size):
    """``n`` crop + flip + re-encode copies queried against ``db``: (hits, hits counting a clip of
    the same footage, hits also declared a copy, one record per copy)."""
    ok = ok_group = ok_copy = 0
    per = []
    groups = {x.path.resolve(): x.content_group for x in clips}
    for k in range(n):
        c = long_clips[int(rng.integers(len(long_clips)))]
        start = float(rng.uniform(0, c.duration - 10.2))
        frames, ftimes, _ = read_all(c.path, fps=25.0, size=size)
        body = copy_segment(frames, ftimes, start, start + 10.0, 1.0, 25.0,
                            [SpatialEdit("crop", float(rng.uniform(0.3, 0.6))), SpatialEdit("flip")])
        qp = work / f"copy{k}.mp4"
        write_video(body, qp, 25.0, crf=32)
        res = query_video(db, encoder, str(qp), qcfg)
        hit = hit_group = declared = False
        got, top_name = None, None
        if res.matches:
            top = res.matches[0]
            best = max(top.segments, key=lambda s: s.q_end - s.q_start)
            got = np.array([best.q_start, best.q_end, best.r_start, best.r_end])
            within = np.all(np.abs(got - [0, 10, start, start + 10]) <= 1.0)
            same = Path(top.path).resolve() == c.path.resolve()
            hit = bool(same and within)
            hit_group = bool(within and groups.get(Path(top.path).resolve()) == c.content_group)
            declared = hit and top.copy
            got, top_name = [round(float(x), 2) for x in got], Path(top.path).name
        ok += hit
        ok_group += hit_group
        ok_copy += declared
        per.append({"clip": c.path.name, "start": round(start, 2), "hit": hit, "hit_same_footage": hit_group,
                    "declared_copy": declared, "rank1": top_name, "segment": got})
        qp.unlink()
    return ok, ok_group, ok_copy, per


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default=str(DEFAULT_MEDIA))
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copy-seeds", type=int, nargs="*", default=[],
                    help="also measure the copy figure on the copies of these seeds (each --copies more)")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--map", default="auto", choices=["auto", "sparse", "dense", "regions"],
                    help="similarity maps of the query path (default: %(default)s, as query.py)")
    ap.add_argument("--min-score", type=float, default=None, help="query segment floor (default: query.py's)")
    ap.add_argument("--threshold", type=float, default=None, help="copy-decision threshold (default: query.py's)")
    ap.add_argument("--min-sim", type=float, default=None, help="TN node floor (default: the aligner's)")
    args = ap.parse_args(argv)
    clips = load_clips(args.media)
    work = Path(tempfile.mkdtemp(prefix="segscan-figures-"))
    cfg = EncoderConfig()
    fig = {}

    # 1. ingest ---------------------------------------------------------------------
    mid = [c for c in clips if 360 <= min(c.width, c.height) <= 720 and c.codec == "h264"]
    others = [c for c in clips if c not in mid]
    s1 = ingest([str(c.path) for c in mid], str(work / "db"), cfg, workers=0, progress=False)
    s2 = ingest([str(c.path) for c in others], str(work / "db"), cfg, workers=0, progress=False)
    fig["ingest_360_720p_x_realtime"] = round(s1.speed, 2)
    fig["ingest_360_720p_video_s"] = round(s1.video_seconds, 1)
    fig["ingest_all_x_realtime"] = round((s1.video_seconds + s2.video_seconds) / (s1.seconds + s2.seconds), 2)
    fig["ingest_failed"] = s1.failed + s2.failed
    fig["peak_rss_gib_after_ingest"] = round(peak_rss_gib(), 2)
    print(f"ingest: 360-720p H.264 {s1.speed:.1f}x real time over {s1.video_seconds:.0f} s of video; "
          f"all clips {fig['ingest_all_x_realtime']}x; peak RSS {fig['peak_rss_gib_after_ingest']} GiB", flush=True)

    encoder = VideoEncoder(cfg)
    long_clips = [c for c in clips if c.duration >= 10.5]
    size = (320, 240)

    # 2. a 60-second query ------------------------------------------------------------
    write_query60(work / "q60.mp4", long_clips, args.seed, size)
    qcfg = QueryConfig(map_mode=args.map)
    if args.min_score is not None:
        qcfg.min_score = args.min_score
    if args.threshold is not None:
        qcfg.threshold = args.threshold
    if args.min_sim is not None:
        qcfg.aligner_params = {"min_sim": args.min_sim}
    settings = resolve(qcfg, make_aligner(qcfg.aligner, **qcfg.aligner_params))
    floor, thr = settings.min_score, settings.threshold
    fig["query_config"] = {"map": args.map, "min_score": floor, "threshold": thr, **qcfg.aligner_params}
    with Database.open(work / "db", readonly=True) as db:
        tot, sa = timed_query(db, encoder, work / "q60.mp4", qcfg)
    fig["query60_total_s"], fig["query60_search_align_s"] = round(tot, 3), round(sa, 4)
    print(f"query of a 60 s clip: {tot:.2f} s end to end, search + align + refine {sa * 1000:.1f} ms", flush=True)

    # 3. crop + flip + re-encode copies -------------------------------------------------
    seeds = [args.seed] + [x for x in args.copy_seeds if x != args.seed]
    runs = {}
    with Database.open(work / "db", readonly=True) as db:
        for seed in seeds:
            runs[seed] = copy_figure(db, encoder, clips, long_clips, copy_rng(seed, long_clips), args.copies,
                                     qcfg, work, size)
            ok, ok_group, ok_copy, _ = runs[seed]
            print(f"crop+flip+re-encode copies (seed {seed}): {ok}/{args.copies} at rank 1 with boundaries within "
                  f"1 s ({ok_group}/{args.copies} counting clips of the same footage; {ok_copy}/{args.copies} also "
                  f"declared a copy at threshold {thr})", flush=True)
    ok, ok_group, ok_copy, per = runs[args.seed]
    fig["copies"] = args.copies
    fig["copies_rank1_within_1s"] = round(ok / args.copies, 3)
    fig["copies_rank1_within_1s_same_footage"] = round(ok_group / args.copies, 3)
    fig["copies_rank1_within_1s_declared_copy"] = round(ok_copy / args.copies, 3)
    if len(seeds) > 1:
        total = sum(r[0] for r in runs.values())
        fig["copies_by_seed"] = {str(k): {"rank1_within_1s": r[0], "same_footage": r[1], "declared_copy": r[2]}
                                 for k, r in runs.items()}
        fig["copies_all_seeds_rank1_within_1s"] = round(total / (args.copies * len(seeds)), 3)
        print(f"all {len(seeds)} seeds: {total}/{args.copies * len(seeds)} at rank 1 with boundaries within 1 s",
              flush=True)
    fig["peak_rss_gib"] = round(peak_rss_gib(), 2)
    fig["misses"] = [{"seed": seed, **p} for seed, r in runs.items() for p in r[3] if not p["hit"]]
    if args.out:
        Path(args.out).write_text(json.dumps(fig, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
