"""SPD aligner: a YOLO detector finds copy patterns on similarity-map windows (SSAN, sec. 3.2).

Maps are cut into windows exactly as at training time (:mod:`segscan.detectors.spd.render`),
all windows of all candidates go through the detector in batches, boxes are moved back to
map cells, merged across overlapping windows, and converted to seconds through the
keyframe times. A box's confidence is the segment's score, and a video's score is its best
box's (as SSAN ranks videos). Under the path score (the shipped card's choice) a segment's
score is the map's similarity along it plus a length term plus the weighted confidence,
and with ``paths`` the Temporal Network's paths that no box covers are added, as boxes of
confidence 0, on the query's first few candidates: the detector misses some weak
full-length diagonals of short clips.
"""
from __future__ import annotations

import logging
import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from ..detectors import WEIGHTS_DIR
from ..detectors.cards import SPDCard
from ..errors import WeightsNotFoundError
from ..types import Segment, SimilarityMap
from .base import line_mean, nms_segments, register, snap_to_unit_speed, trim_ends

log = logging.getLogger(__name__)
DEFAULT_WEIGHTS = WEIGHTS_DIR / "spd-yolo11n.pt"


def _merge(boxes: list[list[float]], iomin: float = 0.3) -> list[list[float]]:
    """Merge boxes (x1, y1, x2, y2, conf) that overlap a kept box by > iomin of the smaller: union, max conf."""
    kept: list[list[float]] = []
    for b in sorted(boxes, key=lambda b: -b[4]):
        for k in kept:
            iw = min(b[2], k[2]) - max(b[0], k[0])
            ih = min(b[3], k[3]) - max(b[1], k[1])
            if iw > 0 and ih > 0:
                small = min((b[2] - b[0]) * (b[3] - b[1]), (k[2] - k[0]) * (k[3] - k[1]))
                if iw * ih > iomin * max(small, 1e-9):
                    k[0], k[1], k[2], k[3] = min(k[0], b[0]), min(k[1], b[1]), max(k[2], b[2]), max(k[3], b[3])
                    break
        else:
            kept.append(list(b))
    return kept


def _covered(seg: Segment, others: list[Segment], iomin: float = 0.5) -> bool:
    """Whether ``seg``'s box overlaps one of ``others`` by more than ``iomin`` of the smaller box."""
    return not nms_segments([seg], iou=iomin, keep=others)


