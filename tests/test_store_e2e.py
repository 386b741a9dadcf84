"""Store behaviour and the whole ingest -> query path on generated clips."""
import csv
import json
import shutil

import numpy as np
import pytest

from segscan.errors import StoreError
from segscan.index.store import Database
from segscan.pipeline.ingest import ingest
from segscan.query import QueryConfig, query_video
from segscan.types import VideoFeatures

from conftest import seeded_vectors


def _feats(n, d=32, seed=0):
    return VideoFeatures(times=np.arange(n, dtype=float), global_feats=seeded_vectors(n, d, seed), duration=n)


CFG = {"backbone": "test", "layers": 3, "dim": 32, "whitening": "", "input_size": 224}


def _fill(db, n):
    for i in range(n):
        db.add_video(f"/v{i}.mp4", f"{i:064x}", {"duration": 20}, _feats(20, seed=i))


def _assert_same(before, after, scores=True):
    for (s1, n1, k1), (s2, n2, k2) in zip(before, after):
        np.testing.assert_array_equal(n1, n2)
        np.testing.assert_array_equal(k1, k2)
        if scores:
            np.testing.assert_allclose(s1, s2, rtol=1e-6)


def test_reopen_gives_identical_results(tmp_path):
    q = seeded_vectors(5, 32, seed=9)
    with Database.open(tmp_path / "db", feature_config=CFG) as db:
        _fill(db, 4)
        before = db.search(q, 10)
    with Database.open(tmp_path / "db", readonly=True) as db:
        after = db.search(q, 10)
        assert len(db) == 4
    _assert_same(before, after)


def test_lost_index_is_rebuilt_from_store(tmp_path):
    q = seeded_vectors(5, 32, seed=9)
    with Database.open(tmp_path / "db", feature_config=CFG) as db:
        _fill(db, 3)
        before = db.search(q, 5)
    (tmp_path / "db" / "index.bin").unlink()  # as if the process died before saving it
    with Database.open(tmp_path / "db", feature_config=CFG) as db:
        after = db.search(q, 5)
    _assert_same(before, after)


def test_remove_and_add_later(tmp_path):
    with Database.open(tmp_path / "db", feature_config=CFG, index_kind="hnswlib") as db:
        recs = [db.add_video(f"/v{i}.mp4", f"{i:064x}", {}, _feats(10, seed=i)) for i in range(3)]
        assert db.remove_video(recs[1].video_id)
    with Database.open(tmp_path / "db", feature_config=CFG) as db:
        assert len(db) == 2
        for _, nums, _ in db.search(seeded_vectors(3, 32, seed=1), 30):
            assert recs[1].num not in set(nums.tolist())
        db.add_video("/v9.mp4", "9" * 64, {}, _feats(10, seed=9))
        assert len(db) == 3 and db.index.ntotal == 30


def test_other_feature_config_refused(tmp_path):
    with Database.open(tmp_path / "db", feature_config=CFG) as db:
        db.add_video("/v.mp4", "a" * 64, {}, _feats(5))
    with pytest.raises(StoreError, match="features"):
        Database.open(tmp_path / "db", feature_config={**CFG, "backbone": "other"})


def test_one_writer_at_a_time(tmp_path):
    with Database.open(tmp_path / "db", feature_config=CFG):
        with pytest.raises(StoreError, match="another process"):
            Database.open(tmp_path / "db", feature_config=CFG)


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no segscan database"):
        Database.open(tmp_path / "nothing", readonly=True)


def _assert_found(res, truth, tol=1.0):
    assert res.matches, "nothing found"
    top = res.matches[0]
    assert top.path.endswith(truth["reference"]), [m.path for m in res.matches]
    best = max(top.segments, key=lambda s: s.q_end - s.q_start)
    exp = truth["segment"]
    got = [best.q_start, best.q_end, best.r_start, best.r_end]
    assert np.allclose(got, exp, atol=tol), f"segment {got} vs truth {exp}"


