"""The ingest pipeline as plain functions: paths -> videos in the database.

Work is spread over a pool of :class:`~segscan.pipeline.extract.VideoEncoder` workers
(Ray actors, or the calling process when ``workers=0``); the driver alone writes the
database, one transaction per video, and saves the index every ``flush_every`` videos,
so an interrupted ingest keeps every video it had committed and a rerun skips them.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from ..errors import VideoError
from ..index.store import Database
from .extract import EncodedVideo, EncoderConfig, VideoEncoder, feature_config, file_hash

log = logging.getLogger(__name__)

VIDEO_EXTS = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}
LIST_EXTS = {".txt", ".lst", ".list"}


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)  # (path, what was lost)
    seconds: float = 0.0
    video_seconds: float = 0.0

    @property
    def speed(self) -> float:
        """Video seconds ingested per wall-clock second (a multiple of real time)."""
        return self.video_seconds / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [f"added {len(self.added)}, skipped {len(self.skipped)} (already in the database), "
               f"failed {len(self.failed)}, partly decoded {len(self.partial)}",
               f"{self.video_seconds:.1f} s of video in {self.seconds:.1f} s ({self.speed:.1f}x real time)"]
        out += [f"  failed: {p}: {why}" for p, why in self.failed]
        out += [f"  partly decoded: {p}: {why}" for p, why in self.partial]
        return out


def _why_missing(p: Path) -> str:
    if p.exists():  # a named pipe, socket or device: reading one could block or never end
        return "not a regular file (a pipe, socket or device)"
    if p.is_symlink():
        return "broken symbolic link or link loop"
    return "no such file or directory"


def expand_inputs(inputs: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Folders (searched recursively for video files), files and list files -> (paths, missing).

    A folder (given or listed) without any video file is reported as missing, so an empty
    upload folder is said, not passed over.
    """
    paths, missing, seen = [], [], set()

    def add(p: Path):
        rp = str(p.resolve())
        if rp not in seen:
            seen.add(rp)
            paths.append(rp)

    def folder(p: Path, note: str = ""):
        found = [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in VIDEO_EXTS]
        if not found:
            missing.append((str(p), "folder holds no video file (" + ", ".join(sorted(VIDEO_EXTS)) + ")" + note))
        for f in found:
            add(f)

    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            folder(p)
        elif p.is_file() and p.suffix.lower() in LIST_EXTS:
            entries = [ln.strip() for ln in p.read_text(errors="replace").splitlines()]
            entries = [ln for ln in entries if ln and not ln.startswith("#")]
            if not entries:
                missing.append((str(p), "list file names no video (only blank or # lines)"))
            for line in entries:
                q = Path(line).expanduser()
                q = q if q.is_absolute() else (p.parent / q)
                if q.is_dir():
                    folder(q, f"; listed in {p}")
                elif q.is_file():
                    add(q)
                else:
                    missing.append((str(q), f"{_why_missing(q)} (listed in {p})"))
        elif p.is_file():
            add(p)
        else:
            missing.append((str(p), _why_missing(p)))
    return paths, missing


def call_safely(fn, path: str):
    """``fn(path)``; typed input errors become ('error', reason), bugs ('bug', traceback): one
    broken video must not end a job over a catalogue or a folder of uploads."""
    try:
        return ("ok", fn(path))
    except VideoError as exc:
        return ("error", exc.reason)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return ("bug", f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}")


class EncoderWorker:
    """Ray actor body: loads the model in ``__init__``, encodes one video per call."""

    def __init__(self, config: EncoderConfig):
        self.encoder = VideoEncoder(config)

    def __call__(self, path: str):
        return path, call_safely(self.encoder, path)


def _run_local(config: EncoderConfig, paths: list[str]) -> Iterator[tuple[str, tuple]]:
    worker = EncoderWorker(config)
    for p in paths:
        yield worker(p)


def _run_ray(config: EncoderConfig, paths: list[str], workers: int) -> Iterator[tuple[str, tuple]]:
    from ..services.ray_pool import map_with_ray

    yield from map_with_ray(EncoderWorker, config, paths, workers)


def ingest(inputs: Iterable[str], db_path: str, config: EncoderConfig | None = None, workers: int = 1,
           index_kind: str | None = None, index_params: dict | None = None, flush_every: int = 50,
           progress: bool = True, region_codec: str | None = None) -> IngestSummary:
    """Ingest videos into the database at ``db_path``; ``workers=0`` runs in this process.
    ``index_kind`` and ``region_codec`` set a new database's index and region-vector storage."""
    config = config or EncoderConfig()
    t0 = time.time()
    summary = IngestSummary()
    paths, missing = expand_inputs(inputs)
    with Database.open(db_path, feature_config=feature_config(config), index_kind=index_kind,
                       index_params=index_params, region_codec=region_codec) as db:
        for p, why in missing:
            db.record_manifest(p, "failed", reason=why)
            summary.failed.append((p, why))
        todo, hashes = [], {}
        for p in tqdm(paths, desc="hashing", unit="file", disable=not progress or len(paths) < 20):
            try:
                h = file_hash(p)
            except OSError as exc:
                db.record_manifest(p, "failed", reason=str(exc))
                summary.failed.append((p, str(exc)))
                continue
            vid = db.has_hash(h)
            if vid is not None or h in hashes.values():
                db.record_manifest(p, "skipped", reason="already ingested", video_id=vid or h[:16])
                summary.skipped.append(p)
                continue
            hashes[p] = h
            todo.append(p)
        if todo:
            # the biggest files first, so the pool is not left waiting on one long video at the end
            todo.sort(key=lambda p: -os.path.getsize(p))
            if workers > 0:
                results = _run_ray(config, todo, workers)
            else:
                results = _run_local(config, todo)
            bar = tqdm(total=len(todo), desc="ingesting", unit="video", disable=not progress)
            since_flush = 0
            for path, (status, payload) in results:
                bar.update(1)
                if status == "ok":
                    enc: EncodedVideo = payload
                    rec = db.add_video(path, hashes[path], enc.info, enc.features, enc.warnings)
                    more = {"decoded_span": rec.decoded_span} if rec.decoded_span else {}
                    db.record_manifest(path, "partial" if enc.warnings else "ok", video_id=rec.video_id,
                                       keyframes=rec.n_keyframes, warnings=enc.warnings[:5], **more)
                    summary.added.append(path)
                    summary.video_seconds += rec.duration
                    if enc.warnings:
                        summary.partial.append((path, enc.warnings[0]))
                    since_flush += 1
                    if since_flush >= flush_every:
                        db.flush()
                        since_flush = 0
                else:
                    reason = payload if status == "error" else "internal error: " + payload.splitlines()[0]
                    if status == "bug":
                        log.error("%s: %s", path, payload)
                    db.record_manifest(path, "failed", reason=reason)
                    summary.failed.append((path, reason))
            bar.close()
            db.flush()
    summary.seconds = time.time() - t0
    return summary
