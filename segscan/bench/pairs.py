"""A split's query-reference video pairs with their region features, for video comparators.

Each query keeps its region vectors and its views' (the query path's, stacked), the
references it truly copies (with the copied query spans) and the candidates the query path
shortlists for it that it does not copy: the hard negatives a comparator must reject.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..align import make_aligner
from ..corpus import DEFAULT_IMAGES
from ..index.store import Database
from ..pipeline.extract import EncoderConfig, VideoEncoder, feature_config
from ..pipeline.views import expand
from ..query import QueryConfig
from ..query.maps import region_vectors
from ..query.rank import rank
from .distractors import DISTRACTOR_PREFIX, base_vectors, distractor_features
from .metrics import average_precision
from .splits import (database_dir, feature_key, held_out_query, held_out_references, load_splits, method_settings,
                     query_features_dir, query_settings, ref_id)


@dataclass
class QueryPairs:
    qid: str
    regions: np.ndarray  # (V, Q, A, D): the query, then its views
    times: np.ndarray  # (Q,)
    positives: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # ref -> copied query spans
    negatives: list[str] = field(default_factory=list)  # shortlisted references it does not copy
    candidates: list[str] = field(default_factory=list)  # the shortlist, in the query path's order
    prescores: list[float] = field(default_factory=list)  # the index's pre-score of each
    # the query path's verdict on each: its best segment's score where it lists the reference,
    # else the pre-score minus 2 (after every listed one)
    listed: list[float] = field(default_factory=list)
    on_list: list[bool] = field(default_factory=list)  # whether the query path lists each
    # kept aside by a comparator's training to choose its checkpoint: the query copies footage of
    # a held-out content group (corpus.held_out_group), or copies nothing and its id hashes so
    held_out: bool = False


def load_pairs(bench: Path, part: str, progress: bool = True, distractors: int = 0,
               seed: int = 0) -> tuple[list[QueryPairs], dict[str, np.ndarray]]:
    """(every query of ``part`` with its pairs, region vectors (R, B, D) by reference id) of a
    benchmark folder the benchmark has run on (its database and query features cached);
    with ``distractors`` feature-level distractor keyframes in the catalogue (as ``bench run
    --distractors``), so the shortlists hold what the query path finds among them."""
    encoder = VideoEncoder(EncoderConfig())
    settings = query_settings("regions", QueryConfig())
    base = bench / f"distractor-base-{feature_key(encoder.config)}.npz"
    splits, _ = load_splits(bench, [part], encoder, settings, distractors=distractors, base=base, seed=seed,
                            progress=progress)
    split = splits[part]
    aligner = make_aligner(settings.config.aligner, **settings.config.aligner_params)
    ranked = method_settings(settings, aligner)
    names = expand(settings.config.views)
    refs: dict[str, np.ndarray] = {}
    with Database.open(database_dir(bench, encoder.config), readonly=True, feature_config=feature_config(encoder.config)) as db:
        for rec in db.videos():
            refs[ref_id(rec.path)] = np.asarray(region_vectors(db.features_by_num(rec.num)), np.float32)  # float16
    if distractors:  # the shortlisted distractor videos' regions, made again as the catalogue made them
        vectors = base_vectors(encoder, DEFAULT_IMAGES, base, seed=seed)
        for q in split.queries:
            for c in q.cands:
                if ref_id(c.path) not in refs and c.path.startswith(DISTRACTOR_PREFIX):
                    v = int(c.path[len(DISTRACTOR_PREFIX):])
                    refs[ref_id(c.path)] = np.asarray(region_vectors(distractor_features(vectors, distractors, v, seed)),
                                                      np.float32)
    held = held_out_references(bench)
    spans: dict[str, dict[str, list[tuple[float, float]]]] = {}  # qid -> ref -> copied query spans
    for key, boxes in split.labels.items():
        qid, ref = key.split("-", 1)
        if ref in refs:
            spans.setdefault(qid, {})[ref] = [(float(b[0]), float(b[2])) for b in boxes]
    out = []
    for q in split.queries:
        z = np.load(query_features_dir(bench, encoder.config, part) / f"{q.qid}.npz")
        stack = np.stack([z["regions"]] + [z[f"{n}_regions"] for n in names]).astype(np.float32)
        qp = QueryPairs(q.qid, stack, z["times"], positives=spans.get(q.qid, {}), candidates=list(q.refs),
                        prescores=[c.prescore for c in q.cands])
        keep_aside(qp, held)
        best = {m.video_id: m.score for m in rank(q.cands, aligner, ranked)}
        qp.listed = [best.get(c.video_id, c.prescore - 2.0) for c in q.cands]
        qp.on_list = [c.video_id in best for c in q.cands]
        out.append(qp)
    return out, refs


def keep_aside(q: QueryPairs, held: set[str]) -> None:
    """Mark ``q`` held out if it copies a reference of ``held`` (or, copying nothing, if its id
    hashes so), and drop ``held`` from the negatives of the others: training never sees
    held-out footage, not even as a negative."""
    q.held_out = held_out_query(q.qid, q.positives, held)
    q.negatives = [r for r in q.candidates if r not in q.positives and (q.held_out or r not in held)]


def scores(model, queries: list[QueryPairs], refs: dict) -> list[np.ndarray]:
    """Per query, the similarity of each shortlisted reference (``model``: a
    :class:`segscan.compare.visil.ViSiL`, any of its ablations)."""
    out = []
    with torch.inference_mode():
        for q in queries:
            s, _, _ = model(torch.from_numpy(q.regions), [torch.from_numpy(refs[r]) for r in q.candidates])
            out.append(s.numpy())
    return out


def pair_metrics(queries: list[QueryPairs], scored: list[np.ndarray]) -> dict:
    """Pair AP (every query's shortlisted pairs pooled and ranked by similarity) and video mAP
    (per copying query, its shortlist ranked by similarity); a copied reference the shortlist
    missed counts as not found in both."""
    flags, vals, aps = [], [], []
    for q, s in zip(queries, scored):
        is_pos = np.array([r in q.positives for r in q.candidates], bool)
        flags.append(is_pos)
        vals.append(s)
        if q.positives:
            order = np.argsort(-s, kind="stable")
            aps.append(average_precision(list(is_pos[order]), len(q.positives)))
    f, v = np.concatenate(flags), np.concatenate(vals)
    order = np.argsort(-v, kind="stable")
    copies = sum(len(q.positives) for q in queries)
    return {"pair_ap": float(average_precision(list(f[order]), copies)),
            "video_map": float(np.mean(aps)) if aps else 0.0, "pairs": int(len(f)), "copies": copies}