def test_end_to_end_copy_found_at_rank_one(corpus, encoder, tmp_path):
    root, truth = corpus
    db_dir = tmp_path / "db"
    s = ingest([str(root / "gallery")], str(db_dir), encoder.config, workers=0, progress=False)
    assert len(s.added) == 4 and not s.failed
    with Database.open(db_dir, readonly=True, feature_config=encoder.feature_config()) as db:
        res = query_video(db, encoder, str(root / "query.mp4"), QueryConfig())
        tn = query_video(db, encoder, str(root / "query.mp4"), QueryConfig(aligner="tn"))
        sparse = query_video(db, encoder, str(root / "query.mp4"),
                             QueryConfig(aligner="tn", map_mode="sparse", min_score=0.25, threshold=0.25,
                                         aligner_params={"min_sim": 0.2, "length_weight": 0.0}))
    _assert_found(res, truth)  # the default: SPD on region maps
    _assert_found(tn, truth)  # TN on region maps
    _assert_found(sparse, truth)  # TN on index neighbours only
    assert res.matches[0].copy and tn.matches[0].copy and sparse.matches[0].copy
    js = res.to_json()
    assert set(js) >= {"query", "duration", "results"}
    assert set(js["results"][0]) >= {"video_id", "path", "score", "segments", "copy"}
    assert set(js["results"][0]["segments"][0]) >= {"query_start", "query_end", "ref_start", "ref_end", "score"}
    # a second ingest of the same folder skips everything by content hash
    s2 = ingest([str(root / "gallery")], str(db_dir), encoder.config, workers=0, progress=False)
    assert len(s2.skipped) == 4 and not s2.added


