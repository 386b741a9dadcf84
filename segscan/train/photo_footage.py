"""Footage for training video comparators: the descriptor's train photos animated into clips.

    python -m segscan.train.photo_footage --out bench-data/photo-footage

prints the benchmark folder to train on (``python -m segscan.train.visil --bench ...``).

The benchmark's train split has a few dozen content groups, too few footage for a
comparator to learn what a copy looks like rather than what those clips look like. Here
each clip is a few shots, each a camera moving over one photo (``synth.pan_frames``), the
photos of one clip from one source folder, so the generator's negative queries (held-out
clips of a category the gallery has) are hard. Writes::

    footage/*.mp4, footage/SOURCES.tsv   one content group per clip, category = source folder
    stills/                              links to the other photos: the generator's filler and
                                         distractors, so nothing a query shows outside its
                                         copies is in the footage
    bench-photo-footage-.../             the copy benchmark's generator on that footage, all
                                         of it train, its gallery ingested

Only the descriptor photos' train part is read (``corpus.photo_part``): val and test photos
stay unseen. The clips are made the same on every machine (seeded, one x264 thread).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..corpus import DEFAULT_PHOTOS, photos_of
from ..synth import pan_frames, pan_length, write_video

FPS = 15.0
SIZE = (320, 240)
COLUMNS = ["file", "content_group", "category", "duration_s", "fps", "width", "height", "codec"]


def plan(photos: list[Path], root: Path, clips: int, shots: tuple[int, int], rng) -> tuple[list[list[Path]], list[Path]]:
    """(the photos of each clip, all from one source folder; the photos left over for stills)."""
    by_source: dict[str, list[Path]] = {}
    for p in photos:
        by_source.setdefault(p.relative_to(root).parts[0], []).append(p)
    pools = {s: list(rng.permutation(ps)) for s, ps in sorted(by_source.items())}
    out = []
    while len(out) < clips:
        sources = [s for s, ps in pools.items() if len(ps) >= shots[0] + 1]  # leave stills in every source
        if not sources:
            break
        s = sources[int(rng.integers(len(sources)))]
        n = min(int(rng.integers(shots[0], shots[1] + 1)), len(pools[s]) - 1)
        out.append([Path(pools[s].pop()) for _ in range(n)])
    return out, sorted(Path(p) for ps in pools.values() for p in ps)


def build(out: Path, clips: int = 200, shots: tuple[int, int] = (2, 4), seconds: tuple[float, float] = (3.0, 7.0),
          seed: int = 0, root: Path = DEFAULT_PHOTOS, progress: bool = True) -> Path:
    """Write (or complete) the footage folder; SOURCES.tsv is written last, so its presence
    means complete. Returns the footage folder."""
    import skimage.io

    footage = out / "footage"
    if (footage / "SOURCES.tsv").exists():
        return footage
    rng = np.random.default_rng(seed)
    groups, rest = plan(photos_of("train", root), root, clips, shots, rng)
    if not groups:
        raise FileNotFoundError(f"no train photos in {root}")
    footage.mkdir(parents=True, exist_ok=True)
    stills = out / "stills"
    stills.mkdir(exist_ok=True)
    for k, p in enumerate(rest):  # links keep the folder small; the generator reads any image tree
        link = stills / f"{k:04d}{p.suffix.lower()}"
        if not link.exists():
            os.symlink(p.resolve(), link)
    rows = []
    for k, shot_photos in enumerate(tqdm(groups, desc="photo clips", disable=not progress)):
        lengths = rng.uniform(*seconds, size=len(shot_photos))
        seeds = rng.integers(1 << 30, size=len(shot_photos))
        name = f"photoclip_{k:04d}.mp4"
        if not (footage / name).exists():
            frames = [f for p, s, sd in zip(shot_photos, lengths, seeds)
                      for f in pan_frames(skimage.io.imread(str(p)), float(s), FPS, SIZE, seed=int(sd))]
            write_video(frames, footage / name, FPS, crf=23, threads=1)
        n = sum(pan_length(float(s), FPS) for s in lengths)  # also when the clip was written before
        rows.append({"file": name, "content_group": name[:-4], "category": shot_photos[0].relative_to(root).parts[0],
                     "duration_s": round(n / FPS, 3), "fps": FPS, "width": SIZE[0], "height": SIZE[1], "codec": "h264"})
    tmp = footage / "SOURCES.tsv.part"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, footage / "SOURCES.tsv")
    return footage


def build_bench(out: Path, clips: int = 200, queries: int = 400, negatives: int = 100, seed: int = 0,
                progress: bool = True) -> Path:
    """The footage, then a copy benchmark on it whose every content group is train (a quarter
    held out of the gallery for negative queries), its gallery ingested with the default
    encoder. Returns the benchmark folder; its queries are encoded when first read."""
    from ..bench.generate import BenchConfig, build as build_benchmark
    from ..bench.run import ingest_gallery
    from ..pipeline.extract import EncoderConfig

    footage = build(out, clips, seed=seed, progress=progress)
    cfg = BenchConfig(seed=seed, test_queries=0, test_negatives=0, train_queries=queries, train_negatives=negatives,
                      distractor_videos=40, test_share=0.0)
    bench = out / cfg.key(out.name)
    build_benchmark(bench, cfg, media=footage, images=out / "stills", progress=progress)
    ingest_gallery(bench, EncoderConfig(), progress=progress)
    return bench


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench-data/photo-footage")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--queries", type=int, default=400, help="train queries copying the footage")
    ap.add_argument("--negatives", type=int, default=100, help="train queries copying nothing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    print(build_bench(Path(args.out), args.clips, args.queries, args.negatives, args.seed, progress=not args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
