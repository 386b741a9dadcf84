"""What a keyframe selector could gain here: a one-a-second catalogue thinned by rules that
know the content, against rules that do not.

    python -m segscan.bench.thinning [--bench DIR] [--drop 0.2 0.4] [--rules even random0 ...]

A selector on the one-second map grid (``--ske-grid``, at most ``--ske-max-gap`` 1.5 s between
keyframes) drops single seconds of the catalogue's one-a-second keyframes. Here every
reference's seconds are dropped by a rule, at the same share for every rule, never two in a
row and never the first or last; the maps the query path built on the full catalogue are
resampled on the grid as the query path resamples a selector's keyframes
(:func:`segscan.query.maps.on_time_grid`), and segscan's default query path runs on them.
The index is kept whole, so only the maps change. Rules:

- ``even``: evenly spaced seconds;
- ``randomN``: seconds at random (seed N): the spread over seeds is what the pattern alone moves F1 by;
- ``redundant-regions`` / ``redundant-global``: the seconds most like a neighbouring second (the
  Chamfer similarity of their region vectors, or the cosine of their global vectors), which
  is what a perfect content-change selector would drop first.

Train splits only (``--part train``, the default): this is for judging whether selectors are
worth building, and reads no test query.
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from .scoring import report


def drop_plan(n: int, rule: str, share: float, redundancy: np.ndarray | None = None, key: int = 0) -> np.ndarray:
    """(n,) bool: the seconds kept when ``share`` of ``n`` are dropped by ``rule`` (never two
    adjacent, never the ends; fewer where that rule cannot place them). ``key`` tells one
    video's random draw from another's."""
    keep = np.ones(n, bool)
    want = int(round(share * n))
    if n < 3 or want <= 0:
        return keep
    if rule == "even":
        order = np.unique(np.round(np.linspace(0, n - 1, want + 2)[1:-1]).astype(int))
    elif rule.startswith("random"):
        order = np.random.default_rng([int(rule[6:] or 0), key]).permutation(np.arange(1, n - 1))
    elif rule.startswith("redundant-"):
        if redundancy is None or len(redundancy) != n:
            raise ValueError(f"rule {rule} needs one redundancy score per second")
        order = np.argsort(-redundancy[1:-1], kind="stable") + 1
    else:
        raise ValueError(f"unknown thinning rule {rule!r}")
    dropped = 0
    for i in order:
        if dropped == want:
            break
        if keep[i - 1] and keep[i + 1]:
            keep[i] = False
            dropped += 1
    return keep


def neighbour_similarity(sim_next: np.ndarray) -> np.ndarray:
    """(n,) per keyframe, the higher of its similarities to the keyframe before and after
    (``sim_next``: (n - 1,), each keyframe's to the next)."""
    s = np.asarray(sim_next, float)
    before = np.concatenate([[-np.inf], s])
    after = np.concatenate([s, [-np.inf]])
    return np.maximum(before, after)


def redundancy(features) -> dict[str, np.ndarray]:
    """Each keyframe's likeness to a neighbouring keyframe, by region and by global vectors."""
    from ..index.simmap import chamfer_similarity
    from ..query.maps import region_vectors

    rv, g = region_vectors(features), features.global_feats
    n = len(g)
    regions = np.array([chamfer_similarity(rv[i:i + 1], rv[i + 1:i + 2])[0, 0] for i in range(n - 1)])
    return {"redundant-regions": neighbour_similarity(regions),
            "redundant-global": neighbour_similarity((g[1:] * g[:-1]).sum(1) if n > 1 else np.zeros(0))}


def thinned(c, keep: np.ndarray):
    """A candidate's map with only the ``keep`` reference keyframes, resampled on the grid."""
    from ..query.maps import on_time_grid
    from ..types import SimilarityMap

    m, idx = c.map, np.flatnonzero(keep)
    sub = SimilarityMap(m.values[:, idx], m.q_times, m.r_times[idx], None if m.mask is None else m.mask[:, idx],
                        m.q_step, m.r_step, None if m.planes is None else m.planes[:, :, idx])
    return on_time_grid(replace(c, map=sub, dense=None if c.dense is None else c.dense[:, idx],
                                ref_global=None if c.ref_global is None else c.ref_global[idx]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="bench-data/bench-s0-t100n100-r60n30-d60", metavar="DIR",
                    help="a built benchmark folder (default: %(default)s)")
    ap.add_argument("--drop", nargs="+", type=float, default=[0.2], help="shares of seconds dropped (below 0.5)")
    ap.add_argument("--rules", nargs="+", default=["even", "random0", "random1", "random2", "redundant-regions",
                                                    "redundant-global"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if any(not 0 < d < 0.5 for d in args.drop):
        ap.error("--drop: a share of seconds in (0, 0.5): never two adjacent seconds are dropped")
    for r in args.rules:
        try:
            drop_plan(5, r, 0.2, np.zeros(5))
        except ValueError as exc:
            ap.error(str(exc))
    bench = Path(args.bench)
    from .splits import is_built

    if not is_built(bench):
        return 2
    from ..index.store import Database
    from .keyframes import default_answers, encoder_config, setting_split, train_row
    from .paired import paired_difference, query_terms
    from .splits import database_dir, feature_config

    ecfg = encoder_config("uniform:1")
    split, maps = setting_split(bench, "uniform:1", "train")
    refs = {c.path for q in split.queries for c in q.cands}
    scores = {}
    with Database.open(database_dir(bench, ecfg), readonly=True, feature_config=feature_config(ecfg)) as db:
        for rec in db.videos():
            if rec.path in refs:
                scores[rec.path] = redundancy(db.features_by_num(rec.num))
    whole = [list(q.cands) for q in split.queries]

    def run(plans):
        for q, cands in zip(split.queries, whole):
            q.cands = cands if plans is None else [thinned(c, plans[c.path]) for c in cands]
        preds, rankings = default_answers(split, maps)
        return preds, rankings, query_terms(split, preds, maps.threshold)

    full = run(None)
    rows = []
    for share in [0.0, *args.drop]:
        for rule in (["none"] if share == 0 else args.rules):
            plans = None if share == 0 else {
                p: drop_plan(len(s["redundant-global"]), rule, share, s.get(rule), zlib.crc32(p.encode()))
                for p, s in scores.items()}
            preds, rankings, terms = full if plans is None else run(plans)
            m = train_row(rule, split, preds, rankings, maps.threshold)
            d = paired_difference(terms, full[2])
            kept = 1.0 if plans is None else sum(int(k.sum()) for k in plans.values()) / sum(map(len, plans.values()))
            rows.append({"rule": rule, "kept": kept, "f1": m["f1"], "micro_ap": m["micro_ap"], "best_f1": m["best_f1"],
                         "delta": d["delta"], "interval": f"[{d['low']:+.3f}, {d['high']:+.3f}]"})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    cols = [("rule", "seconds dropped by", ""), ("kept", "seconds kept", ".1%"), ("f1", "seg F1", ".3f"),
            ("micro_ap", "micro-AP", ".3f"), ("best_f1", "F1 at best threshold", ".3f"),
            ("delta", "F1 - whole catalogue's", "+.3f"), ("interval", "95% interval", "")]
    report(rows, cols, args.json, f"{bench.name}, train split, {len(split.queries)} queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
