import numpy as np

from segscan.align import make_aligner
from segscan.types import SimilarityMap


def _map(nq, nr, diag, sim=0.6, bg=0.1, seed=0, speed=1.0):
    """A map with a copied run: query rows q0..q1 match reference columns from r0 at ``speed``.

    Similarities are in the query path's normalised units: unrelated cells around 0.
    """
    rng = np.random.default_rng(seed)
    v = rng.uniform(-bg, bg, (nq, nr)).astype(np.float32)
    q0, q1, r0 = diag
    for i in range(q0, q1):
        j = r0 + int(round((i - q0) * speed))
        if j < nr:
            v[i, j] = sim
    return SimilarityMap(v, np.arange(nq, dtype=float), np.arange(nr, dtype=float))


def test_tn_finds_a_diagonal():
    m = _map(30, 40, (5, 15, 20))
    (segs,) = make_aligner("tn").align([m])
    assert len(segs) == 1
    s = segs[0]
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (5.0, 15.0, 20.0, 30.0)
    # the path's mean similarity plus length_weight * ln(10 query keyframes)
    assert abs(s.score - (0.6 + 0.06 * np.log(10))) < 1e-6
    (plain,) = make_aligner("tn", length_weight=0.0).align([m])
    assert abs(plain[0].score - 0.6) < 1e-6


def test_length_weight_prefers_the_longer_of_two_equally_similar_segments():
    m = _map(40, 60, (0, 3, 40))  # 3 keyframes
    m.values[10:30, np.arange(10, 30)] = 0.6  # 20 keyframes, same similarity
    segs = sorted(make_aligner("tn").align([m])[0], key=lambda s: -s.score)
    assert [s.q_end - s.q_start for s in segs] == [20.0, 3.0]
    assert segs[0].score - segs[1].score > 0.06 * np.log(20 / 3) - 1e-6


def test_refine_offset_finds_the_sub_keyframe_offset_on_slow_footage():
    from segscan.query.refine import refine_offset
    from segscan.types import Segment

    # a reference whose content drifts slowly (a "static" scene: every frame alike, plus a small
    # change over time), and a query copied from it 12.4 s in, sampled on its own 1 s grid
    rng = np.random.default_rng(0)
    base = rng.normal(size=64)
    walk = np.cumsum(rng.normal(size=(400, 64)), axis=0) * 0.02
    frames = lambda t: base + np.array([np.interp(t, np.arange(400) / 10, walk[:, d]) for d in range(64)]).T
    rt, qt = np.arange(0, 39.0), np.arange(0, 10.0)
    r, q = frames(rt), frames(qt + 12.4)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    vals = q @ r.T
    assert vals.min() > 0.9  # raw similarities hardly tell the offsets apart
    wrong = Segment(0.0, 10.0, 14.0, 24.0, 0.5)  # two keyframes off
    s = refine_offset(wrong, vals, qt, rt)
    assert abs(s.r_start - 12.4) < 0.3 and s.r_end - s.r_start == s.q_end - s.q_start
    assert (s.q_start, s.q_end, s.score) == (0.0, 10.0, 0.5)
    # a segment off unit speed is left alone
    fast = Segment(0.0, 10.0, 14.0, 34.0, 0.5)
    assert refine_offset(fast, vals, qt, rt) == fast


