"""Calibration of a backtest: nominal interval probability against the share of held-out runs
inside, each with its Jeffreys interval (how far the share may be from the nominal level by
chance alone, given how few runs were held out)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bayeslaw.core.errors import PredictionError
from bayeslaw.results.draws import check_ci_prob

_BISECTIONS = 60


def beta_quantile(q: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Quantile ``q`` of Beta(a, b), elementwise, by bisection on the regularised incomplete beta."""
    from jax.scipy.special import betainc

    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    lo, hi = np.zeros(a.shape), np.ones(a.shape)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        below = np.asarray(betainc(a, b, mid)) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def jeffreys_interval(k, n, prob: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval of a binomial share: quantiles of Beta(k + 1/2, n - k + 1/2).

    The lower bound is 0 when k = 0 and the upper 1 when k = n (Brown, Cai and DasGupta 2001).
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    tail = (1 - prob) / 2
    lower = np.where(k > 0, beta_quantile(tail, k + 0.5, n - k + 0.5), 0.0)
    upper = np.where(k < n, beta_quantile(1 - tail, k + 0.5, n - k + 0.5), 1.0)
    return lower, upper


def _results(backtests) -> dict:
    from bayeslaw.evaluate.backtest import Backtest

    if isinstance(backtests, Backtest):
        return {f"{backtests.fit.law.name}, cutoff {backtests.cutoff:.3g} on {backtests.by}": backtests}
    if isinstance(backtests, Mapping) and backtests and all(isinstance(v, Backtest) for v in backtests.values()):
        return {str(k): v for k, v in backtests.items()}
    raise PredictionError("backtests must be a Backtest (from bayeslaw.evaluate.backtest) or a dict of them, "
                          f"got {type(backtests).__name__}")


def coverage_table(backtest, prob: float = 0.9):
    """Per nominal level: held-out runs inside, their number, the share and its Jeffreys interval."""
    import pandas as pd

    table = backtest.table
    n = len(table)
    levels = list(backtest.ci_probs)
    k = np.array([int(table[f"inside_{p:g}"].sum()) for p in levels])
    lower, upper = jeffreys_interval(k, n, prob)
    return pd.DataFrame({"nominal": levels, "inside": k, "n": n, "coverage": k / max(n, 1),
                         "lower": lower, "upper": upper})


def plot_calibration(backtests, *, prob: float = 0.9, ax=None):
    """Nominal against empirical coverage of held-out runs, with Jeffreys intervals.

    Parameters
    ----------
    backtests : Backtest or dict of str to Backtest
        Results of :func:`bayeslaw.backtest`; a dict draws several (e.g. with and without the
        extrapolation error), labelled by its keys.
    prob : float
        Probability of the Jeffreys intervals (default 0.9).
    ax : matplotlib Axes, optional
        Axes to draw on; default a new ``pyplot`` figure.

    Returns
    -------
    matplotlib.axes.Axes
        One errorbar per backtest labelled with its name and number of held-out runs; the
        diagonal (perfect calibration) is labelled ``_ideal``.
    """
    prob = check_ci_prob(prob)
    results = _results(backtests)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.8, 4.6), layout="constrained")
    ax.plot([0, 1], [0, 1], color="0.45", linestyle="--", linewidth=1, label="_ideal", zorder=1)
    shift = 0.008 * (np.arange(len(results)) - (len(results) - 1) / 2)  # side by side, not on top
    for i, (name, result) in enumerate(results.items()):
        t = coverage_table(result, prob)
        nominal, share = t["nominal"].to_numpy(float), t["coverage"].to_numpy(float)
        ax.errorbar(nominal + shift[i], share, yerr=[share - t["lower"].to_numpy(), t["upper"].to_numpy() - share],
                    fmt="o-", capsize=3,
                    linewidth=1.2, markersize=5, label=f"{name} ({int(t['n'].iloc[0])} held-out runs)",
                    zorder=3)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), aspect="equal")
    ax.set_xlabel("nominal interval probability")
    ax.set_ylabel("share of held-out runs inside")
    ax.set_title(f"backtest calibration ({prob:.0%} Jeffreys intervals)", fontsize=10)
    ax.text(0.98, 0.03, "above the diagonal: intervals too wide\nbelow: too narrow (overconfident)",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7.5, color="0.35")
    ax.grid(color="0.92", linewidth=0.6)
    ax.legend(fontsize=7.5, loc="upper left")
    return ax
