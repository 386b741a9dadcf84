"""Model cards: a JSON file beside each shipped weight file saying data, command and metrics."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path


def write_card(weights: str | Path, module: str, argv, **fields) -> dict:
    """Write ``weights`` with suffix .json: ``fields`` plus the command that made it; print it."""
    args = argv if argv is not None else sys.argv[1:]
    card = {**fields, "command": f"python -m {module} " + " ".join(args)}
    Path(weights).with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))
    return card


@dataclass(frozen=True)
class SPDScoring:
    """How the detector's boxes are scored (chosen on the benchmark's train split; align.spd)."""

    score: str = "evidence"
    evidence: float = 1.0
    conf_weight: float = 0.35
    length_weight: float = 0.06
    paths: int = 0
    trim: float = 0.0


@dataclass(frozen=True)
class SPDCard:
    """The fields of an SPD weight file's model card that the query path reads."""

    maps: str = "sparse"  # the similarity maps the weights were trained on (cards before it: sparse)
    image: str = "similarity"  # the detector's image kind (segscan.detectors.spd.render.IMAGES)
    threshold: float = 0.0  # the segment-F1-best score on the train split: SPD's copy threshold
    scoring: SPDScoring = field(default_factory=SPDScoring)
    # the comparator whose planes comparator images carry: "visil" (the shipped weights) or the
    # ViSiL weights file the detector was trained on (segscan.compare.get_comparator)
    comparator: str | None = None

    @classmethod
    def load(cls, weights: str | Path) -> "SPDCard":
        """The card beside ``weights`` (defaults where there is none)."""
        path = Path(weights).with_suffix(".json")
        if not path.exists():
            return cls()
        d = json.loads(path.read_text())
        known = {f.name for f in fields(SPDScoring)}
        scoring = SPDScoring(**{k: v for k, v in d.get("scoring", {}).items() if k in known})
        data = d.get("data", {})
        # cards before image kinds named their 3-channel images by the count alone
        image = data.get("image") or ("centred" if int(data.get("channels", 1)) == 3 else "similarity")
        comparator = data.get("comparator") or ("visil" if image == "comparator" else None)
        if comparator and comparator.endswith(".pt") and (path.parent / comparator).is_file():
            comparator = str(path.parent / comparator)  # weights shipped beside the card
        return cls(maps=data.get("maps", "sparse"), image=image,
                   threshold=float(d.get("test_metrics", {}).get("threshold", 0.0)), scoring=scoring,
                   comparator=comparator)
