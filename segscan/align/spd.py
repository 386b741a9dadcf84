"""SPD aligner: a YOLO detector finds copy patterns on similarity-map windows (SSAN, sec. 3.2).

Maps are cut into windows exactly as at training time (:mod:`segscan.detectors.spd.render`),
all windows of all candidates go through the detector in batches, boxes are moved back to
map cells, merged across overlapping windows, and converted to seconds through the
keyframe times. A box's confidence is the segment's score, and a video's score is its best
box's (as SSAN ranks videos).
"""
from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import WeightsNotFoundError
from ..types import Segment, SimilarityMap
from .base import register, snap_to_unit_speed

log = logging.getLogger(__name__)
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "detectors" / "weights" / "spd-yolo11n.pt"


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


@register("spd")
class SPDAligner:
    def __init__(self, weights: str | None = None, conf: float = 0.05, iou: float = 0.5, batch: int = 64,
                 device: str = "cpu", min_score: float = 0.0, snap: bool = True, snap_keep: float = 0.5,
                 evidence: float = 1.0):
        self.weights = Path(weights) if weights else DEFAULT_WEIGHTS
        self.conf, self.iou, self.batch, self.device, self.min_score = conf, iou, batch, device, min_score
        self.snap, self.snap_keep, self.evidence = snap, snap_keep, evidence
        self._model = None

    list_floor = 0.0  # the query path lists every box the detector keeps (QueryConfig.min_score)

    @cached_property
    def card(self) -> dict:
        """The weights' model card (read once per aligner: the query path asks on every query)."""
        card = self.weights.with_suffix(".json")
        return json.loads(card.read_text()) if card.exists() else {}

    @property
    def maps(self) -> str:
        """The map kind the weights were trained on (their model card says; cards before it: sparse)."""
        return self.card.get("data", {}).get("maps", "sparse")

    @property
    def copy_threshold(self) -> float:
        """The segment-F1-best box score on the benchmark's train split, from the card (else 0)."""
        return float(self.card.get("test_metrics", {}).get("threshold", 0.0))

    def _load(self):
        if self._model is None:
            if not self.weights.exists():
                raise WeightsNotFoundError(
                    f"SPD weights not found at {self.weights}; train them with "
                    "python -m segscan.detectors.spd.train (see segscan/detectors/weights/README.md)")
            import torch

            from ..detectors.spd.yolo import ultralytics

            ul = ultralytics()
            model = ul.YOLO(str(self.weights)).model
            self._model = model.float().eval().to(self.device)
            self._torch = torch
            from ultralytics.utils.nms import non_max_suppression

            self._nms = non_max_suppression
        return self._model

    def detect_windows(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """(n, 5) arrays of [x1, y1, x2, y2, conf] in pixels, one per window image."""
        model = self._load()
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch):
                x = torch.from_numpy(np.stack(images[i:i + self.batch])).float().div_(255.0)[:, None].to(self.device)
                pred = model(x)
                pred = pred[0] if isinstance(pred, (list, tuple)) else pred
                dets = self._nms(pred, conf_thres=self.conf, iou_thres=self.iou, max_det=50)
                out += [d[:, :5].cpu().numpy() for d in dets]
        return out

    def align(self, maps: list[SimilarityMap]) -> list[list[Segment]]:
        from ..detectors.spd.render import SCALE, cell_to_time, windows

        wins, owner = [], []
        for k, m in enumerate(maps):
            for w in windows(m):
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
                segs.append(self._refine(seg, m, (y1, y2, x1, x2)) if self.snap or self.evidence else seg)
            out.append(segs)
        return out

    def _refine(self, seg: Segment, m: SimilarityMap, box) -> Segment:
        """A box's best cell per row is its path; a 1x-speed path snaps to its diagonal (as TN's do).

        With ``evidence`` the box's confidence is also multiplied by the path's mean
        similarity (clipped to [0, 1]) to that power: the detector judges the pattern's
        shape, the map says how similar the frames are (1.0 is the benchmark's train choice).
        """
        y1, y2, x1, x2 = box
        r0, r1 = int(np.floor(y1)), int(np.ceil(y2))
        c0, c1 = int(np.floor(x1)), int(np.ceil(x2))
        v = np.where(m.mask[r0:r1, c0:c1], m.values[r0:r1, c0:c1], -np.inf)
        if v.size == 0:
            return seg
        best = v.argmax(1)
        peak = v[np.arange(len(v)), best]
        ok = peak > 0
        rows, cols = np.arange(r0, r1)[ok], (best + c0)[ok]
        out = snap_to_unit_speed(seg, m, rows, cols, keep=self.snap_keep) if self.snap else seg
        if self.evidence:
            mean = float(np.clip(peak, 0, 1).mean())
            out = Segment(out.q_start, out.q_end, out.r_start, out.r_end, out.score * mean ** self.evidence)
        return out
