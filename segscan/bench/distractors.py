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

from ..index.ids import make_ids, split_ids
from ..index.vectors import make_index
from ..types import VideoFeatures

OFFSET = 1 << 30  # distractor video numbers start here
KEYFRAMES_PER_VIDEO = 60


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
                 progress: bool = True) -> np.ndarray:
    """Global vectors of the first ``n_vectors`` distractor keyframes (whole videos of KEYFRAMES_PER_VIDEO)."""
    n_videos = -(-n_vectors // KEYFRAMES_PER_VIDEO)
    out = np.empty((n_videos * KEYFRAMES_PER_VIDEO, base.shape[-1]), np.float32)
    for v in tqdm(range(n_videos), desc="distractor videos", disable=not progress or n_videos < 1000):
        out[v * KEYFRAMES_PER_VIDEO:(v + 1) * KEYFRAMES_PER_VIDEO] = synth_video(base, v, seed, noise)[0]
    return out[:n_vectors]


@dataclass
class _FakeRecord:
    path: str
    times: list
    video_id: str


class DistractorDB:
    def __init__(self, db, vectors: np.ndarray, base: np.ndarray, seed: int = 0):
        self.db = db
        self.vectors = vectors
        self.base, self.seed = base, seed
        self.index = make_index("flat", vectors.shape[1])
        n_videos = -(-len(vectors) // KEYFRAMES_PER_VIDEO)
        ids = np.concatenate([make_ids(OFFSET + v, KEYFRAMES_PER_VIDEO) for v in range(n_videos)])[: len(vectors)]
        for i in range(0, len(vectors), 200_000):
            self.index.add(ids[i:i + 200_000], vectors[i:i + 200_000])

    def search(self, q, k):
        out = []
        for (s1, n1, k1), (s2, i2) in zip(self.db.search(q, k), self.index.search(q, k)):
            n2, k2 = split_ids(i2)
            s, n, kf = np.concatenate([s1, s2]), np.concatenate([n1, n2]), np.concatenate([k1, k2])
            top = np.argsort(-s, kind="stable")[:k]
            out.append((s[top], n[top], kf[top]))
        return out

    def video_by_num(self, num):
        if num < OFFSET:
            return self.db.video_by_num(num)
        return _FakeRecord(f"distractor-vector-video-{num - OFFSET}", list(map(float, range(KEYFRAMES_PER_VIDEO))),
                           f"dv{num - OFFSET}")

    def features_by_num(self, num):
        if num < OFFSET:
            return self.db.features_by_num(num)
        v = num - OFFSET
        n = len(self.vectors[v * KEYFRAMES_PER_VIDEO:(v + 1) * KEYFRAMES_PER_VIDEO])
        g, r = synth_video(self.base, v, self.seed)
        return VideoFeatures(np.arange(n, dtype=float), g[:n], r[:n])


def with_distractors(db, n: int, base_path: Path, encoder, seed: int = 0,
                     images: Path | None = None, progress: bool = True) -> DistractorDB:
    from .generate import DEFAULT_IMAGES

    base = base_vectors(encoder, Path(images or DEFAULT_IMAGES), Path(base_path), seed=seed, progress=progress)
    return DistractorDB(db, synth_videos(base, n, seed=seed, progress=progress), base, seed)
