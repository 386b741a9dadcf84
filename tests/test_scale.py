"""The scale benchmark's own pieces: exact search over a distractor file in blocks, and the
file made once and extended."""
import numpy as np

from segscan.bench.distractors import KEYFRAMES_PER_VIDEO, distractor_ids, synth_videos
from segscan.bench.scale import VectorFile, distractor_file, exact_top


def test_exact_top_in_blocks_equals_one_brute_force_search(tmp_path):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(7, 16)).astype(np.float32)
    gallery, gallery_ids = rng.normal(size=(50, 16)).astype(np.float32), np.arange(50) + 10**9
    vecs = rng.normal(size=(1234, 16)).astype(np.float16)
    vecs.tofile(tmp_path / "v.f16")
    got = exact_top(q, gallery, gallery_ids, VectorFile(tmp_path / "v.f16", len(vecs), 16), k=10, block=100)
    every = np.concatenate([gallery, vecs.astype(np.float32)])
    ids = np.concatenate([gallery_ids, distractor_ids(0, len(vecs))])
    want = ids[np.argsort(-(q @ every.T), 1)[:, :10]]
    assert [set(a) for a in got] == [set(b) for b in want]


def test_distractor_file_is_extended_not_remade(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(12, 9, 8)).astype(np.float32)
    base /= np.linalg.norm(base, axis=-1, keepdims=True)
    n1, n2 = 2 * KEYFRAMES_PER_VIDEO + 5, 4 * KEYFRAMES_PER_VIDEO + 11  # both end inside a video
    small = distractor_file(tmp_path / "d.f16", base, n1, seed=2).read(0, n1)
    big = distractor_file(tmp_path / "d.f16", base, n2, seed=2)
    np.testing.assert_array_equal(big.read(0, n1), small)
    np.testing.assert_allclose(big.read(0, n2), synth_videos(base, n2, seed=2, progress=False), atol=2e-3)
    np.testing.assert_array_equal(big.every(7), big.read(0, n2)[::7])
    # a run cut off after a block resumes from what its record says was written
    meta = tmp_path / "d.json"
    meta.write_text(meta.read_text().replace(f'"n": {n2}', f'"n": {n1}'))
    with open(tmp_path / "d.f16", "r+b") as f:
        f.truncate((n1 + 3) * 8 * 2)  # and a part of a block past it
    again = distractor_file(tmp_path / "d.f16", base, n2, seed=2)
    np.testing.assert_array_equal(again.read(0, n2), big.read(0, n2))


def test_ingest_save_rewrites_one_segment_of_a_segmented_index(tmp_path):
    from segscan.bench.scale import ingest_save
    from segscan.index.ids import make_ids
    from segscan.index.vectors import make_index

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2400, 16)).astype(np.float32)
    idx = make_index("ivf", 16, nlist=8, segment_vectors=500)
    idx.train(x)
    for v in range(40):
        idx.add(make_ids(v, 60), x[v * 60:(v + 1) * 60])
    got = ingest_save(idx, tmp_path, x[:60])
    assert idx.files == 5 and idx.dirty == {4}
    assert 0 < got["save_bytes"] < got["save_whole_bytes"] / 3
    assert list(tmp_path.iterdir()) == []  # the scratch folder is gone
