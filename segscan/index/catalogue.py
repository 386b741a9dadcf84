"""Catalogue bookkeeping: the manifest's events per path, and naming a stored video."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import StoreError

MANIFEST_HISTORY = 50  # events kept per path


def record_event(env, table, path: str, status: str, fields: dict) -> None:
    """Record what happened to ``path``: its entry's ``history`` lists every event, oldest first.

    A rerun that skips a stored video leaves its status as it was ("ok" or "partial"), so
    the status always says whether the path's video is in the catalogue.
    """
    key = str(path).encode()
    event = {"status": status, "time": time.time(), **{k: fields[k] for k in ("video_id", "reason") if k in fields}}
    with env.begin(write=True, db=table) as txn:
        raw = txn.get(key)
        prev = json.loads(raw) if raw else None
        history = (list(prev.get("history", [])) if prev else []) + [event]
        if status == "skipped" and prev and prev.get("status") in ("ok", "partial"):
            entry = dict(prev)
        else:
            entry = {"path": str(path), "status": status, "time": event["time"], **fields}
        entry["history"] = history[-MANIFEST_HISTORY:]
        txn.put(key, json.dumps(entry).encode())


def find_video(db, ref: str):
    """A video of ``db`` by id, unique id prefix or ingested path; StoreError when none or several match."""
    rec = db.get_video(ref)
    if rec is not None:
        return rec
    path = str(Path(ref).expanduser().resolve())
    hits = [r for r in db.videos() if r.video_id.startswith(ref) or r.path in (ref, path)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise StoreError(f"no video {ref!r} in {db.root} (an id, a unique id prefix, or the ingested path)")
    raise StoreError(f"{ref!r} names {len(hits)} videos in {db.root}: give more of the id")


def catalogue_stats(db) -> dict:
    from .indexfile import index_files

    with db.env.begin() as txn:  # LMDB's own page counts: no value is read
        st = txn.stat(db.db_feats)
    feature_bytes = st["psize"] * (st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"])
    return {"videos": len(db), "vectors": db.index.ntotal, "feature_bytes": feature_bytes,
            "region_codec": db.region_codec,
            "bytes": sum(f.stat().st_size for f in db.root.rglob("*") if f.is_file()),
            "index_bytes": sum(p.stat().st_size for p in index_files(db.root)),
            "hours": sum(r.duration for r in db.videos()) / 3600.0, "index": db.meta["index"]["kind"]}
