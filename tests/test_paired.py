"""The paired bootstrap of segment F1 differences (segscan.bench.paired)."""
import numpy as np
import pytest

from segscan.bench.metrics import vcsl_f1
from segscan.bench.paired import paired_difference, query_terms
from segscan.bench.splits import QueryMaps, Split


def _split(n_pos=30, n_neg=20, neg_weight=1.0):
    queries = [QueryMaps(f"q{i}", 10.0, [], 0.0) for i in range(n_pos + n_neg)]
    labels = {f"q{i}-r{i % 7}": [[0.0, 10.0 + i, 8.0, 18.0 + i]] for i in range(n_pos)}
    return Split(queries=queries, labels=labels, neg_weight=neg_weight)


def _answers(split, rng, shift_sd):
    """Each true pair found with a random offset error, plus some false pairs on negative queries."""
    preds = {}
    for key, (b,) in split.labels.items():
        d = rng.normal(0, shift_sd)
        preds[key] = [((b[0], b[1] + d, b[2], b[3] + d), 0.9)]
    for q in split.queries[len(split.labels):]:
        if rng.random() < 0.3:
            preds[f"{q.qid}-r9"] = [((0.0, 0.0, 5.0, 5.0), float(rng.uniform(0.2, 0.9)))]
    return preds


@pytest.mark.parametrize("neg_weight", [1.0, 2.5])
def test_per_query_sums_give_the_split_f1(neg_weight):
    split = _split(neg_weight=neg_weight)
    preds = _answers(split, np.random.default_rng(0), 3.0)
    kept = {k: [b for b, s in v if s >= 0.5] for k, v in preds.items()}
    kept = {k: v for k, v in kept.items() if v}
    neg = split.negatives()
    want = vcsl_f1(kept, split.labels, lambda k: neg_weight if k.split("-", 1)[0] in neg else 1.0)["f1"]
    assert query_terms(split, preds, 0.5).f1() == pytest.approx(want)


def test_a_setting_against_itself_is_a_tie_of_zero_width():
    split = _split()
    t = query_terms(split, _answers(split, np.random.default_rng(1), 3.0), 0.5)
    d = paired_difference(t, t, resamples=200)
    assert d["delta"] == 0.0 and d["low"] == 0.0 and d["high"] == 0.0 and d["a_above"] == 0.0


def test_a_clearly_better_setting_has_an_interval_above_zero_and_a_close_one_does_not():
    split = _split(60, 40)
    exact = query_terms(split, _answers(split, np.random.default_rng(2), 0.0), 0.5)
    sloppy = query_terms(split, _answers(split, np.random.default_rng(3), 4.0), 0.5)
    d = paired_difference(exact, sloppy, resamples=500)
    assert d["delta"] > 0 and d["low"] > 0 and d["a_above"] > 0.97
    assert d["low"] <= d["delta"] <= d["high"]
    near = query_terms(split, _answers(split, np.random.default_rng(4), 4.0), 0.5)
    d2 = paired_difference(near, sloppy, resamples=500)
    assert d2["low"] < 0 < d2["high"]


def test_answers_to_other_queries_are_not_paired():
    a = query_terms(_split(10, 5), {}, 0.5)
    b = query_terms(_split(11, 5), {}, 0.5)
    with pytest.raises(ValueError, match="same queries"):
        paired_difference(a, b)
    with pytest.raises(ValueError, match="not in the split"):
        query_terms(_split(3, 0), {"zz-r1": [((0, 0, 1, 1), 1.0)]}, 0.5)
