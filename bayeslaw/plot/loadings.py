"""Capability-factor loadings of an observational fit, one panel per factor.

:func:`plot_loadings` draws, per benchmark, the posterior median loading on each factor with its
interval, and marks the loadings that are zero by construction (the lower-triangular loading
matrix that fixes the factors' rotation and sign in
:func:`bayeslaw.downstream.fit_observational`), so a reader can see what each factor measures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayeslaw.core.errors import PredictionError
from bayeslaw.downstream.observational import ObservationalFit
from bayeslaw.results.draws import check_ci_prob


def plot_loadings(fit, ax=None, ci_prob: float = 0.9):
    """Capability-factor loadings per benchmark: posterior median bars with interval bars.

    Loadings of a factor model are identified only up to rotation, sign (and, here, a scale set
    by the priors). :func:`bayeslaw.downstream.fit_observational` fixes rotation and sign by making
    the loading matrix lower-triangular with a positive diagonal: benchmark ``i`` (in the order
    given to the fit) has loading 0 on factors after ``i`` and a positive loading on factor
    ``i``. So factor ``i``'s meaning depends on the benchmark order; put a benchmark that loads
    strongly on it at position ``i``. Each panel's title names the benchmark that fixes its
    sign; the structural zeros are drawn as empty bars marked "0 by construction".

    Parameters
    ----------
    fit : ObservationalFit
    ax : matplotlib Axes or sequence of Axes, optional
        One Axes per factor; by default a new figure with one panel per factor.
    ci_prob : float
        Probability of the equal-tailed interval bars (default 0.9).

    Returns
    -------
    matplotlib.figure.Figure
        Panel ``i`` holds one horizontal bar per benchmark (labels ``_loading PC<i>``) and the
        interval bars (an errorbar labelled ``_interval PC<i>``).
    """
    if not isinstance(fit, ObservationalFit):
        raise PredictionError(f"plot_loadings needs an ObservationalFit (from fit_observational), "
                              f"got {type(fit).__name__}")
    ci_prob = check_ci_prob(ci_prob)
    k, names = fit.info["k"], fit.info["benchmarks"]
    tail = (1 - ci_prob) / 2
    lo, med, hi = np.quantile(fit.flat("loading"), [tail, 0.5, 1 - tail], axis=0)  # (J, k) each
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(1, k, figsize=(2.5 + 2.5 * k, 1.2 + 0.35 * len(names)), sharey=True,
                             layout="constrained", squeeze=False)
    axes = list(np.ravel(ax)) if isinstance(ax, (Sequence, np.ndarray)) else [ax]
    if len(axes) != k:
        raise PredictionError(f"ax must hold {k} Axes (one per factor), got {len(axes)}")
    y = np.arange(len(names))
    for i, a in enumerate(axes):
        fixed = y < i
        a.barh(y, med[:, i], color=np.where(fixed, "none", "C0").tolist(), edgecolor="C0",
               height=0.6, label=f"_loading PC{i + 1}")
        a.errorbar(med[:, i], y, xerr=[med[:, i] - lo[:, i], hi[:, i] - med[:, i]], fmt="none",
                   ecolor="k", capsize=3, label=f"_interval PC{i + 1}")
        for j in np.flatnonzero(fixed):
            a.text(0, j, "  0 by construction", va="center", fontsize=7, color="0.4")
        a.axvline(0, color="0.6", linewidth=0.8)
        a.set_yticks(y, names)
        a.set_title(f"PC{i + 1} (sign: {names[i]} > 0)", fontsize=9)
        a.set_xlabel(f"loading, median and {ci_prob:.0%} interval", fontsize=8)
    axes[0].invert_yaxis()
    return axes[0].figure
