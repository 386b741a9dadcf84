"""The HTTP service in-process: every error class, path traversal, reload, and a bounded
load test on loopback."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from segscan.pipeline.ingest import ingest  # noqa: E402
from segscan.services.http import QueryService, ServiceConfig, create_app  # noqa: E402


@pytest.fixture(scope="module")
def served(corpus, encoder, tmp_path_factory):
    """A database of the corpus gallery, an allowed root with clips, and a started service."""
    root, truth = corpus
    base = tmp_path_factory.mktemp("svc")
    db = base / "db"
    ingest([str(root / "gallery" / n) for n in ("coffee.mp4", "rocket.mp4")], str(db), encoder.config,
           workers=0, progress=False)
    allowed = base / "uploads"
    allowed.mkdir()
    (allowed / "q.mp4").write_bytes((root / "query.mp4").read_bytes())
    (base / "secret.mp4").write_bytes((root / "query.mp4").read_bytes())
    os.symlink(base / "secret.mp4", allowed / "link.mp4")
    cfg = ServiceConfig(db=str(db), allowed_roots=(str(allowed),), max_duration_s=60.0)
    svc = QueryService(cfg)
    app = create_app(cfg, svc)
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/readyz").status_code == 200 or svc.failed:
                break
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 200, svc.failed
        yield client, svc, base, root


def _err(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_upload_and_server_path_give_the_query_json(served):
    client, svc, base, root = served
    with open(root / "query.mp4", "rb") as f:
        r = client.post("/query", files={"clip": ("upload.mp4", f, "video/mp4")}, data={"topk": "3"})
    assert r.status_code == 200, r.text
    js = r.json()
    assert js["query"] == "upload.mp4" and js["results"][0]["path"].endswith("coffee.mp4")
    assert js["results"][0]["copy"] and {"query_start", "ref_start"} <= set(js["results"][0]["segments"][0])
    r2 = client.post("/query", data={"path": str(base / "uploads" / "q.mp4")})
    assert r2.status_code == 200 and r2.json()["results"][0]["path"].endswith("coffee.mp4")
    assert not list(svc.upload_dir.iterdir()), "an upload was left behind"


def test_views_are_a_request_field(served, monkeypatch):
    client, svc, base, _ = served
    q = str(base / "uploads" / "q.mp4")
    seen = []
    real = svc.run_query
    monkeypatch.setattr(svc, "run_query", lambda path, **kw: seen.append(kw["views"]) or real(path, **kw))
    for field, want in (("none", ()), ("flip,quarters", ("flip", "quarters")), (None, None)):
        r = client.post("/query", data={"path": q} if field is None else {"path": q, "views": field})
        assert r.status_code == 200, r.text
        assert seen[-1] == want
        assert r.json()["results"][0]["path"].endswith("coffee.mp4")  # views or none, the copy is found


def test_paths_outside_the_roots_are_refused(served):
    client, svc, base, _ = served
    up = base / "uploads"
    for p in (str(base / "secret.mp4"), str(up / ".." / "secret.mp4"), str(up / "link.mp4"), "/etc/passwd"):
        assert "outside the allowed roots" in _err(client.post("/query", data={"path": p}), 403)
    assert "no such file" in _err(client.post("/query", data={"path": str(up / "none.mp4")}), 404)


@pytest.mark.parametrize("name,data,status,says", [
    ("text.mp4", b"not a video at all\n" * 50, 415, "not a readable media file"),
    ("empty.mp4", b"", 400, "empty"),
    ("junk.mp4", bytes(range(256)) * 200, 415, "not a readable"),
])
def test_bad_uploads_get_typed_errors(served, name, data, status, says):
    client, svc, _, _ = served
    assert says in _err(client.post("/query", files={"clip": (name, data, "video/mp4")}), status)
    assert not list(svc.upload_dir.iterdir())


def test_bad_parameters_are_422(served):
    client, _, base, root = served
    q = str(base / "uploads" / "q.mp4")
    assert "topk" in _err(client.post("/query", data={"path": q, "topk": "0"}), 422)
    assert "unknown query view" in _err(client.post("/query", data={"path": q, "views": "zoom"}), 422)
    assert "unknown query view" in _err(client.post("/query", data={"path": q, "views": "none flip"}), 422)
    assert "exactly one" in _err(client.post("/query", data={}), 422)
    with open(root / "query.mp4", "rb") as f:
        assert "exactly one" in _err(client.post("/query", files={"clip": ("a.mp4", f)}, data={"path": q}), 422)


def test_limits_and_a_full_queue(served):
    client, svc, base, root = served
    q = str(base / "uploads" / "q.mp4")
    old = (svc.cfg.max_duration_s, svc.cfg.max_pixels, svc.cfg.max_upload_bytes)
    try:
        svc.cfg.max_duration_s = 5.0
        assert "over the limit" in _err(client.post("/query", data={"path": q}), 413)
        svc.cfg.max_duration_s, svc.cfg.max_pixels = old[0], 100 * 100
        assert "frame size" in _err(client.post("/query", data={"path": q}), 413)
        svc.cfg.max_pixels, svc.cfg.max_upload_bytes = old[1], 1000
        with open(root / "query.mp4", "rb") as f:
            assert "upload over the limit" in _err(client.post("/query", files={"clip": ("a.mp4", f)}), 413)
    finally:
        svc.cfg.max_duration_s, svc.cfg.max_pixels, svc.cfg.max_upload_bytes = old
    svc._pending = svc.cfg.queue  # as if the queue were full
    try:
        assert "busy" in _err(client.post("/query", data={"path": q}), 429)
    finally:
        svc._pending = 0
    assert not list(svc.upload_dir.iterdir())


def test_not_ready_is_503(corpus, tmp_path):
    cfg = ServiceConfig(db=str(tmp_path / "none"))
    svc = QueryService(cfg)
    client = TestClient(create_app(cfg, svc))  # no start-up: models never loaded
    try:
        assert "not ready" in _err(client.get("/readyz"), 503)
        assert "not ready" in _err(client.post("/query", data={"path": "/x.mp4"}), 503)
    finally:
        svc.close()  # its private upload folder goes with it
    assert not svc.upload_dir.exists()


def test_videos_ingested_meanwhile_become_visible(served, encoder):
    client, svc, base, root = served
    q = str(base / "uploads" / "q.mp4")
    before = client.get("/readyz").json()["videos"]
    # another process ingests while the service runs (LMDB allows one environment per process)
    ingest_py = Path(__file__).resolve().parents[1] / "ingest.py"
    subprocess.run([sys.executable, str(ingest_py), str(root / "gallery" / "astronaut.mp4"), "--db", svc.cfg.db,
                    "--workers", "0", "-q"], check=True, capture_output=True)
    assert client.post("/query", data={"path": q}).status_code == 200  # reopens on the changed index
    assert client.get("/readyz").json()["videos"] == before + 1


def test_a_reload_waits_for_the_queries_in_flight(served):
    client, svc, base, root = served
    db_before = svc.db
    svc._enter()  # a query in flight on the open database
    svc._stamp = ("changed",)  # as if an ingest had flushed meanwhile
    entered = threading.Event()
    t = threading.Thread(target=lambda: (svc._enter(), entered.set()))
    t.start()
    try:
        assert not entered.wait(1.5)  # the next query waits: the database is still being read
        assert svc.db is db_before
    finally:
        svc._leave()
    assert entered.wait(30)  # then it reopens the database and goes on
    t.join()
    svc._leave()
    assert svc.db is not db_before and svc._active == 0
    assert client.post("/query", data={"path": str(base / "uploads" / "q.mp4")}).status_code == 200


def test_bounded_load_on_loopback(served):
    """8 concurrent clients, 16 requests: all answered 200, none left on disk."""
    client, svc, base, root = served
    data = (root / "query.mp4").read_bytes()
    codes, times, results = [], [], []
    lock = threading.Lock()

    def worker():
        for _ in range(2):
            t0 = time.perf_counter()
            r = client.post("/query", files={"clip": ("c.mp4", data, "video/mp4")})
            with lock:
                codes.append(r.status_code)
                times.append(time.perf_counter() - t0)
                results.append(r.json().get("results"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert codes.count(200) == 16, codes
    assert svc.cfg.workers > 1 and all(r == results[0] for r in results)  # queries side by side agree
    assert not list(svc.upload_dir.iterdir())
    print(f"p50 {np.percentile(times, 50):.2f} s, p95 {np.percentile(times, 95):.2f} s")
