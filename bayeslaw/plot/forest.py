"""Family forest plot: each family's median and interval of each parameter, one panel each.

Parameters are shown under the names a reader knows (``A`` = exp(a) on a log axis rather than
the sampled log amplitude ``a``); the population value of a partially pooled parameter is a
diamond, so a reader sees how far each family sits from it and how much the data pin it down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayeslaw.core.errors import FitError
from bayeslaw.plot._common import reader_name
from bayeslaw.results.draws import check_ci_prob
from bayeslaw.results.fit import require_fit


def _plain_ticks(axis) -> None:
    """A few round ticks (200, 300, 400) on a log axis that spans less than a decade or so."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def varying_params(fit) -> list[str]:
    """Parameters that differ between families (pooling other than shared), in law order."""
    return [p for p in fit.law.all_params() if fit.plan.pooling_map.get(p, "shared") != "shared"]


def plot_family_forest(fit, params: Sequence[str] | None = None, *, ci_prob: float = 0.9, fig=None):
    """One panel per parameter: each family's posterior median and equal-tailed interval.

    Parameters
    ----------
    fit : Fit
        A fit from :func:`bayeslaw.fit` or :func:`bayeslaw.load_fit`.
    params : sequence of str, optional
        Law parameters to show (sampled names, e.g. ``"a"``; drawn as ``A``). Default: those
        that vary by family, or all of the law's parameters when none does.
    ci_prob : float
        Interval probability (default 0.9).
    fig : matplotlib Figure, optional
        Figure to draw on (empty); default a new ``pyplot`` figure.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per parameter, titled with its reader name; y tick labels are the families
        (and ``population``); intervals are labelled ``_interval <family>``.

    Raises
    ------
    FitError
        For a name that is not a parameter of the law.
    """
    require_fit(fit)
    ci_prob = check_ci_prob(ci_prob)
    known = list(fit.law.all_params())
    if params is None:
        params = varying_params(fit) or [p for p in known if p in fit.population_values()]
    params = [params] if isinstance(params, str) else list(params)
    unknown = [p for p in params if p not in known]
    if unknown or not params:
        raise FitError(f"unknown parameter {unknown[0]!r}; parameters: {', '.join(known)}" if unknown
                       else "params is empty; give at least one parameter of the law")
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(2.4 * len(params) + 1.4, 0.32 * len(fit.families) + 1.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(params), sharey=True, squeeze=False)[0])
    fam, pop = fit.family_values(), fit.population_values()
    tail = (1 - ci_prob) / 2
    families = list(fit.families)
    for ax, p in zip(axes, params, strict=True):
        name, exp = reader_name(fit.law, p)
        values = np.exp(fam[p]) if exp else fam[p]
        lo, med, hi = np.quantile(values, [tail, 0.5, 1 - tail], axis=0)
        y = np.arange(len(families))
        for j, family in enumerate(families):
            ax.plot([lo[j], hi[j]], [y[j], y[j]], color="C0", linewidth=2.2, solid_capstyle="round",
                    label=f"_interval {family}")
        ax.plot(med, y, "o", color="C0", markersize=5, label="_median")
        if p in pop and fit.plan.pooling_map.get(p) in ("partial", "correlated"):
            v = np.exp(pop[p]) if exp else pop[p]
            plo, pmed, phi = np.quantile(v, [tail, 0.5, 1 - tail])
            ax.plot([plo, phi], [len(families)] * 2, color="C1", linewidth=2.2, label="_interval population")
            ax.plot(pmed, len(families), "D", color="C1", markersize=6, label="_median population")
            ax.axvline(pmed, color="C1", linewidth=0.8, linestyle=":", zorder=0)
        if exp:
            ax.set_xscale("log")
            lo_x, hi_x = ax.get_xlim()
            if hi_x / lo_x < 30:  # wider spans keep matplotlib's powers of ten
                _plain_ticks(ax.xaxis)
        description = fit.law.all_params()[p].description.split("(")[0].strip()
        ax.set_title(name, fontsize=11)
        ax.set_xlabel(f"{name} = exp({p})" if exp else description if len(description) < 32 else name, fontsize=8)
        ax.grid(axis="x", color="0.9", linewidth=0.6)
    labels = families + (["population"] if any(len(a.get_lines()) > len(families) + 1 for a in axes) else [])
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)
    fig.suptitle(f"{fit.law.name}: per-family parameters, median and {ci_prob:.0%} interval", fontsize=10)
    return fig