def test_wide_refine_moves_a_segment_locked_on_a_far_offset_and_regrows_its_span():
    from segscan.query.refine import refine_offset
    from segscan.types import Segment

    # a fixed camera: every query keyframe about as similar to every reference keyframe (0.5), the
    # copy (offset 12 s, all 10 query keyframes) only 0.1 above that; the aligner locked on to 25 s
    # with rows 0-6
    rng = np.random.default_rng(1)
    qt, rt = np.arange(0, 10.0), np.arange(0, 40.0)
    vals = 0.5 + rng.uniform(-0.02, 0.02, (10, 40))
    vals[np.arange(10), np.arange(10) + 12] += 0.1
    locked = Segment(0.0, 7.0, 25.0, 32.0, 0.4)
    near = refine_offset(locked, vals, qt, rt)
    assert abs(near.r_start - near.q_start - 25.0) <= 3.0  # the nearby search cannot reach it
    s = refine_offset(locked, vals, qt, rt, wide_rows=6)
    assert abs(s.r_start - s.q_start - 12.0) < 0.3
    assert (s.q_start, s.q_end, s.score) == (0.0, 10.0, 0.4)  # grown over rows 7-9, score kept
    # too short a segment for the wide search; and one already on the copy stays there
    assert refine_offset(Segment(0.0, 5.0, 25.0, 30.0, 0.4), vals, qt, rt, wide_rows=6).r_start >= 22.0
    on = refine_offset(Segment(0.0, 10.0, 12.0, 22.0, 0.4), vals, qt, rt, wide_rows=6)
    assert abs(on.r_start - 12.0) < 0.3 and (on.q_start, on.q_end) == (0.0, 10.0)


def test_merge_diagonal_joins_pieces_of_one_copy_only():
    from segscan.query.refine import merge_diagonal
    from segscan.types import Segment

    a = Segment(0.0, 4.0, 10.2, 14.2, 0.5)
    b = Segment(5.0, 9.0, 15.0, 19.0, 0.6)  # same diagonal (offset 10.0 vs 10.2), one keyframe apart
    other = Segment(5.0, 9.0, 25.0, 29.0, 0.7)  # another offset
    fast = Segment(0.0, 4.0, 10.0, 18.0, 0.4)  # 2x speed: never joined
    out = merge_diagonal([b, a, other, fast], step=1.0)
    assert len(out) == 3 and fast in out and other in out
    (j,) = [s for s in out if s not in (fast, other)]
    # the longer piece's offset (both 4 s: the first one met, a's 10.2) and the better score
    assert (j.q_start, j.q_end, j.score) == (0.0, 9.0, 0.6)
    assert abs(j.r_start - 10.2) < 1e-9 and abs(j.r_end - 19.2) < 1e-9
    far = Segment(7.0, 9.0, 17.2, 19.2, 0.5)  # same offset as a, but 3 s apart: two copies
    assert len(merge_diagonal([a, far], step=1.0)) == 2


def test_snap_to_edges_runs_a_near_edge_segment_to_the_clip_ends():
    from segscan.query.refine import snap_to_edges
    from segscan.types import Segment

    qt, rt = np.arange(10.0), np.arange(30.0)
    s = snap_to_edges(Segment(1.0, 9.0, 13.5, 21.5, 0.4), qt, rt, rows=1)
    assert (s.q_start, s.q_end, s.r_start, s.r_end, s.score) == (0.0, 10.0, 12.5, 22.5, 0.4)
    # two keyframes from the start: left as it is with rows=1
    s = snap_to_edges(Segment(2.0, 9.0, 14.5, 21.5, 0.4), qt, rt, rows=1)
    assert (s.q_start, s.q_end) == (2.0, 10.0)
    # the reference starts 0.5 s before the segment's reference start: only that far
    s = snap_to_edges(Segment(1.0, 5.0, 0.5, 4.5, 0.4), qt, rt, rows=1)
    assert (s.q_start, s.r_start) == (0.5, 0.0)
    # off unit speed, or rows=0: unchanged
    fast = Segment(1.0, 9.0, 2.0, 18.0, 0.4)
    assert snap_to_edges(fast, qt, rt, rows=1) == fast
    assert snap_to_edges(Segment(1.0, 9.0, 13.5, 21.5, 0.4), qt, rt, rows=0) == Segment(1.0, 9.0, 13.5, 21.5, 0.4)


