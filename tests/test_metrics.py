"""Metrics against values computed by hand."""
import pytest

from segscan.bench.metrics import (average_precision, union_length, vcsl_f1, vcsl_pair, video_map,
                                   vsc_micro_ap)


def test_union_length():
    assert union_length([(0, 2), (1, 3), (5, 6)]) == 4.0
    assert union_length([]) == 0.0


def test_vcsl_pair_exact():
    r = vcsl_pair([[0, 0, 10, 10]], [[0, 0, 10, 10]])
    assert r.precision == 1.0 and r.recall == 1.0 and r.p_counts and r.r_counts


def test_vcsl_pair_partial_by_hand():
    # pred q[0,10] r[0,10]; truth q[5,15] r[2,12]
    # precision: q overlap 5/10, r overlap 8/10 -> 0.4 ; recall: q 5/10, r 8/10 -> 0.4
    r = vcsl_pair([[0, 0, 10, 10]], [[5, 2, 15, 12]])
    assert r.precision == pytest.approx(0.4, abs=1e-12)
    assert r.recall == pytest.approx(0.4, abs=1e-12)


def test_vcsl_pair_two_preds_one_truth():
    # truth q[0,10] r[0,10]; preds q[0,4] r[0,4] and q[6,10] r[6,10] and a miss q[20,22] r[20,22]
    # precision q: (4 + 4 + 0) / (4 + 4 + 2) = 0.8, r the same -> 0.64
    # recall q: union of the truth's overlaps = [0,4] u [6,10] = 8 of 10 -> 0.8, r the same -> 0.64
    r = vcsl_pair([[0, 0, 4, 4], [6, 6, 10, 10], [20, 20, 22, 22]], [[0, 0, 10, 10]])
    assert r.precision == pytest.approx(0.64, abs=1e-12)
    assert r.recall == pytest.approx(0.64, abs=1e-12)


def test_vcsl_touching_boxes_do_not_overlap():
    r = vcsl_pair([[0, 0, 5, 5]], [[5, 5, 10, 10]])  # area 0: no overlap
    assert r.precision == 0.0 and r.recall == 0.0


def test_vcsl_edge_cases():
    assert (vcsl_pair([[0, 0, 1, 1]], []).precision, vcsl_pair([[0, 0, 1, 1]], []).recall) == (0.0, 1.0)
    assert (vcsl_pair([], [[0, 0, 1, 1]]).precision, vcsl_pair([], [[0, 0, 1, 1]]).recall) == (1.0, 0.0)
    e = vcsl_pair([], [])
    assert (e.precision, e.recall, e.p_counts, e.r_counts) == (1.0, 1.0, False, False)


def test_vcsl_micro_average_excludes_edge_ones():
    preds = {"a": [[0, 0, 10, 10]], "b": [], "c": [[0, 0, 5, 5]], "d": []}
    truths = {"a": [[5, 2, 15, 12]], "b": [[0, 0, 5, 5]], "c": [], "d": []}
    # a: P=0.4 R=0.4 ; b: P=1 (edge, left out) R=0 ; c: P=0 R=1 (edge, left out) ; d: both left out
    m = vcsl_f1(preds, truths)
    assert m["precision"] == pytest.approx((0.4 + 0.0) / 2, abs=1e-12)
    assert m["recall"] == pytest.approx((0.4 + 0.0) / 2, abs=1e-12)
    assert m["f1"] == pytest.approx(0.2, abs=1e-12)


def test_vcsl_precision_weights():
    preds = {"a": [[0, 0, 10, 10]], "c": [[0, 0, 5, 5]]}
    truths = {"a": [[5, 2, 15, 12]], "c": []}
    # a: P=0.4, c: P=0 (a false pair); c weighted 3 -> (0.4 + 3 * 0) / 4; recall is not weighted
    m = vcsl_f1(preds, truths, lambda k: 3.0 if k == "c" else 1.0)
    assert m["precision"] == pytest.approx(0.1, abs=1e-12)
    assert m["recall"] == pytest.approx(0.4, abs=1e-12)
    assert vcsl_f1(preds, truths, lambda k: 1.0) == vcsl_f1(preds, truths)


