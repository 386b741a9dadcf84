"""Add videos to a segscan database.

  python ingest.py VIDEOS_DIR --db segscan-db
  python ingest.py a.mp4 b.mkv uploads.txt --db segscan-db --workers 2
  ray job submit --working-dir . -- python ingest.py /data/catalogue --db /data/segscan-db

Inputs may be folders (searched recursively for video files), video files, or list
files (.txt/.lst, one path per line). Videos already in the database (same content
hash) are skipped; videos that cannot be read are recorded in the manifest with the
reason, and the run goes on. Exit status: 0 if every input was ingested or skipped,
1 if some failed, 2 on bad arguments or an unusable database.
"""
import argparse

from ..index.regioncodec import CODECS
from . import (add_encoder_args, add_index_args, encoder_config, index_choice, non_negative_int, positive_int,
               run_main)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="video files, folders or list files")
    ap.add_argument("--db", default="segscan-db", help="database directory (default: %(default)s)")
    ap.add_argument("--workers", type=non_negative_int, default=1,
                    help="Ray actors encoding in parallel; 0 = no Ray, encode in this process (default: %(default)s)")
    add_index_args(ap, "a new database")
    ap.add_argument("--region-codec", default=None, choices=CODECS,
                    help="how a new database keeps region vectors: float16 (default, 4.6 KB a keyframe), int8 "
                         "(2.3 KB) or pq (1,008 bytes, residual product quantisation with the shipped codebook); their cost "
                         "in F1 is in docs/BENCHMARKS.md. An existing database keeps its own")
    ap.add_argument("--flush-every", type=positive_int, default=50, help="save the index every N videos")
    add_encoder_args(ap)
    args = ap.parse_args(argv)

    kind, params = index_choice(args)

    def run():
        from ..pipeline.ingest import ingest

        s = ingest(args.inputs, args.db, encoder_config(args), workers=args.workers, index_kind=kind,
                   index_params=params, region_codec=args.region_codec, flush_every=args.flush_every, progress=not args.quiet)
        for line in s.lines():
            print(line)
        return 1 if s.failed else 0

    return run_main(run, verbose=args.verbose, debug=args.debug)

