"""Trained components: the similarity-pattern detector (SPD) and, in ``weights/``, every
shipped weight file with its model card."""
