"""From candidates' maps to the ranked list: align, refine, resolve, decide.

This is the part of the query path the benchmark runs on cached maps, so that what it
measures is what ``query.py`` does.
"""
from __future__ import annotations

from dataclasses import replace

from ..types import CandidateMap, Match
from .config import Settings
from .exclusive import exclusive_references, exclusive_segments


def _clipped(seg, durations):
    """The segment with its ends inside both videos: a keyframe stands for the step after it,
    which for the last keyframe can run past the end of a short video."""
    if not durations:
        return seg
    qd, rd = durations
    q_end = min(seg.q_end, qd) if qd > 0 else seg.q_end
    r_end = min(seg.r_end, rd) if rd > 0 else seg.r_end
    return replace(seg, q_end=max(q_end, seg.q_start), r_end=max(r_end, seg.r_start))


def rank(cands: list[CandidateMap], aligner, s: Settings) -> list[Match]:
    """The ranked matches of one query's candidates (at most ``topk``), best first.

    Segments under the listing floor go; the rest are refined on the dense region similarity,
    made exclusive per query span, and each is declared a copy when it reaches the threshold
    (a video is a copy when one of its segments is).
    """
    cfg = s.config
    segs = aligner.align([c.map for c in cands]) if cands else []
    found = []
    for c, ss in zip(cands, segs):
        ss = [x for x in ss if x.score >= s.min_score]
        if ss and cfg.refine and c.dense is not None:
            ss = s.refined(ss, c.dense, c.map)
        if ss and cfg.exclusive:
            ss = exclusive_segments(ss, c.map.q_times, c.map.r_times, c.ref_global, cfg.min_keyframes)
        if ss:
            found.append((c, ss))
    if cfg.exclusive_refs:
        found = exclusive_references(found, cfg.min_keyframes)
    matches = []
    for c, ss in found:
        weight = None if c.similarity is None else max(float(c.similarity), 0.0)
        ss = [replace(_clipped(x, c.durations), copy=x.score >= s.threshold,
                      confidence=None if weight is None else x.score * weight)
              for x in sorted(ss, key=lambda x: x.q_start)]
        matches.append(Match(c.video_id, c.path, max(x.score for x in ss), ss, c.prescore,
                             copy=any(x.copy for x in ss), similarity=c.similarity))
    if cands and cands[0].similarity is not None:  # a comparator scored the candidates: its order
        matches.sort(key=lambda m: (-m.similarity, -m.score))
    else:
        matches.sort(key=lambda m: (-m.score, -m.prescore))
    return matches[: cfg.topk]