def test_bad_inputs_are_recorded_and_store_stays_intact(corpus, encoder, tmp_path):
    root, truth = corpus
    db_dir = tmp_path / "db"
    ingest([str(root / "gallery" / "coffee.mp4")], str(db_dir), encoder.config, workers=0, progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "text.mp4").write_text("not a video\n" * 50)
    raw = (root / "gallery" / "rocket.mp4").read_bytes()
    (bad / "half.mp4").write_bytes(raw[: len(raw) // 3])  # mp4 without its tail: index lost
    with Database.open(db_dir, readonly=True) as db:
        before = db.search(seeded_vectors(3, db.dim, seed=4), 10)
    s = ingest([str(bad), str(tmp_path / "missing.mp4")], str(db_dir), encoder.config, workers=0, progress=False)
    reasons = dict(s.failed)
    assert str(tmp_path / "missing.mp4") in reasons
    assert any("empty" in r for r in reasons.values())
    assert len(s.failed) + len(s.added) + len(s.skipped) == 4
    with Database.open(db_dir, readonly=True) as db:
        after = db.search(seeded_vectors(3, db.dim, seed=4), 10)
        manifest = {m["path"]: m for m in db.manifest()}
        assert manifest[str((bad / "empty.mp4").resolve())]["status"] == "failed"
        assert len(db) == 1 + len(s.added)
    if not s.added:  # nothing new was readable: the search results must be exactly as before
        _assert_same(before, after)


def test_ingest_through_ray(corpus, encoder, tmp_path):
    pytest.importorskip("ray")
    import ray

    root, truth = corpus
    try:
        s = ingest([str(root / "gallery")], str(tmp_path / "db"), encoder.config, workers=1, progress=False)
    finally:
        ray.shutdown()
    assert len(s.added) == 4 and not s.failed
    with Database.open(tmp_path / "db", readonly=True) as db:
        res = query_video(db, encoder, str(root / "query.mp4"), QueryConfig())
    _assert_found(res, truth)


def test_cli_query_json_and_errors(corpus, encoder, tmp_path, capsys):
    import ingest as ingest_cli
    import query as query_cli

    root, truth = corpus
    db = str(tmp_path / "db")
    assert ingest_cli.main([str(root / "gallery"), "--db", db, "--workers", "0", "-q"]) == 0
    out = tmp_path / "r.json"
    assert query_cli.main([str(root / "query.mp4"), "--db", db, "--json", str(out), "-q"]) == 0
    js = json.loads(out.read_text())
    assert js["results"][0]["path"].endswith(truth["reference"])
    assert "<->" in capsys.readouterr().out
    assert query_cli.main([str(tmp_path / "nope.mp4"), "--db", db]) == 2
    assert query_cli.main([str(root / "query.mp4"), "--db", str(tmp_path / "nodb")]) == 2
    with pytest.raises(SystemExit):
        query_cli.main([str(root / "query.mp4"), "--topk", "0"])
    # batch: a folder of uploads with one broken file gives a report row per segment and per failure
    up = tmp_path / "uploads"
    up.mkdir()
    (up / "a.mp4").write_bytes((root / "query.mp4").read_bytes())
    (up / "broken.mp4").write_text("not a video")
    rep = tmp_path / "report.csv"
    assert query_cli.main([str(up), "--db", db, "--report", str(rep), "--json", str(out), "-q"]) == 1
    rows = list(csv.DictReader(open(rep)))
    assert any(r["reference"].endswith(truth["reference"]) and r["rank"] == "1" and r["copy"] == "1" for r in rows)
    # bad --aligner-param values are refused before anything runs
    with pytest.raises(SystemExit):
        query_cli.main([str(root / "query.mp4"), "--db", db, "--aligner-param", "no_such=1"])
    with pytest.raises(SystemExit):
        query_cli.main([str(root / "query.mp4"), "--db", db, "--aligner-param", "min_sim"])
    assert any(r["query"].endswith("broken.mp4") and r["error"] for r in rows)
    assert isinstance(json.loads(out.read_text()), list)


def test_a_half_second_clip_is_stored_with_two_keyframes_and_found(corpus, encoder, tmp_path):
    from segscan.demo import photo
    from segscan.synth import pan_frames, write_video

    root, _ = corpus
    gallery = tmp_path / "g"
    gallery.mkdir()
    shutil.copy(root / "gallery" / "rocket.mp4", gallery)
    short = gallery / "short.mp4"
    write_video(list(pan_frames(photo("astronaut"), 0.5, 25.0, (320, 240), seed=7)), short, 25.0, threads=1)
    ingest([str(gallery)], str(tmp_path / "db"), encoder.config, workers=0, progress=False)
    with Database.open(tmp_path / "db", readonly=True, feature_config=encoder.feature_config()) as db:
        rec = next(r for r in db.videos() if r.path.endswith("short.mp4"))
        assert rec.n_keyframes == 2
        res = query_video(db, encoder, str(short), QueryConfig())
    assert res.matches and res.matches[0].path.endswith("short.mp4") and res.matches[0].copy
    for seg in res.matches[0].segments:  # the segment stays inside both half-second videos
        assert seg.q_end <= res.duration + 1e-6 and seg.r_end <= rec.duration + 1e-6


def test_a_cut_off_upload_is_stored_as_partial_with_its_decoded_span(corpus, encoder, tmp_path):
    from conftest import faststart

    root, _ = corpus
    faststart(root / "gallery" / "coffee.mp4", tmp_path / "fs.mp4")
    data = (tmp_path / "fs.mp4").read_bytes()
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "cut.mp4").write_bytes(data[: int(len(data) * 0.3)])
    s = ingest([str(tmp_path / "g")], str(tmp_path / "db"), encoder.config, workers=0, progress=False)
    assert len(s.added) == 1 and len(s.partial) == 1 and "truncated" in s.partial[0][1]
    assert any("partly decoded" in line and "truncated" in line for line in s.lines())
    with Database.open(tmp_path / "db", readonly=True, feature_config=encoder.feature_config()) as db:
        rec = next(iter(db.videos()))
        manifest = db.manifest()
    assert rec.decoded_span and rec.decoded_span[1] < 5.0 and rec.duration < 5.0  # not the container's 10 s
    assert rec.warnings and "truncated" in rec.warnings[0]
    entry = next(e for e in manifest if e["path"].endswith("cut.mp4"))
    assert entry["status"] == "partial" and entry["decoded_span"] == rec.decoded_span
