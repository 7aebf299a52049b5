"""Budgets of an isoFLOP study: grouping runs into budgets, and laying out a classic sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayeslaw.core.errors import PredictionError
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.decide.allocation import _budgets, flops_constant

#: the most model sizes per budget a sweep lays out (a real sweep trains a handful)
MAX_POINTS = 1000
#: runs whose log10 C lie within this many decades of a budget's smallest one share the budget
BUDGET_TOLERANCE = 0.05


def group_budgets(compute: np.ndarray, tolerance: float = BUDGET_TOLERANCE) -> np.ndarray:
    """Budget label (the group's geometric-mean C) of each run.

    Runs are sorted by log10 C; a run joins the current budget when its log10 C is within
    ``tolerance`` decades of that budget's smallest one, else it starts a new budget.
    """
    logc = np.log10(compute)
    order = np.argsort(logc, kind="stable")
    group = np.empty(len(logc), dtype=int)
    start, g = -np.inf, -1
    for i in order:
        if logc[i] - start > tolerance:
            start, g = logc[i], g + 1
        group[i] = g
    means = np.array([logc[group == j].mean() for j in range(g + 1)])
    return 10.0 ** means[group]


def isoflop_grid(budgets, *, points: int = 9, span: tuple[float, float] = (0.25, 4.0),
                 tokens_per_param: float = 20.0, flops: str | float = "6*N*D") -> pd.DataFrame:
    """A classic isoFLOP sweep: for each budget, ``points`` model sizes spaced evenly in log N.

    The sizes run from ``span[0]`` to ``span[1]`` times the centre size N_c that trains
    ``tokens_per_param`` tokens per parameter at the budget, N_c = sqrt(C / (k t)); with an odd
    ``points`` and a span symmetric in log (the default 1/4x .. 4x) N_c itself is in the sweep.
    The default keeps the sweep within about a decade around the optimum, where a parabola in
    log N describes the profile well; wider sweeps bias the parabola's vertex.
    Tokens are D = C / (k N). Returns a DataFrame with columns C, N, D.
    """
    values = _budgets(budgets, "budgets", distinct=True)  # a sweep laid out twice is twice the compute
    if not is_integer(points) or not 3 <= points <= MAX_POINTS:
        raise PredictionError(f"points must be a whole number from 3 (a parabola needs 3) to {MAX_POINTS}, "
                              f"got {points!r}")
    try:
        lo, hi = (float(s) for s in span)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise PredictionError(f"span must be two factors 0 < low < high, got {span!r}")
    if not is_real(tokens_per_param) \
            or not (np.isfinite(tokens_per_param) and tokens_per_param > 0):
        raise PredictionError(f"tokens_per_param must be positive, got {tokens_per_param!r}")
    k = flops_constant(flops)
    factors = np.exp(np.linspace(np.log(lo), np.log(hi), int(points)))
    rows = []
    for c in values:
        n = np.sqrt(c / (k * tokens_per_param)) * factors
        rows.append(pd.DataFrame({"C": c, "N": n, "D": c / (k * n)}))
    return pd.concat(rows, ignore_index=True)
