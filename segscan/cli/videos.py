"""Manage the catalogue: list, show, remove (a takedown) and rebuild the index.

  python videos.py list --db segscan-db
  python videos.py show 3f2a9c --db segscan-db
  python videos.py remove 3f2a9c /data/clip.mp4 --db segscan-db
  python videos.py rebuild --db segscan-db [--index hnsw] [--shards 4]

A video is named by its id (as ``list`` and the query's JSON give it), a unique prefix of
the id, or the path it was ingested from. ``remove`` deletes its record, features and index
vectors and records the removal in the manifest; ``rebuild`` re-creates the index from
the store, dropping vectors an approximate index still keeps for removed videos.
Exit status: 0 done, 1 some named videos were not found, 2 unusable arguments or database.
"""
import argparse
import json
import sys

from . import add_index_args, index_choice, run_main


def _row(rec) -> dict:
    out = {"video_id": rec.video_id, "path": rec.path, "duration": round(rec.duration, 3),
           "keyframes": rec.n_keyframes, "width": rec.width, "height": rec.height}
    if rec.decoded_span:
        out["decoded_span"] = rec.decoded_span
    if rec.warnings:
        out["warnings"] = rec.warnings
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["list", "show", "remove", "rebuild", "stats"])
    ap.add_argument("videos", nargs="*", help="show/remove: video ids, id prefixes or ingested paths")
    ap.add_argument("--db", default="segscan-db", help="database directory (default: %(default)s)")
    add_index_args(ap, "the rebuild (default: the database's own)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    args = ap.parse_args(argv)
    if args.command in ("show", "remove") and not args.videos:
        ap.error(f"{args.command} needs at least one video (an id, id prefix or path)")
    if args.command not in ("show", "remove") and args.videos:
        ap.error(f"{args.command} takes no video names")
    if (args.index or args.shards) and args.command != "rebuild":
        ap.error("--index and --shards go with rebuild")
    kind, params = index_choice(args)

    def run():
        from ..errors import StoreError
        from ..index.catalogue import find_video
        from ..index.store import Database

        readonly = args.command in ("list", "show", "stats")
        with Database.open(args.db, readonly=readonly, create=False) as db:
            if args.command == "list":
                rows = [_row(r) for r in sorted(db.videos(), key=lambda r: r.path)]
                if args.json:
                    print(json.dumps(rows, indent=2))
                else:
                    for r in rows:
                        flag = " partial" if r.get("decoded_span") else ""
                        print(f"{r['video_id']}  {r['duration']:8.1f} s  {r['keyframes']:6d} kf{flag}  {r['path']}")
                    print(f"{len(rows)} video(s)", file=sys.stderr)
                return 0
            if args.command == "stats":
                print(json.dumps(db.stats(), indent=2))
                return 0
            if args.command == "rebuild":
                before = db.index.ntotal
                db.rebuild_index(kind, params)
                print(f"index rebuilt ({db.meta['index']['kind']}): {before} -> {db.index.ntotal} vectors "
                      f"for {len(db)} video(s)")
                return 0
            missing = 0
            manifest = {e["path"]: e for e in db.manifest()} if args.command == "show" else {}
            for ref in args.videos:
                try:
                    rec = find_video(db, ref)
                except StoreError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    missing += 1
                    continue
                if args.command == "show":
                    print(json.dumps({**_row(rec), "content_hash": rec.content_hash, "times": rec.times,
                                      "manifest": manifest.get(rec.path)}, indent=2))
                else:
                    db.remove_video(rec.video_id)
                    db.flush()  # a takedown is in force once this line is printed
                    print(f"removed {rec.video_id} {rec.path}")
            return 1 if missing else 0

    return run_main(run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
