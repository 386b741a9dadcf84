"""Learn the feature projection for copy detection (replaces the plain PCA whitening).

    python -m segscan.train.copyproj --media ../shared/media

The projection has the whitening's form (``y = normalize((x - mean) @ P)`` per iMAC region,
summed and normalised into the keyframe vector), so the query and ingest paths do not
change. It starts from the PCA whitening of the same data and is then trained with a
contrastive loss (InfoNCE, in-batch negatives) to give a frame and its edited copy the same
vector: random crops, picture-in-picture, letterbox, rotation, captions, logos, gray,
gamma, noise, blur, low resolution and JPEG compression, one to three at a time.

Data: frames of the benchmark's train-split clips (content groups of ``--split-seed``; a
fifth of those clips is kept apart for choosing the epoch) and, with ``--images``, the
BSDS500 train photos. The test-split clips are only used for the figures printed at the
end (PCA and learned projection side by side), which go into the model card.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..corpus import images_in
from ..errors import VideoError
from ..synth import SpatialEdit, picture_in_picture
from ..pipeline.decode import DecodeOptions, VideoReader
from ..pipeline.frames import resize_rgb as resize
from ..pipeline.features import FeatureExtractor, Whitening, whitening_path
from ..pipeline.ingest import VIDEO_EXTS

log = logging.getLogger(__name__)
SIZE = 256  # frames are decoded to SIZE x SIZE before editing (the backbone squashes to a square anyway)
EDITS = ("crop", "pip", "letterbox", "rotate", "text", "logo", "gray", "gamma", "brightness", "noise", "blur",
         "lowres", "jpeg")


def random_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    fw, fh = rng.uniform(0.55, 0.95, 2)
    cw, ch = int(w * fw), int(h * fh)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return resize(img[y0:y0 + ch, x0:x0 + cw], w, h)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    from .augment import jpeg as jpeg_pil

    return np.asarray(jpeg_pil(Image.fromarray(img), quality))


def augment(img: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One edited copy of ``img``: one to three random edits (``other`` is a background for PiP)."""
    for kind in rng.choice(EDITS, int(rng.integers(1, 4)), replace=False):
        s = float(rng.uniform(0.3, 1.0))
        if kind == "crop":
            img = random_crop(img, rng)
        elif kind == "pip":
            img = picture_in_picture(img, other, scale=float(rng.uniform(0.5, 0.75)), corner=int(rng.integers(4)))
        elif kind == "jpeg":
            img = jpeg(img, int(rng.integers(10, 50)))
        else:
            img = SpatialEdit(str(kind), s, seed=int(rng.integers(1 << 30)))(img)
    return np.ascontiguousarray(img)


def decode_frames(paths, fps: float) -> tuple[list[np.ndarray], list[int]]:
    frames, owner = [], []
    for k, p in enumerate(tqdm(paths, desc="decoding", unit="video")):
        try:
            for fr in VideoReader(p, DecodeOptions(fps=fps, size=(SIZE, SIZE), crop_borders=True)):
                frames.append(fr.image)
                owner.append(k)
        except VideoError as exc:
            log.warning("skipping %s", exc)
    return frames, owner


