#!/usr/bin/env python
"""Manage the catalogue (``segscan-videos`` when installed; ``--help`` for the rest)."""
import sys

from segscan.cli.videos import main

if __name__ == "__main__":
    sys.exit(main())
