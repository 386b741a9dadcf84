from types import SimpleNamespace

import numpy as np

from segscan.index.simmap import chamfer_similarity, group_neighbours, sparse_map
from segscan.query.maps import _merge_rows, _normalise, region_maps
from segscan.types import VideoFeatures


def test_normalise_subtracts_the_background_and_keeps_top_k():
    s = np.array([0.2, 0.9, 0.5, 0.4, 0.3], np.float32)
    rows = [(s, np.arange(5), np.arange(5))]
    ((out_s, out_n, _),), bgs = _normalise(rows, (2, 4), k=2)
    np.testing.assert_allclose(bgs, [0.35], atol=1e-6)
    # sorted: .9 .5 .4 .3 .2 ; background = mean(.4, .3) = .35
    np.testing.assert_allclose(out_s, [0.9 - 0.35, 0.5 - 0.35], atol=1e-6)
    assert out_n.tolist() == [1, 2]


def test_flipped_rows_merge_and_keep_the_best_cell():
    a = [(np.array([0.5], np.float32), np.array([7]), np.array([3]))]
    b = [(np.array([0.8], np.float32), np.array([7]), np.array([3]))]
    merged = _merge_rows(a, b)
    cands = group_neighbours(merged, 1)
    m = sparse_map(cands[7], np.array([0.0]), np.arange(5.0))
    assert m.values[0, 3] == np.float32(0.8) and m.mask.sum() == 1
    assert cands[7].prescore == np.float32(0.8)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_chamfer_similarity_matches_regions_in_any_order():
    rng = np.random.default_rng(0)
    ref = _unit(rng.normal(size=(6, 9, 32))).astype(np.float32)
    q = ref[[4, 1]][:, rng.permutation(9)]  # two reference keyframes, regions shuffled
    s = chamfer_similarity(q, ref, chunk=20)  # chunked over reference keyframes
    assert s.shape == (2, 6)
    np.testing.assert_allclose([s[0, 4], s[1, 1]], 1.0, atol=1e-5)
    assert s[0].argmax() == 4 and s[1].argmax() == 1 and s.max(1).min() > np.sort(s, 1)[:, -2].max()
    # one-sided: each query region's best match, averaged; symmetric: mean of both sides
    half = q[:, :4]
    one = chamfer_similarity(half, ref, symmetric=False)
    both = chamfer_similarity(half, ref)
    other = chamfer_similarity(ref, half, symmetric=False).T
    np.testing.assert_allclose(both, 0.5 * (one + other), atol=1e-5)
    np.testing.assert_allclose(one[0, 4], 1.0, atol=1e-5)
    assert other[0, 4] < 1.0  # the reference's other five regions are not in the half frame


def test_region_maps_keep_the_mirrored_best_and_subtract_a_row_quantile():
    rng = np.random.default_rng(1)
    regs = _unit(rng.normal(size=(2, 5, 9, 16))).astype(np.float32)
    vids = {n: VideoFeatures(np.arange(5.0), _unit(regs[n].sum(1)), regs[n]) for n in (0, 1)}
    q = VideoFeatures(np.arange(2.0), vids[1].global_feats[[2, 3]], _unit(rng.normal(size=(2, 9, 16))))
    flipped = VideoFeatures(q.times, q.global_feats, regs[1][[2, 3]])  # the mirrored query is the copy
    refs = [vids[0], vids[1]]
    raw = region_maps(refs, q, [flipped], normalise=False)
    assert [m.values.shape for m in raw] == [(2, 5), (2, 5)]
    np.testing.assert_allclose([raw[1].values[0, 2], raw[1].values[1, 3]], 1.0, atol=1e-5)
    maps = region_maps(refs, q, [flipped])  # default: each row's median is 0
    both = np.concatenate([m.values for m in maps], axis=1)
    np.testing.assert_allclose(np.median(both, axis=1), 0.0, atol=1e-6)
    assert both[0].argmax() == 5 + 2 and both[1].argmax() == 5 + 3
    high = np.concatenate([m.values for m in region_maps(refs, q, [flipped], bg_quantile=0.9)], axis=1)
    np.testing.assert_allclose(np.quantile(high, 0.9, axis=1), 0.0, atol=1e-6)
    assert (high > 0).sum(1).max() <= 1  # only the copied keyframe stands above that background


def test_settings_come_from_the_config_else_from_the_aligner():
    import pytest

    from segscan.align import make_aligner
    from segscan.query import QueryConfig, resolve

    tn = make_aligner("tn")
    s = resolve(QueryConfig(), tn)
    assert (s.min_score, s.threshold, s.map_mode) == (tn.list_floor, tn.copy_threshold, "regions")
    assert tn.list_floor < tn.copy_threshold  # weaker matches are listed, not declared copies
    s = resolve(QueryConfig(min_score=0.3, threshold=0.5, map_mode="sparse"), tn)
    assert (s.min_score, s.threshold, s.map_mode) == (0.3, 0.5, "sparse")
    # every registered aligner declares what the query path asks of it
    for name in ("tn", "dp", "hv", "dtw"):
        al = make_aligner(name)
        assert resolve(QueryConfig(), al).map_mode == al.maps
    other = SimpleNamespace(list_floor=0.1, copy_threshold=0.4, maps="dense")
    assert resolve(QueryConfig(), other).threshold == 0.4
    with pytest.raises(ValueError, match="map mode"):
        resolve(QueryConfig(map_mode="pixels"), tn)


def test_table_times_show_tenths_of_a_second():
    from segscan.report.rows import fmt_time

    assert [fmt_time(t) for t in (0.0, 1.5, 7.46, 61.25, -0.2)] == ["00:00.0", "00:01.5", "00:07.5", "01:01.2", "00:00.0"]
