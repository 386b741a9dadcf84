"""Run the HTTP query service (models and database loaded once).

  segscan serve --db segscan-db --allow-root /data/uploads --port 8000
  curl -F clip=@upload.mp4 http://127.0.0.1:8000/query
  curl -F path=/data/uploads/a.mp4 http://127.0.0.1:8000/query

Endpoints: POST /query (a multipart 'clip', or a server-side 'path' inside an allowed root;
optional 'topk', 'views'), GET /readyz, GET /healthz. Errors are typed 4xx with a one-line
{"error": ...} (see segscan.services.http).
"""
import argparse

from . import add_encoder_args, encoder_config, positive_float, positive_int, run_main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="segscan serve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="segscan-db", help="database directory (default: %(default)s)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--allow-root", action="append", default=[], metavar="DIR",
                    help="server-side paths may be queried when they resolve inside DIR (repeatable; default: none, "
                         "uploads only)")
    ap.add_argument("--max-upload-mb", type=positive_float, default=1024.0, help="default: %(default)s")
    ap.add_argument("--max-duration", type=positive_float, default=3600.0,
                    help="longest clip in seconds (default: %(default)s)")
    ap.add_argument("--timeout", type=positive_float, default=300.0, help="seconds per request (default: %(default)s)")
    ap.add_argument("--queue", type=positive_int, default=16,
                    help="requests running or waiting; more are answered 429 (default: %(default)s)")
    ap.add_argument("--workers", type=positive_int, default=2,
                    help="queries run at once (default: %(default)s, which serves most on two cores)")
    add_encoder_args(ap)
    args = ap.parse_args(argv)

    def run():
        import uvicorn

        from ..services.http import ServiceConfig, create_app

        cfg = ServiceConfig(db=args.db, allowed_roots=tuple(args.allow_root),
                            max_upload_bytes=int(args.max_upload_mb * 2**20), max_duration_s=args.max_duration,
                            request_timeout_s=args.timeout, queue=args.queue, workers=args.workers,
                            encoder=encoder_config(args))
        uvicorn.run(create_app(cfg), host=args.host, port=args.port, log_level="warning")
        return 0

    return run_main(run, verbose=args.verbose, debug=args.debug)