def load_images(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    files = images_in(folder, "__train__")
    return [resize(np.asarray(Image.open(p).convert("RGB")), SIZE, SIZE) for p in files]


def raw_regions(ex: FeatureExtractor, images: list[np.ndarray], desc: str) -> torch.Tensor:
    out = []
    for i in tqdm(range(0, len(images), ex.batch_size), desc=desc, unit="batch"):
        out.append(ex.raw_regions(np.stack(images[i:i + ex.batch_size])).cpu())
    return torch.cat(out) if out else torch.zeros(0, 9, ex.raw_dim)


def views(images: list[np.ndarray], n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[augment(im, images[int(rng.integers(len(images)))], rng) for im in images] for _ in range(n)]


class Projection(torch.nn.Module):
    def __init__(self, w: Whitening):
        super().__init__()
        self.mean = torch.nn.Parameter(torch.as_tensor(w.mean).clone())
        self.proj = torch.nn.Parameter(torch.as_tensor(w.proj * w.scale[None, :]).clone())

    def forward(self, r: torch.Tensor) -> torch.Tensor:  # (B, 9, Din) -> (B, D) keyframe vectors
        z = F.normalize((r - self.mean) @ self.proj, dim=-1)
        return F.normalize(z.sum(1), dim=-1)

    def to_whitening(self) -> Whitening:
        p = self.proj.detach().numpy().astype(np.float32)
        return Whitening(self.mean.detach().numpy().astype(np.float32), p, np.ones(p.shape[1], np.float32))


def retrieval(g_src: torch.Tensor, g_edit: torch.Tensor, owner: np.ndarray) -> dict:
    """Edited frames searched among all source frames: frame and video top-1, similarity margin."""
    s = g_edit @ g_src.T
    top = s.argmax(1).numpy()
    n = len(s)
    pos = s[torch.arange(n), torch.arange(n)]
    same = torch.as_tensor(owner[:, None] == owner[None, :])
    other = s.masked_fill(same, -9).max(1).values
    return {"frame_top1": round(float((top == np.arange(n)).mean()), 4),
            "video_top1": round(float((owner[top] == owner).mean()), 4),
            "pos_sim": round(float(pos.mean()), 4), "best_other_video_sim": round(float(other.mean()), 4),
            "pos_above_other_video": round(float((pos > other).float().mean()), 4)}


def train(model: Projection, src: torch.Tensor, edits: list[torch.Tensor], val, epochs: int, batch: int,
          lr: float, temperature: float, seed: int) -> dict:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(src)
    best, best_epoch, best_state, history = -1.0, 0, None, []
    for ep in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            v = torch.stack([edits[int(torch.randint(len(edits), ()))][j] for j in idx.tolist()])
            a, b = model(src[idx]), model(v)
            logits = a @ b.T / temperature
            target = torch.arange(len(idx))
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        with torch.no_grad():
            m = retrieval(model(val[0]), model(val[1]), val[2])
        history.append({"epoch": ep + 1, "loss": round(total / max(n, 1), 4), **m})
        log.info("epoch %d loss %.4f val %s", ep + 1, total / max(n, 1), m)
        score = m["frame_top1"] + m["pos_above_other_video"]
        if score > best:
            best, best_epoch = score, ep + 1
            best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {"history": history, "best_epoch": best_epoch}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default="../shared/media", help="folder of training videos")
    ap.add_argument("--images", default="../shared/images", help="photos (their BSDS500 train images are used); "
                    "'' for none")
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--layers", type=int, default=3, help="N of L_N-iMAC (1..3)")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--fps", type=float, default=1.0, help="frames per second taken from each training video")
    ap.add_argument("--views", type=int, default=3, help="edited copies made of each training frame")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="output file (default: the shipped whitening location)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    t0 = time.time()

    from ..corpus import load_clips, split_groups

    media = Path(args.media)
    if not media.is_dir():
        print(f"error: {media} is not a folder of videos", file=sys.stderr)
        return 2
    clips = [c for c in load_clips(media) if c.path.suffix.lower() in VIDEO_EXTS]
    split = split_groups(clips, args.split_seed)
    train_groups = sorted({c.content_group for c in clips if split[c.content_group].startswith("train")})
    rng = np.random.default_rng(args.seed)
    val_groups = set(rng.choice(train_groups, max(1, len(train_groups) // 5), replace=False).tolist())
    paths = {"train": [], "val": [], "test": []}
    for c in clips:
        part = split[c.content_group]
        key = "test" if part.startswith("test") else ("val" if c.content_group in val_groups else
                                                        "train" if part.startswith("train") else None)
        if key:
            paths[key].append(c.path)

    ex = FeatureExtractor(args.backbone, layers=args.layers, whitening="none")
    data = {}
    for key in ("train", "val", "test"):
        frames, owner = decode_frames(paths[key], args.fps)
        if key == "train" and args.images:
            photos = load_images(Path(args.images))
            owner += list(range(len(paths[key]), len(paths[key]) + len(photos)))
            frames += photos
        if not frames:
            print(f"error: no {key} frames from {media}", file=sys.stderr)
            return 2
        n_views = args.views if key == "train" else 1
        vs = views(frames, n_views, args.seed + {"train": 0, "val": 1, "test": 2}[key])
        data[key] = (raw_regions(ex, frames, f"{key} frames"), [raw_regions(ex, v, f"{key} edits") for v in vs],
                     np.asarray(owner))
    src, edits, _ = data["train"]
    pca = Whitening.fit(src.reshape(-1, src.shape[-1]).numpy(), args.dim)
    model = Projection(pca)
    with torch.no_grad():
        before = {k: retrieval(model(data[k][0]), model(data[k][1][0]), data[k][2]) for k in ("val", "test")}
    val = (data["val"][0], data["val"][1][0], data["val"][2])
    info = train(model, src, edits, val, args.epochs, args.batch, args.lr, args.temperature, args.seed)
    with torch.no_grad():
        after = {k: retrieval(model(data[k][0]), model(data[k][1][0]), data[k][2]) for k in ("val", "test")}
    for k in ("val", "test"):
        print(f"{k}: PCA {before[k]}\n{k}: learned {after[k]}")

    out = Path(args.out) if args.out else whitening_path(args.backbone, args.layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.to_whitening().save(out, backbone=args.backbone, layers=args.layers, samples=len(src))
    from ..detectors.cards import write_card

    write_card(
        out, "segscan.train.copyproj", argv,
        component=f"copy-detection projection of L{args.layers}-iMAC region vectors (PCA init + InfoNCE)",
        backbone=args.backbone,
        data={"train": f"{len(paths['train'])} train-split clips of {media} at {args.fps} fps"
                       + (f" + BSDS500 train photos from {args.images}" if args.images else "")
                       + f" ({len(src)} frames, {args.views} edited copies each)",
              "val": f"{len(paths['val'])} train-split clips kept apart for choosing the epoch",
              "test": f"{len(paths['test'])} test-split clips (split seed {args.split_seed}), figures only"},
        output_dim=args.dim, epochs=args.epochs, best_epoch=info["best_epoch"],
        metrics={"pca": before, "learned": after,
                 "note": "edited frames searched among all frames of their split; one random edit chain each"},
        history=info["history"], seconds=round(time.time() - t0, 1),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
