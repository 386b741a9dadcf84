"""Evaluation metrics: VCSL segment P/R/F1, VSC22 matching micro-AP, video-level mAP.

Boxes are ``[q_start, r_start, q_end, r_end]`` (the VCSL order), in seconds.

VCSL (He et al., CVPR 2022), per video pair and per axis: precision is the summed length,
over the predicted boxes, of the union of each box's intersections with the true boxes
it overlaps (intersection area > 0), divided by the summed length of the predicted boxes;
recall is the same with the roles swapped. The pair's P (and R) is the product over the
two axes. Edge cases: predictions but no truth give P=0, R=1; truth but no predictions
P=1, R=0; neither P=R=1. Over pairs, P and R are averaged leaving out the edge-case 1s
(a pair without predictions does not count towards precision, a pair without truth not
towards recall), and F1 is computed from the two averages. Here the edge cases are
flagged explicitly, so a perfect regular prediction (exactly 1) still counts.

VSC22 matching micro-AP (Pizzi et al., 2022): all predicted segment pairs of all video
pairs sorted by score; walking down the list, precision and recall are measured per axis
over merged intervals (the union of the predicted intervals, intersected with the union
of the true intervals, of each video pair), combined across axes by the geometric mean;
AP = sum over the list of P * delta R.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def union_length(segs) -> float:
    """Total length of the union of [start, end] intervals."""
    segs = sorted((float(a), float(b)) for a, b in segs if b > a)
    total, cur_a, cur_b = 0.0, None, None
    for a, b in segs:
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


def _axis_ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Over boxes a: sum of union of overlaps with the boxes of b they overlap (area > 0) / sum of lengths."""
    num_q = num_r = 0.0
    for box in a:
        lt = np.maximum(box[:2], b[:, :2])
        rb = np.minimum(box[2:], b[:, 2:])
        wh = np.maximum(rb - lt, 0)
        hit = (wh[:, 0] * wh[:, 1]) > 0
        if hit.any():
            num_q += union_length(zip(lt[hit, 0], rb[hit, 0]))
            num_r += union_length(zip(lt[hit, 1], rb[hit, 1]))
    den_q = float(np.sum(a[:, 2] - a[:, 0]))
    den_r = float(np.sum(a[:, 3] - a[:, 1]))
    return (num_q / den_q if den_q > 0 else 0.0), (num_r / den_r if den_r > 0 else 0.0)


@dataclass
class PairPR:
    precision: float
    recall: float
    p_counts: bool  # False for the edge-case precision of 1 (no predictions)
    r_counts: bool  # False for the edge-case recall of 1 (no truth)


def vcsl_pair(pred, truth) -> PairPR:
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    if len(pred) and not len(truth):
        return PairPR(0.0, 1.0, True, False)
    if not len(pred) and len(truth):
        return PairPR(1.0, 0.0, False, True)
    if not len(pred) and not len(truth):
        return PairPR(1.0, 1.0, False, False)
    pq, pr = _axis_ratio(pred, truth)
    rq, rr = _axis_ratio(truth, pred)
    return PairPR(pq * pr, rq * rr, True, True)


def vcsl_f1(preds: dict, truths: dict, p_weight=None) -> dict:
    """Micro-averaged VCSL P, R, F1 over all pairs in ``truths`` or ``preds`` (key -> list of boxes).

    ``p_weight(key)``, when given, weighs each pair in the precision average (default 1 each).
    """
    keys = sorted(set(preds) | set(truths))
    res = [vcsl_pair(preds.get(k, []), truths.get(k, [])) for k in keys]
    ps = [r.precision for r in res if r.p_counts]
    pw = [p_weight(k) if p_weight else 1.0 for k, r in zip(keys, res) if r.p_counts]
    rs = [r.recall for r in res if r.r_counts]
    p = float(np.average(ps, weights=pw)) if ps and sum(pw) > 0 else 0.0
    r = float(np.mean(rs)) if rs else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "pairs": len(keys)}


def _intersect_len(a_union: list[tuple[float, float]], b_union: list[tuple[float, float]]) -> float:
    total = 0.0
    for a0, a1 in a_union:
        for b0, b1 in b_union:
            total += max(0.0, min(a1, b1) - max(a0, b0))
    return total


def _merge(segs) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in segs if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def vsc_micro_ap(preds: dict, truths: dict) -> float:
    """VSC22 matching-track micro-AP. ``preds``: key -> list of (box, score); ``truths``: key -> boxes."""
    truth_u = {k: (_merge([(b[0], b[2]) for b in v]), _merge([(b[1], b[3]) for b in v])) for k, v in truths.items()}
    tot_q = sum(union_length(u[0]) for u in truth_u.values())
    tot_r = sum(union_length(u[1]) for u in truth_u.values())
    if tot_q <= 0 or tot_r <= 0:
        return 0.0
    flat = [(float(s), k, np.asarray(b, float)) for k, lst in preds.items() for b, s in lst]
    flat.sort(key=lambda x: -x[0])
    seen: dict = {}
    tp_q = tp_r = pl_q = pl_r = 0.0
    ap, prev_recall = 0.0, 0.0
    i = 0
    while i < len(flat):
        j = i
        while j < len(flat) and flat[j][0] == flat[i][0]:  # equal scores enter together
            j += 1
        for s, k, b in flat[i:j]:
            old_q, old_r = seen.get(k, ([], []))
            new_q, new_r = _merge(old_q + [(b[0], b[2])]), _merge(old_r + [(b[1], b[3])])
            tq, tr = truth_u.get(k, ([], []))
            tp_q += _intersect_len(new_q, tq) - _intersect_len(old_q, tq)
            tp_r += _intersect_len(new_r, tr) - _intersect_len(old_r, tr)
            pl_q += union_length(new_q) - union_length(old_q)
            pl_r += union_length(new_r) - union_length(old_r)
            seen[k] = (new_q, new_r)
        i = j
        precision = np.sqrt((tp_q / pl_q if pl_q else 0.0) * (tp_r / pl_r if pl_r else 0.0))
        recall = np.sqrt((tp_q / tot_q) * (tp_r / tot_r))
        ap += precision * (recall - prev_recall)
        prev_recall = recall
    return float(ap)


def average_precision(ranked_relevant: list[bool], n_relevant: int) -> float:
    """AP of one ranked list: mean of precision at each relevant item, over all relevant items."""
    if n_relevant <= 0:
        return 0.0
    hits, total = 0, 0.0
    for i, rel in enumerate(ranked_relevant, 1):
        if rel:
            hits += 1
            total += hits / i
    return total / n_relevant


def video_map(rankings: dict, relevant: dict) -> float:
    """mAP over queries with at least one relevant video. ``rankings``: query -> ranked ids."""
    aps = []
    for q, rel in relevant.items():
        if not rel:
            continue
        ranked = rankings.get(q, [])
        aps.append(average_precision([r in rel for r in ranked], len(rel)))
    return float(np.mean(aps)) if aps else 0.0
