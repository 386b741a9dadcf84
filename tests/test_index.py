import numpy as np
import pytest

from segscan.index.ids import make_ids, split_ids
from segscan.index.vectors import make_index, set_index_state, index_state

from conftest import seeded_vectors

D = 64


def _ids(n, per_video=100):
    return np.concatenate([make_ids(v, per_video) for v in range(n // per_video)])


def _recall(approx, exact, k):
    hits = [len(set(a[1][:k]) & set(e[1][:k])) / k for a, e in zip(approx, exact)]
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def data():
    x = seeded_vectors(20000, D, seed=1)
    q = seeded_vectors(200, D, seed=2)
    ids = _ids(len(x))
    flat = make_index("flat", D)
    flat.add(ids, x)
    return x, q, ids, flat.search(q, 10)


@pytest.mark.parametrize("kind,params,min_recall", [
    ("hnsw", {"hnsw_m": 32, "ef_search": 256}, 0.9),
    ("hnswlib", {"hnsw_m": 32, "ef_search": 256}, 0.9),
    ("ivfpq", {"nlist": 64, "pq_m": 16, "nprobe": 16}, 0.45),
])
def test_approximate_index_against_flat(data, kind, params, min_recall):
    x, q, ids, exact = data
    idx = make_index(kind, D, **params)
    idx.add(ids, x)
    got = idx.search(q, 10)
    r = _recall(got, exact, 10)
    assert r >= min_recall, f"{kind} recall@10 {r:.3f} < {min_recall}"
    # scores come back sorted and ids are known
    for s, i in got:
        assert np.all(np.diff(s) <= 1e-5)
        assert set(i.tolist()) <= set(ids.tolist())


def test_flat_is_exact(data):
    x, q, ids, exact = data
    brute = q @ x.T
    for row, (s, i) in zip(brute, exact):
        top = np.argsort(-row)[:10]
        np.testing.assert_allclose(s, row[top], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "ivfpq", "hnsw", "hnswlib"])
def test_remove_video_and_roundtrip(data, kind):
    x, q, ids, _ = data
    idx = make_index(kind, D, nlist=32, pq_m=16)
    idx.add(ids[:5000], x[:5000])
    idx.remove_videos([3])
    for s, i in idx.search(q[:20], 20):
        assert 3 not in set(split_ids(i)[0].tolist())
    blob, state = idx.to_bytes(), index_state(idx)
    idx2 = make_index(kind, D, nlist=32, pq_m=16)
    idx2.load_bytes(blob)
    set_index_state(idx2, state)
    a, b = idx.search(q[:20], 10), idx2.search(q[:20], 10)
    for (s1, i1), (s2, i2) in zip(a, b):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(s1, s2, rtol=1e-6)


def test_minus_one_labels_dropped():
    idx = make_index("flat", D)
    x = seeded_vectors(3, D)
    idx.add(make_ids(0, 3), x)
    (s, i), = idx.search(x[:1], 10)
    assert len(i) == 3 and (i >= 0).all()


def test_ids_roundtrip():
    ids = make_ids(12345, 7)
    nums, kf = split_ids(ids)
    assert (nums == 12345).all() and kf.tolist() == list(range(7))
    with pytest.raises(ValueError):
        make_ids(1, 1 << 21)


def test_wrong_dimension_rejected():
    idx = make_index("flat", D)
    with pytest.raises(ValueError):
        idx.add(make_ids(0, 2), np.zeros((2, D + 1), np.float32))