@register("spd")
class SPDAligner:
    def __init__(self, weights: str | None = None, conf: float = 0.05, iou: float = 0.5, batch: int = 64,
                 device: str = "cpu", min_score: float = 0.0, snap: bool = True, snap_keep: float = 0.5,
                 evidence: float | None = None, score: str | None = None, conf_weight: float | None = None,
                 length_weight: float | None = None, cache: dict | None = None, path_floor: float = 0.0,
                 paths: int | None = None, trim: float | None = None):
        self.weights = Path(weights) if weights else DEFAULT_WEIGHTS
        self.conf, self.iou, self.batch, self.device, self.min_score = conf, iou, batch, device, min_score
        self.snap, self.snap_keep, self.path_floor = snap, snap_keep, path_floor
        # how a box is scored (None: the model card's choice, else SPDScoring's defaults); see _score
        scoring = self.card.scoring
        pick = lambda v, key: v if v is not None else getattr(scoring, key)
        self.score = pick(score, "score")
        if self.score not in ("evidence", "path"):
            raise ValueError(f"SPD score must be 'evidence' or 'path', not {self.score!r}")
        self.evidence = float(pick(evidence, "evidence"))
        self.conf_weight = float(pick(conf_weight, "conf_weight"))
        self.length_weight = float(pick(length_weight, "length_weight"))
        # on the first ``paths`` maps of a call (one query's best candidates, in the order the index
        # search ranked them), also TN's paths that no box covers, scored as boxes of confidence 0
        # (path score only)
        self.paths = int(pick(paths, "paths")) if self.score == "path" else 0
        # a box's end keyframes below this fraction of the median similarity on its line are cut
        # off (align.base.trim_ends; 0: off)
        self.trim = float(pick(trim, "trim"))
        # detections per map object, shared by the aligners given the same dict (the benchmark's
        # grid search rescores the same boxes instead of running the detector again)
        self.cache = cache
        self._model = None
        self._load_lock = threading.Lock()

    @property
    def list_floor(self) -> float:
        """The query path's listing floor (QueryConfig.min_score): every box the detector keeps when
        scored by confidence; under the path score, TN's floor (the same units: mean similarity
        plus a length term)."""
        return 0.2 if self.score == "path" else 0.0

    @cached_property
    def card(self) -> SPDCard:
        """The weights' model card (read once per aligner: the query path asks on every query)."""
        return SPDCard.load(self.weights)

    @property
    def maps(self) -> str:
        """The map kind the weights were trained on."""
        return self.card.maps

    @property
    def image(self) -> str:
        """The image kind the weights take (segscan.detectors.spd.render.IMAGES)."""
        return self.card.image

    @property
    def comparator(self) -> str | None:
        """The comparator whose planes the weights read (the query path runs it), else None."""
        return self.card.comparator

    @property
    def copy_threshold(self) -> float:
        """The segment-F1-best box score on the benchmark's train split, from the card."""
        return self.card.threshold

    def _load(self):
        with self._load_lock:  # the service runs queries in several threads
            if self._model is None:
                if not self.weights.exists():
                    raise WeightsNotFoundError(
                        f"SPD weights not found at {self.weights}; train them with "
                        "python -m segscan.train.spd (see segscan/detectors/weights/README.md)")
                import torch

                from ..detectors.spd.yolo import ultralytics

                ul = ultralytics()
                model = ul.YOLO(str(self.weights)).model.float().eval()
                # batch norm folded into the convolutions: the same boxes up to float rounding, faster
                self._model = model.fuse(verbose=False).to(self.device)
                self._torch = torch
                from ultralytics.utils.nms import non_max_suppression

                self._nms = non_max_suppression
            return self._model

    def detect_windows(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """(n, 5) arrays of [x1, y1, x2, y2, conf] in pixels, one per window image ((H, W) or (C, H, W))."""
        model = self._load()
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch):
                x = torch.from_numpy(np.stack(images[i:i + self.batch])).float().div_(255.0)
                x = (x[:, None] if x.ndim == 3 else x).to(self.device)
                pred = model(x)
                pred = pred[0] if isinstance(pred, (list, tuple)) else pred
                dets = self._nms(pred, conf_thres=self.conf, iou_thres=self.iou, max_det=50)
                out += [d[:, :5].cpu().numpy() for d in dets]
        return out

    def align(self, maps: list[SimilarityMap]) -> list[list[Segment]]:
        out = [[self._score(seg, m, box) for seg, box in dets] for m, dets in zip(maps, self.detect(maps))]
        if self.paths:
            top = maps[: self.paths]
            for m, segs, extra in zip(top, out, self._tn.align(top)):
                segs += [self._score(x, m, None, conf=0.0) for x in extra if not _covered(x, segs)]
        return out

    @cached_property
    def _tn(self):
        from .tn import TemporalNetwork

        return TemporalNetwork()

    def detect(self, maps: list[SimilarityMap]) -> list[list[tuple[Segment, tuple]]]:
        """Per map, the detector's boxes as (segment scored by the box confidence, box in map cells);
        1x-speed boxes snapped to their diagonal. Reused from ``cache`` where it holds the map."""
        if self.cache is None:
            return self._detect(maps)
        todo = [m for m in maps if id(m) not in self.cache]
        for m, dets in zip(todo, self._detect(todo) if todo else []):
            self.cache[id(m)] = (m, dets)  # the map is kept with its entry, so its id stays its own
        return [self.cache[id(m)][1] for m in maps]

    def _detect(self, maps: list[SimilarityMap]) -> list[list[tuple[Segment, tuple]]]:
        from ..detectors.spd.render import SCALE, cell_to_time, windows

        wins, owner = [], []
        for k, m in enumerate(maps):
            for w in windows(m, self.image):
                wins.append(w)
                owner.append(k)
        if not wins:
            return [[] for _ in maps]
        dets = self.detect_windows([w.image for w in wins])
        per_map: list[list[list[float]]] = [[] for _ in maps]
        for w, k, d in zip(wins, owner, dets):
            for x1, y1, x2, y2, c in d:
                per_map[k].append([x1 / SCALE + w.r0, y1 / SCALE + w.q0, x2 / SCALE + w.r0, y2 / SCALE + w.q0, float(c)])
        out = []
        for m, boxes in zip(maps, per_map):
            segs = []
            nq, nr = m.values.shape
            for x1, y1, x2, y2, c in _merge(boxes):
                x1, x2 = np.clip([x1, x2], 0, nr)
                y1, y2 = np.clip([y1, y2], 0, nq)
                if x2 - x1 < 0.5 or y2 - y1 < 0.5 or c < self.min_score:
                    continue
                seg = Segment(cell_to_time(y1, m.q_times, m.q_step), cell_to_time(y2, m.q_times, m.q_step),
                              cell_to_time(x1, m.r_times, m.r_step), cell_to_time(x2, m.r_times, m.r_step), c)
                box = (y1, y2, x1, x2)
                segs.append((self._snap(seg, m, box) if self.snap else seg, box))
            out.append(segs)
        return out

    @staticmethod
    def _box_path(m: SimilarityMap, box):
        """A box's best cell per row: (rows, cols, similarities), map cells."""
        y1, y2, x1, x2 = box
        r0, r1 = int(np.floor(y1)), int(np.ceil(y2))
        c0, c1 = int(np.floor(x1)), int(np.ceil(x2))
        v = np.where(m.mask[r0:r1, c0:c1], m.values[r0:r1, c0:c1], -np.inf)
        if v.size == 0:
            return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
        best = v.argmax(1)
        return np.arange(r0, r1), best + c0, v[np.arange(len(v)), best]

    def _snap(self, seg: Segment, m: SimilarityMap, box) -> Segment:
        """A box's best cell per row is its path (rows whose best cell is above ``path_floor``); a
        1x-speed path snaps to its diagonal (as TN's do); end keyframes that match nothing on the
        line, next to the copy's, are cut off (``trim``) on dense maps: a sparse map does not know
        most cells of a line, and an unknown cell is not evidence of a non-match."""
        rows, cols, peak = self._box_path(m, box)
        ok = peak > self.path_floor
        seg = snap_to_unit_speed(seg, m, rows[ok], cols[ok], keep=self.snap_keep)
        return trim_ends(seg, m, self.trim) if m.mask.all() else seg

    def _score(self, seg: Segment, m: SimilarityMap, box, conf: float | None = None) -> Segment:
        """The segment scored as ``score`` says, from its box confidence (``seg.score``) and the map.

        "evidence": the confidence times the mean of the box's best similarity per row (clipped
        to [0, 1]) to the power ``evidence`` (0: the confidence alone); the detector judges the
        pattern's shape, the map how similar the frames are.
        "path": the mean similarity along the segment's line (as TN scores its paths) plus
        ``length_weight * ln(query keyframes)`` plus ``conf_weight`` times the confidence: on
        region maps the map's own evidence carries most of what separates true segments, and the
        detector adds where the copy pattern is (docs/BENCHMARKS.md).
        """
        conf = seg.score if conf is None else conf
        if self.score == "path":
            mean, n = line_mean(seg, m)
            return Segment(seg.q_start, seg.q_end, seg.r_start, seg.r_end,
                           mean + self.length_weight * float(np.log(max(n, 1))) + self.conf_weight * conf)
        if not self.evidence:
            return seg
        _, _, peak = self._box_path(m, box)
        if peak.size == 0:
            return seg
        mean = float(np.clip(peak, 0, 1).mean())
        return Segment(seg.q_start, seg.q_end, seg.r_start, seg.r_end, seg.score * mean ** self.evidence)
