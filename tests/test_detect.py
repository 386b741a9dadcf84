"""The batch copyright-detection job: report files, resume, explanation pictures, and the
HTML page in a headless browser."""
import csv
import json
import shutil
import subprocess

import pytest

from segscan.pipeline.ingest import ingest
from segscan.report.batch import DetectConfig, run_detect


@pytest.fixture(scope="module")
def job(corpus, encoder, tmp_path_factory):
    root, truth = corpus
    base = tmp_path_factory.mktemp("detect")
    ingest([str(root / "gallery")], str(base / "db"), encoder.config, workers=0, progress=False)
    uploads = base / "uploads"
    uploads.mkdir()
    shutil.copy(root / "query.mp4", uploads / "copy.mp4")
    shutil.copy(root / "gallery" / "rocket.mp4", uploads / "rocket-again.mp4")
    (uploads / "broken.mp4").write_text("not a video")
    s = run_detect([str(uploads)], str(base / "out"), DetectConfig(db=str(base / "db")), workers=0, progress=False)
    return base, s, truth


def test_the_report_files(job):
    base, s, truth = job
    out = base / "out"
    assert s.uploads == 3 and s.searched == 2 and len(s.failed) == 1 and s.copies == 2
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    by = {r["upload"].rsplit("/", 1)[1]: r for r in rows}
    assert "not a readable media file" in by["broken.mp4"]["error"]
    top = by["copy.mp4"]["results"][0]
    assert top["path"].endswith(truth["reference"]) and top["copy"]
    assert set(by["copy.mp4"]["pictures"][top["video_id"]]) == {"map", "frames"}
    table = list(csv.DictReader(open(out / "report.csv")))
    assert any(r["query"].endswith("copy.mp4") and r["reference"].endswith("coffee.mp4") and r["segment_copy"] == "1"
               for r in table)
    assert any(r["query"].endswith("broken.mp4") and r["error"] for r in table)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4 and "http://" not in page and "https://" not in page
    assert "copy.mp4" in page and "unreadable" in page


def test_a_rerun_skips_what_is_in_the_report(job):
    base, _, _ = job
    out = base / "out"
    before = (out / "results.jsonl").read_text().count("\n")
    s = run_detect([str(base / "uploads")], str(out), DetectConfig(db=str(base / "db")), workers=0, progress=False)
    assert s.skipped == 2 and s.searched == 0 and len(s.failed) == 1  # the unreadable one is tried again
    assert (out / "results.jsonl").read_text().count("\n") == before + 1


def test_the_html_report_in_headless_chromium(job, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    import numpy as np
    from PIL import Image

    base, _, _ = job
    shot = tmp_path / "shot.png"
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                        f"--screenshot={shot}", "--window-size=1200,1600", (base / "out" / "report.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    px = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert px.std() > 10  # not a blank page
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
