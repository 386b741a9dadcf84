"""The CLI and the benchmark go through one query path: the same clip gives the same JSON."""
import json
import shutil

import pytest

from segscan.index.store import Database
from segscan.pipeline.ingest import ingest


@pytest.fixture(scope="module")
def gallery_db(corpus, encoder, tmp_path_factory):
    root, _ = corpus
    db_dir = tmp_path_factory.mktemp("qp") / "db"
    s = ingest([str(root / "gallery")], str(db_dir), encoder.config, workers=0, progress=False)
    assert len(s.added) == 4
    return db_dir


@pytest.mark.parametrize("aligner", ["spd", "tn"])
def test_query_py_and_the_benchmark_give_identical_results(corpus, encoder, gallery_db, tmp_path, aligner):
    import query
    from segscan.align import make_aligner
    from segscan.bench.scoring import query_results
    from segscan.bench.splits import Split, encode_queries, method_settings, query_settings

    root, _ = corpus
    out = tmp_path / "cli.json"
    assert query.main([str(root / "query.mp4"), "--db", str(gallery_db), "--aligner", aligner,
                       "--json", str(out), "-q"]) == 0
    cli = json.loads(out.read_text())
    assert cli["results"], "the copy is found"

    bench = tmp_path / "bench"
    (bench / "queries" / "test").mkdir(parents=True)
    shutil.copy(root / "query.mp4", bench / "queries" / "test" / "q1.mp4")
    al = make_aligner(aligner)
    maps = query_settings()
    with Database.open(gallery_db, readonly=True, feature_config=encoder.feature_config()) as db:
        for cached in (False, True):  # features made afresh, then read back from the benchmark's cache
            split = Split(queries=encode_queries(bench, "test", encoder, db, maps, bench / "features", False))
            res, _ = query_results(split, al, method_settings(maps, al))
            got = res["q1"].to_json()
            assert got["results"] == cli["results"], f"cached features: {cached}"
            assert got["duration"] == cli["duration"]


def test_a_copy_in_a_corner_is_found_through_the_quarter_views(corpus, encoder, gallery_db, tmp_path):
    """Picture-in-picture: the copy fills a corner of other footage; the quarter views find it."""
    from segscan.demo import photo
    from segscan.query import QueryConfig, query_video
    from segscan.synth import pan_frames, picture_in_picture, write_video

    coffee = list(pan_frames(photo("coffee"), 10.0, 25.0, (320, 240), seed=1))  # the gallery's coffee.mp4
    bg = list(pan_frames(photo("gravel"), 6.0, 25.0, (320, 240), seed=50))
    body = [picture_in_picture(f, bg[k], 0.5, corner=1) for k, f in enumerate(coffee[50:200])]
    clip = tmp_path / "pip.mp4"
    write_video(body, clip, 25.0, crf=26, threads=1)
    with Database.open(gallery_db, readonly=True, feature_config=encoder.feature_config()) as db:
        res = query_video(db, encoder, str(clip), QueryConfig(views=("flip", "quarters")))
        whole = query_video(db, encoder, str(clip), QueryConfig(views=("flip",)))
    assert res.matches and res.matches[0].path.endswith("coffee.mp4"), [m.path for m in res.matches]
    assert res.matches[0].copy, res.matches[0].score
    # the whole frame alone scores the copy lower (on this clip, below the copy threshold)
    assert not whole.matches or whole.matches[0].score < res.matches[0].score
    seg = max(res.matches[0].segments, key=lambda s: s.q_end - s.q_start)
    assert abs(seg.r_start - (seg.q_start + 2.0)) < 1.0 and seg.q_end - seg.q_start >= 3.0, seg


def test_a_comparator_scores_every_candidate_and_orders_the_matches(corpus, encoder, gallery_db, monkeypatch):
    """With a comparator set, each candidate carries its similarity and the matches are ranked by
    it; segments and copy decisions stay the aligner's, each segment's confidence is its score
    weighed by the similarity."""
    from dataclasses import replace

    import numpy as np

    import segscan.compare
    from segscan.align import make_aligner
    from segscan.query import QueryConfig, resolve
    from segscan.query.maps import build_maps
    from segscan.query.rank import rank
    from segscan.pipeline.views import pick

    class Reversed:  # scores the shortlist in the reverse of the index's order
        def compare(self, queries, refs):
            assert len(queries) == 1 + 5  # the query and its views: flip, four quarters
            return np.arange(len(refs), dtype=np.float32), [None] * len(refs)

    root, _ = corpus
    monkeypatch.setattr(segscan.compare, "get_comparator", lambda name, backbone: Reversed())
    cfg = QueryConfig(comparator="visil")
    al = make_aligner(cfg.aligner)
    s = resolve(cfg, al)
    enc = encoder(str(root / "query.mp4"), views=cfg.views)
    with Database.open(gallery_db, readonly=True, feature_config=encoder.feature_config()) as db:
        cands = build_maps(db, enc.features, s, pick(enc.views, cfg.views))
    assert len(cands) == 4 and [c.similarity for c in cands] == [0.0, 1.0, 2.0, 3.0]
    plain = rank([replace(c, similarity=None) for c in cands], al, s)
    # the copy's map given to every candidate, so each is listed and the order shows
    same = [replace(c, map=cands[0].map, dense=cands[0].dense, ref_global=cands[0].ref_global) for c in cands]
    ranked = rank(same, al, replace(s, config=replace(cfg, exclusive_refs=False)))
    assert len(ranked) == 4 and [m.similarity for m in ranked] == [3.0, 2.0, 1.0, 0.0]
    assert all("similarity" in m.to_json() for m in ranked) and all("similarity" not in m.to_json() for m in plain)
    first = next(m for m in plain if m.video_id == cands[0].video_id)
    for m in ranked:  # every candidate carries the copy's map: the same segments as the copy's
        got = [x.to_json() for x in m.segments]
        assert [x.pop("confidence") for x in got] == [round(x.score * m.similarity, 4) for x in first.segments]
        assert got == [x.to_json() for x in first.segments] and m.copy == first.copy
    assert all(x.confidence is None for m in plain for x in m.segments)


def test_query_py_ranks_by_the_shipped_comparator(corpus, gallery_db, tmp_path):
    import query

    root, truth = corpus
    out = tmp_path / "visil.json"
    assert query.main([str(root / "query.mp4"), "--db", str(gallery_db), "--comparator", "visil",
                       "--json", str(out), "-q"]) == 0
    res = json.loads(out.read_text())["results"]
    assert res and all("similarity" in r for r in res)
    assert res[0]["path"].endswith(truth["reference"])
    sims = [r["similarity"] for r in res]
    assert sims == sorted(sims, reverse=True)
