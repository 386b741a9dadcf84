"""Model cards: a JSON file beside each shipped weight file saying data, command and metrics."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def write_card(weights: str | Path, module: str, argv, **fields) -> dict:
    """Write ``weights`` with suffix .json: ``fields`` plus the command that made it; print it."""
    args = argv if argv is not None else sys.argv[1:]
    card = {**fields, "command": f"python -m {module} " + " ".join(args)}
    Path(weights).with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))
    return card
