"""Self-supervised keyframe extraction (SKE, SSAN section 3.1): a light network scores
every basis frame from its 32x32 thumbnail, and a frame becomes a keyframe when its score
reaches a threshold or when the last keyframe is ``max_gap`` seconds old (SSAN's sparse
uniform mask, so a still scene keeps one keyframe per interval).

SSAN tiles 576 thumbnails into a 24x24 mosaic and lets a 2-D CNN score each tile; what a
tile's score can depend on is its own picture and its neighbours in the mosaic: the
frames just before and after it, and those a row (24 frames) away. Here the same two
parts are explicit: a tile encoder turns each thumbnail into a vector, and 1-D temporal
convolutions over the sequence of tile vectors give each frame a second of context on
either side. Written this way the receptive field is known (``SKENet.RADIUS`` frames),
so the selector streams: it holds 32 basis frames plus that context (about 55 MB of
decoded 720p frames), never a whole mosaic window (576 decoded 720p frames are 800 MB).

Thumbnails come from the decoder (``Frame.thumbnail``), before any backbone runs, and
the network is trained by :mod:`segscan.train.ske` against a teacher that marks content
changes in the backbone's own keyframe vectors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from ..types import Frame
from .keyframes import next_mark

WEIGHTS_NAME = "ske-thumb32.pt"


class SKENet(nn.Module):
    """(T, 32, 32, 3) uint8 thumbnails of consecutive basis frames -> (T,) keyframe logits."""

    RADIUS = 8  # frames of context each side that a score depends on (2 + 2 + 4 below)

    def __init__(self, width: int = 48, hidden: int = 64):
        super().__init__()

        def block(i, o):
            return [nn.Conv2d(i, o, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.tile = nn.Sequential(*block(3, 16), *block(16, 32), *block(32, width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.temporal = nn.Sequential(
            nn.Conv1d(width, hidden, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 3, padding=2, dilation=2), nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 3, padding=4, dilation=4), nn.ReLU(inplace=True),
            nn.Conv1d(hidden, 1, 1))

    def embed(self, thumbs: torch.Tensor) -> torch.Tensor:
        """(T, 32, 32, 3) uint8 -> (T, width) tile vectors."""
        x = thumbs.permute(0, 3, 1, 2).float() / 255.0 - 0.5
        return self.tile(x)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, T, width) tile vectors of B sequences -> (B, T) logits; ends are zero-padded."""
        return self.temporal(emb.transpose(1, 2))[:, 0]

    def forward(self, thumbs: torch.Tensor) -> torch.Tensor:
        """(B, T, 32, 32, 3) uint8 -> (B, T) logits."""
        b, t = thumbs.shape[:2]
        return self.head(self.embed(thumbs.reshape(b * t, *thumbs.shape[2:])).view(b, t, -1))


def weights_path() -> Path:
    from ..detectors import WEIGHTS_DIR

    return WEIGHTS_DIR / WEIGHTS_NAME


def load_net(path: str | Path | None = None) -> SKENet:
    path = Path(path) if path else weights_path()
    if not path.exists():
        raise FileNotFoundError(f"no SKE weights at {path}: train them with python -m segscan.train.ske")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = SKENet(**saved.get("arch", {}))
    net.load_state_dict(saved["state"])
    return net.eval()


