"""Every failure of the command-line tools is one line and a documented exit code (README)."""
import os
import shutil

import pytest

import ingest
import query


@pytest.fixture(scope="module")
def small_db(corpus, tmp_path_factory):
    root, _ = corpus
    db = tmp_path_factory.mktemp("cli") / "db"
    assert ingest.main([str(root / "gallery" / "rocket.mp4"), "--db", str(db), "--workers", "0", "-q"]) == 0
    return db


def _one_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("cli,argv", [
    (ingest, ["x.mp4", "--keyframe-fps", "0"]),
    (ingest, ["x.mp4", "--keyframe-fps", "abc"]),
    (ingest, ["x.mp4", "--workers", "-3"]),
    (ingest, ["x.mp4", "--flush-every", "0"]),
    (ingest, ["x.mp4", "--index", "nope"]),
    (query, ["x.mp4", "--topk", "0"]),
    (query, ["x.mp4", "--views", "zoom"]),
    (query, ["x.mp4", "--region-bg-quantile", "2"]),
    (query, ["x.mp4", "--aligner-param", "novalue"]),
])
def test_bad_arguments_exit_2(cli, argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert "error:" in _one_line(capsys)


def test_db_naming_a_file_is_one_line(corpus, tmp_path, capsys):
    root, _ = corpus
    f = tmp_path / "file"
    f.write_text("x")
    assert ingest.main([str(root / "gallery" / "rocket.mp4"), "--db", str(f), "--workers", "0", "-q"]) == 2
    assert "is a file" in _one_line(capsys)
    assert query.main([str(root / "query.mp4"), "--db", str(f), "-q"]) == 2
    assert "error:" in _one_line(capsys)


def test_another_index_kind_on_an_existing_database_is_refused(corpus, small_db, capsys):
    root, _ = corpus
    assert ingest.main([str(root / "gallery" / "coffee.mp4"), "--db", str(small_db), "--index", "hnsw",
                        "--workers", "0", "-q"]) == 2
    assert "auto index, not hnsw" in _one_line(capsys)


def test_a_failed_query_leaves_no_stale_output(corpus, small_db, tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text('{"old": true}')
    assert query.main([str(tmp_path / "missing.mp4"), "--db", str(small_db), "--json", str(out), "-q"]) == 2
    assert not out.exists() and not (tmp_path / "r.json.tmp").exists()
    assert "no such file" in _one_line(capsys)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_json_into_a_read_only_folder_is_one_line(corpus, small_db, tmp_path, capsys):
    root, _ = corpus
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code = query.main([str(root / "query.mp4"), "--db", str(small_db), "--json", str(ro / "r.json"), "-q"])
        assert code == 2
        assert "Permission denied" in _one_line(capsys)
        assert not list(ro.iterdir())
    finally:
        ro.chmod(0o755)


def test_a_read_only_database_folder_can_be_queried(corpus, small_db, tmp_path, capsys):
    root, _ = corpus
    ro = tmp_path / "rodb"
    shutil.copytree(small_db, ro)
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        assert query.main([str(root / "query.mp4"), "--db", str(ro), "-q"]) in (0, 1)
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
