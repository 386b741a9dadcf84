"""Fit the product-quantisation codebook of the ``pq`` region codec for a backbone.

    python -m segscan.train.regionpq --media ../shared/media

Decodes the benchmark's train-split clips at ``--fps``, takes the region vectors the
extractor stores (whitened, unit length), fits M = ``--groups`` sub-quantisers of 256
centroids each (faiss) on all clips but every tenth (with several ``--groups``, each stage
on what the stages before left: residual quantisation), and measures on that tenth how far a
decoded vector is from the original (cosine) and how far the Chamfer similarity of two
keyframes moves, the figure the region maps are made of. Writes
``segscan/detectors/weights/regionpq-BACKBONE-LN.npz`` and its model card.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from ..index.regioncodec import Codebook, codebook_path
from ..pipeline.backbones import DEFAULT_BACKBONE
from ..pipeline.features import FeatureExtractor
from .whitening import collect_regions, training_clips

REGIONS = 9


def chamfer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chamfer similarity of keyframe pairs: (N, R, D) x (N, R, D) -> (N,)."""
    return np.einsum("nrd,nsd->nrs", a, b).max(-1).mean(-1)


def held_out_figures(cb: Codebook, x: np.ndarray, seed: int = 0) -> dict:
    """Decoded against original on held-out region vectors: cosine per vector, and the change of
    the Chamfer similarity of random keyframe pairs (what a region-map cell is)."""
    back = cb.decode(cb.encode(x))
    cos = (back * x).sum(1) / np.maximum(np.linalg.norm(x, axis=1), 1e-12)
    frames, back_f = x.reshape(-1, REGIONS, x.shape[1]), back.reshape(-1, REGIONS, x.shape[1])
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(frames), (2, 5000))
    err = np.abs(chamfer(back_f[i], back_f[j]) - chamfer(frames[i], frames[j]))
    return {"vectors": int(len(x)), "cosine_median": round(float(np.median(cos)), 4),
            "cosine_p01": round(float(np.percentile(cos, 1)), 4),
            "chamfer_abs_change_median": round(float(np.median(err)), 4),
            "chamfer_abs_change_p99": round(float(np.percentile(err, 99)), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default="../shared/media", help="folder of training videos")
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("--layers", type=int, default=3, help="N of L_N-iMAC (1..3)")
    ap.add_argument("--groups", type=int, nargs="+", default=[64, 32, 16],
                    help="sub-quantisers M of each stage (one byte each per vector); a second stage "
                         "quantises what the first left, and so on")
    ap.add_argument("--fps", type=float, default=2.0, help="frames per second sampled")
    ap.add_argument("--split-seed", type=int, default=0, help="the benchmark split whose train clips are used")
    ap.add_argument("--out", default=None, help="output file (default: the shipped location)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    paths = training_clips(Path(args.media), "train", args.split_seed)
    if len(paths) < 2:
        print(f"error: fewer than two train-split videos in {args.media}", file=sys.stderr)
        return 2
    t0 = time.time()
    ex = FeatureExtractor(args.backbone, layers=args.layers)
    held = paths[::10]
    fit_paths = [p for p in paths if p not in held]
    x = collect_regions(fit_paths, ex, args.fps, whitened=True, desc="codebook")
    xh = collect_regions(held, ex, args.fps, whitened=True, desc="held out")
    whitening = ex.config()["whitening"]
    cb = Codebook.fit(x, args.groups, whitening)
    figures = held_out_figures(cb, xh)
    out = Path(args.out) if args.out else codebook_path(args.backbone, args.layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    cb.save(out)
    from ..detectors.cards import write_card

    write_card(
        out, "segscan.train.regionpq", argv,
        component=f"{'residual ' if len(args.groups) > 1 else ''}product quantiser of the stored region vectors "
                  f"({' + '.join(f'{m} x 256' for m in args.groups)} centroids, {REGIONS * cb.groups} bytes a keyframe)",
        backbone=args.backbone, whitening=whitening, digest=cb.digest,
        data=f"{len(fit_paths)} train-split videos of {args.media} (split seed {args.split_seed}) at {args.fps} fps, "
             f"{len(x)} region vectors; every tenth train video ({len(held)}) held out for the figures",
        held_out=figures, seconds=round(time.time() - t0, 1),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
