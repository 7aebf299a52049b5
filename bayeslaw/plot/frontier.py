"""The compute-optimal frontier: N*(C) (or D*, D*/N*, the loss at the optimum) with its band.

The curve is the posterior median of :func:`bayeslaw.decide.allocation.optimal_allocation` over a range
of budgets, the band its equal-tailed interval; the fitted runs are drawn at their own compute
so a reader sees how far the frontier is extrapolated, and the region beyond the largest
fitted run is shaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bayeslaw.core.errors import PredictionError
from bayeslaw.plot._common import (
    PLAN_COLOR,
    human,
    plan_label,
    planned_frame,
    shade_extrapolation,
)
from bayeslaw.results.draws import check_ci_prob
from bayeslaw.results.fit import NEW_FAMILY
from bayeslaw.results.sizes import key_values

_Y_LABELS = {
    "N_opt": "compute-optimal model size N* (parameters)",
    "D_opt": "compute-optimal tokens D* (tokens)",
    "tokens_per_param": "compute-optimal tokens per parameter D*/N*",
    "loss": "loss at the optimum (nats)",
}


def _run_values(fit, quantity: str) -> np.ndarray:
    inputs = fit.table.inputs
    if quantity == "N_opt":
        return np.asarray(inputs["N"], float)
    if quantity == "D_opt":
        return np.asarray(inputs["D"], float)
    if quantity == "tokens_per_param":
        return np.asarray(inputs["D"], float) / np.asarray(inputs["N"], float)
    return np.asarray(fit.table.target, float)


def plot_frontier(fit, compute_range: Sequence[float] | None = None, *, quantity: str = "N_opt",
                  family: str | None = None, flops: str | float = "6*N*D", ci_prob: float = 0.9,
                  n: int = 25, inputs: Mapping[str, float] | None = None, ax=None, at=None,
                  runs: bool = True):
    """Plot a compute-optimal quantity against compute with its credible band (log-log axes).

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs N and D.
    compute_range : (float, float), optional
        Smallest and largest FLOP budget; default from half the smallest fitted run's compute
        to ten times the largest fitted (or planned) run's.
    quantity : {"N_opt", "D_opt", "tokens_per_param", "loss"}
        What to draw (default the compute-optimal model size N*).
    family : str, optional
        A fitted family; None (default) for a new family drawn from the population.
    flops, inputs
        As in :func:`bayeslaw.decide.allocation.optimal_allocation`.
    ci_prob : float
        Band probability (default 0.9).
    n : int
        Number of budgets, log-spaced.
    ax : matplotlib Axes, optional
        Axes to draw on; default a new ``pyplot`` figure.
    at : dict, list of dicts or DataFrame, optional
        Planned runs to mark at their own compute (training compute 6ND).
    runs : bool
        Draw the fitted runs at their compute (default True).

    Returns
    -------
    matplotlib.axes.Axes
        Artists labelled ``frontier`` (median), ``_band``, ``_runs``, ``_planned <run>`` and
        ``extrapolation`` (the shaded region beyond the largest fitted run).
    """
    from bayeslaw.decide.allocation import QUANTITIES, _budgets, optimal_allocation

    if quantity not in QUANTITIES:
        raise PredictionError(f"quantity must be one of: {', '.join(QUANTITIES)}; got {quantity!r}")
    ci_prob = check_ci_prob(ci_prob)
    planned = planned_frame(fit, at)
    fitted_c = key_values(fit.table.inputs, "C") if {"N", "D"} <= set(fit.law.input_names) else None
    if compute_range is None:
        if fitted_c is None:
            raise PredictionError(f"law {fit.law.name!r} has no inputs N and D; give compute_range")
        plan_c = key_values({k: planned[k].to_numpy(float) for k in ("N", "D")}, "C") if len(planned) else []
        compute_range = (fitted_c.min() / 2, max([fitted_c.max(), *plan_c]) * 10)
    lo, hi = _budgets(compute_range, "compute_range")[[0, -1]]
    budgets = np.geomspace(lo, hi, int(n))
    frame = optimal_allocation(fit, budgets, family=family, flops=flops, ci_prob=ci_prob, inputs=inputs)
    rows = frame.xs(quantity, level="quantity")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    who = "a new family" if family in (None, NEW_FAMILY) else f"family {family}"
    line = ax.plot(budgets, rows["median"], color="C0", linewidth=2, label="frontier", zorder=4)[0]
    ax.fill_between(budgets, rows["lower"], rows["upper"], color=line.get_color(), alpha=0.25,
                    linewidth=0, label="_band", zorder=3)
    if runs and fitted_c is not None:
        ax.scatter(fitted_c, _run_values(fit, quantity), s=9, color="0.55", alpha=0.7, edgecolors="none",
                   label="_runs", zorder=2)
    if len(planned):
        c = key_values({k: planned[k].to_numpy(float) for k in ("N", "D")}, "C")
        values = {"N_opt": planned["N"], "D_opt": planned["D"], "tokens_per_param": planned["D"] / planned["N"]}
        if quantity in values:
            from bayeslaw.plot._common import plan_families

            fams = plan_families(fit, planned)
            for i, row in enumerate(planned.to_dict("records")):
                ax.plot(c[i], float(values[quantity].iloc[i]), "D", color=PLAN_COLOR, markeredgecolor="white",
                        markersize=7, zorder=6, label=f"_planned {plan_label(fit, row, fams[i])}")
    ax.set_xscale("log")
    if quantity != "loss":
        ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    if fitted_c is not None:
        shade_extrapolation(ax, fitted_c.max(), hi * 10)
        ax.set_xlim(lo, hi)
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel(_Y_LABELS[quantity])
    ax.set_title(f"{fit.law.name}: compute-optimal frontier, {who}",
                 fontsize=10)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=line.get_color(), linewidth=2, label="posterior median"),
               Patch(color=line.get_color(), alpha=0.25, label=f"{ci_prob:.0%} credible band")]
    if runs and fitted_c is not None:
        handles.append(Line2D([], [], marker="o", linestyle="none", color="0.55", markersize=4,
                              label="fitted runs (as trained)"))
    if len(planned) and quantity in ("N_opt", "D_opt", "tokens_per_param"):
        handles.append(Line2D([], [], marker="D", linestyle="none", color=PLAN_COLOR, label="planned runs"))
    last = rows.iloc[-1]
    fmt = (lambda v: f"{v:.3g}") if quantity in ("loss", "tokens_per_param") else human
    handles.append(Line2D([], [], linestyle="none", label=f"at C = {hi:.2g}: {fmt(last['median'])} "
                          f"[{fmt(last['lower'])}, {fmt(last['upper'])}]"))
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    return ax
