"""The batch copyright-detection job: many uploads queried over Ray workers, resumable,
written as JSONL, CSV and one self-contained HTML report.

Each worker opens the database read-only and loads the models once, then answers one
upload per call with the query JSON and the explanation pictures of its matches. The
driver appends every answer to ``results.jsonl`` as it arrives (flushed, so an interrupted
job keeps what it did; a rerun skips uploads already there), then writes ``report.csv``
(one row per matched segment, with its verdict) and ``report.html`` from the whole file.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..pipeline.extract import EncoderConfig
from ..query import QueryConfig

log = logging.getLogger(__name__)


@dataclass
class DetectConfig:
    db: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    explain: bool = True
    threads: int | None = None  # torch threads per worker (set by the Ray pool)


class DetectWorker:
    """Ray actor body (or in-process): one upload per call -> (path, (status, payload))."""

    def __init__(self, cfg: DetectConfig):
        from dataclasses import replace

        from ..align import make_aligner
        from ..index.store import Database
        from ..pipeline.extract import VideoEncoder, feature_config

        enc_cfg = replace(cfg.encoder, threads=cfg.threads or cfg.encoder.threads)
        self.cfg = cfg
        self.encoder = VideoEncoder(enc_cfg)
        self.aligner = make_aligner(cfg.query.aligner, **cfg.query.aligner_params)
        self.db = Database.open(cfg.db, readonly=True, feature_config=feature_config(enc_cfg))

    def __call__(self, path: str):
        from ..pipeline.ingest import call_safely
        from ..query import query_video

        status, res = call_safely(lambda p: query_video(self.db, self.encoder, p, self.cfg.query, self.aligner), path)
        if status == "bug":
            log.error("%s: %s", path, res)
            return path, ("error", "internal error: " + res.splitlines()[0])
        if status == "error":
            return path, ("error", res)
        pictures = {}
        if self.cfg.explain:
            from .explain import map_picture, png_bytes, thumb_strip

            for m in res.matches:
                if not m.copy:
                    continue  # pictures for the declared copies: what a reviewer must judge
                pics = {"frames": png_bytes(thumb_strip(path, m))}
                if m.video_id in res.maps:
                    pics["map"] = png_bytes(map_picture(res.maps[m.video_id], m))
                pictures[m.video_id] = {k: base64.b64encode(v).decode() for k, v in pics.items()}
        return path, ("ok", {**res.to_json(), "pictures": pictures})


def _done(jsonl: Path) -> dict[str, dict]:
    """Answers already in the results file, by upload path (a torn last line is ignored)."""
    out = {}
    if jsonl.exists():
        for line in jsonl.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[row["upload"]] = row
    return out


@dataclass
class DetectSummary:
    """What a batch run did: uploads seen, skipped (already in the report), searched, found
    copying, failed (with the reason), and the time it took against the uploads' duration."""

    uploads: int = 0
    skipped: int = 0
    searched: int = 0
    copies: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    video_seconds: float = 0.0

    def lines(self) -> list[str]:
        speed = self.video_seconds / self.seconds if self.seconds else 0.0
        out = [f"{self.uploads} upload(s): {self.searched} searched now, {self.skipped} already in the report, "
               f"{self.copies} with a declared copy, {len(self.failed)} unreadable",
               f"{self.video_seconds:.1f} s of uploads in {self.seconds:.1f} s ({speed:.1f}x real time)"]
        return out + [f"  failed: {p}: {why}" for p, why in self.failed]


def run_detect(inputs, out_dir: str, cfg: DetectConfig, workers: int = 1, progress: bool = True) -> DetectSummary:
    from ..pipeline.ingest import expand_inputs
    from .html import write_csv, write_html

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "results.jsonl"
    paths, missing = expand_inputs(inputs)
    done = _done(jsonl)
    todo = [p for p in paths if p not in done or "error" in done[p]]  # failures are tried again
    s = DetectSummary(uploads=len(paths) + len(missing), skipped=len(paths) - len(todo))
    with open(jsonl, "a") as f:
        def append(row):
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done[row["upload"]] = row

        for p, why in missing:
            if done.get(p, {}).get("error") != why:
                append({"upload": p, "error": why})
        if todo:
            if workers > 0:
                from ..services.ray_pool import map_with_ray

                results = map_with_ray(DetectWorker, cfg, todo, workers)
            else:
                worker = DetectWorker(cfg)
                results = (worker(p) for p in todo)
            for path, (status, payload) in tqdm(results, total=len(todo), desc="detecting", unit="upload",
                                                disable=not progress):
                if status == "ok":
                    append({"upload": path, **payload})
                    s.searched += 1
                    s.video_seconds += payload["duration"]
                else:
                    append({"upload": path, "error": payload})
    rows = [done[p] for p in sorted(done)]
    s.failed = [(r["upload"], r["error"]) for r in rows if "error" in r]
    s.copies = sum(any(m["copy"] for m in r.get("results", [])) for r in rows)
    write_csv(out / "report.csv", rows)
    write_html(out / "report.html", rows, title=f"segscan copy detection: {len(rows)} upload(s)")
    s.seconds = time.time() - t0
    return s
