"""How the store keeps region vectors: float16 or int8, decoded the same way for every reader."""
import numpy as np
import pytest

from segscan.errors import StoreError
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
