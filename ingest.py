#!/usr/bin/env python
"""Add videos to a segscan database (``segscan-ingest`` when installed; ``--help`` for the rest)."""
import sys

from segscan.cli.ingest import main

if __name__ == "__main__":
    sys.exit(main())
