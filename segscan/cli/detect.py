"""Batch copyright detection over folders or lists of uploads, with a report people can read.

  segscan detect uploads/ --db segscan-db --out report/
  ray job submit --working-dir . -- python -m segscan detect /data/uploads.txt --db /data/db --out /data/report

Uploads are spread over Ray workers (a local Ray is started when no cluster is given;
--workers 0 runs in this process). Writes REPORT_DIR/results.jsonl (one query JSON per
upload, appended as they finish: a rerun skips uploads already there), report.csv (one row
per matched segment, with its verdict; unreadable uploads with their reason) and
report.html (self-contained: per upload the verdict, the matched references, each segment
with its end frames side by side, and the similarity map with the detected boxes).
Exit status: 0 every upload searched, 1 some unreadable, 2 unusable arguments or database.
"""
import argparse
import sys

from . import add_encoder_args, encoder_config, non_negative_int, positive_int, run_main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="segscan detect", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="upload files, folders or list files")
    ap.add_argument("--db", default="segscan-db", help="database directory (default: %(default)s)")
    ap.add_argument("--out", required=True, metavar="REPORT_DIR", help="report folder (created; reruns resume)")
    ap.add_argument("--workers", type=non_negative_int, default=1,
                    help="Ray workers; 0 = no Ray, this process (default: %(default)s)")
    ap.add_argument("--topk", type=positive_int, default=20, help="references listed per upload (default: %(default)s)")
    ap.add_argument("--no-pictures", dest="explain", action="store_false",
                    help="leave the similarity maps and frames out of the report (faster)")
    add_encoder_args(ap)
    args = ap.parse_args(argv)

    def run():
        from ..index.store import Database
        from ..pipeline.extract import feature_config
        from ..query import QueryConfig
        from ..report.batch import DetectConfig, run_detect

        enc = encoder_config(args)
        with Database.open(args.db, readonly=True, feature_config=feature_config(enc)):
            pass  # refuse a missing or mismatched database here, in one line, before any worker starts
        cfg = DetectConfig(db=args.db, encoder=enc, query=QueryConfig(topk=args.topk), explain=args.explain)
        s = run_detect(args.inputs, args.out, cfg, workers=args.workers, progress=not args.quiet)
        for line in s.lines():
            print(line)
        print(f"report: {args.out}/report.html")
        return 1 if s.failed else 0

    return run_main(run, verbose=args.verbose, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
