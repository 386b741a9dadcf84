"""Shared pieces of the command-line entry points (argument groups, error reporting)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import SegscanError


def add_encoder_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("features (must match the database)")
    from ..pipeline.backbones import BACKBONES, DEFAULT_BACKBONE

    g.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=sorted(BACKBONES), help="default: %(default)s")
    g.add_argument("--layers", type=int, default=3, choices=[1, 2, 3], help="N of L_N-iMAC (default: %(default)s)")
    g.add_argument("--whitening", default="auto", metavar="FILE",
                   help="the projection applied to region features: 'auto' (the shipped PCA whitening), 'none', "
                        "or a file from python -m segscan.train.whitening or segscan.train.copyproj "
                        "(default: %(default)s)")
    g.add_argument("--keyframe-fps", type=float, default=1.0, help="keyframes per second (default: %(default)s)")
    g.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: all cores)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def encoder_config(args):
    from ..pipeline.extract import EncoderConfig

    if args.keyframe_fps <= 0:
        raise SystemExit("error: --keyframe-fps must be > 0")
    return EncoderConfig(backbone=args.backbone, layers=args.layers, whitening=args.whitening,
                         keyframe_fps=args.keyframe_fps, threads=args.threads)


def run_main(fn, verbose: bool = False) -> int:
    """Configure logging, run ``fn``, turn segscan's typed errors into one line and exit code 2."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        return fn()
    except SegscanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; committed videos are kept, rerun to continue", file=sys.stderr)
        return 130
