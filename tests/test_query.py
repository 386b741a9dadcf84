import numpy as np

from segscan.index.simmap import group_neighbours, sparse_map
from segscan.pipeline.query import _merge_rows, _normalise


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
