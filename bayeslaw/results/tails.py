"""How heavy the tails of a set of draws are, and whether their mean and sd mean anything.

A predictive for a new run can have a tail so heavy that its mean and sd are dominated by a few
draws (a Student-t on the log scale with few degrees of freedom, exponentiated, even truncated
at the fitted runs' largest residual as a new run's noise is): the table then
shows a mean far outside the interval and an sd many times its width. The Pareto shape ``k`` of
the tails says when: the variance of the distribution is infinite for ``k >= 0.5`` and the mean
for ``k >= 1``, and a Monte Carlo mean is unreliable from ``k > 0.7`` on (Vehtari, Simpson,
Gelman, Yao and Gabry, "Pareto smoothed importance sampling", JMLR 2024, section 3). ``k`` is
estimated as there: a generalized Pareto distribution is fitted to the ``min(S / 5, 3 sqrt S)``
largest exceedances of each tail (Zhang and Stephens 2009, with the weak prior of that paper).
"""

from __future__ import annotations

import numpy as np

#: tail shape from which a sample mean is not reported (Vehtari et al. 2024)
MEAN_K_LIMIT = 0.7
#: tail shape from which a sample sd is not reported: the variance is infinite there
SD_K_LIMIT = 0.5
#: fewer tail draws than this and k is not estimated (NaN)
MIN_TAIL = 5


def _gpd_shape(exceedances: np.ndarray) -> float:
    """Shape k of a generalized Pareto fit to sorted positive exceedances (Zhang-Stephens)."""
    x = exceedances
    n = x.size
    m = 30 + int(n**0.5)
    b = 1 - np.sqrt(m / (np.arange(1, m + 1, dtype=float) - 0.5))
    b /= 3 * x[int(n / 4 + 0.5) - 1]
    b += 1 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    scale = n * (np.log(-(b / k)) - k - 1)
    weights = 1 / np.exp(scale - scale[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    weights, b = weights[keep], b[keep]
    b_post = np.sum(b * weights / weights.sum())
    k_post = np.log1p(-b_post * x).mean()
    return float((n * k_post + 10 * 0.5) / (n + 10))


def tail_k(draws: np.ndarray) -> np.ndarray:
    """Pareto shape of the heavier tail of each column of ``draws`` (S, R): NaN when there
    are too few draws, or when a tail does not vary (constant draws)."""
    draws = np.asarray(draws, dtype=float)
    s = draws.shape[0]
    m = int(np.ceil(min(0.2 * s, 3 * np.sqrt(s))))
    out = np.full(draws.shape[1:], np.nan)
    if m < MIN_TAIL or s <= m:
        return out
    ordered = np.sort(draws, axis=0)
    for index in np.ndindex(*draws.shape[1:]):
        column = ordered[(slice(None), *index)]
        if not np.all(np.isfinite(column)):
            out[index] = np.inf
            continue
        shapes = []
        for tail in (column, -column[::-1]):
            exceed = tail[-m:] - tail[-m - 1]
            if exceed[-1] > 0 and np.all(exceed > 0):
                with np.errstate(all="ignore"):
                    shapes.append(_gpd_shape(exceed))
        out[index] = max(shapes) if shapes else np.nan
    return out
