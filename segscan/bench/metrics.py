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
over merged intervals (the union of a pair's predicted intervals, intersected with the
union of those of its true boxes that some prediction of the pair overlaps in both axes),
combined across axes by the geometric mean; AP = sum over the list of P * delta R.
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


def _axis_box(b, axis: int) -> tuple[float, float]:
    """A box's interval on one axis (0: query, 1: reference)."""
    return (float(b[axis]), float(b[axis + 2]))


def _overlap(a, b) -> bool:
    """Two boxes share an area > 0 (touching boxes do not overlap)."""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


class _PairState:
    """One video pair's predictions so far, as VSC22 counts them.

    Only the truth boxes that some prediction of the pair overlaps in both axes take part in
    the intersection: a box at the right query span but at another reference offset earns no
    credit on either axis.
    """

    def __init__(self, truth):
        self.truth = [tuple(map(float, b)) for b in truth]
        self.preds: list = []
        self.hit: list[bool] = [False] * len(self.truth)
        self.inter = [0.0, 0.0]
        self.total = [0.0, 0.0]

    def add(self, box) -> tuple[list[float], list[float]]:
        """Add one prediction; returns the change of (intersection, predicted length) per axis."""
        box = tuple(map(float, box))
        self.preds.append(box)
        self.hit = [h or _overlap(t, box) for h, t in zip(self.hit, self.truth)]
        used = [t for t, h in zip(self.truth, self.hit) if h]
        d_inter, d_total = [0.0, 0.0], [0.0, 0.0]
        for ax in (0, 1):
            p = _merge([_axis_box(b, ax) for b in self.preds])
            g = _merge([_axis_box(b, ax) for b in used])
            inter = _intersect_len(p, g)
            total = union_length(p)
            d_inter[ax], d_total[ax] = inter - self.inter[ax], total - self.total[ax]
            self.inter[ax], self.total[ax] = inter, total
        return d_inter, d_total


def _intersect_len(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Length of the intersection of two unions of disjoint intervals."""
    total = 0.0
    for a0, a1 in a:
        for b0, b1 in b:
            total += max(0.0, min(a1, b1) - max(a0, b0))
    return total


def _merge(segs) -> list[tuple[float, float]]:
    """Union of intervals as sorted disjoint intervals (touching ones joined)."""
    out: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in segs if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def vsc_micro_ap(preds: dict, truths: dict) -> float:
    """VSC22 matching-track micro-AP. ``preds``: key -> list of (box, score); ``truths``: key -> boxes.

    Predictions of all pairs are walked in decreasing score, equal scores as one step. After
    each step, per axis, the intersection (summed over pairs) of the union of a pair's
    predicted intervals with the union of its truth intervals that some prediction of the pair
    overlaps, over the summed union of all truth intervals (recall) or of the predicted ones
    (precision); the two axes are combined by the geometric mean and AP = sum of P * delta R.
    """
    gt_len = [sum(union_length(_axis_box(b, ax) for b in v) for v in truths.values()) for ax in (0, 1)]
    if gt_len[0] <= 0 or gt_len[1] <= 0:
        return 0.0
    flat = sorted(((float(s), k, b) for k, lst in preds.items() for b, s in lst), key=lambda x: -x[0])
    pairs: dict[str, _PairState] = {}
    inter, total = [0.0, 0.0], [0.0, 0.0]
    ap = recall = 0.0
    i = 0
    while i < len(flat):
        j = i
        while j < len(flat) and flat[j][0] == flat[i][0]:  # equal scores enter together
            j += 1
        for _, k, b in flat[i:j]:
            state = pairs.get(k) or pairs.setdefault(k, _PairState(truths.get(k, [])))
            di, dt = state.add(b)
            for ax in (0, 1):
                inter[ax] += di[ax]
                total[ax] += dt[ax]
        i = j
        prec = [inter[ax] / total[ax] if total[ax] > 0 else 0.0 for ax in (0, 1)]
        new_recall = float(np.sqrt((inter[0] / gt_len[0]) * (inter[1] / gt_len[1])))
        ap += float(np.sqrt(prec[0] * prec[1])) * (new_recall - recall)
        recall = new_recall
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
