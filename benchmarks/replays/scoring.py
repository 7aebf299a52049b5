"""Fit bayeslaw's default law on the chosen runs and score it on the held-out largest runs."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from peers.metrics import coverage, median_are, relative_interval_score

import bayeslaw as bl

LEVEL = 0.8


@dataclass(frozen=True)
class FitSettings:
    """``bl.fit`` settings of every refit: the law, the MCMC size and the extrapolation error
    (``"auto"``, bl.fit's default; False scores the posterior's own intervals)."""

    law: str = "chinchilla"
    chains: int = 2
    warmup: int = 300
    draws: int = 300
    extrapolation: bool | str = "auto"

    def kwargs(self) -> dict:
        return {"chains": self.chains, "warmup": self.warmup, "draws": self.draws,
                "extrapolation": self.extrapolation}


def fit_runs(runs: pd.DataFrame, settings: FitSettings, seed: int):
    """``bl.fit(law, runs[law's inputs, loss], ...)``, no progress bar, warnings silenced."""
    import bayeslaw as bl

    columns = [*(spec.name for spec in bl.load_law(settings.law).inputs), "loss"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bl.fit(settings.law, runs[columns].reset_index(drop=True), seed=seed,
                      progress=False, **settings.kwargs())


def n_opt(fit, compute: float, seed: int) -> float:
    """Posterior median of the compute-optimal N at ``compute`` FLOPs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bl.optimal_allocation(fit, compute, seed=seed)
    return float(table.xs("N_opt", level="quantity")["median"].iloc[0])


def score(fit, target: pd.DataFrame, compute: float, n_star_full: float | None, seed: int) -> dict:
    """80% relative interval score (%), coverage and median ARE (%) on ``target``; N* at
    ``compute`` and its distance to ``n_star_full`` in decades; the fit's divergences."""
    observed = target["loss"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = fit.predict(target[["N", "D"]].reset_index(drop=True), kind="observed", ci_prob=LEVEL, seed=seed)
    lower, upper = pred["lower"].to_numpy(), pred["upper"].to_numpy()
    star = n_opt(fit, compute, seed)
    return {"interval_score_80": relative_interval_score(lower, upper, observed, LEVEL),
            "coverage_80": coverage(lower, upper, observed),
            "median_are": 100.0 * median_are(pred["median"].to_numpy(), observed),
            "n_star": star,
            "n_star_error_dec": None if n_star_full is None else float(abs(np.log10(star / n_star_full))),
            "divergences": int(fit.divergences)}


def timed_fit(runs: pd.DataFrame, settings: FitSettings, seed: int):
    """:func:`fit_runs` and its wall time in seconds."""
    start = time.perf_counter()
    fit = fit_runs(runs, settings, seed)
    return fit, time.perf_counter() - start
