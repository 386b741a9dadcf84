"""Slow checks (make test-slow): a real Ray job submission, and the shared real clips."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_job_submit_ingest(corpus, tmp_path):
    """`ray job submit -- python ingest.py ...` against a head node this test starts (and stops)."""
    root, _ = corpus
    # as with an activated virtual environment: the job's `python` is this interpreter
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    ray = str(Path(sys.executable).parent / "ray")
    port, dash = _free_port(), _free_port()
    subprocess.run([ray, "start", "--head", f"--port={port}", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={dash}", "--num-cpus=2", "--disable-usage-stats"],
                   check=True, env=env, capture_output=True, timeout=180)
    try:
        r = subprocess.run([ray, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", str(ROOT),
                            "--runtime-env-json", '{"excludes": ["bench-data", "demo", ".venv", "runs", ".git"]}',
                            "--", "python", "ingest.py", str(root / "gallery"), "--db", str(tmp_path / "db"), "-q"],
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "added 4" in r.stdout
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_real_clips_ingest_and_self_query(shared_media, encoder, tmp_path):
    """Every shared clip ingests; three of them, queried as they are, come back first."""
    from segscan.index.store import Database
    from segscan.pipeline.ingest import ingest
    from segscan.query import QueryConfig, query_video

    s = ingest([str(shared_media)], str(tmp_path / "db"), encoder.config, workers=0, progress=False)
    assert not s.failed, s.failed
    clips = sorted(shared_media.glob("*.mp4"))
    with Database.open(tmp_path / "db", readonly=True) as db:
        for clip in clips[:: max(1, len(clips) // 3)][:3]:
            res = query_video(db, encoder, str(clip), QueryConfig())
            assert res.matches and Path(res.matches[0].path).name == clip.name