def keep_rule(probs: np.ndarray, times: np.ndarray, threshold: float, max_gap: float,
              state: dict | None = None, step: float | None = None) -> np.ndarray:
    """Which frames are keyframes (the first frame of a video always is).

    Without ``step``: a frame whose score reaches ``threshold``, or when the last keyframe is
    at least ``max_gap`` seconds back. With ``step`` (the map grid's, seconds): only the frames
    uniform keyframes every ``step`` seconds would take are candidates, and one is kept when a
    frame since the candidate before it scored at least ``threshold`` (the picture changed), or
    when the last keyframe is ``max_gap`` old. A still stretch keeps its keyframe on screen,
    which stands for the seconds after it; the map grid shows one keyframe a second, so a
    burst of keyframes within a second would be index entries no map shows.

    ``state`` carries the rule across calls on consecutive chunks of one video."""
    st = {} if state is None else state
    keep = np.zeros(len(probs), bool)
    for i, (p, t) in enumerate(zip(probs, times)):
        last = st.get("last")
        if step is None:
            take = last is None or p >= threshold or t - last >= max_gap - 1e-6
        else:
            st["changed"] = st.get("changed", False) or p >= threshold
            due = st.get("next")
            take = False
            if last is None or t >= due - 1e-6:  # a candidate: the uniform keyframe of this step
                take = last is None or st["changed"] or t - last >= max_gap - 1e-6
                st["next"], st["changed"] = next_mark(due, t, step), False
        if take:
            keep[i] = True
            st["last"] = t
    return keep


class SKESelector:
    """The learned keyframe selector, streaming: frames are decided in chunks once
    ``SKENet.RADIUS`` frames after them are known, so a chunk's scores equal those of the
    whole video scored at once."""

    name = "ske"

    def __init__(self, threshold: float = 0.5, max_gap: float = 1.5, weights: str | Path | None = None,
                 min_keyframes: int = 2, chunk: int = 32, net: SKENet | None = None, step: float | None = None):
        if not (0.0 <= threshold <= 1.0):
            raise ValueError(f"SKE threshold must be in [0, 1], got {threshold}")
        if not (max_gap > 0):
            raise ValueError(f"SKE max gap must be > 0 seconds, got {max_gap}")
        self.threshold, self.max_gap, self.min_keyframes, self.chunk = threshold, max_gap, min_keyframes, chunk
        self.step = step
        self.net = net or load_net(weights)

    @torch.inference_mode()
    def scores(self, thumbs: np.ndarray) -> np.ndarray:
        """(T, 32, 32, 3) thumbnails of a whole video -> (T,) keyframe probabilities."""
        if not len(thumbs):
            return np.zeros(0, np.float32)
        return torch.sigmoid(self.net(torch.from_numpy(np.asarray(thumbs))[None]))[0].numpy()

    @torch.inference_mode()
    def select(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        r = SKENet.RADIUS
        ctx = None  # tile vectors of the last r decided frames
        pending: list[Frame] = []  # frames not decided yet
        embedded = None  # tile vectors of the first pending frames (the last chunk's lookahead)
        state = {"kept": 0, "held": None}
        rule: dict = {}  # keep_rule's state

        def decide(n: int, final: bool):
            nonlocal ctx, pending, embedded
            parts = [] if embedded is None else [embedded]
            new = pending[sum(len(x) for x in parts):]
            if new:
                parts.append(self.net.embed(torch.from_numpy(np.stack([f.thumbnail for f in new]))))
            e = torch.cat(parts)
            c = 0 if ctx is None else len(ctx)
            logits = self.net.head((e if ctx is None else torch.cat([ctx, e]))[None])[0, c:c + n]
            times = np.array([f.time for f in pending[:n]])
            keep = keep_rule(torch.sigmoid(logits).numpy(), times, self.threshold, self.max_gap, rule, self.step)
            for f, k in zip(pending[:n], keep):
                if k:
                    state["kept"] += 1
                    yield f
                else:
                    state["held"] = f
            ctx = (e[:n] if ctx is None else torch.cat([ctx, e[:n]]))[-r:]
            pending, embedded = pending[n:], e[n:]
            if final and state["kept"] < self.min_keyframes and state["held"] is not None:
                yield state["held"]  # a segment needs two keyframes: the last frame not kept

        for fr in frames:
            pending.append(fr)
            if len(pending) >= self.chunk + r:
                yield from decide(self.chunk, final=False)
        if pending:
            yield from decide(len(pending), final=True)

    def __repr__(self):
        return f"SKESelector(threshold={self.threshold}, max_gap={self.max_gap}, step={self.step})"
