"""A corpus of bad inputs, each answered by the CLIs with one line naming it and a
documented exit code (README, "Exit codes"), with nothing half-written in the database."""
import os
import shutil

import av
import numpy as np
import pytest

import ingest
import query
from segscan.index.store import Database


def _audio_only(path):
    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=16000)
        for i in range(20):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            for pkt in s.encode(fr):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)


def _no_frames(path):
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"


def _huge(path, side=8256):
    """One black frame above the decoder's 8192 x 8192 pixel limit (MJPEG: quick to write)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("mjpeg", rate=1)
        s.width = s.height = side
        s.pix_fmt = "yuvj420p"
        fr = av.VideoFrame.from_ndarray(np.zeros((side, side, 3), np.uint8), format="rgb24")
        for pkt in list(s.encode(fr.reformat(format="yuvj420p"))) + list(s.encode()):
            out.mux(pkt)


def _make(kind, d, corpus_root):
    """Create the bad input ``kind`` under ``d``; returns the argument to pass."""
    good = corpus_root / "gallery" / "rocket.mp4"
    p = d / f"{kind}.mp4"
    if kind == "missing":
        return str(d / "nope.mp4")
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello, not a video\n" * 20)
    elif kind == "random":
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    elif kind == "audio_only":
        _audio_only(p)
    elif kind == "no_frames":
        _no_frames(p)
    elif kind == "cut_moov":  # moov at the end, cut off: nothing can be opened
        data = good.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    elif kind == "header_only":
        p.write_bytes(good.read_bytes()[:64])
    elif kind == "broken_link":
        os.symlink(d / "gone.mp4", p)
    elif kind == "link_loop":
        os.symlink(d / "loop_b.mp4", p)
        os.symlink(p, d / "loop_b.mp4")
    elif kind == "empty_folder":
        (d / "empty_dir").mkdir()
        return str(d / "empty_dir")
    elif kind == "folder_of_text":
        (d / "docs").mkdir()
        (d / "docs" / "a.txt").write_text("x")
        return str(d / "docs")
    elif kind == "list_missing":
        (d / "list.txt").write_text("nope.mp4\n")
        return str(d / "list.txt")
    elif kind == "list_empty_folder":
        (d / "sub").mkdir()
        (d / "list2.txt").write_text("sub\n")
        return str(d / "list2.txt")
    elif kind == "huge_resolution":
        p = d / "huge.avi"
        _huge(p)
    elif kind == "fifo":  # opening a named pipe for reading would block the ingest
        os.mkfifo(p)
    elif kind == "zip_renamed":
        p.write_bytes(b"PK\x03\x04" + bytes(2000))
    elif kind == "list_blank":
        (d / "blank.txt").write_text("\n# nothing here\n   \n")
        return str(d / "blank.txt")
    elif kind == "directory_named_mp4":
        p.mkdir()
        (p / "readme").write_text("x")
    else:
        raise ValueError(kind)
    return str(p)


# (kind, what the one line says)
FILE_CASES = [
    ("missing", "no such file"),
    ("empty", "empty (0 bytes)"),
    ("text", "not a readable media file"),
    ("random", "not a readable media file"),
    ("audio_only", "no video stream"),
    ("no_frames", ""),
    ("cut_moov", "not a readable media file"),
    ("header_only", "not a readable media file"),
    ("broken_link", "broken symbolic link"),
    ("link_loop", "link loop"),
    ("empty_folder", "folder holds no video file"),
    ("folder_of_text", "folder holds no video file"),
    ("list_missing", "listed in"),
    ("list_empty_folder", "folder holds no video file"),
    ("directory_named_mp4", "folder holds no video file"),
    ("huge_resolution", "pixels"),
    ("fifo", "not a regular file"),
    ("zip_renamed", "not a readable media file"),
    ("list_blank", "list file names no video"),
]


@pytest.mark.parametrize("kind,says", FILE_CASES)
def test_ingest_names_each_bad_input_in_one_line_and_exits_1(kind, says, corpus, tmp_path, capsys):
    root, _ = corpus
    arg = _make(kind, tmp_path, root)
    db = tmp_path / "db"
    code = ingest.main([arg, "--db", str(db), "--workers", "0", "-q"])
    out = capsys.readouterr()
    assert code == 1, out
    assert "Traceback" not in out.out + out.err
    failed = [line for line in out.out.splitlines() if line.strip().startswith("failed:")]
    assert len(failed) == 1 and says in failed[0], failed
    with Database.open(db, readonly=True) as d:  # nothing stored, the failure recorded
        assert not list(d.videos())
        assert [e["status"] for e in d.manifest()] == ["failed"]


def test_bad_inputs_beside_a_good_one_leave_it_whole(corpus, tmp_path, capsys):
    root, _ = corpus
    args = [_make(k, tmp_path, root) for k, _ in FILE_CASES]
    db = tmp_path / "db"
    assert ingest.main(args + [str(root / "gallery" / "rocket.mp4"), "--db", str(db), "--workers", "0", "-q"]) == 1
    failed = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("failed:")]
    assert len(failed) == len(FILE_CASES)
    with Database.open(db, readonly=True) as d:
        (rec,) = d.videos()
        assert rec.path.endswith("rocket.mp4") and len(d.features_by_num(rec.num)) == rec.n_keyframes


QUERY_CASES = [("missing", "no such file"), ("empty", "empty"), ("text", "not a readable"),
               ("audio_only", "no video stream"), ("cut_moov", "not a readable"), ("broken_link", "broken symbolic")]


@pytest.mark.parametrize("kind,says", QUERY_CASES)
def test_query_names_a_bad_clip_in_one_line_and_exits_2(kind, says, corpus, tmp_path, capsys):
    root, _ = corpus
    db = tmp_path / "db"
    assert ingest.main([str(root / "gallery" / "rocket.mp4"), "--db", str(db), "--workers", "0", "-q"]) == 0
    capsys.readouterr()
    arg = _make(kind, tmp_path, root)
    assert query.main([arg, "--db", str(db), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and says in err[0], err


def test_a_database_of_other_features_is_refused_in_one_line(corpus, tmp_path, capsys):
    root, _ = corpus
    db = tmp_path / "db"
    assert ingest.main([str(root / "gallery" / "rocket.mp4"), "--db", str(db), "--workers", "0", "-q",
                        "--keyframe-fps", "2"]) == 0
    capsys.readouterr()
    assert query.main([str(root / "query.mp4"), "--db", str(db), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keyframe_fps: 2.0 (database) vs 1.0 (this command)" in err[0], err
    shutil.rmtree(db)
