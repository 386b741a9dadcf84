"""The service and batch-job figures, on shared clips: latency under concurrent clients and
the batch job's speed.

    python -m segscan.bench.service [--requests 200 --clients 8 --uploads 100]

1. A database of the shared clips (``../shared/media``, built once in ``bench-data/``).
2. ``segscan serve`` started as its own process; ``--clients`` threads post a 10-second
   360p copy cut from a shared clip, ``--requests`` in all; p50 / p95 latency, errors, and
   temporary files left behind, with the single-client latency measured in the same run;
   one row per ``--service-workers`` value (queries the service runs at once).
3. ``segscan detect`` over ``--uploads`` short copies (5-10 s) in one folder: uploads'
   total duration over wall time, report included.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ..corpus import DEFAULT_MEDIA


def _copies(media: Path, out: Path, n: int, seconds: tuple[float, float], size=(640, 360), seed: int = 0):
    """``n`` clips cut from the shared clips at least as long as each cut, re-encoded at
    ``size``: (paths, their total seconds as written)."""
    from ..pipeline.decode import probe
    from ..pipeline.ingest import expand_inputs
    from ..synth import read_all, write_video

    rng = np.random.default_rng(seed)
    clips = [(c, probe(c).duration) for c in expand_inputs([str(media)])[0]]
    out.mkdir(parents=True, exist_ok=True)
    paths, total = [], 0.0
    for i in range(n):
        p = out / f"upload-{i:03d}.mp4"
        length = float(rng.uniform(*seconds))
        # a source shorter than the cut would give a shorter upload than the figure claims
        long_enough = [(c, d) for c, d in clips if d >= length + 0.5]
        if not long_enough:
            raise SystemExit(f"no shared clip is {length:.1f} s long")
        src, dur = long_enough[int(rng.integers(len(long_enough)))]
        start = float(rng.uniform(0, dur - length))  # drawn whether or not the file is kept from a run before
        if not p.exists():
            frames, times, _ = read_all(src, fps=25.0, size=size)
            write_video([f for f, t in zip(frames, times) if start <= t < start + length], p, 25.0, crf=26)
        paths.append(p)
        total += probe(p).duration
    return paths, total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its threads have used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_latency(db: Path, clip: Path, clients: int, requests: int, workers: int = 2,
                    views: str | None = None) -> dict:
    """Latency of ``segscan serve --workers workers`` under ``clients`` concurrent clients;
    ``views`` (the request field: "none" for none) overrides the query-side views."""
    import httpx

    port = _free_port()
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "segscan-uploads-*", "*")))
    proc = subprocess.Popen([sys.executable, "-m", "segscan", "serve", "--db", str(db), "--port", str(port),
                             "--queue", str(4 * clients), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() - t0 > 300:
                raise SystemExit("the service did not start: " + proc.stderr.read().decode()[-500:])
            time.sleep(0.5)
        data = clip.read_bytes()

        def post(client):
            t = time.perf_counter()
            r = client.post(url + "/query", files={"clip": (clip.name, data, "video/mp4")},
                            data={} if views is None else {"views": views}, timeout=600)
            return time.perf_counter() - t, r.status_code

        with httpx.Client() as c:
            post(c)  # warm-up
            cpu0 = _cpu_s(proc.pid)
            single = [post(c)[0] for _ in range(5)]
            # what one request costs the service's cores: 8 clients on 2 cores wait behind each other
            cpu_per_request = (_cpu_s(proc.pid) - cpu0) / len(single)
        lat, codes, lock = [], [], threading.Lock()
        left = [requests]

        def worker():
            with httpx.Client() as c:
                while True:
                    with lock:
                        if left[0] <= 0:
                            return
                        left[0] -= 1
                    dt, code = post(c)
                    with lock:
                        lat.append(dt)
                        codes.append(code)

        t1 = time.time()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    leaked = set(glob.glob(os.path.join(tempfile.gettempdir(), "segscan-uploads-*", "*"))) - before
    return {"workers": workers, "views": views or "default", "clients": clients, "requests": len(lat),
            "errors": sum(c != 200 for c in codes),
            "p50_s": float(np.percentile(lat, 50)), "p95_s": float(np.percentile(lat, 95)),
            "single_client_p50_s": float(np.median(single)), "single_client_cpu_s": round(cpu_per_request, 3),
            "requests_per_s": len(lat) / wall,
            "temporary_files_left": len(leaked)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default=str(DEFAULT_MEDIA))
    ap.add_argument("--work", default="bench-data/service", help="database and clips (kept for reruns)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--uploads", type=int, default=100)
    ap.add_argument("--service-workers", type=int, nargs="+", default=[1, 2],
                    help="the service's query workers, one latency row each (default: %(default)s)")
    ap.add_argument("--views-off-row", action=argparse.BooleanOptionalAction, default=True,
                    help="also a row with the query-side views off (a request field), at the last worker count")
    ap.add_argument("--batch", action=argparse.BooleanOptionalAction, default=True, help="the batch-job figure")
    ap.add_argument("--workers", type=int, default=1, help="the batch job's Ray workers")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    media = Path(args.media)
    if not media.is_dir():
        print(f"error: {media} not found: this benchmark reads the shared clips", file=sys.stderr)
        return 2
    from ..pipeline.decode import probe
    from ..pipeline.extract import EncoderConfig
    from ..pipeline.ingest import ingest

    work = Path(args.work)
    db = work / "db"
    ingest([str(media)], str(db), EncoderConfig(), workers=0, progress=True)
    (clip,), _ = _copies(media, work / "clip", 1, (10.0, 10.0), seed=1)
    rows = [(w, None) for w in args.service_workers] + ([(args.service_workers[-1], "none")] if args.views_off_row else [])
    figures = {"clip_s": round(probe(clip).duration, 2), "service": []}
    for workers, views in rows:
        figures["service"].append(service_latency(db, clip, args.clients, args.requests, workers, views))
        print(json.dumps(figures["service"][-1], indent=2), flush=True)
    if args.batch:
        figures["batch"] = batch_speed(media, work, db, args.uploads, args.workers)
        print(json.dumps(figures["batch"], indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def batch_speed(media: Path, work: Path, db: Path, uploads: int, workers: int) -> dict:
    """``segscan detect`` over ``uploads`` copies of 5-10 s in one folder, report included."""
    from ..report.batch import DetectConfig, run_detect

    paths, seconds = _copies(media, work / "uploads", uploads, (5.0, 10.0), seed=2)
    out = Path(tempfile.mkdtemp(prefix="segscan-detect-"))
    t0 = time.time()
    s = run_detect([str(work / "uploads")], str(out), DetectConfig(db=str(db)), workers=workers)
    wall = time.time() - t0
    return {"uploads": len(paths), "upload_seconds": round(seconds, 1), "wall_s": round(wall, 1),
            "x_realtime": round(seconds / wall, 2), "failed": len(s.failed), "workers": workers,
            "copies_declared": s.copies}


if __name__ == "__main__":
    sys.exit(main())
