"""Catalogue management from the command line: list, show, remove (a takedown), rebuild."""
import json

import ingest
import videos
from segscan.index.catalogue import find_video
from segscan.index.store import Database


def test_list_show_remove_rebuild_and_the_manifest_history(corpus, encoder, tmp_path, capsys):
    root, _ = corpus
    db = str(tmp_path / "db")
    gallery = [str(root / "gallery" / n) for n in ("rocket.mp4", "coffee.mp4")]
    assert ingest.main(gallery + ["--db", db, "--index", "hnswlib", "--workers", "0", "-q"]) == 0
    assert ingest.main(gallery + ["--db", db, "--workers", "0", "-q"]) == 0  # a rerun skips both
    capsys.readouterr()

    assert videos.main(["list", "--db", db, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["path"].rsplit("/", 1)[1] for r in rows) == ["coffee.mp4", "rocket.mp4"]
    coffee = next(r for r in rows if r["path"].endswith("coffee.mp4"))

    assert videos.main(["show", coffee["video_id"][:6], "--db", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["video_id"] == coffee["video_id"] and len(shown["times"]) == coffee["keyframes"]
    # the rerun's skip did not overwrite "ok"; it is in the history
    assert shown["manifest"]["status"] == "ok" and shown["manifest"]["history"][-1]["status"] == "skipped"

    assert videos.main(["remove", str(root / "gallery" / "coffee.mp4"), "nope", "--db", db]) == 1
    out = capsys.readouterr()
    assert "removed " + coffee["video_id"] in out.out and "no video 'nope'" in out.err
    with Database.open(db, readonly=True) as d:
        assert [r.path for r in d.videos()] == [next(r["path"] for r in rows if r["path"].endswith("rocket.mp4"))]
        entry = next(e for e in d.manifest() if e["path"].endswith("coffee.mp4"))
        assert entry["status"] == "removed"
        assert [h["status"] for h in entry["history"]] == ["ok", "skipped", "removed"]
        kept = d.index.ntotal  # hnswlib keeps removed vectors (marked deleted) until a rebuild
        live = sum(r.n_keyframes for r in d.videos())
    assert kept >= live
    assert videos.main(["rebuild", "--db", db]) == 0
    assert f"-> {live} vectors" in capsys.readouterr().out
    with Database.open(db, readonly=True) as d:
        assert d.index.ntotal == live
        res = d.search(d.features_by_num(find_video(d, gallery[0]).num).global_feats[:1], 5)
        assert all(d.video_by_num(n) is not None for n in res[0][1])  # nothing removed is found


def test_bad_catalogue_commands_exit_2(tmp_path, capsys):
    import pytest

    for argv in (["remove", "--db", str(tmp_path)], ["list", "x", "--db", str(tmp_path)],
                 ["list", "--index", "flat", "--db", str(tmp_path)]):
        with pytest.raises(SystemExit) as e:
            videos.main(argv)
        assert e.value.code == 2
    assert videos.main(["list", "--db", str(tmp_path / "none")]) == 2
    assert "no segscan database" in capsys.readouterr().err
