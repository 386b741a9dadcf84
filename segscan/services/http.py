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
import logging
import threading

from .query_service import QueryService, ServiceConfig, ServiceError, inside_roots

log = logging.getLogger(__name__)


def query_views(field: str) -> tuple[str, ...]:
    """A request's ``views`` field: names separated by commas or spaces, or ``none`` (an empty
    field is dropped by some clients and form parsers, so it cannot mean none)."""
    from ..pipeline.views import check_views

    names = field.replace(",", " ").split()
    return () if names == ["none"] else check_views(names)


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
        svc.check_ready()
        return {"status": "ready", "videos": len(svc.db), "keyframes": svc.db.index.ntotal}

    @app.post("/query")
    async def query(clip: UploadFile | None = File(None), path: str | None = Form(None),
                    topk: int | None = Form(None, ge=1, le=10000), views: str | None = Form(None)):
        if (clip is None) == (path is None):
            raise ServiceError(422, "send exactly one of: a 'clip' upload, a server-side 'path'")
        try:
            view_list = None if views is None else query_views(views)
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
