#!/usr/bin/env python
"""Find the videos a clip copies from, and which seconds match which seconds (``segscan-query`` when installed; ``--help`` for the rest)."""
import sys

from segscan.cli.query import main

if __name__ == "__main__":
    sys.exit(main())
