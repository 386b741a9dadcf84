"""Query settings: what the caller asked for, resolved once against the aligner.

``QueryConfig`` is what a caller sets (None: not set). ``resolve`` turns it into
``Settings``, the one typed record the rest of the query path reads: explicit values
first, then the aligner's own (for SPD its model card), then the defaults here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..types import SimilarityMap
from .refine import refine_segments

MAP_MODES = ("sparse", "dense", "regions")


@dataclass
class QueryConfig:
    topn: int = 64  # index neighbours per query keyframe
    # M: candidate videos kept after pre-scoring and aligned. With a million distractor keyframes
    # indexed, the extra candidates of a larger M are nearly all distractors and chances for false
    # segments (docs/BENCHMARKS.md)
    candidates: int = 20
    topk: int = 100  # videos returned
    aligner: str = "spd"
    aligner_params: dict = field(default_factory=dict)
    # "sparse" (index neighbours only), "dense" (all keyframe pairs, global vectors), "regions"
    # (all keyframe pairs, Chamfer similarity of region vectors, background-normalised per row: the
    # rerank stage) or "auto": the maps the aligner was trained on (its ``maps``)
    map_mode: str = "auto"
    # two thresholds on segment scores, in the aligner's units: below ``min_score`` a segment is not
    # listed (nor a video left without any); a segment reaching ``threshold`` is declared a copy.
    # None: the aligner's own (``list_floor``, ``copy_threshold``)
    min_score: float | None = None
    threshold: float | None = None
    # query-side views also searched, each map cell keeping the best (segscan.pipeline.views):
    # "flip" (copies are often mirrored), "quarters" (a copy in a corner of other footage: picture-in-
    # picture), "centre". Quarters cost four more feature passes per query keyframe (docs/BENCHMARKS.md)
    views: tuple[str, ...] = ("flip", "quarters")
    # similarity normalisation: subtract from each query keyframe's similarities the mean of its
    # neighbours ranked bg_ranks[0]..bg_ranks[1] (what an unrelated keyframe scores in this index),
    # so thresholds mean the same with a thousand or a million keyframes indexed; None = off
    bg_ranks: tuple[int, int] | None = (32, 64)
    # region maps: each row's background is this quantile of its similarities to all candidates'
    # keyframes (maps.region_maps)
    region_bg_quantile: float = 0.5
    # segment refinement (refine.refine_segments): offset re-placed to a fraction of a keyframe, pieces
    # on one diagonal joined; a segment within edge_rows keyframes of the clip's ends runs on to them
    # (off: at the card's threshold running on lost F1 on train and on three test sets, HISTORY.md);
    # one of at least wide_rows keyframes is also tried at every offset; with centre, inner ends lie
    # halfway between keyframes; with grow > 0 a segment is extended over neighbouring keyframes that
    # match at least grow x its median; one covering fewer than min_keyframes keyframes is dropped
    refine: bool = True
    edge_rows: int = 0
    wide_rows: int = 8
    centre: bool = True
    grow: float = 0.7
    min_keyframes: int = 2
    # per (query, reference) pair, one reference place per query span unless the reference repeats
    # itself (exclusive.exclusive_segments)
    exclusive: bool = True
    # across references, one source per query span unless the references share that footage
    # (exclusive.exclusive_references)
    exclusive_refs: bool = True
    # a learned video-to-video comparator ("visil": segscan.compare.visil) scores every candidate;
    # the matches are then ranked by its similarity (segments and copy decisions are unchanged)
    comparator: str | None = None


@dataclass(frozen=True)
class Settings:
    """A query's settings with nothing left to look up (``resolve``)."""

    config: QueryConfig
    map_mode: str
    min_score: float
    threshold: float
    # the comparator that scores every candidate: the caller's, else the one the aligner reads
    # the maps of (an SPD trained on a comparator's planes)
    comparator: str | None = None

    def __post_init__(self):
        if self.map_mode not in MAP_MODES:
            raise ValueError(f"map mode must be one of {MAP_MODES}, got {self.map_mode!r}")

    def refined(self, segs: list, values: np.ndarray, m: SimilarityMap) -> list:
        """One map's segments through the refinement (``values``: the dense region similarity of
        the two videos)."""
        c = self.config
        return refine_segments(segs, values, m.q_times, m.r_times, edge_rows=c.edge_rows, wide_rows=c.wide_rows,
                               centre=c.centre, grow=c.grow, min_rows=c.min_keyframes)


def resolve(cfg: QueryConfig, aligner) -> Settings:
    """Explicit settings first, then the aligner's own (``Aligner.list_floor``, ``copy_threshold``,
    ``maps``, ``comparator``)."""
    floor = cfg.min_score if cfg.min_score is not None else float(aligner.list_floor)
    thr = cfg.threshold if cfg.threshold is not None else float(aligner.copy_threshold)
    mode = cfg.map_mode if cfg.map_mode != "auto" else aligner.maps
    # an aligner that reads a comparator's planes gets the comparator it learned them from
    return Settings(cfg, mode, floor, thr, getattr(aligner, "comparator", None) or cfg.comparator)
