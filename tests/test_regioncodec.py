"""How the store keeps region vectors: float16 or int8, decoded the same way for every reader."""
import numpy as np
import pytest

from segscan.errors import StoreError, WeightsNotFoundError
from segscan.index import regioncodec
from segscan.index.store import Database
from segscan.query.maps import region_similarity
from segscan.types import VideoFeatures

from conftest import seeded_vectors

CFG = {"backbone": "test", "layers": 3, "dim": 64, "whitening": "", "input_size": 224}


def _feats(n, seed):
    g = seeded_vectors(n, 64, seed)
    r = seeded_vectors(n * 9, 64, seed + 100).reshape(n, 9, 64)
    return VideoFeatures(times=np.arange(n, dtype=float), global_feats=g, region_feats=r.astype(np.float16),
                         duration=float(n))


def test_int8_keeps_every_component_within_half_a_step():
    r = seeded_vectors(900, 64, seed=3).reshape(100, 9, 64)
    r[0, 0] = 0.0  # an all-zero vector (a flat region) survives
    back = regioncodec.decode(regioncodec.encode(r, "int8")).astype(np.float32)
    step = np.abs(r).max(-1, keepdims=True) / 127
    assert np.all(np.abs(back - r) <= step * 0.5 + 1e-3)
    assert np.all(back[0, 0] == 0)
    cos = (back * r).sum(-1)[1:] / np.linalg.norm(back[1:], axis=-1)
    assert cos.min() > 0.999


def test_bytes_per_keyframe():
    assert regioncodec.bytes_per_keyframe(9, 256, "float16") == 4608
    assert regioncodec.bytes_per_keyframe(9, 256, "int8") == 9 * 256 + 18
    arrays = regioncodec.encode(np.ones((5, 9, 256), np.float32), "int8")
    assert sum(a.nbytes for a in arrays.values()) == 5 * regioncodec.bytes_per_keyframe(9, 256, "int8")
    with pytest.raises(ValueError):
        regioncodec.encode(np.ones((1, 9, 4)), "int4")


def test_int8_database_stores_less_and_gives_nearly_the_same_maps(tmp_path):
    feats = [_feats(30, seed=i) for i in range(6)]
    sizes = {}
    for codec in ("float16", "int8"):
        with Database.open(tmp_path / codec, feature_config=CFG, region_codec=codec) as db:
            for i, f in enumerate(feats):
                db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, f)
            sizes[codec] = db.stats()["feature_bytes"]
    with Database.open(tmp_path / "int8", readonly=True) as db:
        assert db.region_codec == "int8" and db.stats()["region_codec"] == "int8"
        got = db.features_by_num(2)
    assert got.region_feats.dtype == np.float16 and got.region_feats.shape == (30, 9, 64)
    # the region maps the query path builds from it move by less than a hundredth
    q = feats[2]
    exact = region_similarity(VideoFeatures(q.times, q.global_feats, q.region_feats), q)
    assert np.abs(region_similarity(got, q) - exact).max() < 0.01
    assert sizes["int8"] < 0.7 * sizes["float16"]


def test_a_database_keeps_its_codec(tmp_path):
    with Database.open(tmp_path / "db", feature_config=CFG, region_codec="int8") as db:
        db.add_video("/v.mp4", "0" * 64, {"duration": 30}, _feats(30, seed=0))
    with Database.open(tmp_path / "db", feature_config=CFG) as db:  # not named: its own
        assert db.region_codec == "int8"
    with pytest.raises(StoreError, match="int8, not float16"):
        Database.open(tmp_path / "db", feature_config=CFG, region_codec="float16")
    with pytest.raises(ValueError, match="unknown region codec"):
        Database.open(tmp_path / "other", feature_config=CFG, region_codec="int3")


@pytest.fixture(scope="module")
def fitted():
    return [regioncodec.Codebook.fit(seeded_vectors(5000, 64, seed=s), 16, w, iterations=8) for s, w in ((7, CFG["whitening"]), (9, ""))]


