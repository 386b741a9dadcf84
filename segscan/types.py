"""Typed records passed between segscan's stages.

Each record checks itself in ``__post_init__`` and raises ``ValueError`` naming the
mismatch, so a bug surfaces where the inconsistent record is made, not three stages
later.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VideoInfo:
    """What the container says about a video."""

    path: str
    duration: float
    fps: float
    width: int
    height: int
    rotation: int = 0
    codec: str = ""

    def __post_init__(self):
        if self.duration < 0:
            raise ValueError(f"duration must be >= 0, got {self.duration}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")


class Frame:
    """One decoded basis frame: RGB uint8 HxWx3 and its presentation time in seconds.

    The picture is either given (``image``) or made on first access by ``load``: the decoder
    hands out every basis frame, but scaling and border removal cost more than decoding,
    so only the frames a keyframe selector keeps pay for them. ``thumbnail`` is a tiny
    picture of every basis frame (what the learned keyframe selector scores), made by the
    decoder straight from the decoded frame, or from ``image`` when none was given.
    """

    __slots__ = ("index", "time", "_image", "_load", "_thumb")

    THUMB = 32  # side of the thumbnails

    def __init__(self, index: int, time: float, image: np.ndarray | None = None, load=None, thumb=None):
        if (image is None) == (load is None):
            raise ValueError("a Frame takes exactly one of image or load")
        self.index, self.time, self._image, self._load, self._thumb = index, time, None, load, thumb
        if image is not None:
            self._image = self._checked(image)

    @property
    def thumbnail(self) -> np.ndarray:
        """(THUMB, THUMB, 3) uint8."""
        if callable(self._thumb):
            self._thumb = self._thumb()
        if self._thumb is None:
            from PIL import Image

            self._thumb = np.asarray(Image.fromarray(self.image).resize((self.THUMB,) * 2, Image.BOX))
        return self._thumb

    @staticmethod
    def _checked(image: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"frame image must be HxWx3 uint8, got shape {image.shape} dtype {image.dtype}"
            )
        return image

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image, self._load = self._checked(self._load()), None
        return self._image

    def __repr__(self):
        return f"Frame(index={self.index}, time={self.time:.3f})"


@dataclass
class VideoFeatures:
    """Keyframe features of one video.

    ``times``: (K,) keyframe presentation times in seconds, increasing.
    ``global_feats``: (K, D) l2-normalised vectors, one per keyframe (what the index holds).
    ``region_feats``: (K, R, D) region vectors (R regions per keyframe), float16, or None.
    """

    times: np.ndarray
    global_feats: np.ndarray
    region_feats: np.ndarray | None = None
    duration: float = 0.0

    def __post_init__(self):
        self.times = np.asarray(self.times, dtype=np.float64)
        self.global_feats = np.asarray(self.global_feats, dtype=np.float32)
        if self.times.ndim != 1:
            raise ValueError(f"times must be 1-D, got shape {self.times.shape}")
        if self.global_feats.ndim != 2 or len(self.global_feats) != len(self.times):
            raise ValueError(
                f"global_feats {self.global_feats.shape} does not match {len(self.times)} keyframe times"
            )
        if self.region_feats is not None and (
            self.region_feats.ndim != 3 or len(self.region_feats) != len(self.times)
        ):
            raise ValueError(
                f"region_feats {self.region_feats.shape} does not match {len(self.times)} keyframe times"
            )
        if len(self.times) > 1 and np.any(np.diff(self.times) <= 0):
            raise ValueError("keyframe times must be strictly increasing")

    def __len__(self):
        return len(self.times)

    @property
    def dim(self) -> int:
        return int(self.global_feats.shape[1])


@dataclass
class Segment:
    """An aligned segment pair in seconds: query [q_start, q_end] copies ref [r_start, r_end]."""

    q_start: float
    q_end: float
    r_start: float
    r_end: float
    score: float
    copy: bool = False  # the score reaches the query's copy threshold
    # the reference repeats this content: the query span also matches another place of it
    repeat: bool = False
    # with a comparator: the score weighed by its similarity of the two videos (clipped at 0),
    # a score that compares better across queries (pair AP, docs/BENCHMARKS.md); copy stays the score's
    confidence: float | None = None

    def __post_init__(self):
        if self.q_end < self.q_start or self.r_end < self.r_start:
            raise ValueError(
                f"segment ends before it starts: q [{self.q_start}, {self.q_end}] r [{self.r_start}, {self.r_end}]"
            )

    def to_json(self) -> dict:
        return {
            "query_start": round(float(self.q_start), 3),
            "query_end": round(float(self.q_end), 3),
            "ref_start": round(float(self.r_start), 3),
            "ref_end": round(float(self.r_end), 3),
            "score": round(float(self.score), 4),
            "copy": bool(self.copy),
            "repeat": bool(self.repeat),
            **({} if self.confidence is None else {"confidence": round(float(self.confidence), 4)}),
        }

    def as_box(self) -> list[float]:
        """VCSL box order: [q_start, r_start, q_end, r_end]."""
        return [self.q_start, self.r_start, self.q_end, self.r_end]


@dataclass
class SimilarityMap:
    """Query-keyframe x reference-keyframe similarities for one candidate video.

    ``values`` (Q, R) float32; ``mask`` (Q, R) bool says which entries are known
    (sparse maps from nearest neighbours know only some); ``q_times`` (Q,) and
    ``r_times`` (R,) give each row's and column's time in seconds. ``planes`` (C, Q, R), when
    set, are more views of the same keyframe pairs that a detector may read beside the values
    (a comparator's refined map: :func:`segscan.compare.visil.planes`).
    """

    values: np.ndarray
    q_times: np.ndarray
    r_times: np.ndarray
    mask: np.ndarray | None = None
    q_step: float = 1.0
    r_step: float = 1.0
    planes: np.ndarray | None = None

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.shape != (len(self.q_times), len(self.r_times)):
            raise ValueError(
                f"map shape {self.values.shape} does not match {len(self.q_times)} query and "
                f"{len(self.r_times)} reference keyframe times"
            )
        if self.mask is None:
            self.mask = np.ones(self.values.shape, dtype=bool)
        elif self.mask.shape != self.values.shape:
            raise ValueError(f"mask shape {self.mask.shape} != map shape {self.values.shape}")
        if self.planes is not None:
            self.planes = np.asarray(self.planes, dtype=np.float32)
            if self.planes.ndim != 3 or self.planes.shape[1:] != self.values.shape:
                raise ValueError(f"planes {self.planes.shape} do not match the map {self.values.shape}")


@dataclass
class Match:
    """One reference video found for a query, with its aligned segments."""

    video_id: str
    path: str
    score: float
    segments: list[Segment] = field(default_factory=list)
    prescore: float = 0.0
    copy: bool = False  # one of its segments is declared a copy
    similarity: float | None = None  # the comparator's video-to-video similarity (None: no comparator)

    def to_json(self) -> dict:
        out = {
            "video_id": self.video_id,
            "path": self.path,
            "score": round(float(self.score), 4),
            "copy": bool(self.copy),
            "prescore": round(float(self.prescore), 4),
            "segments": [s.to_json() for s in self.segments],
        }
        if self.similarity is not None:
            out["similarity"] = round(float(self.similarity), 4)
        return out


@dataclass
class CandidateMap:
    """One candidate reference video of a query, with everything ranking it needs.

    ``map``: the similarity map the aligner reads; ``dense``: the (Q, R) region similarity of the
    two videos the refinement reads (None: the query has no region vectors); ``ref_global``:
    the reference's (R, D) keyframe vectors and ``query_global`` the query's (Q, D), for telling
    a reference that repeats itself or two references that share footage.
    """

    video_id: str
    path: str
    prescore: float
    map: SimilarityMap
    dense: np.ndarray | None = None
    ref_global: np.ndarray | None = None
    query_global: np.ndarray | None = None
    # (query, reference) durations in seconds: segments end no later (None: unknown)
    durations: tuple[float, float] | None = None
    similarity: float | None = None  # the comparator's video-to-video similarity (None: no comparator)

    def __post_init__(self):
        shape = self.map.values.shape
        if self.dense is not None and self.dense.shape != shape:
            raise ValueError(f"dense similarity {self.dense.shape} does not match the map {shape}")
        if self.ref_global is not None and len(self.ref_global) != shape[1]:
            raise ValueError(f"{len(self.ref_global)} reference vectors for a map of {shape[1]} reference keyframes")
        if self.query_global is not None and len(self.query_global) != shape[0]:
            raise ValueError(f"{len(self.query_global)} query vectors for a map of {shape[0]} query keyframes")
