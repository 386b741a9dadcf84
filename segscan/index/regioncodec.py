"""How the store keeps region vectors, the bulk of a catalogue's bytes.

Every keyframe keeps R region vectors (3x3) of D dimensions for the region maps and the
comparator. Kept as float16 they take 2*R*D bytes (4.6 KB at 9 x 256). ``int8`` keeps each
vector as signed bytes scaled by its own largest magnitude (one float16 scale per vector),
half the bytes: region vectors are unit-length and whitened, so their components are of
similar size and a per-vector scale loses little. ``pq`` keeps one byte per group of
D/M dimensions, the index of the nearest of 256 centroids of that group (product
quantisation), in stages: the first quantises the vector, each next one what the stages
before left (residual quantisation; the shipped codebook has M = 64, 32 and 16: 112 bytes a
vector, 1,008 a keyframe, with a third of the error one stage of 64 leaves). Its codebook
is a trained component shipped per backbone (``segscan.train.regionpq``), fitted on
train-split frames only. Decoding
gives float16 whatever the codec, so everything that reads region vectors is unchanged.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..detectors import WEIGHTS_DIR
from ..errors import WeightsNotFoundError

CODECS = ("float16", "int8", "pq")
DEFAULT_CODEC = "float16"


def check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise ValueError(f"unknown region codec {codec!r} (one of: {', '.join(CODECS)})")
    return codec


def codebook_path(backbone: str, layers: int) -> Path:
    return WEIGHTS_DIR / f"regionpq-{backbone}-L{layers}.npz"


@dataclass
class Codebook:
    """Residual product quantiser: stage s has (M_s, 256, D/M_s) centroids and quantises what
    the stages before it left over; a vector's code is the stages' codes side by side
    (sum M_s bytes). One stage is plain product quantisation. Fitted for one feature
    configuration (its whitening)."""

    stages: list[np.ndarray]
    whitening: str  # digest of the whitening its vectors came through (feature_config["whitening"])

    def __post_init__(self):
        if isinstance(self.stages, np.ndarray):  # one stage
            self.stages = [self.stages]
        self.stages = [np.asarray(c, dtype=np.float32) for c in self.stages]

    @property
    def centroids(self) -> np.ndarray:
        """The first stage's centroids."""
        return self.stages[0]

    @property
    def dim(self) -> int:
        return int(self.stages[0].shape[0] * self.stages[0].shape[2])

    @property
    def groups(self) -> int:
        """Bytes of one vector's code."""
        return int(sum(c.shape[0] for c in self.stages))

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for c in self.stages:  # one stage hashes as the single-stage codebooks always have
            h.update(c.tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def fit(cls, x: np.ndarray, m: int | list[int], whitening: str, seed: int = 0,
            iterations: int = 25) -> "Codebook":
        """Stage by stage: each fitted on the residuals of the stages before (``m``: the groups
        of each stage)."""
        import faiss

        x = np.ascontiguousarray(x, dtype=np.float32)
        stages, rest = [], x
        for ms in ([m] if isinstance(m, int) else list(m)):
            if x.shape[1] % ms:
                raise ValueError(f"{x.shape[1]} dimensions do not split into {ms} groups")
            pq = faiss.ProductQuantizer(x.shape[1], ms, 8)
            pq.cp.seed, pq.cp.niter = seed, iterations
            pq.train(rest)
            stages.append(faiss.vector_to_array(pq.centroids).reshape(ms, 256, x.shape[1] // ms))
            rest = np.ascontiguousarray(rest - _reconstruct(stages[-1], _nearest(stages[-1], rest)))
        return cls(stages, whitening)

    def save(self, path, **meta) -> None:
        arrays = {f"centroids_{i}" if i else "centroids": c for i, c in enumerate(self.stages)}
        np.savez(path, whitening=np.array(self.whitening), **arrays, **meta)

    @classmethod
    def load(cls, path) -> "Codebook":
        with np.load(path) as z:
            n = 1 + sum(1 for k in z.files if k.startswith("centroids_"))
            stages = [z["centroids"]] + [z[f"centroids_{i}"] for i in range(1, n)]
            return cls(stages, str(z["whitening"]))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """(N, D) vectors -> (N, sum M_s) uint8 codes: each stage's nearest centroid per group of
        what the stages before left."""
        rest, codes = np.asarray(x, dtype=np.float32), []
        for c in self.stages:
            codes.append(_nearest(c, rest))
            rest = rest - _reconstruct(c, codes[-1])
        return np.concatenate(codes, axis=1).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(N, sum M_s) codes -> (N, D) unit vectors (the stages summed, length restored)."""
        x, at = 0.0, 0
        for c in self.stages:
            x = x + _reconstruct(c, codes[:, at:at + c.shape[0]])
            at += c.shape[0]
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _nearest(centroids: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(N, M) index of the nearest centroid of each group of each row of ``x``."""
    m, _, sub = centroids.shape
    xs = x.reshape(len(x), m, sub).astype(np.float32)
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2: the first term does not change the argmin
    dots = np.einsum("nms,mks->nmk", xs, centroids)
    return ((centroids ** 2).sum(-1)[None] - 2 * dots).argmin(-1)


def _reconstruct(centroids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(N, D) the centroids ``codes`` name, put together (not normalised)."""
    m = centroids.shape[0]
    return centroids[np.arange(m)[None, :], codes.astype(np.int64)].reshape(len(codes), -1)


def load_codebook(features: dict) -> Codebook:
    """The shipped codebook for a feature configuration, refused when fitted on other features."""
    path = codebook_path(features["backbone"], features["layers"])
    if not path.exists():
        raise WeightsNotFoundError(f"no region codebook for {features['backbone']} at {path}; "
                                   "fit one with python -m segscan.train.regionpq, or use another region codec")
    cb = Codebook.load(path)
    if cb.whitening != features.get("whitening") or cb.dim != features.get("dim"):
        raise WeightsNotFoundError(f"{path} was fitted on other features ({cb.dim}-d, whitening {cb.whitening!r}) "
                                   f"than these ({features.get('dim')}-d, whitening {features.get('whitening')!r})")
    return cb


def check_new_codec(codec: str, features: dict | None) -> None:
    """Raise unless ``codec`` exists and, for pq, a codebook fits ``features``."""
    if check_codec(codec) == "pq" and features is not None:
        load_codebook(features)


def encode(regions: np.ndarray, codec: str, codebook: Codebook | None = None) -> dict[str, np.ndarray]:
    """(K, R, D) region vectors -> the arrays the store packs for ``codec``."""
    regions = np.asarray(regions, dtype=np.float32)
    if check_codec(codec) == "float16":
        return {"regions": regions.astype(np.float16)}
    if codec == "pq":
        if codebook is None:
            raise ValueError("the pq region codec needs its codebook")
        k, r, d = regions.shape
        return {"regions_pq": codebook.encode(regions.reshape(k * r, d)).reshape(k, r, -1)}
    peak = np.abs(regions).max(axis=-1)  # (K, R)
    # the scale is stored as float16: quantise against the value decoding will see
    scale = peak.astype(np.float16).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)[..., None]
    codes = np.clip(np.rint(regions / safe * 127.0), -127, 127).astype(np.int8)
    return {"regions_i8": codes, "regions_scale": scale.astype(np.float16)}


def decode(arrays: Mapping[str, np.ndarray], codebook: Codebook | None = None) -> np.ndarray | None:
    """The (K, R, D) float16 region vectors from packed arrays (None: stored without them)."""
    names = set(arrays.keys())  # a dict or an open .npz
    if "regions" in names:
        return arrays["regions"]
    if "regions_i8" in names:
        codes = arrays["regions_i8"].astype(np.float32)
        scale = arrays["regions_scale"].astype(np.float32)[..., None] / 127.0
        return (codes * scale).astype(np.float16)
    if "regions_pq" in names:
        if codebook is None:
            raise ValueError("region vectors stored with the pq codec need its codebook to be read")
        codes = arrays["regions_pq"]
        k, r, _ = codes.shape
        return codebook.decode(codes.reshape(k * r, -1)).reshape(k, r, -1).astype(np.float16)
    return None


def bytes_per_keyframe(regions: int, dim: int, codec: str, groups: int | None = None) -> int:
    """Bytes one keyframe's region vectors take under ``codec`` (arrays only, no container;
    ``groups``, for pq: the codebook's bytes a vector, :attr:`Codebook.groups`)."""
    if check_codec(codec) == "float16":
        return 2 * regions * dim
    if codec == "pq":
        if groups is None:
            raise ValueError("the pq codec's size depends on its codebook: pass groups=codebook.groups")
        return regions * groups
    return regions * dim + 2 * regions


def database_codebook(meta: dict) -> Codebook | None:
    """The codebook a database's region vectors were encoded with (None unless its codec is pq);
    ``meta["region_codebook"]`` is set when missing (a new database) and checked otherwise."""
    if meta.get("region_codec", DEFAULT_CODEC) != "pq":
        return None
    cb = load_codebook(meta["features"])
    want = meta.setdefault("region_codebook", cb.digest)
    if want != cb.digest:
        raise WeightsNotFoundError(f"this database's region vectors were encoded with codebook {want}, but the "
                                   f"shipped one is {cb.digest}: use the segscan release that built it")
    return cb
