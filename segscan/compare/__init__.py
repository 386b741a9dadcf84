"""Video-to-video comparators that rerank a query's candidates (ViSiL)."""
from __future__ import annotations

from functools import lru_cache

COMPARATORS = ("visil",)


@lru_cache(maxsize=4)
def get_comparator(name: str, backbone: str):
    """The shipped comparator ``name`` for features of ``backbone``, or the ViSiL weights file
    ``name`` (a ``.pt`` path: a training run's own, such as a cross-fitting fold's), loaded once
    per process."""
    from .visil import Comparator, weights_path

    if name.endswith(".pt"):
        return Comparator.load(name)
    if name not in COMPARATORS:
        raise ValueError(f"unknown comparator {name!r}; choose from {', '.join(COMPARATORS)} or a ViSiL .pt file")
    return Comparator.load(weights_path(backbone))
