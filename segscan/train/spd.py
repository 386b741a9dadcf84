"""Train the similarity-pattern detector and ship its weights.

    python -m segscan.train.spd --bench bench-data/bench-s0-t100n100-r60n30-d60 \\
        --synthetic 2500 --epochs 30

Training data (train split only): the similarity maps the query path builds for the
train queries of one or more benchmark folders (true segment pairs as boxes, other
candidates as negatives), plus synthetic maps (copy patterns drawn on real negative maps
and on random sparse noise). Every map is cut into windows as at query time, as images of
``--image``'s kind (segscan.detectors.spd.render). The model is ultralytics YOLO11n built
from its yaml (no downloaded weights), trained on the CPU; the best checkpoint goes to
``segscan/detectors/weights/spd-yolo11n.pt`` with a model card.

``--image comparator`` trains on the comparator's planes beside the map (the query path
then runs the comparator on every candidate); its synthetic maps are all drawn on real
negative maps, the copies drawn into the comparator's frame similarity too and its CNN run
on the result (``synth.with_comparator_planes``). The shipped comparator learned the train
queries' footage, so its planes there are cleaner than on new footage; with
``--comparator-weights`` (one ViSiL per fold, each trained leaving its fold out:
``train.visil --leave-fold``) each query's planes come from the one that never learned it.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..cli import add_keyframe_args, keyframe_settings
from ..detectors import WEIGHTS_DIR
from ..detectors.spd.render import IMAGES, IMGSZ, box_seconds_to_cells, window_labels, windows
from ..detectors.spd.synth import synthetic_map, with_comparator_planes
from ..pipeline.extract import EncoderConfig


def real_maps(bench: Path, map_mode: str | None = None, ecfg=None, comparator: str | None = None,
              keep_aside: bool = True, folds: list[str] | None = None):
    """(map, boxes-in-cells) for every candidate map of the train split's queries (keyframes and
    features of ``ecfg``, default the encoder's; with ``comparator``'s planes). With
    ``keep_aside`` the queries of held-out content groups, and every map of a held-out
    reference, are left out (``bench.splits.divide``): a choice made on them is then made on
    footage the detector never saw.

    With ``folds`` (ViSiL weights files, the i-th trained leaving fold i of K out:
    ``train.visil --leave-fold i/K``) each query's planes come from the comparator that did not
    learn its fold: the detector learns the planes of footage the comparator never saw, as they
    are on new footage. Each negative carries, third, the index in ``folds`` of the comparator
    that made its planes (0 without ``folds``)."""
    from ..bench.splits import (cached_queries, copied_references, divide, held_out_references, load_split,
                                query_fold, reference_folds)

    split = load_split(bench, "train")
    fold_of: dict[str, int] = {}
    if folds:
        ref_folds, copied = reference_folds(bench, len(folds)), copied_references(split)
        by_qid = {}
        for i, weights in enumerate(folds):
            for q in cached_queries(bench, "train", progress=True, map_mode=map_mode, ecfg=ecfg, comparator=weights):
                fold_of[q.qid] = query_fold(q.qid, copied.get(q.qid, ()), ref_folds, len(folds))
                if fold_of[q.qid] == i:
                    by_qid[q.qid] = q
        split.queries = [by_qid[k] for k in sorted(by_qid)]
    else:
        split.queries = cached_queries(bench, "train", progress=True, map_mode=map_mode, ecfg=ecfg,
                                       comparator=comparator)
    held = set()
    if keep_aside:
        held = held_out_references(bench)
        split = divide(split, held)[0]
    pos, neg = [], []
    for q in split.queries:
        for ref, m in zip(q.refs, q.maps):
            if ref in held:
                continue
            boxes = split.labels.get(f"{q.qid}-{ref}", [])
            cells = [box_seconds_to_cells(b, m) for b in boxes]
            if cells:
                pos.append((m, cells))
            else:
                neg.append((m, cells, fold_of.get(q.qid, 0)))
    return pos, neg


def _save(img: np.ndarray, labels, stem: str, root: Path, part: str):
    from PIL import Image

    # 3 channels: saved as RGB, which the trainer reads back in the same channel order
    pic = Image.fromarray(img) if img.ndim == 2 else Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)))
    pic.save(root / "images" / part / f"{stem}.png")
    with open(root / "labels" / part / f"{stem}.txt", "w") as f:
        for cx, cy, w, h in labels:
            f.write(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")


def build_dataset(root: Path, pos, neg, n_synth: int, seed: int, neg_windows: int, dense: bool = False,
                  image: str = "similarity", comparators=()) -> dict:
    """Windows of the real maps (``pos``: (map, boxes in cells); ``neg``: the same and the index
    of the comparator that made its planes, as ``real_maps`` gives them) and of ``n_synth``
    synthetic maps, as images of ``image``'s kind; for comparator images every synthetic map
    is drawn on a real negative, and that negative's comparator in ``comparators`` (ViSiL
    models) makes its planes (``synth.with_comparator_planes``)."""
    rng = np.random.default_rng(seed)
    for part in ("train", "val"):
        (root / "images" / part).mkdir(parents=True, exist_ok=True)
        (root / "labels" / part).mkdir(parents=True, exist_ok=True)
    counts = {"real_pos_windows": 0, "real_neg_windows": 0, "synthetic_windows": 0}
    k = 0

    def emit(m, cells, kind, keep_empty=1.0):
        nonlocal k
        for w in windows(m, image):
            labels = window_labels(cells, w)
            if not labels and rng.random() > keep_empty:
                continue
            part = "val" if rng.random() < 0.1 else "train"
            _save(w.image, labels, f"{kind}_{k:06d}", root, part)
            counts[f"{kind}_windows"] += 1
            k += 1

    for m, cells in pos:
        emit(m, cells, "real_pos", keep_empty=0.3)
    order = rng.permutation(len(neg))
    for i in order[:neg_windows]:
        emit(*neg[i][:2], "real_neg", keep_empty=1.0)
    for i in range(n_synth):
        real = image == "comparator" or rng.random() < 0.5
        entry = neg[int(rng.integers(len(neg)))] if neg and real else None
        bg = entry[0] if entry else None
        m, cells = synthetic_map(rng, bg, dense=dense)
        if image == "comparator":
            m = with_comparator_planes(comparators[entry[2]], bg, m)
        emit(m, cells, "synthetic", keep_empty=0.5)
    (root / "data.yaml").write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnc: 1\nnames: ['copy']\nchannels: {IMAGES[image]}\n")
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, nargs="+",
                    help="benchmark folders whose train maps to learn (python -m segscan.bench run builds one)")
    ap.add_argument("--work", default="runs/spd", help="dataset and training folder")
    ap.add_argument("--synthetic", type=int, default=2500, help="synthetic maps to add")
    ap.add_argument("--neg-maps", type=int, default=600, help="real negative maps to use")
    ap.add_argument("--map", default="sparse", choices=["sparse", "dense", "regions"],
                    help="similarity maps to train on; recorded in the model card, and the query path builds "
                         "this kind for SPD (default: %(default)s)")
    ap.add_argument("--image", default="similarity", choices=list(IMAGES),
                    help="detector images: the similarity (1 channel); it and the map centred twice and by "
                         "columns; or it and the comparator's refined map and frame similarity (see "
                         "segscan.detectors.spd.render; default: %(default)s)")
    ap.add_argument("--comparator-weights", nargs="+", default=None, metavar="PT",
                    help="with --image comparator: a ViSiL weights file whose planes to learn (the card names it, "
                         "and the query path runs it); or one per fold, the i-th trained leaving fold i out "
                         "(python -m segscan.train.visil --leave-fold i/K), each query's planes from the one that "
                         "did not learn its footage (cross-fitting). Default: the shipped comparator's planes")
    ap.add_argument("--keep-aside", action=argparse.BooleanOptionalAction, default=True,
                    help="leave out the train queries of held-out content groups and every map of their footage, "
                         "so that python -m segscan.bench run --choice can compare detectors on footage none "
                         "learned (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(WEIGHTS_DIR / "spd-yolo11n.pt"))
    add_keyframe_args(ap.add_argument_group("keyframes of the maps trained on (the folder's database of them: "
                                            "python -m segscan.bench run with the same settings builds it)"))
    args = ap.parse_args(argv)
    comparator = "visil" if args.image == "comparator" else None
    folds = args.comparator_weights
    if folds and not comparator:
        ap.error("--comparator-weights needs --image comparator")
    if folds and len(folds) == 1:  # one comparator's planes throughout, and the query path runs it
        comparator, folds = folds[0], None
    t0 = time.time()
    work = Path(args.work).resolve()
    if work.exists():
        shutil.rmtree(work)
    map_mode = args.map
    ecfg = EncoderConfig(**keyframe_settings(args))
    pos, neg = [], []
    for bench in args.bench:
        p, n = real_maps(Path(bench), map_mode, ecfg, comparator, args.keep_aside, folds)
        pos, neg = pos + p, neg + n
    models = []
    if comparator:
        from ..compare import get_comparator

        models = [get_comparator(w, ecfg.backbone).model for w in folds or [comparator]]
    counts = build_dataset(work / "data", pos, neg, args.synthetic, args.seed, args.neg_maps,
                           dense=map_mode != "sparse", image=args.image, comparators=models)
    print("dataset:", counts, flush=True)
    from ..detectors.spd.yolo import ultralytics

    ul = ultralytics()
    model = ul.YOLO("yolo11n.yaml")
    model.train(data=str(work / "data" / "data.yaml"), imgsz=IMGSZ, epochs=args.epochs, batch=args.batch,
                device=args.device, workers=0, amp=False, plots=False, pretrained=False, project=str(work),
                name="train", exist_ok=True, seed=args.seed, deterministic=True, verbose=False,
                # brightness jitter only on the 1-channel similarity (HSV would mix 3 channels' meanings)
                mosaic=1.0, fliplr=0.0, flipud=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.2 if IMAGES[args.image] == 1 else 0.0,
                degrees=0.0, bgr=0.0,
                translate=0.1, scale=0.3, close_mosaic=5, patience=100)
    best = work / "train" / "weights" / "best.pt"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(best, out)
    metrics = {}
    res = work / "train" / "results.csv"
    if res.exists():
        rows = list(csv.DictReader(open(res)))
        last = {k.strip(): v for k, v in rows[-1].items()}
        metrics = {k: round(float(last[k]), 4) for k in last if k.startswith("metrics/")}
    from ..detectors.cards import write_card

    write_card(
        out, "segscan.train.spd", argv,
        component="SPD: YOLO11n similarity-pattern detector (%s images, %d-channel, %dx%d windows)" % (
            args.image, IMAGES[args.image], IMGSZ, IMGSZ),
        data={"bench": args.bench[0] if len(args.bench) == 1 else args.bench, "split": "train only", "maps": map_mode,
              "image": args.image, "channels": IMAGES[args.image],
              **({"comparator": comparator} if comparator else {}),
              "kept_aside": "the queries of held-out content groups (corpus.held_out_group) and every map of their "
                            "footage" if args.keep_aside else "nothing",
              "keyframes": keyframe_settings(args),
              **({"comparator_planes": "cross-fitted: each query's from the comparator that left its fold out, "
                                      + ", ".join(folds)} if folds else {}),
              **counts,
              "real_positive_maps": len(pos), "real_negative_maps_available": len(neg)},
        epochs=args.epochs, batch=args.batch, seconds=round(time.time() - t0, 1),
        validation_metrics=metrics, bytes=out.stat().st_size,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
