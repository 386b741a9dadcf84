"""ViSiL: a learned video-to-video similarity over region-level frame similarities.

Kordopatis-Zilos et al., ICCV 2019 (``../shared/papers/visil-iccv2019.md``):

- **frame-to-frame** (4.1–4.2): each keyframe's region vectors (already PCA-whitened by the
  feature extractor) are weighted by a learned attention, ``r * (u.r / 2 + 0.5)`` with ``u``
  a unit context vector, then every region pair's dot product (tensor dot) is reduced by
  the Chamfer similarity over regions, symmetric as in the query path's region maps;
  a query with views (mirror, quarters) keeps each cell's best view;
- **video-to-video** (4.3): the four-layer CNN of Table 1 over the (Q, R) frame-to-frame
  matrix, hard tanh, then the Chamfer similarity (mean over query rows of the row's best),
  or, for partial copies, the best row (``pooling="max"``).
  The CNN's (Q/4, R/4) output before the Chamfer is a refined similarity map (Q/2, R/2 with
  one pooling: ``ViSiLConfig.pools``).

The M candidates of one query are scored in one batch: their maps are padded to the
longest and the padding is zeroed after every layer, so a batch gives what each
candidate alone gives.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..detectors import WEIGHTS_DIR
from ..errors import WeightsNotFoundError



@dataclass(frozen=True)
class ViSiLConfig:
    dim: int = 256
    attention: bool = True
    comparator: bool = True
    # how the (Q', R') output becomes one score: "mean", ViSiL's Chamfer (the mean over query
    # rows of each row's best), or "max", the best row: a partial copy fills few of a query's
    # rows, and a mean over the rest ranks a pair by how much of the query is copy
    pooling: str = "mean"
    # 2x2 max-poolings in the CNN: ViSiL's two make its output a quarter of the map each way;
    # one keeps half, a finer refined map (``planes``) at four times the cost of the last layers
    pools: int = 2


class ViSiL(nn.Module):
    """Attention, frame-to-frame Chamfer similarity and the comparator CNN (ViSiL Table 1)."""

    def __init__(self, cfg: ViSiLConfig = ViSiLConfig()):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(0)
        self.context = nn.Parameter(F.normalize(torch.randn(cfg.dim, generator=g), dim=0))
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv4 = nn.Conv2d(128, 1, 1)

    @property
    def stride(self) -> int:
        """Keyframes per cell of the comparator's output, each way."""
        return 2 ** self.cfg.pools

    def weigh(self, regions: torch.Tensor) -> torch.Tensor:
        """Region vectors (..., A, D) scaled by their attention weight in [0, 1] (eq. 3)."""
        if not self.cfg.attention:
            return regions
        u = F.normalize(self.context, dim=0)
        return regions * ((regions @ u) / 2 + 0.5).unsqueeze(-1)

    def frame_similarity(self, queries: torch.Tensor, refs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, Q, Rmax) frame-to-frame similarity of ``queries`` (V, Q, A, D: the query and its
        views) with each of ``refs`` (R_i, B_i, D), zero-padded; and the (M,) lengths R_i.

        References with the same number of regions are compared in one matrix product."""
        q = self.weigh(queries)
        v, nq, a, d = q.shape
        lengths = torch.tensor([len(r) for r in refs], dtype=torch.long)
        rows = [None] * len(refs)
        for b in sorted({r.shape[1] for r in refs}):
            idx = [i for i, r in enumerate(refs) if r.shape[1] == b]
            w = self.weigh(torch.cat([refs[i] for i in idx])).reshape(-1, d).T
            sym = None
            for view in q:  # one view at a time bounds memory; each cell keeps the best view
                s = (view.reshape(nq * a, d) @ w).reshape(nq, a, -1, b)
                cs = 0.5 * (s.amax(3).mean(1) + s.amax(1).mean(2))  # (Q, sum R)
                sym = cs if sym is None else torch.maximum(sym, cs)
            for i, part in zip(idx, sym.split([len(refs[i]) for i in idx], dim=1)):
                rows[i] = part
        width = int(lengths.max()) if len(refs) else 0
        sf = torch.stack([F.pad(r, (0, width - r.shape[1])) for r in rows]) if rows else q.new_zeros((0, nq, 0))
        return sf, lengths

    def refine(self, sf: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The comparator's output (M, ceil(Q/s), ceil(R/s)) before hard tanh (s: ``stride``), and
        the (M, R') mask of its valid columns."""
        x = sf.unsqueeze(1)
        cols = torch.arange(x.shape[-1])[None, :] < lengths[:, None]

        def masked(t, valid):
            return t * valid[:, None, None, :].to(t.dtype)

        def pooled(valid):
            return F.max_pool1d(valid[:, None].float(), 2, 2, ceil_mode=True)[:, 0] > 0

        x = masked(F.relu(self.conv1(x)), cols)
        if self.cfg.pools >= 1:
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            cols = pooled(cols)
        x = masked(F.relu(self.conv2(masked(x, cols))), cols)
        if self.cfg.pools >= 2:
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            cols = pooled(cols)
        x = masked(F.relu(self.conv3(masked(x, cols))), cols)
        return self.conv4(x)[:, 0], cols

    def pool(self, m: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(M,) each row's best valid column, pooled over rows (``cfg.pooling``)."""
        rows = m.masked_fill(~valid[:, None, :], float("-inf")).amax(2)
        return rows.amax(1) if self.cfg.pooling == "max" else rows.mean(1)

    def forward(self, queries: torch.Tensor, refs: list[torch.Tensor]):
        """(M,) video-to-video similarities, and the comparator's (M, Q', R') output with its
        valid columns (None without the comparator: the score is the frame matrix's Chamfer)."""
        s, _, _, sv, valid = self.run(queries, refs)
        return s, sv, valid

    def run(self, queries: torch.Tensor, refs: list[torch.Tensor]):
        """The whole pass: the (M,) similarities, the (M, Q, Rmax) frame similarity with its (M,)
        lengths, and the comparator's output with its valid columns (``forward``'s)."""
        sf, lengths = self.frame_similarity(queries, refs)
        if not self.cfg.comparator:
            valid = torch.arange(sf.shape[-1])[None, :] < lengths[:, None]
            return self.pool(sf, valid), sf, lengths, None, valid
        sv, valid = self.refine(sf, lengths)
        return self.pool(F.hardtanh(sv), valid), sf, lengths, sv, valid


def similarity_regulariser(sv: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """ViSiL eq. 8: the sum of the output's values beyond hard tanh's [-1, 1], per map (M,)."""
    over = F.relu(sv - 1) + F.relu(-sv - 1)
    return (over * valid[:, None, :]).sum((1, 2))


def weights_path(backbone: str) -> Path:
    return WEIGHTS_DIR / f"visil-{backbone}.pt"


def save(model: ViSiL, path: str | Path) -> None:
    torch.save({"config": asdict(model.cfg), "state": model.state_dict()}, path)


def load(path: str | Path) -> ViSiL:
    p = Path(path)
    if not p.exists():
        raise WeightsNotFoundError(f"ViSiL weights {p} not found; train them with python -m segscan.train.visil")
    blob = torch.load(p, map_location="cpu", weights_only=True)
    model = ViSiL(ViSiLConfig(**blob["config"]))
    model.load_state_dict(blob["state"])
    return model.eval()


class Comparator:
    """The shipped comparator in the query path: video similarities of a query's candidates."""

    def __init__(self, model: ViSiL):
        self.model = model.eval()

    @classmethod
    def load(cls, path: str | Path) -> "Comparator":
        return cls(load(path))

    def scores(self, query_regions: list[np.ndarray], ref_regions: list[np.ndarray]) -> np.ndarray:
        """(M,) similarities of the query (its region vectors and its views', each (Q, A, D)) with
        each candidate's (R_i, B, D)."""
        return self.compare(query_regions, ref_regions, maps=False)[0]

    def compare(self, query_regions: list[np.ndarray], ref_regions: list[np.ndarray],
                maps: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
        """The (M,) similarities and, with ``maps``, each candidate's (2, Q, R_i) planes
        (:func:`planes`); the same forward pass gives both."""
        if not ref_regions:
            return np.zeros(0, np.float32), []
        if maps and not self.model.cfg.comparator:
            raise ValueError("comparator planes need weights with the comparator CNN")
        with torch.inference_mode():
            q = torch.from_numpy(np.stack([np.asarray(x, np.float32) for x in query_regions]))
            refs = [torch.from_numpy(np.asarray(r, np.float32)) for r in ref_regions]
            s, sf, lengths, sv, _ = self.model.run(q, refs)
            out = planes(sf, sv, lengths, self.model.stride) if maps else []
        return s.numpy().astype(np.float32), out


def planes(sf: torch.Tensor, sv: torch.Tensor, lengths: torch.Tensor, stride: int = 4) -> list[np.ndarray]:
    """Per candidate, (2, Q, R_i): the comparator's refined map (hard tanh of its (Q/s, R/s) output,
    s = ``stride``, bilinearly upsampled back to one cell per keyframe pair) and the attention-weighted
    frame-to-frame similarity it was computed from (clipped to [-1, 1]).

    Both are what the similarity-pattern detector can read beside the query path's map: the
    refined map says where the comparator sees a copy pattern, the frame similarity is its
    full-resolution input (:mod:`segscan.detectors.spd.render`)."""
    nq = sf.shape[1]
    out = []
    for i, n in enumerate(lengths.tolist()):
        w = -(-n // stride)
        coarse = F.hardtanh(sv[i, :, :w])[None, None]
        up = F.interpolate(coarse, size=(stride * coarse.shape[2], stride * w), mode="bilinear", align_corners=False)
        out.append(np.stack([up[0, 0, :nq, :n].numpy(), sf[i, :, :n].clamp(-1, 1).numpy()]).astype(np.float32))
    return out