def test_trim_ends_cuts_only_end_keyframes_that_match_nothing_on_the_line():
    from segscan.align.base import trim_ends
    from segscan.types import Segment

    m = _map(12, 20, (3, 9, 5), sim=0.5, bg=0.02)  # the copy: rows 3-8 on offset +2
    m.values[5, 7] = 0.01  # a weak keyframe inside the copy
    loose = Segment(1.0, 10.0, 3.0, 12.0, 0.7)  # the box reaches two rows before, one after
    s = trim_ends(loose, m, 0.2)
    assert (s.q_start, s.q_end, s.r_start, s.r_end, s.score) == (3.0, 9.0, 5.0, 11.0, 0.7)
    assert trim_ends(Segment(3.0, 9.0, 5.0, 11.0, 0.7), m, 0.2) == Segment(3.0, 9.0, 5.0, 11.0, 0.7)
    assert trim_ends(loose, m, 0.0) == loose  # off
    # a segment that runs to the clip's end keeps its end when its last row matches
    m.values[9:, 11:] = 0.5
    s = trim_ends(Segment(3.0, 12.0, 5.0, 14.0, 0.7), m, 0.2)
    assert (s.q_start, s.q_end) == (3.0, 12.0)


def test_grow_ends_extends_a_segment_over_keyframes_that_match_as_well():
    from segscan.query.refine import grow_ends
    from segscan.types import Segment

    m = _map(12, 20, (1, 10, 3), sim=0.5, bg=0.02)  # the copy: rows 1-9 on offset +2
    m.values[2, 4] = 0.3  # a weaker row (0.6 x the median): still grown over at 0.5
    short = Segment(3.0, 8.0, 5.0, 10.0, 0.7)  # the box stops two rows short on each side
    s = grow_ends(short, m.values, m.q_times, m.r_times, 0.5)
    assert (s.q_start, s.q_end, s.r_start, s.r_end, s.score) == (1.0, 10.0, 3.0, 12.0, 0.7)
    # at 0.7 the weak row stops the start; the end still reaches the copy's last row
    s = grow_ends(short, m.values, m.q_times, m.r_times, 0.7)
    assert (s.q_start, s.q_end) == (3.0, 10.0)
    assert grow_ends(short, m.values, m.q_times, m.r_times, 0.0) == short  # off
    # only ever extended: rows that match nothing next to a segment leave it as it is
    exact = Segment(1.0, 10.0, 3.0, 12.0, 0.7)
    assert grow_ends(exact, m.values, m.q_times, m.r_times, 0.5) == exact
    # off unit speed: unchanged
    fast = Segment(3.0, 8.0, 5.0, 15.0, 0.7)
    assert grow_ends(fast, m.values, m.q_times, m.r_times, 0.5) == fast
    # a segment whose last keyframe's reference time lies past the reference's end: that
    # keyframe sets no floor, and the start grows only over rows that match
    e = _map(12, 8, (2, 12, 0), sim=0.5, bg=0.02)  # rows 2-9 on offset -2 (reference 0-7)
    s = grow_ends(Segment(4.0, 11.0, 2.0, 9.0, 0.7), e.values, e.q_times, e.r_times, 0.7)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (2.0, 11.0, 0.0, 9.0)


def test_refine_segments_drops_single_keyframe_matches():
    from segscan.query.refine import refine_segments
    from segscan.types import Segment

    m = _map(12, 20, (1, 10, 3), sim=0.5, bg=0.02)
    m.values[5, 15] = 0.9  # one keyframe alike elsewhere (two black frames)
    segs = [Segment(1.0, 10.0, 3.0, 12.0, 0.6), Segment(5.0, 6.0, 15.0, 16.0, 0.8)]
    kept = refine_segments(segs, m.values, m.q_times, m.r_times, edge_rows=0, centre=False, min_rows=2)
    assert [(s.q_start, s.q_end, s.score) for s in kept] == [(1.0, 10.0, 0.6)]
    both = refine_segments(segs, m.values, m.q_times, m.r_times, edge_rows=0, centre=False, min_rows=1)
    assert len(both) == 2
    # a clip of a single keyframe can still be listed
    one = SimilarityMap(m.values[5:6], m.q_times[:1], m.r_times)
    assert len(refine_segments([Segment(0.0, 1.0, 15.0, 16.0, 0.8)], one.values, one.q_times, one.r_times,
                               centre=False, min_rows=2)) == 1


