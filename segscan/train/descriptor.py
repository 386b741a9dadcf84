"""Train segscan's copy-detection descriptor (the SSCD recipe on EfficientNet-Lite0).

    python -m segscan.train.descriptor --steps 3000 --run runs/copydesc   # resumes if the run exists
    python -m segscan.train.descriptor --run runs/copydesc --export        # write the shipped weights

The descriptor is exactly what the query and ingest paths compute, so nothing downstream
changes: the backbone's last three tapped maps, L3-iMAC regions, a learned projection
(the whitening's form, initialised from the shipped PCA whitening), each region
l2-normalised, their sum l2-normalised into the keyframe vector. Training fine-tunes the
backbone's later stages and the projection with InfoNCE over two strongly augmented views
of each picture (:mod:`segscan.train.augment`) plus the KoLeo entropy term (SSCD,
Pizzi et al. 2022), positives excluded from its nearest neighbour.

Data: the descriptor photos of ``../shared/photos`` (the train folders of
:func:`segscan.corpus.photo_part`), the BSDS500 train photos of ``../shared/images`` and
frames of the benchmark's train content groups (split seed 0). A batch takes at most one
frame per clip, so no two near-identical frames are each other's negatives. Test content
and test photo folders are never read here.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..corpus import DEFAULT_IMAGES, DEFAULT_MEDIA, DEFAULT_PHOTOS
from ..pipeline.backbones import get_spec, load_copydesc_stages
from ..pipeline.features import WEIGHTS_DIR, Whitening, imac, whitening_path
from .pictures import as_batch, load_pictures

log = logging.getLogger(__name__)
FROZEN_STAGES = 3  # stem and the 16/24/40-channel stages keep their ImageNet weights
DESCRIPTOR = "copydesc-lite0"


class CopyDescriptor(torch.nn.Module):
    """Backbone taps -> L3-iMAC -> projection -> keyframe vector, trainable end to end."""

    def __init__(self, backbone: str = "efficientnet-lite0", init: Whitening | None = None, frozen: int = FROZEN_STAGES):
        super().__init__()
        self.spec = get_spec(backbone)
        self.net = self.spec.build()
        self.frozen = frozen
        for p in self.net.stem.parameters():
            p.requires_grad_(False)
        for s in self.net.stages[:frozen]:
            for p in s.parameters():
                p.requires_grad_(False)
        init = init or Whitening.load(whitening_path(backbone, 3))
        self.mean = torch.nn.Parameter(torch.as_tensor(init.mean).clone())
        self.proj = torch.nn.Parameter(torch.as_tensor(init.proj * init.scale[None, :]).clone())
        self.register_buffer("pix_mean", torch.tensor(self.spec.mean).view(1, 3, 1, 1))
        self.register_buffer("pix_std", torch.tensor(self.spec.std).view(1, 3, 1, 1))

    def train(self, mode: bool = True):
        super().train(mode)
        # the frozen part keeps its batch-norm statistics
        self.net.stem.eval()
        for s in self.net.stages[:self.frozen]:
            s.eval()
        return self

    def regions(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 9, D) projected, l2-normalised region vectors of (B, 3, H, W) float pixels 0..255."""
        x = (x - self.pix_mean) / self.pix_std
        taps, stages = self.net.taps, self.net.stages
        out = []
        with torch.no_grad():
            x = self.net.stem(x)
            for i in range(self.frozen):
                x = stages[i](x)
                if i in taps:
                    out.append(x)
        for i in range(self.frozen, len(stages)):
            x = stages[i](x)
            if i in taps:
                out.append(x)
        r = imac(out[-3:])
        return F.normalize((r - self.mean) @ self.proj, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.regions(x).sum(1), dim=-1)

    def to_whitening(self) -> Whitening:
        p = self.proj.detach().cpu().numpy().astype(np.float32)
        return Whitening(self.mean.detach().cpu().numpy().astype(np.float32), p, np.ones(p.shape[1], np.float32))

    def backbone_state(self) -> dict:
        """The fine-tuned stages only, in half precision: what the shipped weight file holds."""
        keep = tuple(f"stages.{i}." for i in range(self.frozen, len(self.net.stages)))
        return {k: v.half() for k, v in self.net.state_dict().items() if k.startswith(keep)}


