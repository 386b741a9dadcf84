"""Train the learned keyframe selector (SKE) against a teacher, and ship its weights.

    python -m segscan.train.ske                 # teacher labels (cached), student training, card
    python -m segscan.train.ske --eval-only     # the shipped student against the teacher

Teacher (SSAN 3.1): every 8 fps basis frame of the benchmark's *train* content groups gets
the default backbone's keyframe vector; walking through a clip, a frame becomes a keyframe
when its cosine to the last keyframe falls below ``--teacher-sim`` (the content changed),
unless it is a poor frame (dark, flat or blurred against the clip's own frames), in which
case the next good frame takes its place. The first frame of a clip is a keyframe.

Student (:class:`segscan.pipeline.ske.SKENet`): the 32x32 thumbnails the decoder makes,
a binary cross-entropy per frame against the teacher's marks, the same random edit
(flip, crop, colour, grey, blur, noise) applied to every frame of a training window so
the student learns changes over time rather than one clip's look. A fifth of the train
content groups (by a hash of the name) are held out to measure the student against the
teacher; the test content groups are never read.
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

from ..corpus import DEFAULT_MEDIA, clips_of, held_out_group, load_clips
from ..pipeline.ske import SKENet, keep_rule, weights_path

log = logging.getLogger(__name__)
BASIS_FPS = 8.0


def frame_quality(images: np.ndarray) -> np.ndarray:
    """(N, 3) per frame: mean and standard deviation of luma, variance of its Laplacian."""
    y = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = (y[:, 1:-1, 1:-1] * 4 - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:])
    return np.stack([y.mean((1, 2)), y.std((1, 2)), lap.var((1, 2))], 1)


def good_frames(quality: np.ndarray, dark: float = 20.0, flat: float = 8.0, blur: float = 0.25) -> np.ndarray:
    """Not dark, not flat, and not much blurrier than the clip's typical frame."""
    sharp = quality[:, 2] >= blur * np.median(quality[:, 2])
    return (quality[:, 0] >= dark) & (quality[:, 1] >= flat) & sharp


def teacher_labels(feats: np.ndarray, ok: np.ndarray, sim: float) -> np.ndarray:
    """Keyframes where the content moved away from the last keyframe (cosine < ``sim``),
    good frames only; the first good frame starts the clip."""
    labels = np.zeros(len(feats), bool)
    last = None
    for i in np.flatnonzero(ok):
        if last is None or float(feats[i] @ feats[last]) < sim:
            labels[i] = True
            last = i
    if not labels.any() and len(labels):
        labels[0] = True
    return labels


def clip_data(path: Path, cache: Path, extractor) -> dict:
    """Thumbnails, times, keyframe vectors and quality of every basis frame (cached)."""
    out = cache / (path.stem + ".npz")
    if out.exists():
        return dict(np.load(out))
    from ..pipeline.decode import DecodeOptions, VideoReader

    size = (extractor.spec.input_size,) * 2
    thumbs, times, feats, qual, batch = [], [], [], [], []

    def flush():
        if batch:
            imgs = np.stack(batch)
            feats.append(extractor(imgs)[0])
            qual.append(frame_quality(imgs[:, ::2, ::2]))
            batch.clear()

    for fr in VideoReader(path, DecodeOptions(fps=BASIS_FPS, size=size)):
        thumbs.append(fr.thumbnail)
        times.append(fr.time)
        batch.append(fr.image)
        if len(batch) == 32:
            flush()
    flush()
    d = {"thumbs": np.stack(thumbs), "times": np.array(times), "feats": np.concatenate(feats),
         "quality": np.concatenate(qual)}
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, **d)
    tmp.replace(out)
    return d


def augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One random edit for a whole (T, 32, 32, 3) uint8 window."""
    x = x.float()
    if rng.random() < 0.5:
        x = x.flip(2)
    if rng.random() < 0.5:  # crop and zoom back
        s = int(rng.integers(22, 32))
        i, j = int(rng.integers(0, 33 - s)), int(rng.integers(0, 33 - s))
        x = F.interpolate(x[:, i:i + s, j:j + s].permute(0, 3, 1, 2), size=(32, 32), mode="bilinear",
                          align_corners=False).permute(0, 2, 3, 1)
    if rng.random() < 0.3:
        x = x.mean(3, keepdim=True).expand_as(x)
    if rng.random() < 0.3:  # blur
        k = torch.tensor([1.0, 2.0, 1.0]) / 4
        c = x.permute(0, 3, 1, 2).reshape(-1, 1, 32, 32)
        c = F.conv2d(F.pad(c, (1, 1, 0, 0), mode="replicate"), k.view(1, 1, 1, 3))
        c = F.conv2d(F.pad(c, (0, 0, 1, 1), mode="replicate"), k.view(1, 1, 3, 1))
        x = c.view(len(x), 3, 32, 32).permute(0, 2, 3, 1)
    gain, bias = rng.uniform(0.6, 1.4), rng.uniform(-40, 40)
    x = x * gain + bias
    if rng.random() < 0.3:
        x = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30)))) * rng.uniform(2, 12)
    return x.clamp(0, 255).round().to(torch.uint8)


def _matched(marks: np.ndarray, other: np.ndarray, tol: int) -> int:
    """How many frames of ``marks`` have a frame of ``other`` within ``tol`` frames."""
    return sum(bool(other[max(0, i - tol):i + tol + 1].any()) for i in np.flatnonzero(marks))


def label_share(clips: list[dict]) -> float:
    """The share of basis frames the teacher marks."""
    return sum(int(c["labels"].sum()) for c in clips) / max(sum(len(c["labels"]) for c in clips), 1)


def student_vs_teacher(net: SKENet, clips: list[dict], threshold: float, max_gap: float, tol: int = 2) -> dict:
    """Keyframe share and how well the selected frames match the teacher's (within ``tol`` frames)."""
    from ..pipeline.ske import SKESelector

    sel = SKESelector(threshold=threshold, max_gap=max_gap, net=net)
    total = hit_t = n_t = hit_s = kept = 0
    for c in clips:
        keep = keep_rule(sel.scores(c["thumbs"]), c["times"], threshold, max_gap)
        hit_t += _matched(c["labels"], keep, tol)
        n_t += int(c["labels"].sum())
        hit_s += _matched(keep, c["labels"], tol)
        kept += int(keep.sum())
        total += len(keep)
    rec, prec = hit_t / max(n_t, 1), hit_s / max(kept, 1)
    return {"share": kept / max(total, 1), "teacher_recall": rec, "precision": prec,
            "f1": 2 * rec * prec / max(rec + prec, 1e-9), "frames": total}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default=str(DEFAULT_MEDIA))
    ap.add_argument("--cache", default="runs/ske-data", help="per-clip teacher inputs (reused)")
    ap.add_argument("--teacher-sim", type=float, default=0.65,
                    help="cosine to the last keyframe below which the content has changed")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--window", type=int, default=256, help="basis frames per training window")
    ap.add_argument("--batch", type=int, default=8, help="windows per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-only", action="store_true", help="measure the shipped student, train nothing")
    ap.add_argument("--out", default=None, help="weights file (default: the shipped one)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    media = Path(args.media)
    if not media.is_dir():
        print(f"error: {media} not found: SKE trains on the shared clips", file=sys.stderr)
        return 2
    from ..pipeline.features import FeatureExtractor

    extractor = FeatureExtractor()
    cache = Path(args.cache) / extractor.config()["backbone"]
    cache.mkdir(parents=True, exist_ok=True)
    train, val = [], []
    clips = clips_of(load_clips(media), 0, "train")
    t0 = time.time()
    for i, c in enumerate(clips):
        d = clip_data(c.path, cache, extractor)
        d["labels"] = teacher_labels(d["feats"], good_frames(d["quality"]), args.teacher_sim)
        (val if held_out_group(c.content_group) else train).append(d)
        print(f"\rteacher: {i + 1}/{len(clips)} clips ({time.time() - t0:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    print(f"teacher keyframes: {label_share(train):.1%} of train basis frames ({len(train)} clips), "
          f"{label_share(val):.1%} of held-out ({len(val)} clips)")
    out = Path(args.out) if args.out else weights_path()
    if args.eval_only:
        from ..pipeline.ske import load_net

        net = load_net(out)
    else:
        net = fit(train, args)
    metrics = {f"thr{thr}-gap{gap}": student_vs_teacher(net, val, thr, gap) for thr, gap in ((0.5, 1.5), (0.3, 1.0))}
    speed = thumbs_per_second(net)
    for k, m in metrics.items():
        print(f"{k}: keeps {m['share']:.1%} of basis frames; teacher recall {m['teacher_recall']:.3f}, "
              f"precision {m['precision']:.3f} (within 2 frames)")
    print(f"student: {speed:.0f} basis frames/s (one thread)")
    if args.eval_only:
        return 0
    from ..detectors.cards import write_card

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save({"arch": {}, "state": net.state_dict()}, tmp)
    tmp.replace(out)
    write_card(out, "segscan.train.ske", argv, component="SKE keyframe scorer (thumbnail tile encoder + temporal convolutions)",
               data=f"{len(train)} train clips ({sum(len(c['labels']) for c in train)} basis frames at {BASIS_FPS:g} fps) "
                    f"of the train content groups (split seed 0) of {media}; {len(val)} more held out for the metrics",
               teacher={"backbone": extractor.config()["backbone"], "sim": args.teacher_sim,
                        "share_train": round(label_share(train), 4), "share_held_out": round(label_share(val), 4)},
               recipe={k: getattr(args, k) for k in ("steps", "window", "batch", "lr", "seed")},
               metrics_held_out={k: {kk: round(v, 4) if isinstance(v, float) else v for kk, v in m.items()}
                                 for k, m in metrics.items()},
               basis_frames_per_s=round(speed, 1))
    return 0


def fit(clips: list[dict], args) -> SKENet:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = SKENet()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    pos = label_share(clips)
    pos_weight = torch.tensor((1 - pos) / max(pos, 1e-3))
    weights = np.array([len(c["labels"]) for c in clips], float)
    weights /= weights.sum()
    t0 = time.time()
    net.train()
    for step in range(args.steps):
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys = [], []
        for k in rng.choice(len(clips), args.batch, p=weights):
            c = clips[k]
            n = len(c["labels"])
            w = min(args.window, n)
            s = int(rng.integers(0, n - w + 1))
            x = augment(torch.from_numpy(c["thumbs"][s:s + w]), rng)
            y = torch.from_numpy(c["labels"][s:s + w].astype(np.float32))
            if w < args.window:  # short clip: padded, and the padding ignored by the loss
                x = torch.cat([x, torch.zeros(args.window - w, *x.shape[1:], dtype=x.dtype)])
                y = torch.cat([y, torch.full((args.window - w,), -1.0)])
            xs.append(x)
            ys.append(y)
        x, y = torch.stack(xs), torch.stack(ys)
        logits = net(x)
        mask = y >= 0
        loss = F.binary_cross_entropy_with_logits(logits[mask], y[mask], pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            log.info("step %d loss %.4f (%.0f s)", step + 1, float(loss), time.time() - t0)
    return net.eval()


@torch.inference_mode()
def thumbs_per_second(net: SKENet, n: int = 2048) -> float:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.randint(0, 256, (1, n, 32, 32, 3), dtype=torch.uint8)
        net(x[:, :64])
        t = time.perf_counter()
        net(x)
        return n / (time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
