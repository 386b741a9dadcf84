"""The VCDB-like copy benchmark built from the shared real clips, with exact ground truth.

Content groups (clips of one group are the same footage) are split, seeded, into train
and test; within each split some groups are held out of the gallery and used only for
negative queries. A query is a sequence of pieces: 0 to 3 copied segments of gallery
clips of its split, each with a temporal edit (clipping, speed 0.5x-2x, dropped frames)
and one or two spatial edits (crop, flip, rotation, noise, blur, brightness, gamma,
grayscale, logo, caption, picture-in-picture, letterbox, low resolution), with unrelated
footage (animated photos never in the gallery) between them; the whole query may also
get a frame-rate change and a low-bitrate re-encode. Negatives copy nothing: they are
edited pieces of held-out clips of a category that the gallery also has.

Output folder::

    gallery.txt               the gallery: real clips (paths into ../shared/media) and distractors
    distractors/*.mp4         photos of ../shared/images animated into videos
    queries/{train,test}/*.mp4
    truth/{split}_label_file.json   VCSL format: "query-ref": [[q_start, r_start, q_end, r_end], ...]
    truth/{split}_pair_file.csv     query_id,reference_id of every true pair
    truth/{split}_pairs.csv         one row per copied segment pair, with the edits
    meta.json                 configuration and split (written last: its presence means complete)
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..synth import SPATIAL_EDITS, SpatialEdit, copy_segment, pan_frames, picture_in_picture, read_all, write_video
from ..corpus import DEFAULT_IMAGES, DEFAULT_MEDIA, Clip, load_clips, split_groups

log = logging.getLogger(__name__)
SIZE = (320, 240)
FPS = 15.0


@dataclass
class BenchConfig:
    seed: int = 0
    test_queries: int = 100
    test_negatives: int = 100
    train_queries: int = 60
    train_negatives: int = 30
    distractor_videos: int = 60
    distractor_seconds: float = 8.0
    test_share: float = 0.4
    holdout_share: float = 0.25

    @classmethod
    def quick(cls) -> "BenchConfig":
        return cls(test_queries=16, test_negatives=16, train_queries=10, train_negatives=5,
                   distractor_videos=6, distractor_seconds=5.0)

    def split(self, clips: list["Clip"]) -> dict[str, str]:
        """content_group -> split name for this configuration's seed and shares (see ``split_groups``)."""
        return split_groups(clips, self.seed, self.test_share, self.holdout_share)

    def key(self, footage: str = "") -> str:
        """The folder name; ``footage`` names footage other than the shared media (``held_out``)."""
        head = f"bench-{footage}-" if footage else "bench-"
        return head + "s{seed}-t{test_queries}n{test_negatives}-r{train_queries}n{train_negatives}-d{distractor_videos}".format(
            **asdict(self))

    def held_out(self) -> "BenchConfig":
        """This configuration on footage no model was trained and no constant chosen on: every
        content group is test (holdouts apart), nothing is train, so methods are tuned elsewhere."""
        return dataclasses.replace(self, test_share=1.0, train_queries=0, train_negatives=0)


class _FrameCache:
    def __init__(self, size=SIZE, fps=FPS, capacity=48):  # ~40 MB a clip at 320x240
        self.size, self.fps, self.capacity = size, fps, capacity
        self.data: OrderedDict = OrderedDict()

    def get(self, path: Path):
        key = str(path)
        if key not in self.data:
            frames, times, _ = read_all(path, fps=self.fps, size=self.size)
            self.data[key] = (frames, np.asarray(times))
            while len(self.data) > self.capacity:
                self.data.popitem(last=False)
        self.data.move_to_end(key)
        return self.data[key]


