"""A trained IVF kept as segments answers as one IVF over the same vectors, and a database
rewrites only the segments an ingest or a removal changed."""
import os

import numpy as np

from segscan.index.indexfile import INDEX_FILE, index_files, segment_file
from segscan.index.segments import IVFSegments
from segscan.index.store import Database
from segscan.index.vectors import make_index
from segscan.types import VideoFeatures

from conftest import seeded_vectors
from test_shards import CFG, D, _assert_same_rows, _videos

PARAMS = {"train_size": 200, "nprobe": 8, "segment_vectors": 130}


def _feats(seed, n=30):
    return VideoFeatures(times=np.arange(n, dtype=float), global_feats=seeded_vectors(n, D, seed), duration=float(n))


def _trained_empty():
    idx = make_index("ivf", D, nlist=16)
    idx.train(seeded_vectors(2000, D, seed=1000))
    return idx.segs.parts[0]


def test_segments_answer_as_one_ivf_over_the_same_vectors():
    import faiss

    trained = _trained_empty()
    one = IVFSegments(faiss.clone_index(trained), segment_vectors=0)
    seg = IVFSegments(faiss.clone_index(trained), segment_vectors=150)
    for _, ids, x in _videos():
        one.add(ids, x)
        seg.add(ids, x)
    # 23 videos of 40 vectors: a new segment once one holds 150 or more, a video never split
    assert len(one.parts) == 1 and [int(p.ntotal) for p in seg.parts] == [160] * 5 + [120]
    assert seg.videos[0] == {0, 1, 2, 3} and set().union(*seg.videos) == set(range(23))
    q = seeded_vectors(50, D, seed=99)
    for nprobe in (1, 4, 16):
        s1, i1 = one.search(q, 30, nprobe)
        s2, i2 = seg.search(q, 30, nprobe)
        _assert_same_rows(zip(s2, i2), zip(s1, i1))
    seg.dirty.clear()
    seg.remove_videos([5, 21])  # in segments 1 and 5
    one.remove_videos([5, 21])
    assert seg.dirty == {1, 5} and 5 not in seg.videos[1]
    _assert_same_rows(zip(*seg.search(q, 30, 4)), zip(*one.search(q, 30, 4)))


def test_a_segmented_index_round_trips_through_bytes():
    idx = make_index("ivf", D, **PARAMS)
    for v, ids, x in _videos(n=12, per=30):
        idx.add(ids, x)
    assert idx.ivf and idx.files > 1
    again = make_index("ivf", D, **PARAMS)
    again.load_bytes(idx.to_bytes())
    assert again.files == idx.files and again.segs.videos == idx.segs.videos
    q = seeded_vectors(20, D, seed=7)
    _assert_same_rows(again.search(q, 10), idx.search(q, 10))


def _stamps(root):
    return {p.name: os.stat(p).st_mtime_ns for p in index_files(root)}


def test_database_rewrites_only_the_segments_it_changed(tmp_path):
    root = tmp_path / "db"
    with Database.open(root, feature_config=CFG, index_kind="ivf", index_params=PARAMS) as db:
        for i in range(12):  # videos of 30 vectors: 5, 5 and 2 in the three segments
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
        assert db.index.ivf and db.index.files == 3
    first = _stamps(root)
    assert set(first) == {INDEX_FILE, "index-seg1.bin", "index-seg2.bin"}
    q = _feats(2).global_feats[:5]
    with Database.open(root, feature_config=CFG) as db:
        assert db.index.files == 3 and db.index.ntotal == 360 and not db.index.dirty
        before = db.search(q, 5)
        db.add_video("/v12.mp4", f"{12:064x}", {"duration": 30}, _feats(12))  # into the newest segment
    second = _stamps(root)
    assert {n for n in second if second[n] != first.get(n)} == {"index-seg2.bin"}
    with Database.open(root, feature_config=CFG) as db:
        assert db.index.ntotal == 390 and db._covered == set(range(13))
        for (s1, n1, k1), (s2, n2, k2) in zip(db.search(q, 5), before):
            np.testing.assert_array_equal(n1, n2)
            np.testing.assert_array_equal(k1, k2)
        assert db.remove_video(db._num_to_id[2])  # video 2 lies in the first segment
    third = _stamps(root)
    assert {n for n in third if third[n] != second[n]} == {INDEX_FILE}
    with Database.open(root, feature_config=CFG) as db:
        assert db.index.ntotal == 360 and 2 not in db._covered
        assert all(n != 2 for _, nums, _ in db.search(q, 5) for n in nums)


def test_a_segment_file_of_another_training_is_passed_over_and_its_videos_added_again(tmp_path):
    """A crash between the files of a retrained index leaves a segment of the old training:
    it is not mixed in; the store fills the index again."""
    root = tmp_path / "db"
    with Database.open(root, feature_config=CFG, index_kind="ivf", index_params=PARAMS) as db:
        for i in range(12):
            db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 30}, _feats(i))
    old = segment_file(root, 2).read_bytes()
    with Database.open(root, feature_config=CFG) as db:
        db.rebuild_index()  # a new training
        token = db.index.segs.token
    segment_file(root, 2).write_bytes(old)
    with Database.open(root, feature_config=CFG, readonly=True) as db:
        assert db.index.segs.token == token
        assert db.index.ntotal == 360 and db._covered == set(range(12))
        for k, (s, nums, kf) in enumerate(db.search(_feats(7).global_feats[:5], 5)):
            assert nums[0] == 7 and kf[0] == k
