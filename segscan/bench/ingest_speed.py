"""Ingest speed against a plain baseline, timed side by side as whole processes.

    python -m segscan.bench.ingest_speed --clips 25      # the first 25 shared clips (sorted names)
    python -m segscan.bench.ingest_speed LIST.txt        # any list file or folder ingest.py takes

Each contender runs as its own ``python`` process on the same videos, so start-up, imports
and model loading count as a user sees them:

- ``plain``: the baseline every copy-detection system should beat on speed, and the
  floor for segscan: PyAV decode, one frame per second scaled to 224x224, ImageNet
  EfficientNet-Lite0 with global average pooling, vectors saved with numpy
  (``python -m segscan.bench.ingest_speed --plain LIST OUT.npz``);
- ``ingest.py --workers 0`` (in process) and ``ingest.py --workers 1`` (one Ray actor), the
  default features at 1 keyframe/s into a fresh database; with ``--ske``, in process with
  the learned keyframe extractor (every 8 fps basis frame thumbnailed and scored).

Prints video seconds, wall seconds, x real time and each one's ratio to the plain
baseline; then the default descriptor's images per second on 224x224 batches.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..corpus import DEFAULT_MEDIA


def plain_ingest(paths: list[str], out: str) -> None:
    """The baseline: 1 frame/s, 224x224, ImageNet Lite0 average-pooled, one .npz of vectors."""
    import av
    import torch

    from ..pipeline.backbones import load_backbone

    _, model = load_backbone("efficientnet-lite0")
    vecs = []
    for p in paths:
        frames, next_t = [], 0.0
        with av.open(p) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for fr in c.decode(s):
                if fr.time is not None and fr.time >= next_t:
                    frames.append(fr.to_ndarray(width=224, height=224, format="rgb24"))
                    next_t = fr.time + 1.0
        x = (torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() - 127.0) / 128.0
        with torch.inference_mode():
            for i in range(0, len(x), 32):
                vecs.append(torch.nn.functional.normalize(model(x[i:i + 32])[-1].mean((2, 3)), dim=1).numpy())
    np.savez(out, vectors=np.concatenate(vecs))


def video_seconds(paths: list[str]) -> float:
    from ..pipeline.decode import probe

    return sum(probe(p).duration for p in paths)


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def descriptor_images_per_s(n: int = 128, batch: int | None = None) -> float:
    """Pictures a second the default descriptor embeds at 224x224, in batches of ``batch``
    (default: the extractor's)."""
    from ..pipeline.features import FeatureExtractor

    ex = FeatureExtractor() if batch is None else FeatureExtractor(batch_size=batch)
    images = np.random.default_rng(0).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    ex(images[:32])  # warm-up
    t = time.perf_counter()
    ex(images)
    return n / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="list file, folder or videos (default: --clips shared clips)")
    ap.add_argument("--clips", type=int, default=25, help="without inputs: the first N clips of --media")
    ap.add_argument("--media", default=str(DEFAULT_MEDIA))
    ap.add_argument("--ske", action="store_true",
                    help="also time ingest.py --workers 0 --keyframes ske (the learned keyframe extractor)")
    ap.add_argument("--plain", nargs=2, metavar=("LIST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.plain:
        plain_ingest(Path(args.plain[0]).read_text().splitlines(), args.plain[1])
        return 0
    from ..pipeline.ingest import expand_inputs

    paths = expand_inputs(args.inputs)[0] if args.inputs else sorted(
        str(p.resolve()) for p in Path(args.media).glob("*.mp4"))[:args.clips]
    if not paths:
        print(f"error: no videos (is {args.media} there?)", file=sys.stderr)
        return 2
    # the databases and vectors made here are only for timing: removed afterwards
    with tempfile.TemporaryDirectory(prefix="segscan-ingest-speed-") as tmp:
        work = Path(tmp)
        listing = work / "videos.txt"
        listing.write_text("".join(p + "\n" for p in paths))
        root = Path(__file__).resolve().parents[2]
        py = sys.executable
        runs = {
            "plain baseline": [py, "-m", "segscan.bench.ingest_speed", "--plain", str(listing),
                               str(work / "plain.npz")],
            "ingest.py --workers 0": [py, str(root / "ingest.py"), str(listing), "--db", str(work / "db0"),
                                      "--workers", "0", "-q"],
            "ingest.py --workers 1 (Ray)": [py, str(root / "ingest.py"), str(listing), "--db", str(work / "db1"),
                                            "--workers", "1", "-q"],
        }
        if args.ske:
            runs["ingest.py --workers 0 --keyframes ske"] = [py, str(root / "ingest.py"), str(listing), "--db",
                                                             str(work / "db2"), "--workers", "0", "-q",
                                                             "--keyframes", "ske"]
        secs = video_seconds(paths)
        print(f"{len(paths)} videos, {secs:.1f} s of video; whole processes, one after another")
        print("| contender | wall s | x real time | ratio to plain |\n|---|---|---|---|")
        base = None
        for name, cmd in runs.items():
            wall = timed(cmd)
            base = base or wall
            print(f"| {name} | {wall:.1f} | {secs / wall:.1f} | {base / wall:.2f} |", flush=True)
    rates = {b: descriptor_images_per_s(batch=b) for b in (16, 32)}
    print("default descriptor at 224x224: " + ", ".join(f"{r:.1f} images/s in batches of {b}" for b, r in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
