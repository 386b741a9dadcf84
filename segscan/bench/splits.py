"""The benchmark's splits: truth, and each query's candidates and maps, built by the query path.

A benchmark folder (``generate.build``) holds the queries and their truth; ``load_splits``
opens the folder's database, encodes every query once (features cached in the folder) and
keeps the candidates' maps as ``query.maps.build_maps`` makes them, so that every method is
scored on exactly what ``query.py`` would align.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..align import make_aligner
from ..index.regioncodec import DEFAULT_CODEC
from ..index.store import Database
from ..pipeline.extract import EncoderConfig, VideoEncoder, feature_config, query_config
from ..pipeline.views import expand, pick
from ..query import QueryConfig, Settings, resolve
from ..query.maps import build_maps
from ..types import CandidateMap, VideoFeatures


@dataclass
class QueryMaps:
    """One query's candidates with their maps, as the query path builds them (cached per run)."""

    qid: str
    duration: float
    cands: list[CandidateMap]
    seconds: float  # features + search + map assembly

    @property
    def refs(self) -> list[str]:
        """Reference id per candidate."""
        return [ref_id(c.path) for c in self.cands]

    @property
    def maps(self) -> list:
        return [c.map for c in self.cands]


@dataclass
class Split:
    queries: list[QueryMaps] = field(default_factory=list)
    labels: dict = field(default_factory=dict)  # "qid-ref" -> boxes
    pair_edits: dict = field(default_factory=dict)  # "qid-ref" -> set of edit names
    # weight of a negative query's pairs (a query without any true pair) in segment precision:
    # a train split tuned for a test split with another share of negative queries is weighted to
    # the test's share, so a threshold chosen on it suits the test (see ``negative_weight``)
    neg_weight: float = 1.0

    def negatives(self) -> set[str]:
        """Ids of the queries with no true pair."""
        positive = {k.split("-", 1)[0] for k in self.labels}
        return {q.qid for q in self.queries} - positive


def negative_weight(train: Split, test: Split) -> float:
    """The weight that gives the train split's negative queries the test split's share of queries
    (1 when either split has only one kind)."""
    def ratio(s: Split) -> float | None:
        neg = len(s.negatives())
        pos = len(s.queries) - neg
        return neg / pos if neg and pos else None

    a, b = ratio(train), ratio(test)
    return b / a if a and b else 1.0


def ref_id(path: str) -> str:
    return Path(path).stem


def load_split(bench: Path, part: str) -> Split:
    s = Split()
    s.labels = json.loads((bench / "truth" / f"{part}_label_file.json").read_text())
    with open(bench / "truth" / f"{part}_pairs.csv") as f:
        for row in csv.DictReader(f):
            key = f"{row['query_id']}-{row['reference_id']}"
            edits = s.pair_edits.setdefault(key, set())
            edits.add(row["temporal"].split()[0])
            edits.update(e for e in row["spatial"].split("+") if e)
            edits.update(e for e in row["query_edits"].split("+") if e)
    return s


def held_out_references(bench: Path) -> set[str]:
    """Ids of the folder's references whose content group training keeps aside
    (:func:`segscan.corpus.held_out_group`), so that a choice can be made on footage no model
    of the project learned."""
    from ..corpus import held_out_group, load_clips

    meta = json.loads((bench / "meta.json").read_text())
    return {c.path.stem for c in load_clips(meta["media"]) if held_out_group(c.content_group)}


def held_out_query(qid: str, copied, held: set[str]) -> bool:
    """Whether a query is kept aside: it copies a held-out reference, or, copying nothing, its
    id hashes so."""
    from ..corpus import held_out_group

    return bool(held & set(copied)) if copied else held_out_group(qid)


def reference_folds(bench: Path, folds: int) -> dict[str, int]:
    """The fold (:func:`segscan.corpus.group_fold`) of each of the folder's references, by id."""
    from ..corpus import group_fold, load_clips

    meta = json.loads((bench / "meta.json").read_text())
    return {c.path.stem: group_fold(c.content_group, folds) for c in load_clips(meta["media"])}


def query_fold(qid: str, copied, ref_folds: dict[str, int], folds: int) -> int:
    """A query's fold: its copied references' (the lowest where they span two), or, copying
    nothing, its id's."""
    from ..corpus import group_fold

    return min(ref_folds[r] for r in copied) if copied else group_fold(qid, folds)


def copied_references(split: Split) -> dict[str, set[str]]:
    """The references each query copies, by query id (queries copying nothing absent)."""
    copied: dict[str, set[str]] = {}
    for key in split.labels:
        qid, ref = key.split("-", 1)
        copied.setdefault(qid, set()).add(ref)
    return copied


def divide(split: Split, held: set[str]) -> tuple[Split, Split]:
    """(the queries training may learn, those it keeps aside), each with its own truth (``held``:
    :func:`held_out_references`)."""
    copied = copied_references(split)
    aside = {q.qid for q in split.queries if held_out_query(q.qid, copied.get(q.qid, ()), held)}

    def part(keep) -> Split:
        own = lambda d: {k: v for k, v in d.items() if keep(k.split("-", 1)[0])}
        return Split([q for q in split.queries if keep(q.qid)], own(split.labels), own(split.pair_edits),
                     split.neg_weight)

    return part(lambda q: q not in aside), part(lambda q: q in aside)


def feature_key(ecfg: EncoderConfig) -> str:
    """Short digest of the feature configuration: a benchmark keeps one database per configuration."""
    import hashlib

    return hashlib.sha1(json.dumps(feature_config(ecfg), sort_keys=True).encode()).hexdigest()[:10]


def query_features_dir(bench: Path, ecfg: EncoderConfig, part: str) -> Path:
    """Where a split's query features are cached, keyed by what queries are encoded with
    (:func:`segscan.pipeline.extract.query_config`), which several catalogue settings share."""
    return bench / f"features-{feature_key(query_config(ecfg))}" / part


