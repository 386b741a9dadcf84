"""Trained components: the similarity-pattern detector (SPD) and, in ``weights/``, every
shipped weight file with its model card."""
from pathlib import Path

# where every shipped weight file and its model card live
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
