"""Scores of held-out predictions: point error, interval coverage, interval score and CRPS.

Every relative score divides by the observed value, so data sets with different loss scales can
sit in one table. All functions take one value per held-out unit (a run, or a run's final
checkpoint) and return a mean or median over the units.
"""

from __future__ import annotations

import numpy as np

LEVELS = (0.5, 0.8, 0.95)
#: levels whose interval score is reported
SCORE_LEVELS = (0.8, 0.95)


def median_are(point, observed) -> float:
    """Median absolute relative error ``|point - observed| / observed``."""
    point, observed = np.asarray(point, float), np.asarray(observed, float)
    return float(np.median(np.abs(point - observed) / observed))


def coverage(lower, upper, observed) -> float:
    """Share of observed values inside the closed interval ``[lower, upper]``."""
    lower, upper, observed = (np.asarray(x, float) for x in (lower, upper, observed))
    return float(np.mean((observed >= lower) & (observed <= upper)))


def interval_score(lower, upper, observed, level: float) -> np.ndarray:
    """Winkler interval score of a central ``level`` interval, per unit, in the target's units.

    ``(upper - lower) + 2/alpha * (lower - y)_+ + 2/alpha * (y - upper)_+`` with
    ``alpha = 1 - level`` (Gneiting and Raftery 2007): a proper score, lower is better; a miss
    costs 2/alpha times its distance to the interval.
    """
    lower, upper, observed = (np.asarray(x, float) for x in (lower, upper, observed))
    alpha = 1.0 - level
    below = np.clip(lower - observed, 0.0, None)
    above = np.clip(observed - upper, 0.0, None)
    return (upper - lower) + 2.0 / alpha * (below + above)


def relative_interval_score(lower, upper, observed, level: float) -> float:
    """Mean over units of the interval score as a percentage of the observed value."""
    observed = np.asarray(observed, float)
    return float(np.mean(100.0 * interval_score(lower, upper, observed, level) / observed))


def crps_draws(draws, observed) -> np.ndarray:
    """CRPS of each unit's predictive draws, energy form ``E|X - y| - E|X - X'| / 2``.

    Parameters
    ----------
    draws : array (S, R)
        S predictive draws for each of R units.
    observed : array (R,)

    Returns
    -------
    ndarray (R,): the CRPS per unit, in the target's units. ``E|X - X'|`` is computed exactly over
    all pairs of draws from the sorted draws (O(S log S)).
    """
    x = np.sort(np.asarray(draws, float), axis=0)
    y = np.asarray(observed, float)
    s = x.shape[0]
    first = np.mean(np.abs(x - y[None, :]), axis=0)
    weights = (2.0 * np.arange(1, s + 1) - s - 1.0)[:, None]
    spread = 2.0 * np.sum(weights * x, axis=0) / s**2  # E|X - X'| over all ordered pairs
    return first - 0.5 * spread


def relative_crps(draws, observed) -> float:
    """Mean over units of the CRPS as a percentage of the observed value."""
    observed = np.asarray(observed, float)
    return float(np.mean(100.0 * crps_draws(draws, observed) / observed))


def score(result: dict, observed) -> dict:
    """All metrics of one tool's result on one split (see :func:`peers.tools` for the result's keys).

    Interval metrics are None where the tool gives no interval, CRPS None where it gives no draws.
    """
    observed = np.asarray(observed, float)
    out = {"median_are": median_are(result["point"], observed), "coverage": {}, "interval_score": {},
           "crps": None}
    intervals = result.get("intervals") or {}
    for level in LEVELS:
        bounds = intervals.get(level)
        out["coverage"][f"{level:g}"] = None if bounds is None else coverage(*bounds, observed)
    for level in SCORE_LEVELS:
        bounds = intervals.get(level)
        out["interval_score"][f"{level:g}"] = (None if bounds is None
                                               else relative_interval_score(*bounds, observed, level))
    if result.get("draws") is not None:
        out["crps"] = relative_crps(result["draws"], observed)
    return out