def test_negative_queries_weighted_to_the_test_share():
    from segscan.bench.scoring import evaluate
    from segscan.bench.splits import QueryMaps, Split, negative_weight

    def split(pos, neg):
        qs = [QueryMaps(f"p{i}", 10.0, [], 0.0) for i in range(pos)]
        qs += [QueryMaps(f"n{i}", 10.0, [], 0.0) for i in range(neg)]
        return Split(queries=qs, labels={f"p{i}-r": [[0, 0, 10, 10]] for i in range(pos)})

    train, test = split(60, 30), split(100, 100)
    assert train.negatives() == {f"n{i}" for i in range(30)}
    assert negative_weight(train, test) == pytest.approx(2.0)  # 1 negative per positive, not 1 per 2
    assert negative_weight(split(5, 0), test) == 1.0
    # one exact positive and one false pair of a negative query: P (1 + 0) / 2, weighted (1 + 0) / 3
    train.neg_weight = 2.0
    preds = {"p0-r": [([0, 0, 10, 10], 1.0)], "n0-r": [([0, 0, 10, 10], 1.0)]}
    assert evaluate(train, preds, {}, 0.5)["precision"] == pytest.approx(1 / 3)
    train.neg_weight = 1.0
    assert evaluate(train, preds, {}, 0.5)["precision"] == pytest.approx(1 / 2)


def test_vsc_micro_ap_by_hand():
    truths = {"a": [[0, 0, 10, 10]], "b": [[0, 0, 10, 10]]}
    # first (score .9): exact on a -> P=1, R=sqrt(.5*.5)=.5 ; second (.5): a wrong box on b, no overlap
    # -> P = sqrt((10/20)*(10/20)) = .5, R stays .5 ; AP = 1*.5 + .5*0 = .5
    preds = {"a": [([0, 0, 10, 10], 0.9)], "b": [([20, 20, 30, 30], 0.5)]}
    assert vsc_micro_ap(preds, truths) == pytest.approx(0.5, abs=1e-12)
    # now the second finds half of b on both axes: everything predicted is true, P = 1,
    # R = sqrt((15/20)*(15/20)) = .75 ; AP = .5*1 + .25*1 = .75
    preds = {"a": [([0, 0, 10, 10], 0.9)], "b": [([0, 0, 5, 5], 0.5)]}
    assert vsc_micro_ap(preds, truths) == pytest.approx(0.75, abs=1e-12)
    # the same half box, but 2 s too late on the reference axis of b: tp_r = 10 + 3 of pl_r = 15
    # P = sqrt(1 * 13/15), R = sqrt(15/20 * 13/20) ; AP = .5 + (R - .5) * P
    preds = {"a": [([0, 0, 10, 10], 0.9)], "b": [([0, 7, 5, 12], 0.5)]}
    p2, r2 = (13 / 15) ** 0.5, (15 / 20 * 13 / 20) ** 0.5
    assert vsc_micro_ap(preds, truths) == pytest.approx(0.5 + (r2 - 0.5) * p2, abs=1e-12)


def test_vsc_micro_ap_wrong_offset_earns_nothing():
    # VSC22 intersects a pair's predictions only with the truth boxes some prediction of the pair
    # overlaps in both axes: b's box has the right query span but the wrong reference offset, so it
    # earns no query-axis credit either (an axis-by-axis intersection would give 0.646)
    truths = {"a": [[0, 0, 10, 10]], "b": [[0, 0, 10, 10]]}
    preds = {"a": [([0, 0, 10, 10], 0.9)], "b": [([0, 20, 10, 30], 0.5)]}
    assert vsc_micro_ap(preds, truths) == pytest.approx(0.5, abs=1e-12)
    # once another prediction of b overlaps its truth, the truth counts against the union of all
    # of b's predictions: query axis 10 of 10 (the wrong box's span included), reference 2 of 12
    preds["b"].append(([0, 0, 2, 2], 0.4))
    p3, r3 = (1.0 * 12 / 22) ** 0.5, (20 / 20 * 12 / 20) ** 0.5
    assert vsc_micro_ap(preds, truths) == pytest.approx(0.5 + (r3 - 0.5) * p3, abs=1e-12)


def test_vsc_micro_ap_perfect_and_empty():
    truths = {"a": [[0, 0, 10, 10]]}
    assert vsc_micro_ap({"a": [([0, 0, 10, 10], 1.0)]}, truths) == pytest.approx(1.0, abs=1e-12)
    assert vsc_micro_ap({}, truths) == 0.0


def test_average_precision_and_map():
    # relevant at ranks 1 and 3 of 2 relevant: (1/1 + 2/3) / 2
    assert average_precision([True, False, True], 2) == pytest.approx((1 + 2 / 3) / 2, abs=1e-12)
    # one of two relevant found at rank 2: (1/2) / 2
    assert average_precision([False, True], 2) == pytest.approx(0.25, abs=1e-12)
    m = video_map({"q1": ["x", "y"], "q2": ["z"]}, {"q1": {"y"}, "q2": {"z"}, "q3": set()})
    assert m == pytest.approx((0.5 + 1.0) / 2, abs=1e-12)
