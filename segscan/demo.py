"""The demo corpus: camera-motion videos made from scikit-image's bundled photos, and copies.

    python -m segscan.demo make DIR

writes ``DIR/gallery/*.mp4`` (one 12-second video per photo), ``DIR/queries/*.mp4``
(edited copies of parts of some gallery videos, wrapped in unrelated footage) and
``DIR/truth.json`` with the exact segment pairs in seconds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .synth import SpatialEdit, copy_segment, pan_frames, write_video

GALLERY_PHOTOS = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon",
                  "hubble_deep_field", "immunohistochemistry", "retina", "brick", "clock"]
FILLER_PHOTOS = ["gravel", "grass", "colorwheel", "cell"]  # never in the gallery
FPS = 25.0
SIZE = (320, 240)


def photo(name: str) -> np.ndarray:
    import skimage.data

    return getattr(skimage.data, name)()


# (gallery photo, copied source seconds, speed, edits, filler before, filler after)
QUERIES = [
    ("coffee", (3.0, 9.0), 1.0, [SpatialEdit("crop", 0.5), SpatialEdit("flip")], 2.0, 2.0),
    ("rocket", (1.0, 8.0), 1.0, [SpatialEdit("gray"), SpatialEdit("letterbox", 0.6)], 3.0, 0.0),
    ("astronaut", (4.0, 10.0), 1.25, [SpatialEdit("brightness", 0.4), SpatialEdit("logo", seed=3)], 0.0, 3.0),
]


def make(root: str | Path, seconds: float = 12.0) -> dict:
    root = Path(root)
    (root / "gallery").mkdir(parents=True, exist_ok=True)
    (root / "queries").mkdir(parents=True, exist_ok=True)
    frames = {}
    for i, name in enumerate(GALLERY_PHOTOS):
        fr = list(pan_frames(photo(name), seconds, FPS, SIZE, seed=i))
        write_video(fr, root / "gallery" / f"{name}.mp4", FPS)
        frames[name] = fr
    truth = {}
    for j, (name, (s, e), speed, edits, pre, post) in enumerate(QUERIES):
        filler = list(pan_frames(photo(FILLER_PHOTOS[j % len(FILLER_PHOTOS)]), pre + post + 0.04, FPS, SIZE, seed=100 + j))
        n_pre = int(round(pre * FPS))
        body = copy_segment(frames[name], FPS, s, e, speed, FPS, edits)
        out = filler[:n_pre] + body + filler[n_pre:n_pre + int(round(post * FPS))]
        qname = f"copy_of_{name}.mp4"
        write_video(out, root / "queries" / qname, FPS)
        truth[qname] = {"reference": f"{name}.mp4",
                        "segments": [[pre, pre + (e - s) / speed, s, e]],
                        "edits": [ed.kind for ed in edits] + ([f"speed {speed}"] if speed != 1 else [])}
    (root / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["make"])
    ap.add_argument("dir", help="output folder")
    args = ap.parse_args(argv)
    truth = make(args.dir)
    print(f"demo corpus in {args.dir}: {len(GALLERY_PHOTOS)} gallery videos, {len(truth)} queries")
    for q, t in truth.items():
        seg = t["segments"][0]
        print(f"  {q}: copies {t['reference']} {seg[2]:.1f}-{seg[3]:.1f}s at query {seg[0]:.1f}-{seg[1]:.1f}s "
              f"({', '.join(t['edits'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
