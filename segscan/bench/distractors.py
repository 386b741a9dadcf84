"""Feature-level distractors: many realistic keyframe vectors, far past the clips that exist here.

Base vectors come from real photos (the half of ``../shared/images`` that the benchmark
animates into gallery distractors, never the half its queries use as filler) under
augmentation (random crops, flips, brightness), run through the same extractor as the
gallery: their region vectors. Distractor "videos" are then made in feature space: three
shots on three base photos, every keyframe its photo's regions plus a little noise, so
consecutive keyframes are alike as in real video, and the global vector is made from the
regions as the extractor makes it.
Only the global vectors of all distractors are held (for the index); a distractor's
regions are made again, identically, when a query asks for its features (region maps).
The wrapper answers the three questions the query path asks of a database (search,
video_by_num, features_by_num) for the real gallery and the distractors together.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..index.ids import KF_BITS, split_ids
from ..index.vectors import make_index
from ..types import VideoFeatures

OFFSET = 1 << 30  # distractor video numbers start here
DISTRACTOR_PREFIX = "distractor-vector-video-"  # then the distractor's number (from 0): its path
KEYFRAMES_PER_VIDEO = 60
BLOCK = 198_000  # distractor keyframes made and indexed at a time (a multiple of KEYFRAMES_PER_VIDEO)


def base_vectors(encoder, images: Path, path: Path, per_image: int = 4, seed: int = 0,
                 progress: bool = True) -> np.ndarray:
    """(N, R, D) region vectors of augmented photos, cached in ``path`` (a cache made otherwise is redone).

    Only the benchmark's gallery-distractor photos are used, never the photos its queries
    take their filler footage from (``generate.photo_roles``): a distractor showing a
    query's filler would be a true visual match counted as false.
    """
    from .generate import _photos, photo_roles

    source = f"gallery-distractor photos, seed {seed}, {per_image} per image"
    if path.exists():
        z = np.load(path)
        if "r" in z.files and "source" in z.files and str(z["source"]) == source:
            return z["r"]
    import skimage.io

    from ..synth import SpatialEdit, resize

    files, _ = photo_roles(_photos(images), np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    size = encoder.extractor.spec.input_size
    batch, out = [], []
    for f in tqdm(files, desc="distractor base vectors", disable=not progress):
        img = skimage.io.imread(str(f))
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, 2)
        img = np.ascontiguousarray(img[..., :3]).astype(np.uint8)
        h, w = img.shape[:2]
        for _ in range(per_image):
            s = rng.uniform(0.5, 1.0)
            ch, cw = int(h * s), int(w * s)
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = resize(img[y0:y0 + ch, x0:x0 + cw], size, size)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crop = SpatialEdit("brightness", float(rng.uniform(-0.3, 0.3)))(np.ascontiguousarray(crop))
            batch.append(crop)
            if len(batch) == 64:
                out.append(encoder.extractor(np.stack(batch))[1])
                batch = []
    if batch:
        out.append(encoder.extractor(np.stack(batch))[1])
    r = np.concatenate(out)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, r=r, source=source)
    tmp.replace(path)
    return r


def synth_video(base: np.ndarray, v: int, seed: int = 0, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Distractor video ``v``: (global (L, D) float32, regions (L, R, D) float16), the same every call.

    Three shots of equal length, each on one augmented photo (the cuts of real video); within
    a shot every keyframe's regions are the photo's plus independent noise of about
    ``noise`` of their length (consecutive keyframes about 0.9 alike), l2-normalised. The
    global vector is made from the regions as the extractor makes it (the l2-normalised
    sum), so region and global maps agree. (Cross-fading between photos instead makes
    every region a blend of two unrelated ones, which no real frame is, and which region
    matching finds close to everything.)
    """
    rng = np.random.default_rng((seed, v))
    L = KEYFRAMES_PER_VIDEO
    picks = base[rng.integers(0, len(base), 3)].astype(np.float32)
    shot = np.minimum(np.arange(L) * 3 // L, 2)
    r = picks[shot] + noise * rng.normal(size=(L,) + base.shape[1:]).astype(np.float32) / np.sqrt(base.shape[-1])
    r /= np.linalg.norm(r, axis=-1, keepdims=True)
    g = r.sum(1)
    g /= np.linalg.norm(g, axis=-1, keepdims=True)
    return g.astype(np.float32), r.astype(np.float16)


def synth_videos(base: np.ndarray, n_vectors: int, seed: int = 0, noise: float = 0.3,
                 progress: bool = True, start: int = 0) -> np.ndarray:
    """Global vectors of distractor keyframes ``start`` to ``n_vectors`` (``start`` a multiple of
    KEYFRAMES_PER_VIDEO; the last video may be cut short)."""
    if start % KEYFRAMES_PER_VIDEO:
        raise ValueError(f"start must be a multiple of {KEYFRAMES_PER_VIDEO}")
    first, n_videos = start // KEYFRAMES_PER_VIDEO, -(-n_vectors // KEYFRAMES_PER_VIDEO)
    out = np.empty(((n_videos - first) * KEYFRAMES_PER_VIDEO, base.shape[-1]), np.float32)
    for v in tqdm(range(first, n_videos), desc="distractor videos", disable=not progress or n_videos - first < 1000):
        lo = (v - first) * KEYFRAMES_PER_VIDEO
        out[lo:lo + KEYFRAMES_PER_VIDEO] = synth_video(base, v, seed, noise)[0]
    return out[:n_vectors - start]


def distractor_ids(start: int, stop: int) -> np.ndarray:
    """The index ids of distractor keyframes ``start`` to ``stop`` (video OFFSET + i // L, keyframe i % L)."""
    i = np.arange(start, stop, dtype=np.int64)
    return ((OFFSET + i // KEYFRAMES_PER_VIDEO) << KF_BITS) | (i % KEYFRAMES_PER_VIDEO)


def distractor_length(n: int, v: int) -> int:
    """Keyframes of distractor video ``v`` among ``n`` distractor keyframes (the last may be short)."""
    return min(KEYFRAMES_PER_VIDEO, n - v * KEYFRAMES_PER_VIDEO)


def distractor_features(base: np.ndarray, n: int, v: int, seed: int = 0) -> VideoFeatures:
    """Distractor video ``v`` of a catalogue of ``n`` distractor keyframes, as the catalogue holds it."""
    k = distractor_length(n, v)
    g, r = synth_video(base, v, seed)
    return VideoFeatures(np.arange(k, dtype=float), g[:k], r[:k])


@dataclass
class _FakeRecord:
    path: str
    times: list
    video_id: str
    duration: float


class DistractorDB:
    """The real database ``db`` and ``n`` distractor keyframes, whose global vectors ``index``
    holds under :func:`distractor_ids`. ``index_has_gallery``: ``index`` holds the real
    gallery's vectors too (one index over the whole catalogue, as at scale), and ``db``'s own
    index is not asked."""

    def __init__(self, db, index, n: int, base: np.ndarray, seed: int = 0, index_has_gallery: bool = False):
        self.db, self.index, self.n = db, index, n
        self.base, self.seed = base, seed
        self.index_has_gallery = index_has_gallery

    def search(self, q, k):
        rows = [(s, *split_ids(i)) for s, i in self.index.search(q, k)]
        if self.index_has_gallery:
            return rows
        out = []
        for (s1, n1, k1), (s2, n2, k2) in zip(self.db.search(q, k), rows):
            s, n, kf = np.concatenate([s1, s2]), np.concatenate([n1, n2]), np.concatenate([k1, k2])
            top = np.argsort(-s, kind="stable")[:k]
            out.append((s[top], n[top], kf[top]))
        return out

    @property
    def feature_config(self) -> dict:
        return self.db.feature_config

    def video_by_num(self, num):
        if num < OFFSET:
            return self.db.video_by_num(num)
        n = distractor_length(self.n, num - OFFSET)  # one keyframe a second
        return _FakeRecord(f"{DISTRACTOR_PREFIX}{num - OFFSET}", list(map(float, range(n))), f"dv{num - OFFSET}",
                           float(n))

    def features_by_num(self, num):
        if num < OFFSET:
            return self.db.features_by_num(num)
        return distractor_features(self.base, self.n, num - OFFSET, self.seed)


def with_distractors(db, n: int, base_path: Path, encoder, seed: int = 0,
                     images: Path | None = None, progress: bool = True) -> DistractorDB:
    from .generate import DEFAULT_IMAGES

    base = base_vectors(encoder, Path(images or DEFAULT_IMAGES), Path(base_path), seed=seed, progress=progress)
    index = make_index("flat", base.shape[-1])
    for i in range(0, n, BLOCK):
        stop = min(n, i + BLOCK)
        index.add(distractor_ids(i, stop), synth_videos(base, stop, seed=seed, progress=progress, start=i))
    return DistractorDB(db, index, n, base, seed)
