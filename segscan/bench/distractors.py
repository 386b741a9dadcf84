"""Feature-level distractors: many realistic keyframe vectors, far past the clips that exist here.

Base vectors come from real photos (``../shared/images``) under augmentation (random
crops, flips, brightness), run through the same extractor as the gallery. Distractor
"videos" are then made in feature space: each is a slow walk between three base
vectors with a little noise, so consecutive keyframes are correlated as in real video.
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


def base_vectors(encoder, images: Path, path: Path, per_image: int = 4, seed: int = 0) -> np.ndarray:
    if path.exists():
        return np.load(path)["x"]
    import skimage.io

    from ..synth import SpatialEdit, resize

    rng = np.random.default_rng(seed)
    files = sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    size = encoder.extractor.spec.input_size
    batch, out = [], []
    for f in tqdm(files, desc="distractor base vectors"):
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
                out.append(encoder.extractor(np.stack(batch))[0])
                batch = []
    if batch:
        out.append(encoder.extractor(np.stack(batch))[0])
    x = np.concatenate(out)
    np.savez(path, x=x)
    return x


def synth_videos(base: np.ndarray, n_vectors: int, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_videos = -(-n_vectors // KEYFRAMES_PER_VIDEO)
    L = KEYFRAMES_PER_VIDEO
    t = np.linspace(0, 2, L)[:, None]
    out = np.empty((n_videos * L, base.shape[1]), np.float32)
    for v in range(n_videos):
        a, b, c = base[rng.integers(0, len(base), 3)]
        path = np.where(t < 1, (1 - t) * a + t * b, (2 - t) * b + (t - 1) * c)
        path = path + noise * rng.normal(size=path.shape) / np.sqrt(base.shape[1])
        out[v * L:(v + 1) * L] = path / np.linalg.norm(path, axis=1, keepdims=True)
    return out[:n_vectors]


@dataclass
class _FakeRecord:
    path: str
    times: list
    video_id: str


class DistractorDB:
    def __init__(self, db, vectors: np.ndarray):
        self.db = db
        self.vectors = vectors
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
        x = self.vectors[v * KEYFRAMES_PER_VIDEO:(v + 1) * KEYFRAMES_PER_VIDEO]
        return VideoFeatures(np.arange(len(x), dtype=float), x)


def with_distractors(db, n: int, base_path: Path, encoder, seed: int = 0,
                     images: Path | None = None) -> DistractorDB:
    from .generate import DEFAULT_IMAGES

    base = base_vectors(encoder, Path(images or DEFAULT_IMAGES), Path(base_path), seed=seed)
    return DistractorDB(db, synth_videos(base, n, seed=seed))
