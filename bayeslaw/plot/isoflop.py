"""Figure of isoFLOP profiles (:class:`bayeslaw.decide.isoflop.IsoflopFit`)."""

from __future__ import annotations

import numpy as np


def plot_isoflop(fit, ax=None):
    """Loss against N (log axis) per budget: the runs, the posterior-median parabola over the
    sampled sizes, and the optimum's median with its interval in N (a horizontal bar).

    Returns the matplotlib Axes.
    """
    from bayeslaw.decide.isoflop_fit import IsoflopFit

    if not isinstance(fit, IsoflopFit):
        raise TypeError(f"plot_isoflop draws the isoFLOP profiles of bayeslaw.isoflop(runs), got "
                        f"{type(fit).__name__}; a law's fit is drawn by plot_fit or plot_decision")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    table = fit.budgets
    n_budgets = len(fit.compute)
    for i, c in enumerate(fit.compute):
        color = cmap(i / max(n_budgets - 1, 1))
        rows = fit.runs[fit.runs["_budget"] == c]
        ax.scatter(rows["N"], rows[fit.target], color=color, s=14, zorder=3,
                   label=f"{fit.by}={c:.3g}")
        lo, hi = fit.ranges[i]
        grid = np.linspace(lo, hi, 100)
        u = grid - fit.centres[i]
        curves = fit.coefs[i, :, :1] + fit.coefs[i, :, 1:2] * u + fit.coefs[i, :, 2:3] * u * u
        ax.plot(np.exp(grid), np.median(curves, axis=0), color=color, lw=1.2)
        row = table.iloc[i]
        if np.isfinite(row["N_opt_median"]):
            ax.errorbar([row["N_opt_median"]], [row["loss_median"]],
                        xerr=[[row["N_opt_median"] - row["N_opt_lower"]],
                              [row["N_opt_upper"] - row["N_opt_median"]]],
                        fmt="D", color=color, mec="black", ms=5, capsize=3, zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("N (parameters)")
    ax.set_ylabel(fit.target)
    ax.set_title(f"isoFLOP profiles: optimum N* with {fit.ci_prob:.0%} intervals")
    ax.legend(fontsize="small", ncols=2 if n_budgets > 6 else 1)
    return ax