def test_centre_ends_places_inner_ends_between_keyframes():
    from segscan.query.refine import centre_ends
    from segscan.types import Segment

    qt, rt = np.arange(10.0), np.arange(30.0)
    s = centre_ends(Segment(3.0, 7.0, 13.0, 17.0, 0.4), qt, rt)
    assert (s.q_start, s.q_end, s.r_start, s.r_end, s.score) == (2.5, 6.5, 12.5, 16.5, 0.4)
    # ends on the clip's first keyframe and past its last stay where they are
    s = centre_ends(Segment(0.0, 10.0, 13.0, 23.0, 0.4), qt, rt)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (0.0, 10.0, 13.0, 23.0)
    # the reference starts where the segment's reference span does: the start stays inside it
    s = centre_ends(Segment(3.0, 7.0, 0.0, 4.0, 0.4), qt, rt)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (3.0, 6.5, 0.0, 3.5)
    # a 2x segment: its reference ends follow its line
    s = centre_ends(Segment(3.0, 7.0, 10.0, 18.0, 0.4), qt, rt)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (2.5, 6.5, 9.0, 17.0)


def test_tn_follows_a_speed_change():
    m = _map(30, 60, (2, 22, 10), speed=2.0)
    (segs,) = make_aligner("tn").align([m])
    s = segs[0]
    assert s.q_start == 2.0 and s.q_end == 22.0
    assert s.r_start == 10.0 and s.r_end == 49.0


def test_tn_finds_two_segments_out_of_order():
    m = _map(40, 40, (0, 10, 25))
    m2 = _map(40, 40, (20, 30, 2), seed=1)
    v = np.maximum(m.values, m2.values)
    (segs,) = make_aligner("tn").align([SimilarityMap(v, m.q_times, m.r_times)])
    got = sorted((s.q_start, s.r_start) for s in segs)
    assert got == [(0.0, 25.0), (20.0, 2.0)]


def test_tn_nothing_on_noise():
    rng = np.random.default_rng(0)
    v = rng.uniform(-0.15, 0.15, (30, 30)).astype(np.float32)
    (segs,) = make_aligner("tn").align([SimilarityMap(v, np.arange(30.0), np.arange(30.0))])
    # with the default min_sim (0.1) a sixth of these cells count as matches, and weak paths form
    # through them; none reaches the query's copy-decision threshold
    from segscan.align.tn import TemporalNetwork

    assert segs and all(s.score < TemporalNetwork.copy_threshold for s in segs)
    (strict,) = make_aligner("tn", min_sim=0.2).align([SimilarityMap(v, np.arange(30.0), np.arange(30.0))])
    assert strict == []


def test_sparse_mask_respected():
    m = _map(20, 20, (0, 10, 0))
    m.mask[:] = False  # nothing known
    (segs,) = make_aligner("tn").align([m])
    assert segs == []


import pytest


@pytest.mark.parametrize("name", ["tn", "dp", "hv", "dtw"])
def test_every_aligner_finds_a_clean_diagonal(name):
    m = _map(30, 40, (5, 15, 20), bg=0.05)
    (segs,) = make_aligner(name).align([m])
    assert segs, name
    best = max(segs, key=lambda s: s.score)
    if name == "hv":  # VCSL's HV: the right offset, spanning its whole diagonal
        assert best.r_start - best.q_start == 15 and best.q_start <= 5 and best.q_end >= 15
        return
    # VCSL's DP runs on through up to `discontinue` (3) unmatched cells past either end of a copy
    tol = 4 if name == "dp" else 1
    assert abs(best.q_start - 5) <= tol and abs(best.q_end - 15) <= tol
    assert abs(best.r_start - 20) <= tol and abs(best.r_end - 30) <= tol


@pytest.mark.parametrize("name", ["tn", "dp", "hv", "dtw"])
def test_every_aligner_quiet_on_noise(name):
    rng = np.random.default_rng(3)
    v = rng.uniform(-0.15, 0.15, (25, 25)).astype(np.float32)
    (segs,) = make_aligner(name).align([SimilarityMap(v, np.arange(25.0), np.arange(25.0))])
    from segscan.align.tn import TemporalNetwork

    # nothing declared a copy (TN's default min_sim lets weak paths form on this noise; the others find none)
    assert all(s.score < TemporalNetwork.copy_threshold for s in segs)
    if name != "tn":
        assert segs == []