def load_shipped(model: CopyDescriptor) -> None:
    """Continue from the shipped weights: the fine-tuned stages and the projection."""
    load_copydesc_stages(model.net)
    w = Whitening.load(whitening_path(DESCRIPTOR, 3))
    with torch.no_grad():
        model.mean.copy_(torch.as_tensor(w.mean))
        model.proj.copy_(torch.as_tensor(w.proj * w.scale[None, :]))


def info_nce_koleo(a: torch.Tensor, b: torch.Tensor, temperature: float, koleo: float,
                   memory: torch.Tensor | None = None, memory_same: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """SimCLR-style InfoNCE over 2B views (each view's positive is its pair) + KoLeo entropy.

    ``memory`` (M, D): embeddings of earlier batches, extra negatives for every view
    (``memory_same`` (B, M) marks those of a view's own group, which are left out)."""
    z = torch.cat([a, b])
    n = len(a)
    sim = z @ z.T
    eye = torch.eye(2 * n, dtype=torch.bool)
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    logits = (sim / temperature).masked_fill(eye, float("-inf"))
    if memory is not None and len(memory):
        mem = (z @ memory.T) / temperature
        if memory_same is not None:
            mem = mem.masked_fill(torch.cat([memory_same, memory_same]), float("-inf"))
        logits = torch.cat([logits, mem], 1)
    nce = F.cross_entropy(logits, pos)
    # KoLeo: -log distance to the nearest *non-matching* neighbour, which spreads the vectors
    pos_mask = eye.clone()
    pos_mask[torch.arange(2 * n), pos] = True
    nn_sim = sim.masked_fill(pos_mask, -2.0).max(1).values
    dist = torch.sqrt(torch.clamp(2 - 2 * nn_sim, min=1e-8))
    ent = -torch.log(dist + 1e-8).mean()
    with torch.no_grad():
        top1 = (logits.argmax(1) == pos).float().mean()
    return nce + koleo * ent, {"nce": float(nce.detach()), "koleo": float(ent.detach()), "top1": float(top1),
                               "pos_sim": float(sim[torch.arange(2 * n), pos].mean())}


class NegativeMemory:
    """A first-in first-out store of the last ``size`` embeddings and their groups.

    A CPU batch holds 48 pictures where SSCD's holds thousands, so InfoNCE sees few
    negatives and little pressure to push unrelated pictures apart; embeddings of recent
    batches are near enough to the current model's, at a small learning rate, to serve as
    more (cross-batch memory, Wang et al., CVPR 2020)."""

    def __init__(self, size: int, dim: int):
        self.z = torch.zeros(0, dim)
        self.groups = np.zeros(0, dtype=np.int64)
        self.size = size

    def negatives(self, groups: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.z, torch.from_numpy(groups[:, None] == self.groups[None, :])

    def push(self, z: torch.Tensor, groups: np.ndarray) -> None:
        self.z = torch.cat([z.detach(), self.z])[: self.size]
        self.groups = np.concatenate([groups, self.groups])[: self.size]


def mine_near(model: CopyDescriptor, data, size: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(groups, k): each group's ``k`` nearest other groups under the model as it is now, from one
    unedited picture a group (a random frame of footage), so that batches can hold pictures that
    look alike. A batch of random groups from a thousand-odd rarely holds two lookalikes (another
    clip of the same signer, another demo of the same web UI), and they are what sets the
    unrelated pairs' top cosines."""
    from PIL import Image

    pick = [int(rng.choice(ix)) for ix in data.by_group]
    was = model.training
    model.eval()
    z = []
    with torch.no_grad():
        for i in range(0, len(pick), 64):
            z.append(model(as_batch([np.asarray(data.images[j].resize((size, size), Image.BILINEAR))
                                     for j in pick[i:i + 64]])))
    model.train(was)
    z = torch.cat(z)
    sim = (z @ z.T).fill_diagonal_(-2.0)
    return sim.topk(k, dim=1).indices.numpy()


def export(model: CopyDescriptor, argv, state: dict, metrics: dict | None = None) -> Path:
    from ..detectors.cards import write_card

    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    out = WEIGHTS_DIR / f"{DESCRIPTOR}.pt"
    tmp = out.with_suffix(".tmp")
    torch.save({"base": "efficientnet-lite0", "frozen_stages": model.frozen, "state": model.backbone_state()}, tmp)
    tmp.replace(out)
    model.to_whitening().save(whitening_path(DESCRIPTOR, 3), backbone=DESCRIPTOR, layers=3)
    write_card(out, "segscan.train.descriptor", argv,
               component="copy-detection descriptor: EfficientNet-Lite0 stages 3-6 fine-tuned + L3-iMAC projection",
               files=[out.name, whitening_path(DESCRIPTOR, 3).name],
               recipe={k: state["args"].get(k) for k in ("size", "batch", "lr", "temperature", "koleo", "fps",
                                                        "memory", "memory_from", "hold_out_val")},
               data=state["data"], steps=state["step"], sessions=state.get("sessions", []),
               seconds_trained=round(state["seconds"], 1),
               history=state["history"][-20:],
               metrics=metrics or "not measured: run python -m segscan.bench.descriptor --json F, then export "
                                  "with --metrics F")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/copydesc", help="run folder (checkpoint, log); resumed when it exists")
    ap.add_argument("--steps", type=int, default=3000, help="total optimiser steps of the run")
    ap.add_argument("--batch", type=int, default=48, help="pictures per step (two views each)")
    ap.add_argument("--size", type=int, default=160, help="training resolution")
    ap.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate (the projection gets 5x)")
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--koleo", type=float, default=30.0, help="weight of the KoLeo entropy term (SSCD's)")
    ap.add_argument("--fps", type=float, default=2.0, help="frames per second taken from each train clip")
    ap.add_argument("--memory", type=int, default=0,
                    help="embeddings of earlier batches kept as extra negatives (0: none)")
    ap.add_argument("--memory-from", type=int, default=200, help="step at which the memory starts to be used")
    ap.add_argument("--hard-share", type=float, default=0.0,
                    help="share of each batch drawn as clusters of four groups that look alike under "
                         "the model (hard negatives; 0: random groups only)")
    ap.add_argument("--hard-every", type=int, default=100, help="steps between two searches for lookalikes")
    ap.add_argument("--hold-out-val", action="store_true",
                    help="leave the 'val' photo folders out, to choose between runs on them "
                         "(python -m segscan.bench.descriptor --part val)")
    ap.add_argument("--media", default=str(DEFAULT_MEDIA))
    ap.add_argument("--images", default=str(DEFAULT_IMAGES))
    ap.add_argument("--photos", default=str(DEFAULT_PHOTOS))
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=50, help="checkpoint every N steps")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--from-shipped", action="store_true",
                    help="start a new run from the shipped copydesc-lite0 weights instead of ImageNet "
                         "(checkpoints live in --run and do not travel with the project; the weights do)")
    ap.add_argument("--export", action="store_true", help="write the run's weights into segscan/detectors/weights")
    ap.add_argument("--metrics", default=None, help="with --export: a JSON of python -m segscan.bench.descriptor "
                    "(run with --checkpoint) whose overall figures go on the model card")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    ckpt = run / "checkpoint.pt"
    model = CopyDescriptor()
    state = {"step": 0, "seconds": 0.0, "history": [], "args": vars(args)}
    params = [{"params": [p for p in model.net.parameters() if p.requires_grad], "lr": args.lr},
              {"params": [model.mean, model.proj], "lr": 5 * args.lr}]
    opt = torch.optim.AdamW(params, weight_decay=1e-4)
    if ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        log.info("resumed %s at step %d", ckpt, state["step"])
    elif args.from_shipped:
        load_shipped(model)
        state["from_shipped"] = True
    if not args.export:  # every session of a run is on its card: the step it resumed at, the total asked for
        state.setdefault("sessions", []).append({"from_step": state["step"], "steps": args.steps})
    if args.export:
        if not ckpt.exists():
            print(f"error: no checkpoint at {ckpt}", file=sys.stderr)
            return 2
        metrics = None
        if args.metrics:
            import json

            metrics = {k: v["overall"] for k, v in json.loads(Path(args.metrics).read_text()).items()}
        print(export(model, argv, state, metrics))
        return 0

    try:
        parts = ("train",) if args.hold_out_val else ("train", "val")
        data = load_pictures(Path(args.media), Path(args.images), Path(args.photos), args.fps, args.split_seed, parts)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    which = "train" if args.hold_out_val else "train and val"
    state["data"] = (f"{len(data.images)} pictures in {data.n_groups} groups: {which} photos of {args.photos} "
                     f"and BSDS500 train photos of {args.images}, frames at {args.fps:g} fps of the train "
                     f"content groups (split seed {args.split_seed}) of {args.media}")
    log.info("%s", state["data"])
    run.mkdir(parents=True, exist_ok=True)
    base_lr = [g["lr"] for g in params]

    def set_lr(step: int) -> None:  # 100 warm-up steps, then cosine decay to 0 at --steps
        f = min(1.0, (step + 1) / 100) * 0.5 * (1 + np.cos(np.pi * min(step, args.steps) / args.steps))
        for g, lr in zip(opt.param_groups, base_lr):
            g["lr"] = lr * f

    rng = np.random.default_rng(args.seed + state["step"])  # a resumed run draws new batches
    model.train()
    pool = ThreadPoolExecutor(1)  # the next batch is augmented while this one trains
    near = mine_near(model, data, args.size, 3, rng) if args.hard_share > 0 else None
    nxt = pool.submit(data.batch, rng, args.batch, args.size, near, args.hard_share)
    memory = NegativeMemory(args.memory, model.proj.shape[1])
    t_last = time.time()
    while state["step"] < args.steps:
        set_lr(state["step"])
        a, b, groups = nxt.result()
        if near is not None and state["step"] % args.hard_every == 0 and state["step"]:
            near = mine_near(model, data, args.size, 3, rng)
        nxt = pool.submit(data.batch, rng, args.batch, args.size, near, args.hard_share)
        za, zb = model(a), model(b)
        use = args.memory > 0 and state["step"] >= args.memory_from
        mem, same = memory.negatives(groups) if use else (None, None)
        loss, m = info_nce_koleo(za, zb, args.temperature, args.koleo, mem, same)
        if args.memory > 0:
            memory.push(torch.cat([za, zb]), np.concatenate([groups, groups]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["step"] += 1
        now = time.time()
        state["seconds"] += now - t_last
        t_last = now
        if state["step"] % 10 == 0:
            rec = {"step": state["step"], "loss": round(float(loss), 4), **{k: round(v, 4) for k, v in m.items()},
                   "img_per_s": round(2 * args.batch * state["step"] / max(state["seconds"], 1e-6), 1)}
            state["history"].append(rec)
            log.info("%s", rec)
        if state["step"] % args.every == 0 or state["step"] == args.steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, tmp)
            tmp.replace(ckpt)
    pool.shutdown(wait=False, cancel_futures=True)
    print(f"trained {state['step']} steps in {state['seconds'] / 60:.1f} min; export with --export")
    return 0


if __name__ == "__main__":
    sys.exit(main())
