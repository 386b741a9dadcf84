"""The query service's core, independent of the web framework: models and database loaded
once, limits, the bounded queue, uploads in a private temporary folder, server-side paths
confined to allowed roots, and the database reopened when an ingest changed its index.
The HTTP app over it is :mod:`segscan.services.http`.
"""

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import (
    NotAVideoError,
    NoVideoStreamError,
    SegscanError,
    VideoError,
    VideoNotFoundError,
    VideoTooLargeError,
)
from ..index.indexfile import index_files

log = logging.getLogger(__name__)


@dataclass
class ServiceConfig:
    db: str
    allowed_roots: tuple[str, ...] = ()  # server-side paths must resolve inside one of these
    max_upload_bytes: int = 1 << 30
    max_duration_s: float = 3600.0
    max_pixels: int = 3840 * 2160
    request_timeout_s: float = 300.0
    queue: int = 16  # requests running or waiting; one more gets 429
    # queries run at once: two on two cores serve about a fifth more than one using both
    # (much of a query is single-threaded Python and small batches); BENCHMARKS.md, service
    workers: int = 2
    encoder: object = None  # EncoderConfig (default: the query CLI's defaults)
    query: object = None  # QueryConfig (default: the query path's)


class ServiceError(Exception):
    """A request that cannot be served: its HTTP status and one line saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def status_of(exc: VideoError) -> int:
    if isinstance(exc, VideoNotFoundError):
        return 404
    if isinstance(exc, (NotAVideoError, NoVideoStreamError)):
        return 415
    if isinstance(exc, VideoTooLargeError):
        return 413
    return 400  # empty, corrupt or otherwise unreadable


def inside_roots(path: str, roots) -> Path:
    """The real path of ``path`` if it lies inside one of ``roots`` (symlinks and ``..``
    resolved first); ServiceError 403 otherwise."""
    if not roots:
        raise ServiceError(403, "server-side paths are not enabled (start the service with --allow-root)")
    real = Path(os.path.realpath(path))
    for r in roots:
        root = Path(os.path.realpath(r))
        if real == root or root in real.parents:
            return real
    raise ServiceError(403, f"{path}: outside the allowed roots")


class QueryService:
    """What the app calls: loads once (``start``), then ``query(path, **params)`` -> JSON dict."""

    def __init__(self, cfg: ServiceConfig):
        self.cfg = cfg
        self.ready = False
        self.failed: str | None = None
        self._pending = 0
        self._pending_lock = threading.Lock()
        if cfg.workers < 1:
            raise ValueError("workers must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="segscan-query")
        self.db = None  # the open database, and the index file's stamp when it was opened
        self._stamp: tuple | None = None
        # queries in flight; a reload waits until none is, and holds new ones back meanwhile
        self._active = 0
        self._db_cond = threading.Condition()
        self.upload_dir = Path(tempfile.mkdtemp(prefix="segscan-uploads-"))  # private: mode 0700
        self.encoder = self.aligner = None

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        """Load models and open the database (in a thread: /readyz says when it is done)."""
        try:
            from ..align import make_aligner
            from ..pipeline.extract import EncoderConfig, VideoEncoder
            from ..query import QueryConfig

            self.cfg.encoder = self.cfg.encoder or EncoderConfig()
            self.cfg.query = self.cfg.query or QueryConfig()
            q = self.cfg.query
            self.aligner = make_aligner(q.aligner, **q.aligner_params)
            self.encoder = VideoEncoder(self.cfg.encoder)
            self._reload(force=True)
            self.ready = True
        except Exception as exc:  # noqa: BLE001 - reported by /readyz, the process stays up
            self.failed = f"{exc.__class__.__name__}: {exc}"
            log.error("service failed to start: %s", self.failed)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    def _index_stamp(self) -> tuple:
        """When and how large each index file is: any change means an ingest flushed."""
        stamp = []
        for p in index_files(Path(self.cfg.db)):
            try:
                st = os.stat(p)
            except OSError:  # removed between listing and stat: a rewrite is under way
                continue
            stamp.append((p.name, st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def _reload(self, force: bool = False) -> None:
        """Reopen the database when its index file changed (an ingest flushed new videos).
        Called with no query in flight."""
        from ..index.store import Database
        from ..pipeline.extract import feature_config

        stamp = self._index_stamp()
        if not force and self.db is not None and stamp == self._stamp:
            return
        # LMDB opens one environment once per process: close, then reopen (queries are not running)
        if self.db is not None:
            self.db.close()
            self.db = None
        self.db = Database.open(self.cfg.db, readonly=True, feature_config=feature_config(self.cfg.encoder))
        self._stamp = stamp

    def _enter(self) -> None:
        """Start a query on the current database, reloading it first when an ingest changed it
        (after the queries still reading the old one have finished)."""
        with self._db_cond:
            while self._index_stamp() != self._stamp:
                if not self._active:
                    self._reload(force=True)
                    break
                self._db_cond.wait(timeout=1.0)
            self._active += 1

    def _leave(self) -> None:
        with self._db_cond:
            self._active -= 1
            self._db_cond.notify_all()

    # -- requests --------------------------------------------------------------------
    def check_ready(self) -> None:
        if not self.ready:
            raise ServiceError(503, "not ready: " + (self.failed or "loading models and database"))

    def admit(self) -> None:
        self.check_ready()
        with self._pending_lock:
            if self._pending >= self.cfg.queue:
                raise ServiceError(429, f"busy: {self._pending} requests running or waiting; retry later")
            self._pending += 1

    def release(self) -> None:
        with self._pending_lock:
            self._pending -= 1

    def check_video(self, path: str) -> None:
        """Refuse what is over the limits before decoding it."""
        from ..pipeline.decode import probe

        info = probe(path)
        if info.width * info.height > self.cfg.max_pixels:
            raise ServiceError(413, f"frame size {info.width}x{info.height} is over the limit of "
                                    f"{self.cfg.max_pixels} pixels")
        if info.duration > self.cfg.max_duration_s:
            raise ServiceError(413, f"clip of {info.duration:.0f} s is over the limit of {self.cfg.max_duration_s:.0f} s")

    def run_query(self, path: str, topk: int | None = None, views=None) -> dict:
        import dataclasses

        from ..query import query_video

        cfg = self.cfg.query
        if topk is not None:
            cfg = dataclasses.replace(cfg, topk=topk)
        if views is not None:
            cfg = dataclasses.replace(cfg, views=tuple(views))
        self.check_video(path)
        self._enter()
        try:
            return query_video(self.db, self.encoder, path, cfg, self.aligner).to_json()
        finally:
            self._leave()

    async def query(self, path: str, **params) -> dict:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, lambda: self.run_query(path, **params))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.cfg.request_timeout_s)
        except asyncio.TimeoutError:
            raise ServiceError(504, f"the query took longer than {self.cfg.request_timeout_s:.0f} s") from None
        except VideoError as exc:
            raise ServiceError(status_of(exc), exc.reason) from None
        except SegscanError as exc:
            raise ServiceError(503, str(exc)) from None

    async def save_upload(self, upload) -> Path:
        """Stream an upload to a private temporary file, refusing it past the byte limit."""
        fd, name = tempfile.mkstemp(dir=self.upload_dir, suffix=Path(upload.filename or "").suffix[:8])
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while chunk := await upload.read(1 << 20):
                    size += len(chunk)
                    if size > self.cfg.max_upload_bytes:
                        raise ServiceError(413, f"upload over the limit of {self.cfg.max_upload_bytes} bytes")
                    f.write(chunk)
        except BaseException:
            os.unlink(name)
            raise
        if size == 0:
            os.unlink(name)
            raise ServiceError(400, "the upload is empty (0 bytes)")
        return Path(name)
