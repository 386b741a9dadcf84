"""Training code: every shipped weight file is made by a module here."""
