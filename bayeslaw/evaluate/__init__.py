"""Judging fits: law comparison (LOO, leave-largest-out), the family test, backtests on held-out runs, and simulation-based calibration."""