@pytest.fixture
def codebook(tmp_path, monkeypatch, fitted):
    """A pq codebook fitted on vectors like the test features', where the store looks for it."""
    cb = fitted[0]
    path = tmp_path / "regionpq-test-L3.npz"
    cb.save(path)
    monkeypatch.setattr(regioncodec, "codebook_path", lambda backbone, layers: path)
    return cb


def test_pq_codes_decode_close_to_the_vectors(codebook):
    x = seeded_vectors(2000, 64, seed=8)  # not the vectors it was fitted on
    codes = codebook.encode(x)
    assert codes.shape == (2000, 16) and codes.dtype == np.uint8
    back = codebook.decode(codes)
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, rtol=1e-5)
    assert np.median((back * x).sum(1)) > 0.9
    # the nearest centroid per group: no other code reconstructs a group better
    sub = x.reshape(2000, 16, 4)[:50, 3]
    best = ((sub[:, None, :] - codebook.centroids[3][None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(codes[:50, 3], best)


def test_residual_stages_quantise_what_the_first_left(fitted):
    x = seeded_vectors(5000, 64, seed=7)
    two = regioncodec.Codebook.fit(x, [16, 8], CFG["whitening"], iterations=8)
    assert two.groups == 24 and len(two.stages) == 2
    np.testing.assert_array_equal(two.stages[0], fitted[0].stages[0])  # the same first stage
    y = seeded_vectors(2000, 64, seed=8)
    codes = two.encode(y)
    assert codes.shape == (2000, 24)
    np.testing.assert_array_equal(codes[:, :16], fitted[0].encode(y))
    err = [np.median(1 - (cb.decode(cb.encode(y)) * y).sum(1)) for cb in (fitted[0], two)]
    assert err[1] < 0.7 * err[0]
    arrays = regioncodec.encode(y[:90].reshape(10, 9, 64), "pq", two)
    assert sum(a.nbytes for a in arrays.values()) == 10 * regioncodec.bytes_per_keyframe(9, 64, "pq", groups=two.groups)
    with pytest.raises(ValueError, match="groups"):
        regioncodec.bytes_per_keyframe(9, 64, "pq")


def test_pq_codebook_file_keeps_every_stage(tmp_path):
    x = seeded_vectors(3000, 64, seed=3)
    cb = regioncodec.Codebook.fit(x, [16, 8], "w", iterations=4)
    cb.save(tmp_path / "c.npz")
    again = regioncodec.Codebook.load(tmp_path / "c.npz")
    assert again.digest == cb.digest and again.groups == 24
    np.testing.assert_array_equal(again.encode(x[:100]), cb.encode(x[:100]))


def test_pq_database_keeps_its_codebook(tmp_path, codebook, fitted):
    f = _feats(30, seed=1)
    with Database.open(tmp_path / "db", feature_config=CFG, region_codec="pq") as db:
        db.add_video("/v.mp4", "0" * 64, {"duration": 30}, f)
        assert db.meta["region_codebook"] == codebook.digest
    with Database.open(tmp_path / "db", readonly=True) as db:
        got = db.features_by_num(0).region_feats.astype(np.float32)
    assert got.shape == (30, 9, 64)
    assert np.median((got * f.region_feats.astype(np.float32)).sum(-1)) > 0.9
    # another codebook in its place: the stored codes would decode to other vectors, so refused
    other = regioncodec.Codebook(fitted[1].centroids, CFG["whitening"])
    other.save(regioncodec.codebook_path("test", 3))
    with pytest.raises(WeightsNotFoundError, match="encoded with codebook"):
        Database.open(tmp_path / "db", readonly=True)


def test_pq_without_a_codebook_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(regioncodec, "codebook_path", lambda backbone, layers: tmp_path / "none.npz")
    with pytest.raises(WeightsNotFoundError, match="no region codebook"):
        Database.open(tmp_path / "db", feature_config=CFG, region_codec="pq")
    assert not (tmp_path / "db").exists()
