"""Calibration of the extrapolation error by nested leave-largest-out refits of a fit's own runs.

A scaling law fitted on small runs is trusted far outside its data. Its posterior knows the
run-to-run noise and the parameter uncertainty, but not whether the form itself bends beyond the
data, and on real data that is the larger error. This module measures that error on the fit's
own runs; :mod:`bayeslaw.results.extrapolation_error` holds its model (an offset ``kappa``, a
change of slope ``tau`` per unit of log distance, a tilt ``eta`` across the key) and carries it
into predictions.

* **Nested leave-largest-out.** The fitted runs are split at a few cutoffs on a size key (compute
  ``C = 6 N D`` by default, or one law input); each time the law is refitted on the runs below the
  cutoff and the runs above are predicted. Residuals ``r`` (in log target), predictive scales
  ``s`` and distances ``d = log(key / largest fitted key)`` are collected. A nested cutoff needs
  at least three distinct key values below it (a floor plus a power of the key has three
  parameters along it; sizes often come in a few discrete values). The nested fits are short HMC
  chains batched in one program (:mod:`bayeslaw.infer.nested_fits`); one whose chains do not mix
  (R-hat above :data:`~bayeslaw.infer.nested_refits.NESTED_R_HAT_LIMIT`) is redone by a full
  refit where a refit function is given (``bl.fit`` gives itself), and otherwise flagged by a
  warning (:mod:`bayeslaw.infer.extrapolation_checks`, with a drift large enough to doubt the law).
* **Nested fits see less than the full fit.** They span a shorter log range of the key, and a
  slope is pinned down in proportion to the range it is fitted on, so their extrapolation
  overstates the full fit's. Each nested distance is stretched by ``full span / nested span``
  (:func:`~bayeslaw.infer.extrapolation_posterior.effective_distances`) before ``tau`` is
  estimated: a nested fit on half the full range extrapolating one unit is read as the full fit
  extrapolating two.
* **The tilt.** At one compute budget, runs with many tokens per parameter and runs with few can
  be missed in opposite directions, which an offset and a slope change along C average away.
* **kappa, tau, eta.** Their joint posterior on log-spaced grids from 1e-4 to 1 (log-uniform
  priors). The held-out rows of one nested fit share that fit's ``z1, z2, z3``, as the rows of
  one prediction do, so each nested fit is one draw of the error: its residuals are
  ``r ~ MultivariateNormal(V m, diag(s^2) + kappa^2 1 1' + tau^2 d_eff d_eff' + eta^2 u u')``
  with ``V = [1, d_eff, u]`` (:func:`~bayeslaw.infer.extrapolation_posterior.shared_error_posterior`).
  Read as independent rows (:func:`~bayeslaw.infer.extrapolation_posterior.error_posterior`),
  three nested fits of 20 rows would look like 60 draws of the error and its interval would be
  far too narrow. The grid posterior is computed in :mod:`bayeslaw.infer.extrapolation_posterior`.
* **The drift m.** Where every nested fit misses its larger runs the same way (a law that bends
  beyond its data), the miss is not noise around zero but a trend of the data the full fit will
  meet too: ``m`` (offset, slope change, tilt), with the prior ``Normal(0, diag(kappa^2, tau^2,
  eta^2))``, moves the full fit's predictions beyond its data. Nested fits that disagree in sign
  leave ``m`` near zero; only the scatter then widens the intervals. Families of one fit each
  get their own drift from that prior (they share the scales): one drift would move every
  family by their average miss, where families whose offsets differ can bend apart.

Only laws whose likelihood is in log space (losses) are supported: the error is multiplicative.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from bayeslaw.core.errors import FitError
from bayeslaw.core.numbers import is_integer
from bayeslaw.infer.extrapolation_checks import warn_if_drifting, warn_if_unmixed
from bayeslaw.infer.extrapolation_posterior import effective_distances, shared_error_posterior
from bayeslaw.infer.nested_refits import (
    make_nested_fits,
    nested_r_hat,
    refit_unconverged,
)
from bayeslaw.infer.settings import check_key
from bayeslaw.results.extrapolation_error import ONSET, ExtrapolationErrorModel
from bayeslaw.results.fit import require_fit
from bayeslaw.results.sizes import key_values, log_sizes, size_axes, tilt_values

DEFAULT_FOLDS = 5
#: the nested cutoffs' range of quantiles of log key
QUANTILES = (0.35, 0.8)
#: how nested fits are made: short HMC chains batched in one program, or full ``bl.fit`` refits
METHODS = ("batched", "mcmc")
MIN_TRAIN_RUNS = 8
#: a floor plus a power of the key has three parameters along it: fewer distinct key values below a
#: nested cutoff cannot identify the slope whose drift is being measured
MIN_DISTINCT_KEYS = 3


#: keys within this relative distance are one size: budgets computed as 6 N D (isoFLOP points)
#: differ in their last digits, and such a "distinct" key would split a budget between a nested
#: fit and its held-out runs, or count as a size of its own (the nested fit's span then is ~1e-10)
KEY_RTOL = 1e-6


def snap_keys(keys: np.ndarray) -> np.ndarray:
    """``keys`` with every cluster of keys within :data:`KEY_RTOL` of its neighbours replaced by
    the cluster's smallest key, so that comparisons and counts of distinct keys see sizes."""
    keys = np.asarray(keys, dtype=float)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.concatenate([[True], np.diff(np.log(ordered)) > KEY_RTOL])
    out = np.empty_like(keys)
    out[order] = ordered[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return out


def nested_cutoffs(keys: np.ndarray, folds: int) -> list[float]:
    """Cutoffs at ``folds`` quantiles of log key spread over :data:`QUANTILES`, snapped to observed
    keys, distinct.

    A cutoff is kept when at least :data:`MIN_TRAIN_RUNS` runs and :data:`MIN_DISTINCT_KEYS`
    distinct key values lie below it (sizes come in a few discrete values on ``N``). ``keys``
    should be snapped (:func:`snap_keys`).
    """
    distinct = np.unique(keys)
    valid = [c for c in distinct if (keys < c).sum() >= MIN_TRAIN_RUNS
             and len(np.unique(keys[keys < c])) >= MIN_DISTINCT_KEYS]
    out = []
    for q in np.linspace(*QUANTILES, folds):
        at = np.exp(np.quantile(np.log(keys), q)) * (1 - 1e-9)  # exp(log(k)) may exceed k
        cutoff = next((float(c) for c in valid if c >= at), None)
        if cutoff is not None and cutoff not in out:
            out.append(cutoff)
    return out


def checked_cutoffs(table, by: str, folds: int = DEFAULT_FOLDS) -> tuple[np.ndarray, list[float]]:
    """The runs' snapped keys and the nested cutoffs, or a FitError when the table is too small
    for any; :func:`bayeslaw.fit` calls it before sampling when the error is asked for by name."""
    keys = snap_keys(key_values(table.inputs, by))
    cutoffs = nested_cutoffs(keys, folds)
    if not cutoffs:
        raise FitError(f"cannot calibrate the extrapolation error: fewer than {MIN_TRAIN_RUNS} runs "
                       f"or {MIN_DISTINCT_KEYS} distinct {by!r} values below every nested cutoff "
                       f"({len(keys)} runs, {len(np.unique(keys))} distinct values in the fit)")
    return keys, cutoffs


def span(keys: np.ndarray) -> float:
    """Log range of keys (natural log of largest over smallest)."""
    return float(np.log(np.max(keys) / np.min(keys)))


def nested_residuals(fit, *, by: str = "C", folds: int = DEFAULT_FOLDS, seed: int | None = None,
                     method: str = "batched", progress: bool | None = None,
                     refit: Callable | None = None, **fit_kwargs) -> pd.DataFrame:
    """Refit the law below nested cutoffs of its own runs and score the runs above.

    Parameters are those of :func:`calibrate`. Returns one row per held-out prediction: the
    nested ``cutoff``, the ``residual`` (observed minus predictive median, log target), the
    predictive ``scale`` (half the central 68% width), the ``distance`` (log key beyond the nested
    fit's largest run), the ``tilt`` (position perpendicular to the key relative to the nested
    fit's runs' median; NaN when the law has no tilt term), the nested fit's ``span`` (log
    range of its keys), ``n_fit`` (runs) and ``r_hat`` (its largest R-hat), and ``row``, the
    held-out row's position in the fit's table.
    """
    check_key(fit.law, by)
    if method not in METHODS:
        raise FitError(f"method must be one of: {', '.join(METHODS)}; got {method!r}")
    if not is_integer(folds) or folds < 1:
        raise FitError(f"folds must be a positive integer, got {folds!r}")
    folds = int(folds)
    table = fit.table
    keys, cutoffs = checked_cutoffs(table, by, folds)
    tilts = tilt_values(table.inputs, by)
    frame = table.frame.reset_index(drop=True)
    families = np.asarray(table.family_index)
    observed = np.log(np.asarray(table.target, dtype=float))
    columns = list(fit.law.input_names) + ([table.group] if table.group else [])
    seed = fit.config["seed"] if seed is None else seed
    held_out = [~(keys < c) & np.isin(families, families[keys < c]) for c in cutoffs]
    cutoffs = [c for c, held in zip(cutoffs, held_out) if held.any()]
    below_cutoffs = [keys < c for c in cutoffs]
    refits = make_nested_fits(fit, below_cutoffs, method, seed, progress, refit, fit_kwargs)
    if method == "batched" and refit is not None:
        refits = refit_unconverged(fit, refits, below_cutoffs, seed, progress, refit, fit_kwargs)
    parts = []
    for cutoff, below, nested in zip(cutoffs, below_cutoffs, refits):
        known = np.isin(families, families[below])  # families the nested fit knows
        held = ~below & known
        # a nested fit predicts every run of its families, so the eager prediction ops see one
        # shape for all nested fits and compile once (a second each per held-out set otherwise)
        draws = np.log(nested.predictive_draws(frame.loc[known, columns], kind="observed", seed=seed))
        draws = draws[:, held[known]]
        lo, mid, hi = np.quantile(draws, [0.1587, 0.5, 0.8413], axis=0)
        tilt = np.nan if tilts is None else tilts[held] - np.median(tilts[below])
        parts.append(pd.DataFrame({
            "cutoff": cutoff, "residual": observed[held] - mid, "scale": (hi - lo) / 2,
            "distance": np.log(keys[held] / keys[below].max()), "tilt": tilt,
            "span": span(keys[below]), "n_fit": int(below.sum()), "r_hat": nested_r_hat(nested),
            "row": np.flatnonzero(held)}))
    if not parts:
        raise FitError("cannot calibrate the extrapolation error: no nested fit had held-out runs "
                       "of a fitted family")
    points = pd.concat(parts, ignore_index=True)
    usable = np.isfinite(points["residual"]) & np.isfinite(points["scale"]) & (points["scale"] > 0)
    if not usable.any():
        raise FitError("cannot calibrate the extrapolation error: no nested fit gave finite "
                       "predictions of its held-out runs")
    return points[usable].reset_index(drop=True)


def calibrate(fit, *, by: str = "C", folds: int = DEFAULT_FOLDS, seed: int | None = None,
              progress: bool | None = None, drift: bool = True, **fit_kwargs) -> ExtrapolationErrorModel:
    """Measure a fit's extrapolation error by nested leave-largest-out refits of its own runs.

    Parameters
    ----------
    fit : Fit
        The fit whose predictions will carry the error.
    by : str
        Size key: ``"C"`` (6 N D, default) or a law input such as ``"N"``.
    folds : int
        Number of nested fits (cutoffs spread over the :data:`QUANTILES` of log key), default 5.
    seed : int, optional
        Seed of the nested fits (default: the fit's own).
    progress : bool, optional
        A bar over the nested refits (see :mod:`bayeslaw.core.progress`).
    drift : bool
        Measure the drift, the miss the nested fits share (one per family where the fit has
        several), and move predictions by it (default); False: a zero-mean error that only
        widens intervals.
    **fit_kwargs
        Override the nested fits' sampler settings (chains, draws, warmup); by default the fit's.

    Returns
    -------
    ExtrapolationErrorModel
    """
    return measure(fit, by=by, folds=folds, seed=seed, progress=progress, drift=drift, **fit_kwargs)[0]


def measure(fit, *, by: str = "C", folds: int = DEFAULT_FOLDS, seed: int | None = None,
            progress: bool | None = None, drift: bool = True,
            **fit_kwargs) -> tuple[ExtrapolationErrorModel, float]:
    """:func:`calibrate`, and the log evidence of the nested fits' held-out residuals under the
    measured error (see :func:`~bayeslaw.infer.extrapolation_posterior.shared_error_posterior`):
    how well the fit's model extrapolates its own runs, comparable between models of the same
    runs. The default nested fits (batched short chains) use the fit's plan, table and run
    encoding, and its draws only for their metric."""
    points = nested_residuals(fit, by=by, folds=folds, seed=seed, progress=progress, **fit_kwargs)
    keys = key_values(fit.table.inputs, by)
    tilts = tilt_values(fit.table.inputs, by)
    n_families = len(fit.families)
    families = np.asarray(fit.table.family_index)[points["row"].to_numpy()] if n_families > 1 else None
    posterior, log_evidence = shared_error_posterior(
        points["residual"].to_numpy(), points["scale"].to_numpy(), effective_distances(points, span(keys)),
        None if tilts is None else points["tilt"].to_numpy(dtype=float), points["cutoff"].to_numpy(),
        drift=drift, families=families, n_families=n_families, evidence=True, onset=ONSET)
    weights, mean, cov = posterior if drift else (posterior, None, None)
    if not (np.all(np.isfinite(weights)) and (mean is None or np.all(np.isfinite(mean)))):
        raise FitError("cannot calibrate the extrapolation error: its posterior over the nested "
                       "residuals is not finite (residuals or scales out of floating-point range)")
    worst = warn_if_unmixed(points, by, stacklevel=3)
    axes = size_axes(fit.law.input_names, by)
    frontier = dict(zip(axes, (float(v) for v in log_sizes(fit.table.inputs, axes).max(axis=0))))
    error = ExtrapolationErrorModel(by, float(np.log(keys.max())), weights, len(points),
                                    tuple(float(c) for c in points["cutoff"].unique()),
                                    None if tilts is None else float(np.median(tilts)), mean, cov,
                                    nested_r_hat=worst, onset=ONSET, frontier=frontier)
    return error, log_evidence


def calibrate_extrapolation(fit, by: str = "C", folds: int = DEFAULT_FOLDS, *,
                            progress: bool | None = None, **fit_kwargs):
    """A copy of ``fit`` whose predictions carry the measured extrapolation error.

    The law is refitted ``folds`` times on the runs below nested cutoffs of a size key and the
    runs above are predicted (leave-largest-out); how far those predictions miss sets the scales
    of a random offset, a random change of log-log slope (growing with the distance beyond the
    fit's largest run) and a random tilt across the key (for C, runs with many vs few tokens per
    parameter missed in opposite directions), around the drift the nested fits share. Predictions
    inside the fitted range are unchanged; beyond it, they move by the drift and their intervals
    widen. :func:`bayeslaw.fit` does this by default (``extrapolation=``).

    Parameters
    ----------
    fit : Fit
        The fit to calibrate.
    by : str
        Size key the distance is measured on: ``"C"`` (6 N D, default) or a law input.
    folds : int
        Number of nested fits (default 5).
    progress : bool, optional
        A bar over the nested refits (default: when someone is watching, see
        :mod:`bayeslaw.core.progress`).
    **fit_kwargs
        Sampler settings of the nested refits (chains, draws, warmup, seed); by default the
        fit's own. ``drift=False`` leaves the centre of predictions where the posterior puts it
        (see :func:`calibrate`).

    Returns
    -------
    Fit
        Same draws; ``extrapolation`` set (and saved with the fit). Its ``timings`` gain
        ``extrapolation_s``, counted into ``total_s``.
    """
    require_fit(fit)
    started = time.perf_counter()
    error = calibrate(fit, by=by, folds=folds, progress=progress, **fit_kwargs)
    warn_if_drifting(error, fit.families)
    timings = dict(fit.timings)
    elapsed = time.perf_counter() - started
    if "total_s" in timings:  # a new measurement replaces the one the fit carried
        timings["total_s"] += elapsed - timings.get("extrapolation_s", 0.0)
    timings["extrapolation_s"] = elapsed
    return replace(fit, timings=timings, config={**fit.config, "extrapolation": error.to_dict()})
