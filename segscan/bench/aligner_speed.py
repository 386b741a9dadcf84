"""Aligner speed on real candidate maps: seconds to align 100 maps, per aligner, in one run.

    python -m segscan.bench.aligner_speed --bench bench-data/bench-s0-t100n100-r60n30-d60

Takes the first 100 candidate maps of the benchmark's test queries (the maps query.py
would align), warms each aligner up once, then reports the median of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..align import make_aligner
from .splits import cached_queries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--maps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--aligners", default="spd,tn,dp,hv,dtw")
    args = ap.parse_args(argv)
    qs = cached_queries(Path(args.bench), "test")
    maps = [m for q in qs for m in q.maps][: args.maps]
    cells = [m.values.size for m in maps]
    print(f"{len(maps)} maps, median {int(np.median(cells))} cells, largest {max(cells)} cells")
    base = None
    for name in args.aligners.split(","):
        al = make_aligner(name)
        al.align(maps[:2])  # load weights, warm caches
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            al.align(maps)
            times.append(time.perf_counter() - t0)
        t = float(np.median(times))
        base = base or t
        print(f"{name:5s} {t:7.3f} s for {len(maps)} maps  ({t / base:.2f}x the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
