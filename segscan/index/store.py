"""The database: an LMDB store (the source of truth) plus a vector index derived from it.

Layout of a database folder (``--db``, default ``./segscan-db``)::

    store.lmdb/      LMDB environment: meta, videos, hashes, features, manifest
    index.bin        the vector index: a JSON header + the backend's bytes, written to a
                     temporary name and renamed, so it is either the old or the new one
                     (a sharded index: index-0.bin, index-1.bin, ..., one per shard; a trained
                     IVF: index.bin, index-seg1.bin, ..., one per segment, segscan.index.segments)
    .lock            held by the one writer (ingest) while it runs

Each video is committed to LMDB in one transaction (record, keyframe times and features
together), so an interrupted ingest leaves whole videos or none. The index records which
videos it covers; opened for writing, it is brought in step with the store.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import lmdb
import numpy as np

from ..errors import StoreError
from ..types import VideoFeatures
from .catalogue import catalogue_stats, record_event
from .ids import make_ids, split_ids
from .indexfile import load_index_files, save_index_files
from .lock import acquire_writer_lock, release_writer_lock
from .regioncodec import DEFAULT_CODEC, check_new_codec, database_codebook
from .records import VideoRecord, as_stored, num_key, pack_features, unpack_features
from .vectors import make_index

log = logging.getLogger(__name__)

DEFAULT_DB = "segscan-db"
FORMAT_VERSION = 1


class Database:
    """Open with :meth:`open`; use as a context manager so the lock and files are released."""

    def __init__(self, root: Path, env, readonly: bool, lock_fd):
        self.root, self.env, self.readonly, self._lock_fd = root, env, readonly, lock_fd
        self.db_meta = env.open_db(b"meta")
        self.db_videos = env.open_db(b"videos")
        self.db_hash = env.open_db(b"hashes")
        self.db_feats = env.open_db(b"features")
        self.db_manifest = env.open_db(b"manifest")
        self.meta = self._get_json(self.db_meta, b"config") or {}
        self.index = None
        self.index_loaded = True  # False: opened with load_index=False, searches need shard servers
        self._covered: set[int] = set()
        self._dirty = False
        self._num_to_id: dict[int, str] = {}
        self.codebook = None  # the pq region codec's (regioncodec.database_codebook)

    @classmethod
    def open(cls, root: str | os.PathLike = DEFAULT_DB, readonly: bool = False, create: bool | None = None,
             feature_config: dict | None = None, index_kind: str | None = None, index_params: dict | None = None,
             region_codec: str | None = None, map_size: int = 1 << 40, load_index: bool = True) -> "Database":
        """Open (or create, when writable) the database at ``root``. A database made with another
        ``feature_config`` than the caller's extractor makes (vectors not comparable), another
        ``index_kind`` (that of a new database, default flat) or another ``region_codec`` (how
        region vectors are kept, :mod:`segscan.index.regioncodec`) is refused, not silently used.
        ``load_index=False`` (read-only) leaves the index files unread: for a driver whose
        searches go to shard servers (:mod:`segscan.services.shard_pool`), so the index as a
        whole never has to fit this process."""
        root = Path(root)
        if region_codec is not None:
            check_new_codec(region_codec, feature_config)  # before anything is created
        create = (not readonly) if create is None else create
        store = root / "store.lmdb"
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root} is a file, not a database folder")
        if not store.exists():
            if not create:
                raise StoreError(f"no segscan database at {root} (ingest some videos first: python ingest.py DIR --db {root})")
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the database folder {root}: {exc.strerror or exc}") from exc
        lock_fd = None if readonly else acquire_writer_lock(root)
        try:
            env = lmdb.open(str(store), max_dbs=8, map_size=map_size, readonly=readonly, lock=not readonly,
                            subdir=True, create=create)
        except lmdb.Error as exc:
            if lock_fd is not None:
                release_writer_lock(lock_fd)
            raise StoreError(f"cannot open store {store}: {exc}") from exc
        db = cls(root, env, readonly, lock_fd)
        try:
            db._init_meta(feature_config, index_kind, index_params or {}, region_codec)
            if load_index or not readonly:
                db._load_index()
            else:
                db.index, db.index_loaded = db._new_index(), False
        except Exception:
            db.close()
            raise
        return db

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.env is None:
            return
        try:
            if not self.readonly and self._dirty:
                self.flush()
        finally:  # a failed flush (a full disk) still releases the store and the writer's lock
            self.env.close()
            self.env = None
            if self._lock_fd is not None:
                release_writer_lock(self._lock_fd)
                self._lock_fd = None

    def _get(self, db, key: bytes) -> bytes | None:
        with self.env.begin(db=db) as txn:
            return txn.get(key)

    def _get_json(self, db, key: bytes):
        v = self._get(db, key)
        return json.loads(v) if v is not None else None

    def _init_meta(self, feature_config, index_kind, index_params, region_codec=None):
        if not self.meta:
            if self.readonly:
                raise StoreError(f"{self.root} has no configuration; it was never written")
            if feature_config is None:
                raise StoreError(f"{self.root} is empty and no feature configuration was given")
            self.meta = {"format": FORMAT_VERSION, "features": feature_config,
                         "index": {"kind": index_kind or "auto", "params": index_params}, "next_num": 0,
                         "region_codec": region_codec or DEFAULT_CODEC,
                         "created": time.time()}
            self.codebook = database_codebook(self.meta)  # a pq database records its codebook's digest
            with self.env.begin(write=True, db=self.db_meta) as txn:
                txn.put(b"config", json.dumps(self.meta).encode())
        if index_kind is not None and index_kind != self.meta["index"]["kind"]:
            raise StoreError(f"{self.root} has a {self.meta['index']['kind']} index, not {index_kind}: "
                             "leave the index kind out, or use another --db")
        if region_codec is not None and region_codec != self.region_codec:
            raise StoreError(f"{self.root} keeps region vectors as {self.region_codec}, not {region_codec}: "
                             "leave the region codec out, or use another --db")
        if self.meta.get("format") != FORMAT_VERSION:
            raise StoreError(f"{self.root} has store format {self.meta.get('format')}, this segscan reads {FORMAT_VERSION}")
        if self.codebook is None:
            self.codebook = database_codebook(self.meta)
        if feature_config is not None and feature_config != self.meta["features"]:
            have = self.meta["features"]
            diff = ", ".join(f"{k}: {have.get(k)} (database) vs {feature_config.get(k)} (this command)"
                             for k in sorted(set(have) | set(feature_config)) if have.get(k) != feature_config.get(k))
            raise StoreError(
                f"{self.root} was built with other features ({diff}); use the flags it was built with "
                "(--backbone, --layers, --whitening, --keyframes, --keyframe-fps, --ske-threshold, --ske-max-gap) "
                "or another --db"
            )
        with self.env.begin(db=self.db_videos) as txn:
            for k, v in txn.cursor():
                rec = json.loads(v)
                self._num_to_id[rec["num"]] = rec["video_id"]

    @property
    def dim(self) -> int:
        return int(self.meta["features"]["dim"])

    @property
    def region_codec(self) -> str:
        """How region vectors are kept (databases made before the choice existed: float16)."""
        return self.meta.get("region_codec", DEFAULT_CODEC)

    @property
    def feature_config(self) -> dict:
        return dict(self.meta["features"])

    def _new_index(self):
        cfg = self.meta["index"]
        return make_index(cfg["kind"], self.dim, **cfg.get("params", {}))

    def _load_index(self):
        self.index = self._new_index()
        self._covered = load_index_files(self.root, self.index, self.meta["index"]["kind"], self.dim)
        self._sync_index()

    def _sync_index(self):
        """Bring the index in step with the store (after a crash, or another kind of index)."""
        stored = set(self._num_to_id)
        missing, extra = sorted(stored - self._covered), sorted(self._covered - stored)
        if extra:
            self.index.remove_videos(extra)
            self._covered -= set(extra)
        for num in missing:
            f = self.features_by_num(num)
            self.index.add(make_ids(num, len(f)), f.global_feats)
            self._covered.add(num)
        if missing or extra:
            log.info("index brought in step with the store: %d added, %d removed", len(missing), len(extra))
            if not self.readonly:
                self._dirty = True
                self.flush()

    def flush(self):
        """Write the index atomically (temporary file, fsync, rename; a sharded one shard by shard)."""
        if self.readonly:
            raise StoreError("database opened read-only")
        if getattr(self.index, "outgrown", False):  # lists sized for a catalogue a tenth this size
            log.info("the catalogue outgrew its IVF lists (%d vectors); retraining", self.index.ntotal)
            self.rebuild_index()  # flushes
            return
        save_index_files(self.root, self.index, self.meta["index"]["kind"], self.dim, self._covered)
        self._dirty = False

    def rebuild_index(self, kind: str | None = None, params: dict | None = None):
        """Rebuild the index from the store, optionally as another kind."""
        if kind is not None:
            self.meta["index"] = {"kind": kind, "params": params or {}}
            with self.env.begin(write=True, db=self.db_meta) as txn:
                txn.put(b"config", json.dumps(self.meta).encode())
        self.index, self._covered = self._new_index(), set()
        self._train_index()
        self._sync_index()  # adds the store's videos one by one
        self._dirty = True
        self.flush()

    def _train_index(self) -> None:
        """Train an IVF index (``ivf``, ``ivfpq``, or ``auto`` past its size) up front on an even
        sample of the stored keyframes, so the rebuild then adds the catalogue video by video and
        never holds it whole."""
        index = self.index
        if not getattr(index, "trainable", False):
            return
        counts = {n: self.video_by_num(n).n_keyframes for n in sorted(self._num_to_id)}
        total = sum(counts.values())
        if total < index.train_size:
            return  # small enough to stay flat (exact) until it grows
        every = index.sample_step(total)
        sample, seen = [], 0
        for num, n in counts.items():
            take = np.arange((-seen) % every, n, every)  # every ``every``-th keyframe of the catalogue
            if len(take):
                sample.append(self.features_by_num(num).global_feats[take])
            seen += n
        index.train(np.concatenate(sample), n_expected=total)

    def has_hash(self, content_hash: str) -> str | None:
        v = self._get(self.db_hash, content_hash.encode())
        return v.decode() if v is not None else None

    def add_video(self, path: str, content_hash: str, info: dict, feats: VideoFeatures,
                  warnings: list[str] | None = None) -> VideoRecord:
        """Commit one video (record + features) in one transaction, then add it to the index."""
        if self.readonly:
            raise StoreError("database opened read-only")
        if feats.dim != self.dim:
            raise ValueError(f"features have {feats.dim} dimensions, the database {self.dim}")
        existing = self.has_hash(content_hash)
        if existing:
            return self.get_video(existing)
        num = int(self.meta["next_num"])
        video_id = content_hash[:16]
        while self.get_video(video_id) is not None:  # a prefix shared with another content hash
            video_id = content_hash[: len(video_id) + 8]
        rec = VideoRecord.make(video_id, num, path, content_hash, info, feats, warnings)
        self.meta["next_num"] = num + 1
        with self.env.begin(write=True) as txn:
            txn.put(video_id.encode(), json.dumps(asdict(rec)).encode(), db=self.db_videos)
            txn.put(content_hash.encode(), video_id.encode(), db=self.db_hash)
            txn.put(num_key(num), pack_features(feats, self.region_codec, self.codebook), db=self.db_feats)
            txn.put(b"config", json.dumps(self.meta).encode(), db=self.db_meta)
        self._num_to_id[num] = video_id
        if len(feats):
            self.index.add(make_ids(num, len(feats)), as_stored(feats.global_feats))
        self._covered.add(num)
        self._dirty = True
        return rec

    def remove_video(self, video_id: str, reason: str = "removed") -> bool:
        """Remove a video (record, features, index vectors); the manifest records the removal."""
        rec = self.get_video(video_id)
        if rec is None:
            return False
        with self.env.begin(write=True) as txn:
            txn.delete(video_id.encode(), db=self.db_videos)
            txn.delete(rec.content_hash.encode(), db=self.db_hash)
            txn.delete(num_key(rec.num), db=self.db_feats)
        self._num_to_id.pop(rec.num, None)
        self.index.remove_videos([rec.num])
        self._covered.discard(rec.num)
        self._dirty = True
        self.record_manifest(rec.path, "removed", video_id=rec.video_id, reason=reason)
        return True

    def get_video(self, video_id: str) -> VideoRecord | None:
        v = self._get_json(self.db_videos, video_id.encode())
        return VideoRecord(**v) if v is not None else None

    def video_by_num(self, num: int) -> VideoRecord | None:
        vid = self._num_to_id.get(int(num))
        return self.get_video(vid) if vid else None

    def features_by_num(self, num: int) -> VideoFeatures:
        b = self._get(self.db_feats, num_key(num))
        if b is None:
            raise StoreError(f"features of video number {num} missing from the store")
        return unpack_features(b, self.codebook)

    def videos(self):
        with self.env.begin(db=self.db_videos) as txn:
            for _, v in txn.cursor():
                yield VideoRecord(**json.loads(v))

    def __len__(self):
        return len(self._num_to_id)

    def record_manifest(self, path: str, status: str, **fields):
        """Record what happened to ``path`` (:func:`segscan.index.catalogue.record_event`)."""
        record_event(self.env, self.db_manifest, path, status, fields)

    def manifest(self) -> list[dict]:
        with self.env.begin(db=self.db_manifest) as txn:
            return [json.loads(v) for _, v in txn.cursor()]

    def search(self, q: np.ndarray, k: int):
        """Top-k neighbours per query row: list of (scores, video_nums, keyframe_idx)."""
        if not self.index_loaded and getattr(self.index, "searcher", None) is None:
            raise StoreError(f"{self.root} was opened without its index: serve its shards first "
                             "(segscan.services.shard_pool.serve_shards)")
        return [(s, *split_ids(ids)) for s, ids in self.index.search(q, k)]

    def stats(self) -> dict:
        """Sizes: videos, vectors, bytes on disk (all, index), hours of video, index kind."""
        return catalogue_stats(self)
