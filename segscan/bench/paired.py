"""Is one setting's segment F1 above another's by more than the benchmark's noise?

A paired bootstrap over queries: both settings' answers to the same queries are resampled
together (queries drawn with replacement, each bringing all its pairs), and segment F1 is
recomputed for each from the resampled pairs, exactly as :func:`segscan.bench.metrics.vcsl_f1`
computes it (micro-averaged precision and recall, a negative query's pairs weighted as the
split weighs them). The spread of the difference is what a few queries more or fewer of one
kind would move it by; a difference whose interval holds 0 is a tie on this split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import vcsl_pair


@dataclass
class QueryTerms:
    """Per query, the sums that segment P and R are averages of (over the split's pairs)."""

    qids: list[str]
    p_sum: np.ndarray  # weighted precision of the query's pairs that count for precision
    p_weight: np.ndarray  # their weights
    r_sum: np.ndarray  # recall of the query's pairs that count for recall
    r_count: np.ndarray  # how many they are

    def f1(self, counts: np.ndarray | None = None) -> "float | np.ndarray":
        """F1 of the split, or of each resample (``counts``: (B, queries) draws of each query)."""
        sums = [x.sum() if counts is None else counts @ x for x in (self.p_sum, self.p_weight, self.r_sum, self.r_count)]
        p_sum, p_w, r_sum, r_n = (np.atleast_1d(np.asarray(x, float)) for x in sums)
        p = np.divide(p_sum, p_w, out=np.zeros_like(p_sum), where=p_w > 0)
        r = np.divide(r_sum, r_n, out=np.zeros_like(r_sum), where=r_n > 0)
        f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=p + r > 0)
        return f1 if counts is not None else float(f1[0])


def query_terms(split, preds: dict, threshold: float) -> QueryTerms:
    """The split's per-query sums for predictions ``preds`` (pair -> [(box, score)]) kept at
    ``threshold``, as :func:`segscan.bench.scoring.evaluate` keeps and weighs them."""
    qids = sorted({q.qid for q in split.queries})
    at = {q: i for i, q in enumerate(qids)}
    neg = split.negatives() if split.neg_weight != 1.0 else set()
    kept = {k: [b for b, s in v if s >= threshold] for k, v in preds.items()}
    kept = {k: v for k, v in kept.items() if v}
    sums = np.zeros((4, len(qids)))
    for key in set(kept) | set(split.labels):
        qid = key.split("-", 1)[0]
        if qid not in at:
            raise ValueError(f"pair {key} names a query not in the split")
        pr, i = vcsl_pair(kept.get(key, []), split.labels.get(key, [])), at[qid]
        if pr.p_counts:
            w = split.neg_weight if qid in neg else 1.0
            sums[0, i] += w * pr.precision
            sums[1, i] += w
        if pr.r_counts:
            sums[2, i] += pr.recall
            sums[3, i] += 1
    return QueryTerms(qids, *sums)


def paired_difference(a: QueryTerms, b: QueryTerms, resamples: int = 2000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """F1 of ``a`` minus F1 of ``b`` on the same queries, with its bootstrap interval and the share
    of resamples in which ``a`` is above ``b``."""
    if a.qids != b.qids:
        raise ValueError("a paired comparison needs both settings' answers to the same queries")
    rng = np.random.default_rng(seed)
    n = len(a.qids)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)
    diff = a.f1(counts) - b.f1(counts)
    lo, hi = np.quantile(diff, [(1 - level) / 2, (1 + level) / 2])
    return {"f1_a": float(a.f1()), "f1_b": float(b.f1()), "delta": float(a.f1() - b.f1()),
            "low": float(lo), "high": float(hi), "a_above": float((diff > 0).mean()), "queries": n}
