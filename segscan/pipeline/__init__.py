"""Decoding, keyframe selection, features, and the ingest and query pipelines."""
