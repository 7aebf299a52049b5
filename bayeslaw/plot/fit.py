"""Plots of fitted laws (matplotlib): runs, the fitted curve per family and its interval band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bayeslaw.core.errors import PredictionError
from bayeslaw.core.numbers import is_real
from bayeslaw.results.draws import check_ci_prob, check_kind
from bayeslaw.results.fit import require_fit

#: the curve extends this many decades beyond the largest observed x (the extrapolation region)
EXTEND_DECADES = 0.5
_GRID_POINTS = 120


def _check_fixed(fit, x: str, fixed: Mapping[str, float] | None) -> dict[str, float]:
    fixed = dict(fixed or {})
    inputs = fit.law.input_names
    for name, value in fixed.items():
        if name == x:
            raise PredictionError(
                f"fixed names {name!r}, the plotted input; fix only the other "
                f"inputs: {', '.join(n for n in inputs if n != x) or '(none)'}"
            )
        if name not in inputs:
            raise PredictionError(
                f"fixed names {name!r}, not an input of law {fit.law.name!r}; "
                f"inputs: {', '.join(inputs)}"
            )
        if not is_real(value) or not np.isfinite(value) or value <= 0:
            raise PredictionError(
                f"fixed value of {name!r} must be a positive number, got {value!r}"
            )
    return {k: float(v) for k, v in fixed.items()}


def _check_families(fit, families: Sequence[str] | None) -> list[str]:
    if families is None:
        return list(fit.families)
    chosen = list(
        dict.fromkeys(str(f) for f in ([families] if isinstance(families, str) else families))
    )
    for name in chosen:
        if name not in fit.families:
            raise PredictionError(
                f"unknown family {name!r}; families in the fit: {', '.join(fit.families)}"
            )
    if not chosen:
        raise PredictionError("families is empty; give at least one family of the fit")
    return chosen


def plot_fit(
    fit,
    x: str | None = None,
    *,
    ci_prob: float = 0.9,
    kind: str = "law",
    fixed: Mapping[str, float] | None = None,
    ax=None,
    families: Sequence[str] | None = None,
):
    """Plot the runs, the fitted law per family and its interval band on log-log axes.

    Parameters
    ----------
    fit : Fit
        A fit from :func:`bayeslaw.fit` or :func:`bayeslaw.load_fit`.
    x : str, optional
        The law input on the horizontal axis (default ``"N"``, or the law's first input for a law
        without N).
    ci_prob : float
        Probability of the interval band (default 0.9).
    kind : {"law", "observed"}
        ``"law"`` (default): credible band of the curve; ``"observed"``: posterior-predictive
        band of a new run, including run-to-run noise.
    fixed : dict, optional
        Values at which the law's other inputs are held, e.g. ``{"D": 1.4e12}``. Inputs not given
        are held at the geometric mean of that input over each family's runs; the legend says
        which values were used.
    ax : matplotlib Axes, optional
        Axes to draw on; by default a new figure is made with ``matplotlib.pyplot``.
    families : sequence of str, optional
        Families to draw (default: all families of the fit).

    Returns
    -------
    matplotlib.axes.Axes
        The curve of each family is its posterior median, the band its equal-tailed interval.
        Bands carry the label ``_band <family>`` and run markers ``_runs <family>`` (both hidden
        from the legend, which lists one curve per family with the input values it holds).

    Raises
    ------
    PredictionError
        For an ``x`` or ``fixed`` name that is not a law input, an unknown family, or a bad
        ``kind`` / ``ci_prob``.
    """
    require_fit(fit)
    inputs = fit.law.input_names
    if x is None:
        x = "N" if "N" in inputs else inputs[0]
    if x not in inputs:
        raise PredictionError(
            f"x {x!r} is not an input of law {fit.law.name!r}; inputs: {', '.join(inputs)}"
        )
    check_kind(kind)
    ci_prob = check_ci_prob(ci_prob)
    fixed = _check_fixed(fit, x, fixed)
    chosen = _check_families(fit, families)
    if ax is None:
        import matplotlib.pyplot as plt  # only here: callers passing an Axes never touch pyplot

        _, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    table = fit.table
    xs = np.asarray(table.inputs[x])
    lo, hi = np.log10(xs.min()), np.log10(xs.max()) + EXTEND_DECADES
    grid = np.logspace(lo, hi, _GRID_POINTS)
    others = [name for name in inputs if name != x]
    colors = [c["color"] for c in _color_cycle()]
    for pos, family in enumerate(chosen):
        j = fit.families.index(family)
        mine = table.family_index == j
        held = {
            name: fixed.get(name, float(np.exp(np.mean(np.log(table.inputs[name][mine])))))
            for name in others
        }
        rows = {x: grid, **{name: np.full(grid.size, v) for name, v in held.items()}}
        if table.group is not None:
            rows[table.group] = [family] * grid.size
        pred = fit.predict(rows, kind=kind, ci_prob=ci_prob)
        color = colors[pos % len(colors)]
        ax.scatter(
            xs[mine],
            np.asarray(table.target)[mine],
            s=14,
            color=color,
            alpha=0.8,
            label=f"_runs {family}",
        )
        held_text = ", ".join(f"{k}={v:.3g}" for k, v in held.items() if k not in fixed)
        name = family if table.group is not None else "law"
        ax.plot(
            grid, pred["median"], color=color, label=name + (f" ({held_text})" if held_text else "")
        )
        ax.fill_between(
            grid,
            pred["lower"],
            pred["upper"],
            color=color,
            alpha=0.2,
            linewidth=0,
            label=f"_band {family}",
        )
    ax.axvline(xs.max(), color="0.6", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel(x)
    ax.set_ylabel(table.target_name or "target")
    band = "credible" if kind == "law" else "predictive"
    title = f"{fit.law.name}: median and {ci_prob:.0%} {band} band"
    if fixed:
        title += " at " + ", ".join(f"{k}={v:.3g}" for k, v in fixed.items())
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncols=2 if len(chosen) > 3 else 1)
    return ax


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers ("3", "4") instead of "4x10^0".

    Losses often span less than a decade, where the default formatter labels no tick at all.
    """
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _color_cycle():
    import matplotlib as mpl

    return list(mpl.rcParams["axes.prop_cycle"])
