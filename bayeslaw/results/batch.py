"""Many fits at once, read together: one convergence table, one summary table, one warning.

:func:`bayeslaw.fit_many` returns ordinary :class:`~bayeslaw.Fit` objects; these helpers look at
all of them in one pass (one vectorised diagnosis of the stacked draws, not one per fit).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayeslaw.core.errors import ConvergenceWarning
from bayeslaw.results.diagnostics import (
    ESS_PER_CHAIN,
    ONE_CHAIN,
    RHAT_LIMIT,
    diagnose,
    divergence_remedy,
)
from bayeslaw.results.fit import Fit


def diagnose_many(fits: Sequence[Fit]) -> pd.DataFrame:
    """Convergence summary of many fits of one plan, diagnosed in one vectorised pass.

    Parameters
    ----------
    fits : list of Fit
        Fits with the same sampled sites and numbers of chains and draws (as :func:`fit_many`
        returns); a site may have fewer values in some fits (their own runs' offsets).

    Returns
    -------
    DataFrame indexed by fit label with ``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail`` over
    the sampled quantities and ``divergences``.
    """
    sites = fits[0].sampled_sites()
    # the fit axis goes after (chain, draw): one more parameter dimension to diagnose; a fit
    # with fewer values of a site is padded with NaN, which the reductions below skip
    arrays = {k: _stack([np.asarray(f.samples[k], dtype=float) for f in fits]) for k in sites}
    diag = diagnose(arrays)
    n = len(fits)
    columns = {"r_hat": [], "ess_bulk": [], "ess_tail": []}
    start = 0
    for k in sites:
        size = int(np.prod(arrays[k].shape[2:]))
        block = diag.iloc[start:start + size]
        start += size
        for col, parts in columns.items():
            parts.append(block[col].to_numpy().reshape(n, -1))
    stacked = {col: np.concatenate(parts, axis=1) for col, parts in columns.items()}
    labels = [f.config.get("batch_label", i) for i, f in enumerate(fits)]
    with warnings.catch_warnings():  # one chain: every R-hat is NaN, and so is their max (said by the caller)
        warnings.simplefilter("ignore", RuntimeWarning)
        return pd.DataFrame({"max_r_hat": np.nanmax(stacked["r_hat"], axis=1),
                             "min_ess_bulk": np.nanmin(stacked["ess_bulk"], axis=1),
                             "min_ess_tail": np.nanmin(stacked["ess_tail"], axis=1),
                             "divergences": [f.divergences for f in fits]},
                            index=pd.Index(labels, name="fit"))


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """(chains, draws, fits, values): each fit's values flattened, NaN after its own."""
    flat = [a.reshape(a.shape[:2] + (-1,)) for a in arrays]
    if len({a.shape for a in flat}) == 1:
        return np.stack(arrays, axis=2)
    width = max(a.shape[2] for a in flat)
    return np.stack([np.pad(a, ((0, 0), (0, 0), (0, width - a.shape[2])), constant_values=np.nan)
                     for a in flat], axis=2)


def warn_if_unreliable(fits: list[Fit], chains: int, target_accept: float) -> None:
    """One :class:`ConvergenceWarning` for the whole batch, listing the fits with problems.

    The batch form of :func:`bayeslaw.results.diagnostics.warn_if_unreliable`: the same checks
    and limits (R-hat above :data:`RHAT_LIMIT`, bulk or tail ESS below :data:`ESS_PER_CHAIN` per chain,
    divergences, one chain), judged on each fit's worst quantity (:func:`diagnose_many`) and
    reported as one message naming the fits, not one warning per problem of each fit.
    """
    diag = diagnose_many(fits)
    found = []
    if chains < 2:
        found.append(ONE_CHAIN)
    else:
        bad = np.flatnonzero(diag["max_r_hat"].to_numpy() > RHAT_LIMIT)
        if bad.size:
            found.append(f"R-hat above {RHAT_LIMIT} in {bad.size} fit(s) {_labels(fits, bad)}")
    for kind in ("bulk", "tail"):
        low = np.flatnonzero(diag[f"min_ess_{kind}"].to_numpy() < ESS_PER_CHAIN * chains)
        if low.size:
            found.append(f"{kind} ESS below {ESS_PER_CHAIN} per chain in {low.size} fit(s) {_labels(fits, low)}")
    div = np.flatnonzero(diag["divergences"].to_numpy())
    if div.size:
        found.append(f"divergent transitions in {div.size} fit(s) {_labels(fits, div)}; "
                     f"{divergence_remedy(target_accept)}")
    if found:
        warnings.warn(f"{len(fits)} fits: " + "; ".join(found) + ". Check each with "
                      "diagnose_many(fits) or fit.diagnostics()", ConvergenceWarning, stacklevel=3)


def _labels(fits: list[Fit], index: np.ndarray, most: int = 5) -> str:
    names = [repr(fits[i].config["batch_label"]) for i in index[:most]]
    return "(" + ", ".join(names) + (", ..." if index.size > most else "") + ")"


def summarize_many(fits: Sequence[Fit], ci_prob: float = 0.9) -> pd.DataFrame:
    """One tidy table of many fits' summaries.

    Parameters
    ----------
    fits : list of Fit
        From :func:`fit_many` (labelled by ``batch_label``) or any fits (labelled 0..n-1).
    ci_prob : float
        Credible-interval probability (default 0.9).

    Returns
    -------
    DataFrame indexed by (fit, parameter, family) with the columns of :meth:`Fit.summary` plus
    ``divergences`` (the fit's count, repeated on each of its rows).
    """
    frames = []
    for i, fit in enumerate(fits):
        frame = fit.summary(ci_prob=ci_prob)
        frame["divergences"] = fit.divergences
        frames.append(frame)
    labels = [fit.config.get("batch_label", i) for i, fit in enumerate(fits)]
    out = pd.concat(frames, keys=labels, names=["fit"])
    out.attrs["ci_prob"] = ci_prob
    return out
