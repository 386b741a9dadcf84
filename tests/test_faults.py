"""Fault injection: an ingest killed with SIGKILL at random points loses, duplicates and
half-writes nothing; the rerun completes the catalogue with an index equal to one rebuilt
from the store. Slow (about 3 minutes): ``make test-slow``."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from segscan.index.store import Database
from segscan.services.reaper import descendants

ROOT = Path(__file__).resolve().parents[1]


def _ingest_cmd(folder, db):
    return [sys.executable, str(ROOT / "ingest.py"), str(folder), "--db", str(db), "--workers", "0",
            "--flush-every", "1", "-q", "--threads", "1"]


def _check_consistent(db_dir, names):
    """Store and index agree; no video twice; every stored video whole."""
    from segscan.pipeline.extract import EncoderConfig, feature_config

    # a writer with the ingest's configuration: brings the index in step with the store, as a rerun does
    with Database.open(db_dir, feature_config=feature_config(EncoderConfig())) as db:
        recs = list(db.videos())
        paths = [r.path for r in recs]
        assert len(paths) == len(set(paths)), "a video stored twice"
        assert {Path(p).name for p in paths} <= names
        for r in recs:
            f = db.features_by_num(r.num)
            assert len(f) == r.n_keyframes and len(f.times) == len(r.times)
        live = sum(r.n_keyframes for r in recs)
        assert db.index.ntotal == live
        probe = np.concatenate([db.features_by_num(r.num).global_feats[:2] for r in recs]) if recs else None
        got = db.search(probe, 8) if probe is not None else []
        db.rebuild_index()
        again = db.search(probe, 8) if probe is not None else []
        for (s1, n1, k1), (s2, n2, k2) in zip(got, again):
            assert n1.tolist() == n2.tolist() and k1.tolist() == k2.tolist()
        return len(recs)


@pytest.mark.slow
def test_kill_at_20_random_points_then_rerun(corpus, tmp_path):
    from segscan.demo import photo
    from segscan.synth import pan_frames, write_video

    folder = tmp_path / "videos"
    folder.mkdir()
    names = set()
    for i, name in enumerate(["astronaut", "coffee", "rocket", "hubble_deep_field", "gravel", "chelsea"]):
        write_video(list(pan_frames(photo(name), 4.0, 25.0, (320, 240), seed=i)), folder / f"v{i}.mp4", 25.0,
                    threads=1)
        names.add(f"v{i}.mp4")
    db = tmp_path / "db"
    t0 = time.time()
    subprocess.run(_ingest_cmd(folder, tmp_path / "timing-db"), check=True, capture_output=True)
    full = time.time() - t0
    rng = np.random.default_rng(0)
    counts = []
    for k in range(20):
        delay = float(rng.uniform(0.2, full))
        proc = subprocess.Popen(_ingest_cmd(folder, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if (db / "store.lmdb").exists():
            counts.append(_check_consistent(db, names))
            if counts[-1] == len(names):  # it finished before the kill: start the next one afresh
                shutil.rmtree(db)
    r = subprocess.run(_ingest_cmd(folder, db), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _check_consistent(db, names) == len(names)
    assert not list(db.glob("*.tmp")), "a temporary file left behind"
    assert any(0 < c < len(names) for c in counts), f"no kill landed mid-ingest: {counts}"


def _alive(pid: int) -> bool:
    try:
        return b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_the_reaper_ends_what_a_killed_process_had_started():
    """A parent starts the reaper and a long child, then is killed: the child goes too."""
    code = ("import subprocess, sys, time; from segscan.services.ray_pool import _reap_when_gone; "
            "_reap_when_gone(); c = subprocess.Popen(['sleep', '120']); print(c.pid, flush=True); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    child = int(parent.stdout.readline())
    time.sleep(1.5)  # the reaper has looked at the tree at least once
    assert _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and _alive(child):
        time.sleep(0.2)
    assert not _alive(child), "the killed parent's child outlived it"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_a_killed_ray_ingest_leaves_no_ray_process_behind(corpus, tmp_path):
    root, _ = corpus
    cmd = _ingest_cmd(root / "gallery", tmp_path / "db")
    cmd[cmd.index("--workers") + 1] = "1"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, tree = time.time() + 120, set()
    while time.time() < deadline and proc.poll() is None:  # until the Ray worker runs
        tree = descendants(proc.pid)
        if any(b"ray::" in Path(f"/proc/{p}/cmdline").read_bytes() for p in tree if _alive(p)):
            break
        time.sleep(0.2)
    else:
        pytest.skip("the ingest ended before its Ray worker could be seen")
    tree = descendants(proc.pid)  # the agents start with the raylet: take the tree once more
    proc.kill()
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in tree):
        time.sleep(0.5)
    left = [Path(f"/proc/{p}/cmdline").read_bytes()[:60] for p in tree if _alive(p)]
    assert not left, f"processes of the killed ingest still running: {left}"


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


def test_a_full_disk_is_one_line_and_the_rerun_completes(corpus, tmp_path, capsys):
    import ingest

    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "140k"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        root, _ = corpus
        db = mnt / "db"
        gallery = str(root / "gallery")
        assert ingest.main([gallery, "--db", str(db), "--workers", "0", "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "out of disk space" in err[0], err
        assert not list(db.glob("*.tmp")), "a partial index file left behind"
        subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
        assert ingest.main([gallery, "--db", str(db), "--workers", "0", "-q"]) == 0
        assert _check_consistent(db, {p.name for p in (root / "gallery").iterdir()}) == 4
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)  # lazy: never left mounted


def test_a_database_on_a_read_only_filesystem_can_be_queried(corpus, encoder, tmp_path, capsys):
    import ingest
    import query

    mnt = tmp_path / "ro"
    if not _mount_tmpfs(mnt, "8m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    try:
        root, _ = corpus
        assert ingest.main([str(root / "gallery"), "--db", str(mnt / "db"), "--workers", "0", "-q"]) == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        out = tmp_path / "r.json"
        assert query.main([str(root / "query.mp4"), "--db", str(mnt / "db"), "--json", str(out), "-q"]) == 0
        assert json.loads(out.read_text())["results"][0]["path"].endswith("coffee.mp4")
        capsys.readouterr()
        assert ingest.main([str(root / "gallery"), "--db", str(mnt / "db"), "--workers", "0", "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)  # lazy: never left mounted
