"""Benchmarks: figures for the pipeline, the copy-segment benchmark, metrics and peers."""
