"""The observational link's extrapolation error, measured by nested refits of the link.

A model whose target was not fitted is off by ``bias + kappa * z1 + tau * max(eta - eta_max, 0) *
z2`` (accuracy units; ``eta`` its linear predictor, ``eta_max`` the fitted models' largest): the
fitted models above a quantile of log FLOPs (:data:`NESTED_QUANTILES`) are held out, the link is
refitted on the rest and predicts them, and their misses, predictive scales and distances beyond
the nested fit give the grid posterior of
:func:`bayeslaw.infer.extrapolation_posterior.error_posterior` with a bias grid
(:data:`BIAS_GRID`). The held-out models of one nested fit share its link, so their residuals are
correlated and the posterior is somewhat too sure; its centre is what widens the intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from bayeslaw.infer.extrapolation_posterior import error_posterior

#: nested fits of the link's extrapolation error hold out the fitted models above these quantiles
#: of log FLOPs
NESTED_QUANTILES = (0.6, 0.8)
#: grid of the link's extrapolation bias (accuracy units), uniform prior
BIAS_GRID = np.linspace(-0.1, 0.1, 41)


def link_error(fit, frame: pd.DataFrame, benchmarks, target: str, masks: tuple, folds: int,
               refit: Callable[[np.ndarray], object]) -> dict | None:
    """Grid posterior of the link's extrapolation error from nested leave-largest-compute-out fits.

    Parameters
    ----------
    fit : ObservationalFit
        The full fit, whose largest fitted linear predictor is the reference distance 0.
    frame : DataFrame
        The models table as fitted (index 0..n-1, the target parsed).
    masks : (has_t, has_c, logc)
        Models with a fitted target, models with a FLOPs figure, and their log FLOPs.
    folds : int
        How many of :data:`NESTED_QUANTILES` to cut at.
    refit : callable
        ``refit(train_mask)`` fits the same model on the masked models without the error.

    Returns
    -------
    dict or None
        ``reference``, ``weights`` (kappa x tau x bias grid) and ``n_points``; None when no nested
        fit has at least 8 models below its cutoff and one above.
    """
    has_t, has_c, logc = masks
    ordered = has_t & has_c
    t = frame[target].to_numpy(float)
    residuals, scales, distances = [], [], []
    for q in NESTED_QUANTILES[:folds]:
        cut = np.quantile(logc[ordered], q)
        train, held = ordered & (logc < cut), np.flatnonzero(ordered & (logc >= cut))
        if train.sum() < 8 or held.size == 0:
            continue
        nested = refit(train)
        reference = np.median(nested.linear_predictor(np.flatnonzero(train)), axis=0).max()
        draws = nested.predictive_draws({"row": held}, kind="observed")
        lo, mid, hi = np.quantile(draws, [0.1587, 0.5, 0.8413], axis=0)
        residuals.append(t[held] - mid)
        scales.append((hi - lo) / 2)
        distances.append(np.maximum(np.median(nested.linear_predictor(held), axis=0) - reference, 0.0))
    if not residuals:
        return None
    r, sc, d = (np.concatenate(v) for v in (residuals, scales, distances))
    reference = float(np.median(fit.linear_predictor(np.flatnonzero(has_t)), axis=0).max())
    return {"reference": reference, "weights": error_posterior(r, sc, d, biases=BIAS_GRID), "n_points": int(r.size)}