def _photos(images: Path) -> list[Path]:
    return sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def photo_roles(photos: list[Path], rng: np.random.Generator) -> tuple[list[Path], list[Path]]:
    """(gallery-distractor photos, filler photos): a seeded half each.

    The first half is animated into the gallery's distractor videos (and is what the
    feature-level distractors are made from); the second half is only ever query filler,
    so nothing a query shows outside its copied segments is anywhere in the index. This is
    the first draw of the benchmark's generator: ``photo_roles(photos, default_rng(seed))``
    repeats it.
    """
    order = rng.permutation(len(photos))
    return [photos[i] for i in order[: len(photos) // 2]], [photos[i] for i in order[len(photos) // 2:]]


def _load_photo(p: Path) -> np.ndarray:
    import skimage.io

    return skimage.io.imread(str(p))


def _spatial(rng) -> list[SpatialEdit]:
    kinds = list(rng.choice([k for k in SPATIAL_EDITS if k != "lowres"] + ["pip"], size=int(rng.integers(1, 3)),
                            replace=False))
    return [SpatialEdit(str(k), float(rng.uniform(0.3, 0.8)), int(rng.integers(1 << 30))) for k in kinds]


def build(out: str | Path, cfg: BenchConfig | None = None, media: str | Path = DEFAULT_MEDIA,
          images: str | Path = DEFAULT_IMAGES, progress: bool = True) -> Path:
    """Build (or reuse, when complete) the benchmark in ``out``; returns the folder."""
    cfg = cfg or BenchConfig()
    out = Path(out)
    if (out / "meta.json").exists():
        meta = json.loads((out / "meta.json").read_text())
        if meta.get("config") == asdict(cfg) and Path(meta["media"]) == Path(media).resolve():
            return out
        raise ValueError(f"{out} holds a benchmark with another configuration or footage; choose another folder")
    clips = load_clips(media)
    photos = _photos(Path(images))
    if not photos:
        raise FileNotFoundError(f"no images in {images}")
    rng = np.random.default_rng(cfg.seed)
    split = cfg.split(clips)
    for sub in ("distractors", "queries/train", "queries/test", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    distractor_photos, filler_photos = photo_roles(photos, rng)

    # one clip per content group in the gallery, so a copy has exactly one true reference
    gallery, seen = [], set()
    for c in clips:
        if not split[c.content_group].endswith("holdout") and c.content_group not in seen:
            seen.add(c.content_group)
            gallery.append(c)
    for k in tqdm(range(cfg.distractor_videos), desc="distractors", disable=not progress):
        p = out / "distractors" / f"distractor_{k:04d}.mp4"
        if not p.exists():
            img = _load_photo(distractor_photos[k % len(distractor_photos)])
            write_video(pan_frames(img, cfg.distractor_seconds, FPS, SIZE, seed=1000 + k), p, FPS, crf=28, threads=1)
    gallery_paths = [str(c.path.resolve()) for c in gallery] + \
        [str((out / "distractors" / f"distractor_{k:04d}.mp4").resolve()) for k in range(cfg.distractor_videos)]
    (out / "gallery.txt").write_text("\n".join(gallery_paths) + "\n")

    cache = _FrameCache()
    for part, n_pos, n_neg in (("train", cfg.train_queries, cfg.train_negatives),
                               ("test", cfg.test_queries, cfg.test_negatives)):
        refs = [c for c in gallery if split[c.content_group] == part and c.duration >= 2.5]
        held = [c for c in clips if split[c.content_group] == part + "-holdout" and c.duration >= 2.5]
        gallery_cats = {c.category for c in gallery}
        held = [c for c in held if c.category in gallery_cats] or held
        labels, rows = {}, []
        jobs = [("pos", i) for i in range(n_pos)] + [("neg", i) for i in range(n_neg)]
        for kind, i in tqdm(jobs, desc=f"{part} queries", disable=not progress):
            qrng = np.random.default_rng([cfg.seed, 0 if part == "train" else 1, 0 if kind == "pos" else 1, i])
            qid = f"{part}_{kind}_{i:04d}"
            boxes, qrows = _make_query(out / "queries" / part / f"{qid}.mp4", qid, kind, refs if kind == "pos" else held,
                                       filler_photos, cache, qrng)
            for ref, box in boxes:
                labels.setdefault(f"{qid}-{ref}", []).append(box)
            rows += qrows
        (out / "truth" / f"{part}_label_file.json").write_text(json.dumps(labels, indent=1) + "\n")
        with open(out / "truth" / f"{part}_pair_file.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["query_id", "reference_id"])
            for key in labels:
                q, r = key.split("-", 1)
                w.writerow([q, r])
        with open(out / "truth" / f"{part}_pairs.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["query_id", "reference_id", "q_start", "q_end", "r_start", "r_end", "temporal", "spatial",
                        "query_edits"])
            w.writerows(rows)
    meta = {"config": asdict(cfg), "split": split, "media": str(Path(media).resolve()),
            "reference_ids": {str(c.path.resolve()): c.path.stem for c in clips}}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _filler(photos, rng, seconds):
    img = _load_photo(photos[int(rng.integers(len(photos)))])
    return list(pan_frames(img, seconds, FPS, SIZE, seed=int(rng.integers(1 << 30))))


def _make_query(path: Path, qid: str, kind: str, pool: list[Clip], filler_photos, cache, rng):
    n_copies = int(rng.integers(1, 4)) if kind == "pos" else int(rng.integers(1, 3))
    frames_out: list[np.ndarray] = []
    boxes, rows = [], []
    query_fps = FPS
    query_edits = []
    if rng.random() < 0.2:
        query_fps = float(rng.choice([8.0, 10.0, 12.0]))  # frame-rate change
        query_edits.append(f"fps {query_fps:g}")
    crf = 26
    if rng.random() < 0.2:
        crf = 38  # low-bitrate re-encode
        query_edits.append("low bitrate")
    lowres = rng.random() < 0.15
    if lowres:
        query_edits.append("low resolution")

    def t_now():
        return len(frames_out) / query_fps

    if rng.random() < 0.7:
        frames_out += _filler(filler_photos, rng, float(rng.uniform(1, 4)))[: int(rng.uniform(1, 4) * query_fps)]
    for _ in range(n_copies):
        clip = pool[int(rng.integers(len(pool)))]
        src, times = cache.get(clip.path)
        dur = float(times[-1]) if len(times) else clip.duration
        seg = float(rng.uniform(min(3.0, dur * 0.8), min(10.0, dur * 0.95)))
        r0 = float(rng.uniform(0, max(dur - seg, 0.0)))
        r1 = r0 + seg
        temporal = "clip"
        speed, drop = 1.0, 0.0
        u = rng.random()
        if u < 0.25:
            speed = float(rng.choice([0.5, 0.75, 1.5, 2.0]))
            temporal = f"speed {speed:g}"
        elif u < 0.4:
            drop = float(rng.uniform(0.2, 0.5))
            temporal = f"drop {drop:.2f}"
        edits = _spatial(rng)
        pip = [e for e in edits if e.kind == "pip"]
        edits = [e for e in edits if e.kind != "pip"]
        body = copy_segment(src, times, r0, r1, speed, query_fps, edits, drop=drop, seed=int(rng.integers(1 << 30)))
        if pip:
            bg = _filler(filler_photos, rng, len(body) / query_fps + 0.2)
            corner = int(rng.integers(4))
            body = [picture_in_picture(f, bg[min(k, len(bg) - 1)], 0.55, corner) for k, f in enumerate(body)]
        q0 = t_now()
        frames_out += body
        q1 = t_now()
        spatial = "+".join([e.kind for e in edits] + (["pip"] if pip else []))
        if kind == "pos":
            ref = clip.path.stem
            boxes.append((ref, [round(q0, 3), round(r0, 3), round(q1, 3), round(r1, 3)]))
            rows.append([qid, ref, round(q0, 3), round(q1, 3), round(r0, 3), round(r1, 3), temporal, spatial,
                         "+".join(query_edits)])
        if rng.random() < 0.6:
            frames_out += _filler(filler_photos, rng, float(rng.uniform(1, 4)))
    if lowres:
        frames_out = [SpatialEdit("lowres")(f) for f in frames_out]
    write_video(frames_out, path, query_fps, crf=crf, threads=1)  # same bytes on every machine
    return boxes, rows
