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


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnswlib"])
def test_streamed_file_holds_the_serialised_bytes(data, kind, tmp_path):
    """What the database writes (streamed to a file) is what to_bytes gives, and reads back
    from a file positioned after other bytes (the index file's header)."""
    x, q, ids, _ = data
    idx = make_index(kind, D, nlist=32, train_size=2000)
    idx.add(ids[:5000], x[:5000])
    p = tmp_path / "i.bin"
    with open(p, "wb") as f:
        f.write(b"header")
        idx.write_to(f)
    assert p.read_bytes()[6:] == idx.to_bytes()
    again = make_index(kind, D, nlist=32, train_size=2000)
    with open(p, "rb") as f:
        f.read(6)
        again.read_from(f)
    assert getattr(again, "ivf", False) == getattr(idx, "ivf", False)
    for (s1, i1), (s2, i2) in zip(idx.search(q[:20], 10), again.search(q[:20], 10)):
        np.testing.assert_array_equal(i1, i2)


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


@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_ivf_stays_flat_and_exact_until_trained_then_keeps_every_vector(data, kind):
    """Vectors added one video at a time are searched exactly until ``train_size`` are in; the
    quantiser is then trained on all of them (not on the first video alone) and they move in."""
    x, q, ids, exact = data
    idx = make_index(kind, D, train_size=4000, nprobe=64)
    for v in range(30):  # 3,000 vectors: below train_size, a flat index
        idx.add(ids[v * 100:(v + 1) * 100], x[v * 100:(v + 1) * 100])
    assert not idx.ivf and idx.ntotal == 3000
    flat = make_index("flat", D)
    flat.add(ids[:3000], x[:3000])
    for (s1, i1), (s2, i2) in zip(idx.search(q[:20], 10), flat.search(q[:20], 10)):
        np.testing.assert_array_equal(i1, i2)
    idx.add(ids[3000:], x[3000:])
    assert idx.ivf and idx.ntotal == len(x)
    nlist = idx.segs.nlist
    assert nlist >= 64  # lists for 20,000 vectors, not for the 100 of the first video
    if kind == "ivf":  # 8-bit scalar codes: every list probed, the search is all but exact
        assert _recall(idx.search(q, 10), exact, 10) >= 0.95
    blob = idx.to_bytes()
    again = make_index(kind, D, train_size=4000, nprobe=64)
    again.load_bytes(blob)
    assert again.ivf and again.ntotal == len(x)


def test_ivf_trained_from_a_sample_then_filled_in_blocks(data):
    x, q, ids, exact = data
    idx = make_index("ivf", D, nprobe=64)
    idx.train(x[::4], n_expected=len(x))
    assert idx.ivf and idx.ntotal == 0
    for i in range(0, len(x), 5000):
        idx.add(ids[i:i + 5000], x[i:i + 5000])
    assert idx.ntotal == len(x)
    assert _recall(idx.search(q, 10), exact, 10) >= 0.95


def test_nlist_grows_with_the_catalogue():
    from segscan.index.vectors import nlist_for

    assert nlist_for(1_000_000) == 2048 and nlist_for(30_000_000) == 8192
    assert nlist_for(10) == 16 and nlist_for(10**12) == 65536