def test_hough_voting_misses_speed_change_but_tn_follows_it():
    m = _map(30, 70, (2, 22, 10), speed=2.0)
    (hv,) = make_aligner("hv").align([m])
    (tn,) = make_aligner("tn").align([m])
    assert all(s.r_end - s.r_start == s.q_end - s.q_start for s in hv)  # one offset each: unit speed
    assert max(s.q_end - s.q_start for s in tn) >= 19


def test_vcsl_peers_by_hand():
    from segscan.align.peers import DynamicProgramming, straight_runs_cut

    # runs straight across or down of more than 3 points are cut out of a path
    path = np.array([[0, 0], [1, 1], [2, 2], [2, 3], [2, 4], [2, 5], [2, 6], [3, 7], [4, 8]])
    assert straight_runs_cut(path, 3) == [(0, 2), (7, 9)]
    assert straight_runs_cut(path, 5) == [(0, 9)]
    # DP accumulates from the top-left at full weight, the top and left at half weight
    S = np.array([[0.5, 0.0], [0.0, 0.5]])
    D, B = DynamicProgramming(min_sim=-1.0).accumulate(S)
    assert D[1, 1] == 1.5 + 1.5 and B[1, 1] == 0
    # HV: a segment spans its offset's whole diagonal, even where it matches nothing
    m = _map(10, 10, (2, 5, 2), bg=0.0)
    (hv,) = make_aligner("hv").align([m])
    s = max(hv, key=lambda x: x.score)
    assert (s.q_start, s.q_end, s.r_start, s.r_end) == (0.0, 10.0, 0.0, 10.0)
    assert abs(s.score - 0.6 * 3 / 10) < 1e-6
    # DTW warps the whole map corner to corner: a copy off the main diagonal is reached through
    # a straight run, cut away with its last point (the copy's first cell), leaving the rest of the copy
    m = _map(12, 24, (0, 12, 12), bg=0.0)
    (dtw,) = make_aligner("dtw").align([m])
    assert [(s.q_start, s.q_end, s.r_start, s.r_end) for s in dtw] == [(1.0, 12.0, 13.0, 24.0)]


def test_unit_speed_path_snaps_to_its_best_diagonal():
    from segscan.align.base import path_segment, snap_to_unit_speed

    m = _map(20, 30, (0, 10, 5))
    m.values[0, 4] = m.values[9, 15] = 0.7  # the path wanders off the diagonal at both ends
    rows = np.arange(10)
    cols = np.array([4, 6, 7, 8, 9, 10, 11, 12, 13, 15])
    seg = path_segment(m, rows, cols, 0.5)
    assert (seg.r_start, seg.r_end) == (4.0, 16.0)
    snapped = snap_to_unit_speed(seg, m, rows, cols)
    assert (snapped.q_start, snapped.q_end, snapped.r_start, snapped.r_end) == (0.0, 10.0, 5.0, 15.0)
    # a stray first match far off the diagonal does not stop the snap
    m2 = _map(20, 30, (2, 8, 2))
    m2.values[2, 0] = 0.65
    rows2, cols2 = np.arange(2, 8), np.array([0, 3, 4, 5, 6, 7])
    s2 = snap_to_unit_speed(path_segment(m2, rows2, cols2, 0.5), m2, rows2, cols2)
    assert (s2.q_start, s2.q_end, s2.r_start, s2.r_end) == (2.0, 8.0, 2.0, 8.0)
    # a 2x path is left alone
    m3 = _map(20, 30, (0, 5, 0), speed=2.0)
    r3, c3 = np.arange(5), np.arange(5) * 2
    fast = snap_to_unit_speed(path_segment(m3, r3, c3, 0.5), m3, r3, c3)
    assert (fast.r_start, fast.r_end) == (0.0, 9.0)
    # with extend_min, the diagonal is followed over rows the path skipped, and no further
    r4 = np.arange(3, 8)
    ext = snap_to_unit_speed(path_segment(m, r4, r4 + 5, 0.6), m, r4, r4 + 5, extend_min=0.3)
    assert (ext.q_start, ext.q_end, ext.r_start, ext.r_end) == (0.0, 10.0, 5.0, 15.0)


