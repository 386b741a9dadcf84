"""Shared pieces of the command-line entry points (argument groups, error reporting)."""
from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import traceback

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
    add_keyframe_args(g)
    g.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: all cores)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    ap.add_argument("--debug", action="store_true", help="show the traceback of a failure (implies --verbose)")


def add_keyframe_args(g) -> None:
    """--keyframes and its settings (ingest, query, the benchmark); defaults are EncoderConfig's."""
    from ..pipeline.extract import EncoderConfig
    from ..pipeline.keyframes import SELECTORS

    d = EncoderConfig()
    g.add_argument("--keyframes", default=d.keyframes, choices=SELECTORS,
                   help="uniform: --keyframe-fps keyframes a second; ske: the learned keyframe selector, which "
                        "keeps frames where the content changes and at least one every --ske-max-gap seconds "
                        "(default: %(default)s)")
    g.add_argument("--keyframe-fps", type=positive_float, default=d.keyframe_fps,
                   help="uniform: keyframes per second (default: %(default)s)")
    g.add_argument("--ske-threshold", type=unit_float, default=d.ske_threshold,
                   help="ske: score from which a frame is a keyframe, 0..1 (default: %(default)s)")
    g.add_argument("--ske-max-gap", type=positive_float, default=d.ske_max_gap,
                   help="ske: seconds after which a keyframe is taken whatever its score (default: %(default)s)")
    g.add_argument("--ske-grid", action=argparse.BooleanOptionalAction, default=d.ske_grid,
                   help="ske: a keyframe only where uniform keyframes of one a second would be, kept when "
                        "the picture changed since the one before; --no-ske-grid: any basis frame whose "
                        "score reaches the threshold (default: %(default)s)")


def keyframe_settings(args) -> dict:
    """The EncoderConfig fields set by :func:`add_keyframe_args`."""
    return {"keyframes": args.keyframes, "keyframe_fps": args.keyframe_fps, "ske_threshold": args.ske_threshold,
            "ske_max_gap": args.ske_max_gap, "ske_grid": args.ske_grid}


def _number(text: str, kind, low, strict: bool):
    try:
        x = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
    if x < low or (strict and x == low):
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low}, got {text}")
    return x


def positive_float(text: str) -> float:
    return _number(text, float, 0, True)


def unit_float(text: str) -> float:
    x = _number(text, float, 0, False)
    if x > 1:
        raise argparse.ArgumentTypeError(f"must be <= 1, got {text}")
    return x


def positive_int(text: str) -> int:
    return _number(text, int, 0, True)


def non_negative_int(text: str) -> int:
    return _number(text, int, 0, False)


def add_index_args(ap: argparse.ArgumentParser, what: str) -> None:
    """--index and --shards, for the index of ``what`` (a new database, a rebuild)."""
    from ..index.vectors import BACKENDS

    ap.add_argument("--index", default=None, choices=BACKENDS,
                    help=f"vector index of {what} (default: auto, exact flat search until the catalogue holds "
                         "100,000 keyframes, then an IVF index with lists for its size); an existing "
                         "database keeps its own, and naming another is refused")
    ap.add_argument("--shards", type=positive_int, default=None, metavar="N",
                    help=f"split the index of {what} into N shards, each a file of its own that an ingest "
                         "rewrites only when it added to it, searchable by N processes (default: one index)")


def index_choice(args) -> tuple[str | None, dict | None]:
    """(index kind, its parameters) from --index/--shards; (None, None) when neither is given."""
    if args.shards and args.shards > 1:
        return "sharded", {"shards": args.shards, "inner": args.index or "auto"}
    return args.index, None


def encoder_config(args):
    from ..pipeline.extract import EncoderConfig

    return EncoderConfig(backbone=args.backbone, layers=args.layers, whitening=args.whitening,
                         threads=args.threads, **keyframe_settings(args))


#: exit codes of every command (README, "Exit codes")
EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE, EXIT_INTERRUPTED = 0, 1, 2, 130


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system failure; a full disk is named as such."""
    what = "out of disk space" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return f"{exc.filename}: {what}" if exc.filename else what


def run_main(fn, verbose: bool = False, debug: bool = False) -> int:
    """Configure logging, run ``fn``, and turn every failure into one line and an exit code:
    2 for segscan's typed errors (bad input, unusable database) and file-system failures,
    130 for an interrupt; a traceback only with ``debug``."""
    logging.basicConfig(level=logging.DEBUG if verbose or debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        return fn()
    except KeyboardInterrupt:
        print("interrupted; committed videos are kept, rerun to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place failures become a line and a code
        if debug:
            traceback.print_exc()
        if isinstance(exc, SegscanError):
            print(f"error: {exc}", file=sys.stderr)
        elif isinstance(exc, OSError):
            print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        elif exc.__class__.__module__.startswith("lmdb"):
            print(f"error: database: {exc}" + (" (out of disk space?)" if "space" in str(exc).lower()
                                               or "Input/output" in str(exc) else ""), file=sys.stderr)
        else:
            print(f"error: internal error ({exc.__class__.__name__}: {exc}); rerun with --debug for the traceback",
                  file=sys.stderr)
        return EXIT_UNUSABLE
