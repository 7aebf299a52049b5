"""The design replay benchmark (benchmarks/replay.py): split, strategies, scoring, report."""
