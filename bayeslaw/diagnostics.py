"""Convergence diagnostics (ArviZ): rank-normalised R-hat, bulk and tail ESS, and warnings."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._arviz import az
from .errors import ConvergenceWarning

RHAT_LIMIT = 1.01  # Vehtari et al. (2021)
ESS_PER_CHAIN = 100


def diagnose(draws: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """R-hat and ESS of every element of every array (chains, draws, ...).

    Returns
    -------
    DataFrame indexed by quantity (``alpha``, ``E_family[2]``) with columns r_hat, ess_bulk,
    ess_tail.
    """
    arrays = {k: np.asarray(v) for k, v in draws.items()}
    first = next(iter(arrays.values()))
    if first.shape[0] < 2 or first.shape[1] < 4:  # ArviZ needs 2+ chains and 4+ draws
        rows = [(f"{k}[{i}]" if v.ndim > 2 else k) for k, v in arrays.items() for i in range(int(np.prod(v.shape[2:])))]
        return pd.DataFrame({"r_hat": np.nan, "ess_bulk": np.nan, "ess_tail": np.nan},
                            index=pd.Index(rows, name="quantity"))
    dataset = az.convert_to_dataset(arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant draws give NaN R-hat
        rhat = az.rhat(dataset)
        bulk = az.ess(dataset, method="bulk")
        tail = az.ess(dataset, method="tail")
    rows = []
    for name in dataset.data_vars:
        values = [np.atleast_1d(np.asarray(d[name])).ravel() for d in (rhat, bulk, tail)]
        for i in range(values[0].size):
            label = name if np.ndim(rhat[name]) == 0 else f"{name}[{i}]"
            rows.append((label, values[0][i], values[1][i], values[2][i]))
    return pd.DataFrame(rows, columns=["quantity", "r_hat", "ess_bulk", "ess_tail"]).set_index("quantity")


def problems(diag: pd.DataFrame, divergences: int, chains: int, target_accept: float) -> list[str]:
    """Plain-language problems with the sampler's output, each saying what to do."""
    found = []
    if chains > 1 and diag["r_hat"].notna().any():
        worst = diag["r_hat"].idxmax()
        if diag.loc[worst, "r_hat"] > RHAT_LIMIT:
            found.append(
                f"R-hat reaches {diag.loc[worst, 'r_hat']:.3f} for {worst} (limit {RHAT_LIMIT}): the chains "
                "disagree; draw more (e.g. warmup=2000, draws=2000) or tighten the priors/pooling"
            )
    if diag["ess_bulk"].notna().any():
        low = diag["ess_bulk"].idxmin()
        if diag.loc[low, "ess_bulk"] < ESS_PER_CHAIN * chains:
            found.append(
                f"bulk ESS is only {diag.loc[low, 'ess_bulk']:.0f} for {low} (want >= {ESS_PER_CHAIN} per chain): "
                "intervals are noisy; increase draws"
            )
    if divergences:
        found.append(
            f"{divergences} divergent transitions after warmup: the sampler could not explore part of the "
            f"posterior; raise target_accept (now {target_accept:g}, try 0.95) or share parameters that "
            "few families inform"
        )
    return found


def warn_if_unreliable(diag: pd.DataFrame, divergences: int, chains: int, target_accept: float) -> None:
    """Emit one ConvergenceWarning per problem found."""
    for message in problems(diag, divergences, chains, target_accept):
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
