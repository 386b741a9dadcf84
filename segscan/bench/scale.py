"""Catalogue scale: the index at millions of keyframes on this machine, one table.

    python -m segscan.bench.scale [--sizes 1000000 10000000 30000000] [--part test]

The catalogue is the benchmark folder's gallery plus feature-level distractor keyframes
(:mod:`segscan.bench.distractors`: made from real photos' region vectors; a distractor's
regions are made again, identically, when a query asks for them, so the maps have regions
without a store of them). Their global vectors are written once, in blocks, to a float16
file that larger sizes extend. Each size runs in a process of its own, so its peak memory
is its own:

1. the exact top 64 of samples of the train split's and the split's query vectors (the
   queries' and their views'), by brute force over the gallery and the file in blocks (kept
   in ``--work`` for the next run at that size);
2. the index a new database gets by default (``auto``): flat and exact below
   ``AUTO_IVF_FROM`` vectors, else IVF (8-bit codes) trained on an even sample and filled
   in blocks from the file, never holding the catalogue's vectors whole;
3. build seconds, index bytes (as the database's file would hold them), peak memory; for each ``--nprobe``, the search of a
   60-second clip (60 keyframes and the query path's views, median of 5) and recall@64
   against exact search on train and on the split's query vectors; the lists probed from
   then on are the fewest whose train recall reaches ``--min-recall``;
4. segment F1, recall and micro-AP of the split's queries through the query path with that
   index (size 0: the gallery alone, the figures to compare with);
5. the whole query of a 60-second clip (six cropped 10-second pieces of the gallery's real
   clips, as ``bench.figures`` makes it): decode, features, search, maps and alignment, median
   of 3 after one to warm up.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .distractors import KEYFRAMES_PER_VIDEO, DistractorDB, base_vectors, distractor_ids, synth_videos

TOPN = 64
BLOCK = 990_000  # distractor keyframes made, searched or indexed at a time (whole videos)


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class VectorFile:
    """(n, dim) float16 vectors in a file, read a block at a time as float32 (not memory-mapped:
    mapped pages would count in the process's peak memory, which the benchmark reports)."""

    def __init__(self, path: Path | None, n: int, dim: int):
        self.path, self.n, self.dim = path, n, dim

    def __len__(self) -> int:
        return self.n

    def read(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.n)
        if stop <= start:
            return np.zeros((0, self.dim), np.float32)
        with open(self.path, "rb") as f:
            f.seek(start * self.dim * 2)
            return np.fromfile(f, np.float16, (stop - start) * self.dim).reshape(-1, self.dim).astype(np.float32)

    def every(self, step: int) -> np.ndarray:
        """Rows 0, step, 2 step, ... (an even sample), read block by block."""
        out = []
        for i in range(0, self.n, BLOCK):
            first = (-i) % step
            # a copy: a strided view would keep each whole block (1 GB) alive, 30 GB at 30M
            out.append(self.read(i, i + BLOCK)[first::step].copy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def distractor_file(path: Path, base: np.ndarray, n: int, seed: int = 0) -> VectorFile:
    """(n, D) float16 global vectors of distractor keyframes 0..n, made once; a larger ``n``
    extends the file (``path``.json records how many it holds and of which base)."""
    if n == 0:
        return VectorFile(None, 0, base.shape[-1])
    meta = path.with_suffix(".json")
    key = {"seed": seed, "base": round(float(np.abs(base.astype(np.float64)).sum()), 3), "dim": int(base.shape[-1])}
    have = 0
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        if {k: m.get(k) for k in key} == key:
            have = int(m["n"])
    if have < n:
        start = (have // KEYFRAMES_PER_VIDEO) * KEYFRAMES_PER_VIDEO  # redo a video cut short
        with open(path, "r+b" if start else "wb") as f:
            f.truncate(start * base.shape[-1] * 2)
            f.seek(start * base.shape[-1] * 2)
            for i in range(start, n, BLOCK):
                stop = min(n, i + BLOCK)
                f.write(synth_videos(base, stop, seed=seed, progress=False, start=i).astype(np.float16).tobytes())
                f.flush()
                meta.write_text(json.dumps({**key, "n": stop}) + "\n")  # an interrupted run resumes here
                print(f"  distractor vectors: {stop:,} of {n:,}", file=sys.stderr, flush=True)
    return VectorFile(path, n, base.shape[-1])


def exact_top(q: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray, vecs: VectorFile, k: int = TOPN,
              block: int = 50_000) -> np.ndarray:
    """Ids of the exact top ``k`` of each row of ``q`` over the gallery and the distractor file
    (``block`` distractors at a time: a block's scores are len(q) x block floats)."""
    rows = np.arange(len(q))[:, None]

    def top(s: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k best of each row: ``ids`` one per column, or one per cell."""
        t = np.argpartition(-s, k - 1, axis=1)[:, :k]
        return s[rows, t], (ids[t] if ids.ndim == 1 else ids[rows, t])

    best_s, best_i = top(q @ gallery.T, gallery_ids)
    for i in range(0, len(vecs), block):
        part = vecs.read(i, i + block)
        s, ids = top(q @ part.T, distractor_ids(i, i + len(part)))
        best_s, best_i = top(np.concatenate([best_s, s], 1), np.concatenate([best_i, ids], 1))
    return best_i


def cached_exact_top(path: Path, q: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray,
                     vecs: VectorFile) -> tuple[np.ndarray, float]:
    """:func:`exact_top` and the seconds it took, kept in ``path`` for these very query vectors
    (at 30M keyframes it is most of an hour)."""
    digest = hashlib.sha1(q.tobytes()).hexdigest()
    if path.exists():
        with np.load(path) as z:
            if str(z["digest"]) == digest:
                return z["top"], float(z["seconds"])
    _say(f"exact top {TOPN} of {len(q):,} query vectors over {len(gallery) + len(vecs):,} keyframes")
    t0 = time.time()
    top = exact_top(q, gallery, gallery_ids, vecs)
    seconds = time.time() - t0
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, top=top, digest=np.array(digest), seconds=np.array(seconds))
    os.replace(tmp, path)
    return top, seconds


def _say(msg: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {msg} (peak {_rss_gib():.1f} GiB)", file=sys.stderr, flush=True)


def build_index(n: int, gallery: np.ndarray, gallery_ids: np.ndarray, vecs: VectorFile, kind: str, params: dict):
    """The index a catalogue of gallery + n distractors gets, filled block by block."""
    from ..index.vectors import make_index

    index = make_index(kind, gallery.shape[1], **params)
    total = len(gallery) + n
    if getattr(index, "trainable", False) and total >= index.train_size:
        every = index.sample_step(total)  # an even sample, as Database.rebuild_index takes it
        _say(f"index: training on one vector in {every} of {total:,}")
        index.train(np.concatenate([gallery, vecs.every(every)]), n_expected=total)
    index.add(gallery_ids, gallery)
    for i in range(0, n, BLOCK):
        stop = min(n, i + BLOCK)
        index.add(distractor_ids(i, stop), vecs.read(i, stop))
        _say(f"index: {stop:,} of {n:,} distractor keyframes in")
    return index


def saved_bytes(index) -> int:
    """The bytes the index's files hold (one a segment), counted as they stream out (nothing is kept)."""
    class Counter:
        n = 0

        def write(self, b) -> int:
            self.n += len(b)
            return len(b)

    out = Counter()
    if hasattr(index, "write_file"):
        for i in range(index.files):
            index.write_file(i, out)
    else:
        index.write_to(out)
    return out.n


def ingest_save(index, work: Path, vecs: np.ndarray) -> dict:
    """The save after an ingest of one more video (``vecs``): seconds and bytes of the files it
    rewrites (the segments it changed), then of every file of the index, which is what a save
    rewrote when the index was one file. Written as the database writes them (temporary name,
    fsync, rename) into a scratch folder, removed after."""
    import tempfile

    from ..index.ids import make_ids
    from ..index.indexfile import index_layout, write_index_file

    if hasattr(index, "dirty"):
        index.dirty.clear()  # as saved: what the ingest changes is what its save rewrites
    index.add(make_ids((1 << 40) - 1, len(vecs)), vecs)  # a video number no catalogue here uses
    out = {}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        layout = index_layout(Path(tmp), index, "auto")
        changed = getattr(index, "dirty", set(range(len(layout))))
        for name, files in (("save", [f for i, f in enumerate(layout) if i in changed]), ("save_whole", layout)):
            t0, size = time.time(), 0
            for path, part, fields in files:
                write_index_file(path, fields, part.write_to)
                size += path.stat().st_size
            out.update({f"{name}_s": round(time.time() - t0, 2), f"{name}_bytes": size})
    return out


def recall_at(index, q: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's exact top 64 that the index returns in its top 64."""
    got = index.search(q, TOPN)
    return float(np.mean([len(set(g[1].tolist()) & set(t.tolist())) / TOPN for g, t in zip(got, truth)]))


def search_seconds(index, clip: np.ndarray, repeats: int = 5) -> float:
    """Median seconds of one search of the clip's vectors (after one to warm up)."""
    index.search(clip, TOPN)
    lat = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        index.search(clip, TOPN)
        lat.append(time.perf_counter() - t0)
    return float(np.median(lat))


def query_vectors(bench: Path, part: str, views) -> tuple[np.ndarray, np.ndarray]:
    """(all the split's query vectors, those of a 60-second clip: 60 keyframes and their views)."""
    from ..pipeline.extract import EncoderConfig
    from ..pipeline.views import expand
    from .splits import query_features_dir

    folder = query_features_dir(bench, EncoderConfig(), part)
    rows, clip = [], []
    for f in sorted(folder.glob("*.npz")):
        z = np.load(f)
        per_kf = np.stack([z["global"]] + [z[v] for v in expand(views)], 1)  # (keyframes, views, D)
        rows.append(per_kf.reshape(-1, per_kf.shape[-1]))
        clip += list(per_kf)
    if len(clip) < 60:
        raise SystemExit(f"error: {folder} holds fewer than 60 query keyframes")
    return np.concatenate(rows).astype(np.float32), np.concatenate(clip[:60]).astype(np.float32)


def one_size(args) -> dict:
    """Everything measured at one size, in this process."""
    from ..align import make_aligner
    from ..index.ids import make_ids
    from ..index.store import Database
    from ..pipeline.extract import EncoderConfig, VideoEncoder, feature_config
    from ..query import QueryConfig
    from .figures import timed_query
    from .scoring import evaluate, predict
    from .splits import database_dir, encode_queries, feature_key, load_split, query_features_dir, query_settings

    bench, n = Path(args.bench), args.one
    clip60 = query60(bench, Path(args.work))  # made first: a failure here costs no index build
    ecfg = EncoderConfig()
    encoder = VideoEncoder(ecfg)
    base = base_vectors(encoder, Path(args.images), bench / f"distractor-base-{feature_key(ecfg)}.npz",
                        seed=args.seed, progress=False)
    vecs = distractor_file(Path(args.work) / f"distractors-{feature_key(ecfg)}-s{args.seed}.f16", base, n, args.seed)
    qcfg = QueryConfig()
    rng = np.random.default_rng(0)
    queries = {}
    for part in ("train", args.part):  # recall on train chooses nprobe; args.part is read after
        allq, clip = query_vectors(bench, part, qcfg.views)  # the clip timed: args.part's
        queries[part] = allq[rng.choice(len(allq), min(args.recall_vectors, len(allq)), replace=False)]
    with Database.open(database_dir(bench, ecfg), readonly=True, feature_config=feature_config(ecfg)) as db:
        nums = sorted(db._num_to_id)
        feats = [db.features_by_num(k) for k in nums]
        gallery = np.concatenate([f.global_feats for f in feats]).astype(np.float32)
        gallery_ids = np.concatenate([make_ids(k, len(f)) for k, f in zip(nums, feats)])
        both = np.concatenate(list(queries.values()))
        cache = Path(args.work) / f"exact-{bench.name}-{feature_key(ecfg)}-{args.part}-{len(gallery) + n}.npz"
        top, exact_s = cached_exact_top(cache, both, gallery, gallery_ids, vecs)
        truth = dict(zip(queries, np.split(top, [len(queries["train"])])))
        rss_before = _rss_gib()
        t0 = time.time()
        index = build_index(n, gallery, gallery_ids, vecs, args.kind, json.loads(args.params))
        build_s = time.time() - t0
        index_bytes = saved_bytes(index)
        ivf = bool(getattr(index, "ivf", False))
        probes = {}
        for nprobe in (args.nprobe if ivf else [None]):
            if nprobe:
                index.nprobe = nprobe
            probes[nprobe] = {f"recall_{part}": round(recall_at(index, queries[part], truth[part]), 4)
                              for part in queries}
            probes[nprobe]["search_60s_clip_s"] = round(search_seconds(index, clip), 4)
        good = [p for p in probes if probes[p]["recall_train"] >= args.min_recall]
        chosen = min(good) if good and ivf else max(probes, key=lambda p: p or 0)
        if chosen:
            index.nprobe = chosen
        row = {"keyframes": len(gallery) + n, "index": getattr(index, "kind", args.kind), "ivf": ivf,
               "files": getattr(index, "files", 1),
               "build_s": round(build_s, 1), "index_bytes": index_bytes,
               "bytes_per_keyframe": round(index_bytes / (len(gallery) + n), 1), "nprobe": chosen,
               **probes[chosen], "by_nprobe": {str(k): v for k, v in probes.items()},
               "exact_search_s": round(exact_s, 1), "peak_rss_before_index_gib": round(rss_before, 2)}
        dist = DistractorDB(db, index, n, base, args.seed, index_has_gallery=True)
        if not args.no_f1:
            settings = query_settings(None, qcfg)
            split = load_split(bench, args.part)
            _say(f"segment F1 of the {args.part} split's queries through the query path")
            t0 = time.time()
            split.queries = encode_queries(bench, args.part, encoder, dist, settings,
                                           query_features_dir(bench, ecfg, args.part), progress=False)
            preds, rankings, _ = predict(split, make_aligner(qcfg.aligner, **qcfg.aligner_params), settings)
            m = evaluate(split, preds, rankings, settings.threshold)
            row.update({"seg_f1": round(m["f1"], 4), "seg_r": round(m["recall"], 4), "micro_ap": round(m["micro_ap"], 4),
                        "query_p50_s": round(float(np.median([q.seconds for q in split.queries])), 3),
                        "f1_s": round(time.time() - t0, 1)})
        # the whole query of a 60-second clip (decode, features, search, maps, alignment) at this size
        whole_s, search_align_s = timed_query(dist, encoder, clip60, qcfg)
        row.update({"query_60s_clip_s": round(whole_s, 3), "query_60s_search_align_s": round(search_align_s, 3)})
        row.update(ingest_save(index, Path(args.work), gallery[:KEYFRAMES_PER_VIDEO]))
    row["peak_rss_gib"] = round(_rss_gib(), 2)
    return row


def query60(bench: Path, work: Path) -> Path:
    """The 60-second query of ``bench.figures`` cut from the folder's real gallery clips (those of
    either split: a split may hold fewer than the six long clips it takes), made once."""
    from ..corpus import load_clips
    from .figures import write_query60

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"q60-{bench.name}.mp4"
    if not path.exists():
        meta = json.loads((bench / "meta.json").read_text())
        gallery = {Path(x).resolve() for x in (bench / "gallery.txt").read_text().split()}
        clips = [c for c in load_clips(meta["media"]) if c.path.resolve() in gallery and c.duration >= 10.5]
        tmp = path.with_suffix(".tmp.mp4")
        write_query60(tmp, clips, seed=0)
        os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    from ..corpus import DEFAULT_IMAGES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000],
                    help="distractor keyframes added to the gallery, one row each")
    ap.add_argument("--bench", default="bench-data/bench-s0-t100n100-r60n30-d60",
                    help="a benchmark folder run once (python -m segscan.bench run)")
    ap.add_argument("--part", default="test", choices=("train", "test"), help="the split whose queries are asked")
    ap.add_argument("--kind", default="auto", help="index kind (default: a new database's)")
    ap.add_argument("--params", default="{}", help="index parameters, as JSON (e.g. '{\"nprobe\": 32}')")
    ap.add_argument("--recall-vectors", type=int, default=1000,
                    help="query vectors of each split whose recall@64 is measured")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64],
                    help="IVF lists probed, each measured; the smallest whose recall on train queries "
                         "reaches --min-recall is used for the segment figures")
    ap.add_argument("--min-recall", type=float, default=0.95)
    ap.add_argument("--no-f1", action="store_true", help="index figures only, no segment F1")
    ap.add_argument("--work", default="bench-data/scale", help="where the distractor vectors are kept")
    ap.add_argument("--images", default=str(DEFAULT_IMAGES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # one size, in this process
    args = ap.parse_args(argv)
    if not Path(args.bench, "meta.json").exists():
        print(f"error: {args.bench} is not a built benchmark folder (python -m segscan.bench run)", file=sys.stderr)
        return 2
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.one is not None:
        print(json.dumps(one_size(args)))
        return 0
    rows = []
    for n in sorted(args.sizes):
        rest = _drop_sizes(list(argv if argv is not None else sys.argv[1:]))
        out = subprocess.run([sys.executable, "-m", "segscan.bench.scale", "--one", str(n), *rest],
                             stdout=subprocess.PIPE, text=True)
        if out.returncode:
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _drop_sizes(cmd: list[str]) -> list[str]:
    """The command without --sizes and its values (the child runs one size)."""
    out, skip = [], False
    for c in cmd:
        if c == "--sizes":
            skip = True
            continue
        if skip and not c.startswith("--"):
            continue
        skip = False
        out.append(c)
    return out


if __name__ == "__main__":
    sys.exit(main())
