"""HTTP query service: the query path behind FastAPI, with models and database opened once.

    segscan serve --db segscan-db --allow-root /data/uploads

``POST /query`` takes a clip as a multipart upload (field ``clip``) or a server-side
``path`` inside the allowed roots, and returns the query JSON of ``query.py --json``.
``GET /healthz`` answers while the process lives, ``GET /readyz`` once models and database
are loaded. Bad input gets a typed 4xx with a one-line ``error``: 400 unreadable video,
403 a path outside the allowed roots, 404 no such file, 413 too large (bytes, duration or
frame size), 415 not a video, 422 bad parameters, 429 the bounded queue is full, 503 not
ready, 504 over the request time. Queries run one at a time (the backbone uses every
core); a database ingested into meanwhile is reopened when its index file changes, so new
videos become visible without a restart.
"""

import asyncio
import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    SegscanError,
    VideoError,
    VideoNotFoundError,
    VideoTooLargeError,
)

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
    encoder: object = None  # EncoderConfig (default: the query CLI's defaults)
    query: object = None  # QueryConfig (default: the query path's)
    aligner: str | None = None


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
    if isinstance(exc, (EmptyVideoError, CorruptVideoError)):
        return 400
    return 400


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


@dataclass
class _Loaded:
    db: object
    index_stamp: tuple
    opened: float = field(default_factory=time.time)


class QueryService:
    """What the app calls: loads once (``start``), then ``query(path, **params)`` -> JSON dict."""

    def __init__(self, cfg: ServiceConfig):
        self.cfg = cfg
        self.ready = False
        self.failed: str | None = None
        self._lock = threading.Lock()  # one query at a time; reloads happen between them
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segscan-query")
        self._loaded: _Loaded | None = None
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
            self.aligner = make_aligner(self.cfg.aligner or q.aligner, **q.aligner_params)
            self.encoder = VideoEncoder(self.cfg.encoder)
            self._reload(force=True)
            self.ready = True
        except Exception as exc:  # noqa: BLE001 - reported by /readyz, the process stays up
            self.failed = f"{exc.__class__.__name__}: {exc}"
            log.error("service failed to start: %s", self.failed)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._loaded is not None:
            self._loaded.db.close()
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    def _index_stamp(self) -> tuple:
        try:
            st = os.stat(Path(self.cfg.db) / "index.bin")
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return (0, 0)

    def _reload(self, force: bool = False) -> None:
        """Reopen the database when its index file changed (an ingest flushed new videos)."""
        from ..index.store import Database
        from ..pipeline.extract import feature_config

        stamp = self._index_stamp()
        if not force and self._loaded is not None and stamp == self._loaded.index_stamp:
            return
        # LMDB opens one environment once per process: close, then reopen (queries are not running)
        if self._loaded is not None:
            self._loaded.db.close()
            self._loaded = None
        db = Database.open(self.cfg.db, readonly=True, feature_config=feature_config(self.cfg.encoder))
        self._loaded = _Loaded(db, stamp)

    # -- requests --------------------------------------------------------------------
    def admit(self) -> None:
        if not self.ready:
            raise ServiceError(503, "not ready: " + (self.failed or "loading models and database"))
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
        with self._lock:
            self.check_video(path)
            self._reload()
            res = query_video(self._loaded.db, self.encoder, path, cfg, self.aligner)
        return res.to_json()

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
        suffix = Path(upload.filename or "clip").suffix[:8] if upload.filename else ""
        fd, name = tempfile.mkstemp(dir=self.upload_dir, suffix=suffix)
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


def create_app(cfg: ServiceConfig, service: QueryService | None = None):
    """The FastAPI app; models load in the background at start-up (``/readyz``)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    svc = service or QueryService(cfg)

    @asynccontextmanager
    async def lifespan(app):
        loader = threading.Thread(target=svc.start, name="segscan-load", daemon=True)
        loader.start()
        yield
        svc.close()

    app = FastAPI(title="segscan", lifespan=lifespan,
                  description="Segment-level video copy detection: POST a clip, get the catalogue videos it copies.")
    app.state.service = svc

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_params(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("body", "query"))
        return JSONResponse({"error": f"bad parameter {where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):  # a bug: one line, no stack trace to the client
        log.exception("internal error")
        return JSONResponse({"error": f"internal error ({exc.__class__.__name__})"}, status_code=500)

    @app.middleware("http")
    async def _declared_size(request: Request, call_next):
        # refuse a declared oversize body before reading it (the upload is counted again as it streams)
        n = request.headers.get("content-length")
        if n and n.isdigit() and int(n) > cfg.max_upload_bytes + (1 << 16):
            return JSONResponse({"error": f"upload over the limit of {cfg.max_upload_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        if not svc.ready:
            raise ServiceError(503, "not ready: " + (svc.failed or "loading models and database"))
        db = svc._loaded.db
        return {"status": "ready", "videos": len(db), "keyframes": db.index.ntotal}

    @app.post("/query")
    async def query(clip: UploadFile | None = File(None), path: str | None = Form(None),
                    topk: int | None = Form(None, ge=1, le=10000), views: str | None = Form(None)):
        from ..pipeline.views import check_views

        if (clip is None) == (path is None):
            raise ServiceError(422, "send exactly one of: a 'clip' upload, a server-side 'path'")
        try:
            view_list = check_views([v for v in views.replace(",", " ").split() if v]) if views is not None else None
        except ValueError as exc:
            raise ServiceError(422, str(exc)) from None
        svc.admit()
        tmp = None
        try:
            if clip is not None:
                tmp = await svc.save_upload(clip)
                target = str(tmp)
            else:
                real = inside_roots(path, cfg.allowed_roots)
                if not real.is_file():
                    raise ServiceError(404, f"{path}: no such file")
                target = str(real)
            out = await svc.query(target, topk=topk, views=view_list)
            if clip is not None:
                out["query"] = clip.filename or "upload"
            return out
        finally:
            svc.release()
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    return app
