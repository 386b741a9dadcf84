"""Exclusive segments: one reference place per query span unless the reference repeats itself."""
import numpy as np

from segscan.query.exclusive import exclusive_segments
from segscan.types import Segment

Q = np.arange(20.0)  # query keyframes, 1 per second
R = np.arange(80.0)  # reference keyframes


def _ref(repeat=False, seed=0):
    """Keyframe vectors of a reference whose every second differs (optionally 50-60 s repeats 20-30 s)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(len(R), 64))
    if repeat:
        g[50:60] = g[20:30] + 0.05 * rng.normal(size=(10, 64))
    return (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)


def test_the_weaker_place_of_one_query_span_goes():
    best = Segment(0.0, 10.0, 20.0, 30.0, 0.9)
    other = Segment(0.0, 10.0, 50.0, 60.0, 0.6)
    out = exclusive_segments([other, best], Q, R, _ref())
    assert [(s.q_start, s.r_start, s.repeat) for s in out] == [(0.0, 20.0, False)]


def test_a_partly_overlapping_segment_keeps_the_span_the_better_one_leaves():
    best = Segment(0.0, 10.0, 20.0, 30.0, 0.9)
    other = Segment(5.0, 15.0, 55.0, 65.0, 0.6)
    out = exclusive_segments([best, other], Q, R, _ref())
    assert len(out) == 2
    cut = out[1]
    assert (cut.q_start, cut.q_end, cut.r_start, cut.r_end) == (10.0, 15.0, 60.0, 65.0)
    # a leftover under two query keyframes goes
    short = Segment(1.0, 11.0, 51.0, 61.0, 0.6)
    assert len(exclusive_segments([best, short], Q, R, _ref())) == 1


def test_a_reference_that_repeats_keeps_both_places_and_says_so():
    best = Segment(0.0, 10.0, 20.0, 30.0, 0.9)
    other = Segment(0.0, 10.0, 50.0, 60.0, 0.85)
    out = exclusive_segments([best, other], Q, R, _ref(repeat=True))
    assert sorted((s.r_start, s.repeat) for s in out) == [(20.0, False), (50.0, True)]
    # a place that does not repeat the first still goes
    third = Segment(0.0, 10.0, 70.0, 80.0, 0.5)
    assert len(exclusive_segments([best, other, third], Q, R, _ref(repeat=True))) == 2


def test_segments_of_other_query_spans_or_one_diagonal_stay():
    a = Segment(0.0, 8.0, 20.0, 28.0, 0.9)
    b = Segment(8.0, 16.0, 50.0, 58.0, 0.5)  # touches a: another piece of the query
    c = Segment(3.0, 9.0, 23.5, 29.5, 0.4)  # a's diagonal, half a keyframe off
    out = exclusive_segments([a, b, c], Q, R, _ref())
    assert len(out) == 3
