"""The ladder's extrapolation error: how far step 1's task loss misses runs larger than its data.

The ladder's targets lie far beyond its runs (the OLMo-2 7B and 13B targets, 2.3 decades of
compute beyond the largest 1B ladder run), and the posterior of step 1 knows its own parameter
uncertainty and the runs' noise, not whether the task loss keeps to the law that far out: on the
OLMo ladder ARC-Challenge's 90% intervals missed both targets by 8-10 accuracy points, most of it
from step 1. As for a loss law (:mod:`bayeslaw.infer.extrapolation`), the error is measured on the
ladder's own runs: the ladder is refitted below nested cutoffs of compute C = 6 N D (every
checkpoint below the cutoff: step 2 keeps its rows), and the final checkpoints above are predicted.
Their log task-loss residuals, predictive scales and distances beyond the nested fit's largest
run (stretched to the full ladder's span,
:func:`~bayeslaw.infer.extrapolation_posterior.effective_distances`) give the grid posterior of the
error's offset and slope change and the drift the nested fits share
(:func:`~bayeslaw.infer.extrapolation_posterior.shared_error_posterior`, each nested fit one draw
of the error). The result is an :class:`~bayeslaw.results.extrapolation_error.ExtrapolationErrorModel`
on the key C without a tilt term; :class:`~bayeslaw.downstream.ladder.LadderFit` multiplies its
task-loss draws by it before step 2, so the accuracy intervals carry it.

A ladder has few sizes and few final checkpoints, so there are at most two nested fits, at the 0.6
and 0.8 quantiles of the final checkpoints' log compute (as the observational model's link
error), each with at least :data:`MIN_NESTED_RUNS` final checkpoints below its cutoff.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from bayeslaw.core.errors import ConvergenceWarning
from bayeslaw.infer.extrapolation_posterior import effective_distances, shared_error_posterior
from bayeslaw.results.extrapolation_error import ONSET, ExtrapolationErrorModel
from bayeslaw.results.sizes import log_sizes, size_axes

#: quantiles of the final checkpoints' log compute at which the nested fits are cut
NESTED_QUANTILES = (0.6, 0.8)
#: final checkpoints (step-1 rows) a nested fit needs below its cutoff
MIN_NESTED_RUNS = 6
#: the error's size axes (C first: its key)
AXES = size_axes(("N", "D"), "C")


def nested_settings(chains: int, draws: int, warmup: int, seed: int) -> dict:
    """The nested fits' sampler settings: at most two chains, half the draws and warmup (at
    least 200, or the full fit's where it has fewer)."""
    return {"chains": min(chains, 2), "draws": max(draws // 2, min(draws, 200)),
            "warmup": max(warmup // 2, min(warmup, 200)), "seed": seed}


def loss_error(runs: pd.DataFrame, step1: np.ndarray, loss: str, folds: int,
               refit: Callable[[pd.DataFrame], object]) -> ExtrapolationErrorModel | None:
    """Measure the task loss's extrapolation error by ``folds`` nested refits of the ladder.

    Parameters
    ----------
    runs : DataFrame
        The ladder's rows (``N``, ``D``, the ``loss`` column), as given to ``fit_ladder``.
    step1 : ndarray of bool
        The rows step 1 fits (final checkpoints with a loss).
    loss : str
        The task-loss column.
    folds : int
        Nested fits, 1 or 2 (the first ``folds`` of :data:`NESTED_QUANTILES`).
    refit : callable
        ``refit(rows)`` fits the ladder, as the full fit was, on a subset of ``runs``.

    Returns
    -------
    ExtrapolationErrorModel or None
        None when no cutoff leaves :data:`MIN_NESTED_RUNS` final checkpoints below it and one
        above.
    """
    inputs = {k: runs[k].to_numpy(float) for k in ("N", "D")}
    sizes = log_sizes(inputs, AXES)
    log_c = sizes[:, 0]
    final = log_c[step1]
    observed = np.log(runs[loss].to_numpy(float))
    parts = []
    for j, q in enumerate(NESTED_QUANTILES[:folds]):
        cut = float(np.quantile(final, q))
        below, held = step1 & (log_c < cut), np.flatnonzero(step1 & (log_c >= cut))
        if below.sum() < MIN_NESTED_RUNS or held.size == 0:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            nested = refit(runs[log_c < cut])
        unmixed = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        if unmixed:
            warnings.warn(f"the task loss's extrapolation error rests on a nested fit of the ladder below "
                          f"C = {np.exp(cut):.3g} that did not converge ({unmixed[0].message}); "
                          "extrapolation_folds=0 leaves the error out", ConvergenceWarning, stacklevel=3)
        draws = np.log(nested.predictive_draws(runs.iloc[held][["N", "D"]], kind="observed", quantity="loss"))
        lo, mid, hi = np.quantile(draws, [0.1587, 0.5, 0.8413], axis=0)
        parts.append(pd.DataFrame({"cutoff": np.exp(cut), "residual": observed[held] - mid, "scale": (hi - lo) / 2,
                                   "distance": log_c[held] - log_c[below].max(),
                                   "span": log_c[below].max() - log_c[below].min(), "fold": j}))
    if not parts:
        return None
    points = pd.concat(parts, ignore_index=True)
    full_span = float(final.max() - final.min())
    weights, mean, cov = shared_error_posterior(
        points["residual"].to_numpy(), points["scale"].to_numpy(), effective_distances(points, full_span), None,
        points["fold"].to_numpy(), drift=True, onset=ONSET)
    frontier = dict(zip(AXES, (float(v) for v in sizes[step1].max(axis=0))))
    return ExtrapolationErrorModel("C", frontier["C"], weights, len(points),
                                   tuple(float(c) for c in points["cutoff"].unique()), None, mean, cov,
                                   onset=ONSET, frontier=frontier)
