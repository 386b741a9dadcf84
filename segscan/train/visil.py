"""Train the ViSiL comparator (attention context vector and comparator CNN) and ship it.

    python -m segscan.train.visil --bench bench-data/bench-s0-t10n10-r300n60-d60 --steps 3000
    python -m segscan.train.visil --run runs/visil --export    # write the shipped weights

Data (train splits only; ``--bench`` takes several folders, such as the animated photos of
:mod:`segscan.train.photo_footage`, tried and not kept: ``HISTORY.md``): each train query
that copies a gallery video is an anchor, a reference it copies the positive, and the
candidates the query path shortlists for it that it does not copy the hard negatives
(:mod:`segscan.bench.pairs`). The anchor is edited in time on every draw (ViSiL 4.5): faster
or slower, keyframes dropped, ends cut (keeping part of the copied span). Loss: the triplet
loss with margin gamma plus the similarity regulariser (ViSiL eq. 7–9, gamma 0.5, r 0.1),
averaged over the negatives. A fifth of the train content groups (``corpus.held_out_group``)
is held out, as anchors and as negatives, and the queries copying them pick the checkpoint
by the pairs' AP: the choice is made on footage the comparator did not learn. The test split
is never read. The feature extractor stays fixed. ``--leave-fold I/K`` also leaves fold I of
the other groups out (``corpus.group_fold``), for planes of footage the comparator never
learned (``train.spd --comparator-weights``).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..bench.pairs import QueryPairs, load_pairs, pair_metrics, scores
from ..bench.splits import reference_folds
from ..compare.visil import ViSiL, ViSiLConfig, load, save, similarity_regulariser, weights_path
from ..detectors.cards import write_card
from ..pipeline.backbones import DEFAULT_BACKBONE


def temporal_edit(q: QueryPairs, spans: list[tuple[float, float]], rng) -> np.ndarray:
    """Row indices of an edited anchor: speed, dropped keyframes, cut ends (keeping at least
    three keyframes of a copied span when it has them)."""
    n = len(q.times)
    rows = np.arange(n)
    if rng.random() < 0.5 and n > 8:  # cut ends, keeping part of one copied span
        lo, hi = spans[rng.integers(len(spans))]
        inside = np.flatnonzero((q.times >= lo) & (q.times <= hi))
        if len(inside) >= 3:
            keep = rng.integers(3, len(inside) + 1)
            start = inside[rng.integers(0, len(inside) - keep + 1)]
            a = rng.integers(0, start + 1)
            b = rng.integers(start + keep, n + 1)
            rows = rows[a:b]
    u = rng.random()
    if u < 0.2 and len(rows) >= 8:
        rows = rows[::2]  # fast forward
    elif u < 0.35:
        rows = np.repeat(rows, 2)  # slow motion
    if rng.random() < 0.3 and len(rows) >= 6:  # dropped keyframes
        rows = rows[np.sort(rng.choice(len(rows), int(len(rows) * rng.uniform(0.7, 0.9)), replace=False))]
    return rows


def triplet_loss(model: ViSiL, q: QueryPairs, refs: dict, rng, negatives: int, margin: float, reg: float):
    """One anchor against one positive and up to ``negatives`` hard negatives."""
    pos = list(q.positives)[rng.integers(len(q.positives))]
    rows = temporal_edit(q, q.positives[pos], rng)
    negs = [q.negatives[i] for i in rng.permutation(len(q.negatives))[:negatives]]
    anchor = torch.from_numpy(q.regions[:, rows])
    s, sv, valid = model(anchor, [torch.from_numpy(refs[r]) for r in [pos] + negs])
    loss = F.relu(s[1:] - s[0] + margin).mean() if negs else s.new_zeros(())
    if sv is not None and reg:
        loss = loss + reg * similarity_regulariser(sv, valid).mean()
    return loss


def leave_fold(queries: list[QueryPairs], ref_folds: dict[str, int], fold: int) -> None:
    """Leave fold ``fold`` (of ``ref_folds``'s) out of training, in place: its references are no query's
    negative, and a query copying one is no anchor (the held-out queries that pick the
    checkpoint are kept as they are)."""
    for q in queries:
        if q.held_out:
            continue
        q.negatives = [r for r in q.negatives if ref_folds.get(r) != fold]
        if any(ref_folds.get(r) == fold for r in q.positives):
            q.positives = {}


def parse_fold(text: str) -> tuple[int, int]:
    """``I/K`` (fold I of K) as a pair, for argparse."""
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/K, such as 0/2, got {text!r}")
    if not (k >= 2 and 0 <= i < k):
        raise argparse.ArgumentTypeError(f"fold {text!r}: need K >= 2 and 0 <= I < K")
    return i, k


def held_out_metrics(model, sets) -> dict:
    """Pair AP and video mAP on each training folder's held-out queries, by folder name."""
    return {name: pair_metrics(val, scores(model, val, refs)) for name, val, refs in sets}


def train(args) -> int:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    fit, sets = [], []  # (anchor, its folder's reference vectors); (folder, held-out queries, vectors)
    for b in args.bench:
        queries, refs = load_pairs(Path(b), "train", progress=not args.quiet)
        if args.leave_fold:
            leave_fold(queries, reference_folds(Path(b), args.leave_fold[1]), args.leave_fold[0])
        anchors = [q for q in queries if not q.held_out and q.positives]
        fit += [(q, refs) for q in anchors]
        sets.append((Path(b).name, [q for q in queries if q.held_out], refs))
        print(f"{b}: {len(anchors)} anchors for training, "
              f"{len(sets[-1][1])} queries of held-out content groups for picking the checkpoint")
    choose_on = sets[0][0]  # the first folder's held-out footage picks the checkpoint
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "checkpoint.pt"
    model = ViSiL(ViSiLConfig(dim=fit[0][0].regions.shape[-1], pooling=args.pooling, pools=args.pools))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, best, history = 0, {"pair_ap": -1.0}, []
    if ckpt.exists():
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["opt"])
        step, best, history = blob["step"], blob["best"], blob["history"]
        rng = np.random.default_rng(args.seed + step)
        print(f"resumed at step {step}")
    if step == 0:
        base = held_out_metrics(ViSiL(replace(model.cfg, attention=False, comparator=False)), sets)
        history.append({"step": 0, "chamfer_only": base})
        print(f"held-out, Chamfer only: {base}")
    t0 = time.time()
    while step < args.steps:
        model.train()
        opt.zero_grad()
        loss = sum(triplet_loss(model, *fit[i], rng, args.negatives, args.margin, args.reg)
                   for i in rng.integers(len(fit), size=args.batch)) / args.batch
        loss.backward()
        opt.step()
        step += 1
        if step % args.every == 0 or step == args.steps:
            ms = held_out_metrics(model.eval(), sets)
            loss = float(loss.detach())
            history.append({"step": step, "loss": loss, **ms})
            print(f"step {step}: loss {loss:.4f} held-out {ms} ({time.time() - t0:.0f} s)", flush=True)
            if ms[choose_on]["pair_ap"] > best["pair_ap"]:
                best = {**ms[choose_on], "step": step, "all": ms}
                save(model, run / "best.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                        "history": history, "args": vars(args)}, ckpt)
    print(f"best held-out at step {best.get('step')}: {best}")
    return 0


def export(args) -> int:
    run = Path(args.run)
    blob = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    model = load(run / "best.pt")
    out = Path(args.out) if args.out else weights_path(DEFAULT_BACKBONE)
    save(model, out)
    a = blob["args"]
    write_card(out, "segscan.train.visil", a.get("argv"), model="ViSiL (attention + comparator CNN, Table 1)",
               data={"bench": a["bench"], "split": "train only; the queries copying a fifth of its content groups "
                     "(corpus.held_out_group) held out for the checkpoint, those groups never trained on",
                     "features": DEFAULT_BACKBONE + " L3-iMAC region vectors, the query path's views"},
               steps=blob["step"], batch=a["batch"], negatives=a["negatives"], margin=a["margin"], reg=a["reg"],
               lr=a["lr"], pooling=model.cfg.pooling, pools=model.cfg.pools, held_out=blob["best"],
               chamfer_only_held_out=blob["history"][0].get("chamfer_only"),
               bytes=out.stat().st_size)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", nargs="+", default=["bench-data/bench-s0-t10n10-r300n60-d60"],
                    help="benchmark folders whose train splits are the data (run the benchmark on each first; "
                         "python -m segscan.train.photo_footage builds one of animated photos); the first "
                         "folder's held-out content groups pick the checkpoint")
    ap.add_argument("--run", default="runs/visil", help="checkpoint folder (a run there is resumed)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4, help="anchors per step")
    ap.add_argument("--negatives", type=int, default=6, help="hard negatives per anchor")
    ap.add_argument("--margin", type=float, default=0.5, help="triplet margin gamma (ViSiL: 0.5)")
    ap.add_argument("--reg", type=float, default=0.1, help="similarity regulariser weight r (ViSiL: 0.1)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pooling", default="max", choices=["mean", "max"],
                    help="rows to one score: max, the best query row (partial copies), or mean, ViSiL's Chamfer")
    ap.add_argument("--pools", type=int, default=2, choices=[1, 2],
                    help="2x2 max-poolings in the CNN: ViSiL's 2, or 1 for a refined map at half the keyframe "
                         "rate instead of a quarter (the planes an SPD trained with --image comparator reads)")
    ap.add_argument("--leave-fold", type=parse_fold, default=None, metavar="I/K",
                    help="leave fold I of K of the train content groups (corpus.group_fold) out of training, as "
                         "anchors and as negatives: the comparator's planes on that fold are then those of footage "
                         "it never learned (python -m segscan.train.spd --comparator-weights, cross-fitting)")
    ap.add_argument("--every", type=int, default=100, help="steps between held-out checks and checkpoints")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", action="store_true", help="write the run's best checkpoint as the shipped weights")
    ap.add_argument("--out", default=None, help="with --export: where (default: the shipped weights file)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return export(args) if args.export else train(args)


if __name__ == "__main__":
    sys.exit(main())
