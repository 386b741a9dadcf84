"""Scoring the query path on a split: its results per query, the metrics, the parameter search.

Every method, the peers and segscan's default alike, goes through ``query.rank`` on the
split's cached maps; a peer's parameters and copy threshold are chosen on the train split.
"""
from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from pathlib import Path

from ..align import make_aligner
from ..query import QueryResult, Settings
from ..query.rank import rank
from .metrics import vcsl_f1, video_map, vsc_micro_ap
from .splits import Split, method_settings, ref_id

GRIDS = {
    "tn": {"min_sim": [0.05, 0.1, 0.2], "min_score": [0.1, 0.2], "max_gap": [5.0], "snap_keep": [0.5, 0.85],
           "length_weight": [0.0, 0.03, 0.06, 0.1]},
    # VCSL's peers (align.peers): their own parameters around VCSL's defaults, in keyframes and the
    # query path's similarity units
    "dp": {"min_sim": [0.05, 0.1, 0.2], "ave_sim": [0.1, 0.2, 0.3], "min_length": [1, 2, 4]},
    "hv": {"min_sim": [0.1, 0.2, 0.3], "iou": [0.5, 0.9]},
    "dtw": {"min_sim": [0.1, 0.2, 0.3], "min_length": [1, 2, 4], "discontinue": [3]},
    # learned; on train: the threshold and how boxes are scored (alternatives: a list of grids)
    "spd": [{"score": ["evidence"], "evidence": [0.0, 0.5, 1.0, 2.0]},
            {"score": ["path"], "conf_weight": [0.2, 0.35, 0.5], "length_weight": [0.03, 0.06, 0.1],
             "paths": [0, 3, 20]}],
}
PEERS = ["tn", "dp", "hv", "dtw"]


def query_results(split: Split, aligner, settings: Settings) -> tuple[dict[str, QueryResult], list[float]]:
    """Every query of the split through the query path's ranking (``query.rank``) on its cached
    maps: (qid -> the result query.py gives, seconds per query)."""
    out, secs = {}, []
    for q in split.queries:
        t0 = time.perf_counter()
        matches = rank(q.cands, aligner, settings)
        secs.append(time.perf_counter() - t0 + q.seconds)
        out[q.qid] = QueryResult(q.qid, q.duration, matches, {})
    return out, secs


def listed(results: dict[str, QueryResult], confidence: bool = False) -> tuple[dict, dict]:
    """(listed boxes with scores per pair, rankings) of the query path's results; with
    ``confidence``, each box scored by its comparator-weighed confidence where it has one."""
    preds, rankings = {}, {}
    for qid, res in results.items():
        rankings[qid] = [ref_id(m.path) for m in res.matches]
        for m in res.matches:
            preds[f"{qid}-{ref_id(m.path)}"] = [
                (s.as_box(), s.confidence if confidence and s.confidence is not None else s.score) for s in m.segments]
    return preds, rankings


def predict(split: Split, aligner, settings: Settings):
    """(listed boxes with scores per pair, rankings, seconds per query) of the query path."""
    results, secs = query_results(split, aligner, settings)
    return *listed(results), secs


def evaluate(split: Split, preds: dict, rankings: dict, threshold: float) -> dict:
    kept = {k: [b for b, s in v if s >= threshold] for k, v in preds.items()}
    kept = {k: v for k, v in kept.items() if v}
    weight = None
    if split.neg_weight != 1.0:
        neg = split.negatives()
        weight = lambda key: split.neg_weight if key.split("-", 1)[0] in neg else 1.0
    seg = vcsl_f1(kept, split.labels, weight)
    relevant = defaultdict(set)
    for key in split.labels:
        q, r = key.split("-", 1)
        relevant[q].add(r)
    for q in split.queries:
        relevant.setdefault(q.qid, set())
    return {"precision": seg["precision"], "recall": seg["recall"], "f1": seg["f1"],
            "micro_ap": vsc_micro_ap(preds, split.labels), "video_map": video_map(rankings, relevant)}


def best_threshold(split: Split, preds, rankings) -> tuple[float, dict]:
    scores = sorted({round(s, 3) for v in preds.values() for _, s in v})
    cands = [0.0] + scores[:: max(1, len(scores) // 40)]
    best = (0.0, {"f1": -1})
    for t in cands:
        m = evaluate(split, preds, rankings, t)
        if m["f1"] > best[1]["f1"]:
            best = (t, m)
    return best


def tune(name: str, train: Split, maps: Settings, fixed: dict | None = None) -> tuple[dict, float, float, dict]:
    """Grid search on the train split: (params, score threshold, train F1, the train predictions
    at those params); ``fixed`` params are not searched."""
    grids = GRIDS.get(name, {})
    points = [dict(zip(g, values)) for g in (grids if isinstance(grids, list) else [grids])
              for values in itertools.product(*g.values())]
    best = ({}, 0.0, -1.0, {})
    for params in points:
        al = make_aligner(name, **(fixed or {}), **params)
        preds, rankings, _ = predict(train, al, method_settings(maps, al))
        t, m = best_threshold(train, preds, rankings)
        if m["f1"] > best[2]:
            best = (params, t, m["f1"], preds)
    return best


def per_edit_f1(split: Split, preds: dict, threshold: float) -> dict:
    """Segment F1 over the true pairs that carry each edit (precision from predictions on those pairs)."""
    by_edit = defaultdict(list)
    for key, edits in split.pair_edits.items():
        for e in edits:
            by_edit[e].append(key)
    out = {}
    for e, keys in sorted(by_edit.items()):
        kept = {k: [b for b, s in preds.get(k, []) if s >= threshold] for k in keys}
        m = vcsl_f1({k: v for k, v in kept.items() if v}, {k: split.labels[k] for k in keys})
        out[e] = {"pairs": len(keys), "f1": m["f1"], "precision": m["precision"], "recall": m["recall"]}
    return out


RESULT_COLS = [("method", "method", ""), ("precision", "seg P", ".3f"), ("recall", "seg R", ".3f"),
               ("f1", "seg F1", ".3f"), ("micro_ap", "micro-AP", ".3f"), ("video_map", "video mAP", ".3f"),
               ("query_s", "query s (p50)", ".3f")]


def report(rows: list[dict], cols: list[tuple[str, str, str]], json_path: str | None = None, title: str = "") -> None:
    """Print the rows as a table under ``title``, and write them as JSON to ``json_path`` if given."""
    print((title + "\n" if title else "") + table(rows, cols))
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=2) + "\n")


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    lines = [head, sep]
    for r in rows:
        lines.append("| " + " | ".join(format(r[c[0]], c[2]) if c[2] else str(r[c[0]]) for c in cols) + " |")
    return "\n".join(lines)
