"""Video-to-video comparators that rerank a query's candidates (ViSiL)."""
from __future__ import annotations

from functools import lru_cache

COMPARATORS = ("visil",)


@lru_cache(maxsize=4)
def get_comparator(name: str, backbone: str):
    """The shipped comparator ``name`` for features of ``backbone``, loaded once per process."""
    if name not in COMPARATORS:
        raise ValueError(f"unknown comparator {name!r}; choose from {', '.join(COMPARATORS)}")
    from .visil import Comparator, weights_path

    return Comparator.load(weights_path(backbone))
