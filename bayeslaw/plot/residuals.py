"""Residuals: observed / fitted against a size key, each run against its own family's law.

The grey band is where the given share of new runs falls around the law (the posterior
predictive noise), so a reader sees whether the runs scatter as the model says or drift with
size, a sign that the law's form misses something.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayeslaw.plot._common import (
    CURVE_MARGIN,
    check_key,
    has_nd,
    key_label,
    shade_extrapolation,
)
from bayeslaw.results.draws import check_ci_prob, interval_columns
from bayeslaw.results.sizes import key_values


class Batch:
    """Rows of the figure (iso-lines, fitted runs) predicted in one call per kind, then sliced.

    Each new row shape costs JAX a compilation of every operation of the prediction, so the
    figure's curves and runs go through :meth:`Fit.predictive_draws` together.
    """

    def __init__(self, fit, blocks: dict, ci_prob: float, seed: int):
        frames = [pd.DataFrame(b) for b in blocks.values()]
        stops = np.cumsum([0] + [len(f) for f in frames])
        self.slices = {k: slice(a, b) for k, a, b in zip(blocks, stops[:-1], stops[1:], strict=True)}
        both = pd.concat(frames, ignore_index=True)
        group = fit.table.group
        if group is not None and group in both:
            both[group] = both[group].astype(object).where(both[group].notna(), None)
        self.draws = {kind: fit.predictive_draws(both, kind=kind, seed=seed) for kind in ("law", "observed")}
        self.ci_prob = ci_prob

    def stats(self, block: str, kind: str) -> dict:
        return interval_columns(self.draws[kind][:, self.slices[block]], self.ci_prob)


def run_rows(fit) -> dict:
    """The fitted runs as prediction rows: their inputs and (with groups) their own family."""
    rows = dict(fit.table.inputs)
    if fit.table.group is not None:
        rows[fit.table.group] = [fit.families[i] for i in fit.table.family_index]
    return rows


def draw_residuals(ax, fit, x: str, batch: Batch, colours, x_hi: float, x_lo: float | None = None) -> None:
    """Draw observed / fitted of the runs (block ``"runs"`` of ``batch``) on ``ax``, over
    ``x_lo`` (default: just below the smallest run) to ``x_hi``."""
    ci_prob = batch.ci_prob
    keys = key_values(fit.table.inputs, x)
    law = batch.stats("runs", "law")["median"]
    ratio = np.asarray(fit.table.target, float) / law
    draws = batch.draws["observed"][:, batch.slices["runs"]] / law[None, :]
    tail = (1 - ci_prob) / 2
    lo, hi = np.quantile(draws, [tail, 1 - tail])
    ax.set_label("residuals")
    ax.axhspan(lo, hi, color="0.6", alpha=0.18, linewidth=0, label="_predictive noise")
    ax.axhline(1.0, color="0.3", linewidth=1)
    ax.scatter(keys, ratio, s=12, c=colours, edgecolors="none", zorder=3, label="_residuals")
    spread = max(np.abs(np.log(ratio)).max(), abs(np.log(lo)), abs(np.log(hi))) * 1.25
    ax.set_ylim(np.exp(-spread), np.exp(spread))
    ax.set_xscale("log")
    shade_extrapolation(ax, keys.max(), x_hi * 10, text=None)
    ax.set_xlim(keys.min() / 1.6 if x_lo is None else x_lo, x_hi)
    ax.set_xlabel(key_label(fit, x))
    ax.set_ylabel("observed / fitted")
    ax.text(0.01, 0.04, f"band: {ci_prob:.0%} of new runs around the law; each run against its own "
            "family", transform=ax.transAxes, fontsize=7, color="0.3")


def plot_residuals(fit, x: str | None = None, *, ci_prob: float = 0.9, ax=None, seed: int = 0):
    """Plot observed / fitted of every run against a size key, with the predictive noise band.

    Parameters
    ----------
    fit : Fit
        A fit from :func:`bayeslaw.fit` or :func:`bayeslaw.load_fit`.
    x : str, optional
        ``"C"`` (training compute 6ND, the default for laws in N and D) or a law input.
    ci_prob : float
        Share of new runs inside the grey band (default 0.9).
    ax : matplotlib Axes, optional
        Axes to draw on; default a new ``pyplot`` figure.
    seed : int
        Seed of the predictive draws.

    Returns
    -------
    matplotlib.axes.Axes
        Labelled ``"residuals"``; the points carry the label ``_residuals``.
    """
    ci_prob = check_ci_prob(ci_prob)
    x = check_key(fit, x if x is not None else "C" if has_nd(fit.law) else fit.law.input_names[0])
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
    batch = Batch(fit, {"runs": run_rows(fit)}, ci_prob, seed)
    x_hi = key_values(fit.table.inputs, x).max() * CURVE_MARGIN
    draw_residuals(ax, fit, x, batch, "C0", x_hi)
    return ax
