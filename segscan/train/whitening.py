"""Train the PCA whitening shipped for a backbone.

    python -m segscan.train.whitening --media ../shared/media --backbone efficientnet-lite0

Decodes every video in ``--media`` at ``--fps`` keyframes per second, pools raw L_N-iMAC
region vectors, learns a PCA whitening to ``--dim`` dimensions and writes it next to the
other weights (``segscan/detectors/weights/whitening-BACKBONE-LN.npz``), with a model card.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import VideoError
from ..pipeline.decode import DecodeOptions, VideoReader
from ..pipeline.features import FeatureExtractor, Whitening, whitening_path
from ..pipeline.ingest import VIDEO_EXTS

log = logging.getLogger(__name__)


def collect_regions(paths, extractor: FeatureExtractor, fps: float, whitened: bool = False,
                    desc: str = "whitening") -> np.ndarray:
    """Region vectors of frames sampled at ``fps`` from ``paths``: raw L_N-iMAC, or as the
    extractor gives them (``whitened``), one row per region."""
    chunks = []
    for p in tqdm(paths, desc=f"{desc}: decoding", unit="video"):
        try:
            reader = VideoReader(p, DecodeOptions(fps=fps, size=(extractor.spec.input_size,) * 2, crop_borders=True))
            images = [fr.image for fr in reader]
        except VideoError as exc:
            log.warning("skipping %s", exc)
            continue
        for i in range(0, len(images), extractor.batch_size):
            batch = np.stack(images[i:i + extractor.batch_size])
            r = extractor(batch)[1].astype(np.float32) if whitened else extractor.raw_regions(batch).numpy()
            chunks.append(r.reshape(-1, r.shape[-1]))
    dim = extractor.dim if whitened else extractor.raw_dim
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


def training_clips(media: Path, split: str = "train", split_seed: int = 0) -> list[Path]:
    """The videos of ``media`` a trained component may learn from: with ``split="train"`` only the
    clips of the benchmark's train content groups (split ``split_seed``), so the test split stays unseen."""
    paths = sorted(p for p in media.iterdir() if p.suffix.lower() in VIDEO_EXTS) if media.is_dir() else []
    if split == "train":
        from ..corpus import clips_of, load_clips

        train = {c.path.name for c in clips_of(load_clips(media), split_seed, "train")}
        paths = [p for p in paths if p.name in train]
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default="../shared/media", help="folder of training videos")
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--layers", type=int, default=3, help="N of L_N-iMAC (1..3)")
    ap.add_argument("--dim", type=int, default=256, help="output dimensions")
    ap.add_argument("--fps", type=float, default=2.0, help="frames per second sampled for training")
    ap.add_argument("--out", default=None, help="output file (default: the shipped location)")
    ap.add_argument("--split", default="train", choices=["train", "all"],
                    help="train: only the clips of the benchmark's train split (content groups of seed "
                         "--split-seed), so the test split stays unseen; all: every video in --media")
    ap.add_argument("--split-seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    media = Path(args.media)
    paths = training_clips(media, args.split, args.split_seed)
    if not paths:
        print(f"error: no videos in {media}", file=sys.stderr)
        return 2
    t0 = time.time()
    ex = FeatureExtractor(args.backbone, layers=args.layers, whitening="none")
    x = collect_regions(paths, ex, args.fps)
    w = Whitening.fit(x, args.dim)
    # explained variance of the kept components, for the model card
    xc = x - x.mean(0)
    total = float((xc ** 2).sum() / max(len(x) - 1, 1))
    kept = float((1.0 / w.scale.astype(np.float64) ** 2).sum())
    out = Path(args.out) if args.out else whitening_path(args.backbone, args.layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    w.save(out, backbone=args.backbone, layers=args.layers, samples=len(x))
    from ..detectors.cards import write_card

    write_card(
        out, "segscan.train.whitening", argv,
        component="PCA whitening of L%d-iMAC region vectors" % args.layers,
        backbone=args.backbone,
        data=f"{len(paths)} videos from {media} ({args.split} split, seed {args.split_seed}) sampled at "
             f"{args.fps} fps, 9 regions per frame, black borders removed",
        samples=int(len(x)), input_dim=int(x.shape[1]), output_dim=args.dim,
        explained_variance=round(kept / total, 4), seconds=round(time.time() - t0, 1),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