def database_dir(bench: Path, ecfg: EncoderConfig, region_codec: str = DEFAULT_CODEC) -> Path:
    """The folder's database for this feature configuration (one per region codec but the default)."""
    tail = "" if region_codec == DEFAULT_CODEC else f"-{region_codec}"
    return bench / f"db-{feature_key(ecfg)}{tail}"


def is_built(bench: Path) -> bool:
    """Whether ``bench`` is a built benchmark folder; if not, says so on stderr."""
    if (Path(bench) / "gallery.txt").exists() and (Path(bench) / "meta.json").exists():
        return True
    print(f"error: {bench} is not a built benchmark folder (python -m segscan.bench run builds one)", file=sys.stderr)
    return False


def query_settings(map_mode: str | None = None, cfg: QueryConfig | None = None) -> Settings:
    """The settings the benchmark builds maps with: the query path's defaults (or ``cfg``), with the
    map kind fixed (``map_mode``, else the default aligner's), so every method sees the same maps."""
    cfg = cfg or QueryConfig()
    if map_mode:
        cfg = dataclasses.replace(cfg, map_mode=map_mode)
    return resolve(cfg, make_aligner(cfg.aligner, **cfg.aligner_params))


def method_settings(maps: Settings, aligner) -> Settings:
    """The query path's settings for ``aligner`` on the benchmark's maps (its own thresholds)."""
    return resolve(dataclasses.replace(maps.config, map_mode=maps.map_mode), aligner)


def encode_queries(bench: Path, part: str, encoder: VideoEncoder, db, settings: Settings, cache: Path,
                   progress=True) -> list[QueryMaps]:
    out = []
    cache.mkdir(parents=True, exist_ok=True)
    paths = sorted((bench / "queries" / part).glob("*.mp4"))
    for p in tqdm(paths, desc=f"{part}: queries", disable=not progress):
        t0 = time.perf_counter()
        npz = cache / f"{p.stem}.npz"
        z = np.load(npz) if npz.exists() else None
        names = expand(settings.config.views)
        if z is not None and "regions" in z.files and all(n in z.files for n in names):
            # cached: count the time the features took when made
            def feats_of(key):
                return VideoFeatures(z["times"], z[key], z[f"{key}_regions"] if key != "global" else z["regions"],
                                     duration=float(z["duration"]))
            feats, views = feats_of("global"), {n: feats_of(n) for n in names}
            feat_s = float(z["seconds"]) if "seconds" in z.files else 0.0
        else:
            enc = encoder(str(p), views=settings.config.views, query=True)
            feats, views = enc.features, enc.views
            feat_s = time.perf_counter() - t0
            arrays = {"times": feats.times, "global": feats.global_feats, "regions": feats.region_feats,
                      "duration": feats.duration, "seconds": feat_s}
            for n, v in views.items():
                arrays.update({n: v.global_feats, f"{n}_regions": v.region_feats})
            np.savez(npz, **arrays)
        t1 = time.perf_counter()
        cands = build_maps(db, feats, settings, pick(views, settings.config.views))
        out.append(QueryMaps(p.stem, feats.duration, cands, feat_s + time.perf_counter() - t1))
    return out


def load_splits(bench: Path, parts: list[str], encoder, settings: Settings, distractors: int = 0,
                base: Path | None = None, seed: int = 0, progress: bool = True,
                region_codec: str = DEFAULT_CODEC) -> tuple[dict, dict]:
    """The maps of ``parts`` against ``bench``'s database (with ``distractors`` distractor keyframes
    from the base file ``base``; region vectors kept as ``region_codec``), and the database's stats."""
    ecfg = encoder.config
    db_dir = database_dir(bench, ecfg, region_codec)
    if not db_dir.exists():
        raise SystemExit(f"error: {db_dir} not found; run the benchmark on {bench} once first "
                         "(python -m segscan.bench run)")
    splits = {}
    with Database.open(db_dir, readonly=True, feature_config=feature_config(ecfg)) as db:
        stats = db.stats()
        if distractors:
            from .distractors import with_distractors

            db = with_distractors(db, distractors, base, encoder, seed=seed, progress=progress)
        for part in parts:
            s = load_split(bench, part)
            s.queries = encode_queries(bench, part, encoder, db, settings, query_features_dir(bench, ecfg, part), progress)
            splits[part] = s
    return splits, stats


def cached_queries(bench: Path, part: str, progress: bool = False, map_mode: str | None = None,
                   ecfg: EncoderConfig | None = None, comparator: str | None = None) -> list["QueryMaps"]:
    """The maps of one split's queries against the benchmark's database of ``ecfg``'s features
    (default: the encoder's; ingested by ``run``), scored by ``comparator`` if one is named."""
    encoder = VideoEncoder(ecfg or EncoderConfig())
    settings = query_settings(map_mode, QueryConfig(comparator=comparator))
    splits, _ = load_splits(bench, [part], encoder, settings, progress=progress)
    return splits[part].queries


def check_same_split(bench: Path, other: Path) -> None:
    """Exit with a message unless ``other`` is a benchmark folder with ``bench``'s source split and gallery."""
    def key(b: Path):
        try:
            meta = json.loads((b / "meta.json").read_text())
            gallery = sorted(ref_id(x) for x in (b / "gallery.txt").read_text().split())
        except (OSError, ValueError) as e:
            raise SystemExit(f"error: {b} is not a built benchmark folder ({e})")
        return meta["split"], gallery

    if key(bench) != key(other):
        raise SystemExit(f"error: {other} does not share {bench}'s train/test split and gallery "
                         "(build it with the same --seed, e.g. --size 10 10 300 60)")
