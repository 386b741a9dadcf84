"""Temporal aligners: similarity map -> aligned segment pairs.

Every aligner implements :class:`segscan.align.base.Aligner` and is registered in
:data:`ALIGNERS`, so the query path, the benchmark and the peers use one interface.
"""
from .base import ALIGNERS, Aligner, make_aligner, register  # noqa: F401
from . import peers, spd, tn  # noqa: F401  (register "dp", "hv", "dtw", "spd", "tn")
