"""A sharded index answers as one index over the same vectors, saves shard by shard, and its
shards can be searched from Ray actors."""
import numpy as np
import pytest

from segscan.index.ids import make_ids
from segscan.index.indexfile import index_files, shard_file
from segscan.index.store import Database, StoreError
from segscan.index.vectors import make_index
from segscan.types import VideoFeatures

from conftest import seeded_vectors

D = 32
CFG = {"backbone": "test", "layers": 3, "dim": D, "whitening": "", "input_size": 224}


def _videos(n=23, per=40):
    return [(v, make_ids(v, per), seeded_vectors(per, D, seed=v)) for v in range(n)]


def _assert_same_rows(a, b):
    for (s1, i1), (s2, i2) in zip(a, b):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(s1, s2, rtol=1e-5)


@pytest.mark.parametrize("inner", ["flat", "hnswlib"])
def test_sharded_search_equals_one_index(inner):
    one, sharded = make_index("flat", D), make_index("sharded", D, shards=5, inner=inner, ef_search=400)
    for _, ids, x in _videos():
        one.add(ids, x)
        sharded.add(ids, x)
    q = seeded_vectors(50, D, seed=99)
    assert sharded.ntotal == one.ntotal == 23 * 40
    _assert_same_rows(sharded.search(q, 16), one.search(q, 16))
    # a video's vectors stay in one shard, and a removal leaves the same answers as in one index
    assert [p.ntotal for p in sharded.parts] == [40 * len(range(s, 23, 5)) for s in range(5)]
    one.remove_videos([3, 8])
    sharded.remove_videos([3, 8])
    _assert_same_rows(sharded.search(q, 16), one.search(q, 16))


def _feats(seed, n=30):
    return VideoFeatures(times=np.arange(n, dtype=float), global_feats=seeded_vectors(n, D, seed), duration=float(n))


def test_database_saves_only_the_shards_it_changed(tmp_path):
    root = tmp_path / "db"
    params = {"shards": 3, "inner": "flat"}
    with Database.open(root, feature_config=CFG, index_kind="sharded", index_params=params) as db:
        for i in range(6):
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
    assert index_files(root) == [shard_file(root, s) for s in range(3)]
    stamps = {p.name: p.stat().st_mtime_ns for p in index_files(root)}
    with Database.open(root, feature_config=CFG) as db:
        db.add_video("/v6.mp4", f"{6:064x}", {"duration": 30}, _feats(6))  # video number 6: shard 0
        db.flush()
        q = seeded_vectors(20, D, seed=50)
        before = db.search(q, 10)
    changed = {p.name for p in index_files(root) if p.stat().st_mtime_ns != stamps.get(p.name)}
    assert changed == {"index-0.bin"}
    # a lost shard file is rebuilt from the store: the same answers
    shard_file(root, 1).unlink()
    with Database.open(root, feature_config=CFG) as db:
        after = db.search(q, 10)
    for (s1, n1, k1), (s2, n2, k2) in zip(before, after):
        np.testing.assert_array_equal(n1, n2)
        np.testing.assert_array_equal(k1, k2)
    # rebuilt as one index: the shard files go
    with Database.open(root, feature_config=CFG) as db:
        db.rebuild_index("flat")
    assert [p.name for p in index_files(root)] == ["index.bin"]


def test_shards_on_ray_actors(tmp_path):
    pytest.importorskip("ray")
    from segscan.services.shard_pool import serve_shards

    root = tmp_path / "db"
    with Database.open(root, feature_config=CFG, index_kind="sharded", index_params={"shards": 2}) as db:
        for i in range(5):
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
    q = seeded_vectors(20, D, seed=51)
    import ray

    try:
        with Database.open(root, readonly=True) as db:
            local = db.search(q, 12)
            actors = serve_shards(db)
            assert len(actors) == 2
            remote = db.search(q, 12)
        for (s1, n1, k1), (s2, n2, k2) in zip(local, remote):
            np.testing.assert_array_equal(n1, n2)
            np.testing.assert_array_equal(k1, k2)
        # a driver that never loads the index: its searches need the actors, then match
        with Database.open(root, readonly=True, load_index=False) as db:
            assert db.index.ntotal == 0
            with pytest.raises(StoreError, match="without its index"):
                db.search(q, 12)
            serve_shards(db)
            served = db.search(q, 12)
        for (s1, n1, k1), (s2, n2, k2) in zip(local, served):
            np.testing.assert_array_equal(n1, n2)
            np.testing.assert_array_equal(k1, k2)
    finally:
        ray.shutdown()


def test_database_ivf_trains_once_large_enough_and_rebuilds_from_a_sample(tmp_path):
    """An IVF database ingested video by video stays flat (exact) until ``train_size`` vectors,
    then trains on all of them; it reopens as the trained index, and a rebuild trains on an
    even sample and adds the videos one by one with the same vectors in the index."""
    root = tmp_path / "db"
    params = {"train_size": 200, "nprobe": 256}
    with Database.open(root, feature_config=CFG, index_kind="ivf", index_params=params) as db:
        for i in range(5):  # 150 vectors: below train_size
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
        assert not db.index.ivf
        for i in range(5, 12):  # 360 vectors
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
        assert db.index.ivf and db.index.ntotal == 360
        db.flush()
    q = _feats(7).global_feats[:5]  # stored vectors: each finds itself first
    with Database.open(root, feature_config=CFG) as db:
        assert db.index.ivf and db.index.ntotal == 360
        for k, (s, nums, kf) in enumerate(db.search(q, 5)):
            assert nums[0] == 7 and kf[0] == k
        db.rebuild_index()
        assert db.index.ivf and db.index.ntotal == 360
        for k, (s, nums, kf) in enumerate(db.search(q, 5)):
            assert nums[0] == 7 and kf[0] == k


def test_database_retrains_an_ivf_its_catalogue_outgrew(tmp_path):
    from segscan.index.vectors import RETRAIN_GROWTH

    root = tmp_path / "db"
    with Database.open(root, feature_config=CFG, index_kind="ivf", index_params={"train_size": 60}) as db:
        for i in range(3):  # trained at 60 vectors
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
        db.flush()
        assert db.index.ivf and db.index.trained_for == 60
    with Database.open(root, feature_config=CFG) as db:  # the trained size travels with the file
        assert db.index.trained_for == 60
        for i in range(3, 2 * RETRAIN_GROWTH):
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
        assert db.index.outgrown
        db.flush()
        assert not db.index.outgrown and db.index.trained_for == db.index.ntotal == 60 * RETRAIN_GROWTH


def test_a_new_database_gets_the_auto_index(tmp_path):
    with Database.open(tmp_path / "db", feature_config=CFG) as db:
        db.add_video("/v.mp4", f"{1:064x}", {"duration": 30}, _feats(1))
        assert db.meta["index"]["kind"] == "auto" and not db.index.ivf  # small: flat and exact
