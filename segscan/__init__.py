"""segscan: segment-level video copy detection (SSAN pipeline)."""

__version__ = "0.1.0"
