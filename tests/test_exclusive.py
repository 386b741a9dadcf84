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


def _cand(ref_global, q_global, name):
    from segscan.types import CandidateMap, SimilarityMap

    m = SimilarityMap(np.zeros((len(Q), len(ref_global))), Q, np.arange(float(len(ref_global))))
    return CandidateMap(name, f"/{name}.mp4", 0.0, m, None, ref_global, q_global)


def test_a_query_span_is_left_to_its_better_source_unless_the_references_share_footage():
    from segscan.query.exclusive import exclusive_references

    a = _ref(seed=1)
    rng = np.random.default_rng(7)
    q = a[20:40] + 0.3 * rng.normal(size=(20, 64)).astype(np.float32)  # an edited copy of a, 20-40 s
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    on_a = Segment(0.0, 20.0, 20.0, 40.0, 0.9)
    on_b = Segment(5.0, 20.0, 50.0, 65.0, 0.6)
    lookalike = _cand(_ref(seed=2), q, "b")
    out = exclusive_references([(_cand(a, q, "a"), [on_a]), (lookalike, [on_b])])
    assert [c.video_id for c, _ in out] == ["a"]  # b only looked like it: its claim goes
    reupload = a.copy()
    reupload[50:65] = a[25:40]  # b holds a's footage at 50-65 s
    out = exclusive_references([(_cand(a, q, "a"), [on_a]), (_cand(reupload, q, "b"), [on_b])])
    assert [c.video_id for c, _ in out] == ["a", "b"]
    # spans the better source does not cover stay with the other reference
    later = Segment(5.0, 20.0, 50.0, 65.0, 0.6)
    short_a = Segment(0.0, 10.0, 20.0, 30.0, 0.9)
    out = exclusive_references([(_cand(a, q, "a"), [short_a]), (lookalike, [later])])
    assert [(s.q_start, s.q_end, s.r_start) for s in out[1][1]] == [(10.0, 20.0, 55.0)]
