"""Decision quantities for planned runs: probabilities of beating a target or another plan, and
precision choices at a memory budget.

Everything here works per posterior draw, so every answer carries the posterior's uncertainty:

* :func:`prob_below`, :func:`prob_better` — P(loss < target) for a planned run, and P(plan A
  beats plan B) computed on the *same* posterior draws (paired).
* :func:`plan_precision` — rank (model size, training bits) choices at a fixed memory budget by
  predicted loss, for a law with a precision input ``P`` (``models/precision.toml``).

The compute-optimal allocation at a FLOP budget is in :mod:`bayeslaw.decide.allocation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayeslaw.core.errors import PredictionError
from bayeslaw.core.numbers import is_real
from bayeslaw.data.frames import as_frame
from bayeslaw.decide.allocation import _budgets, _family_index
from bayeslaw.results.draws import check_ci_prob, interval_columns
from bayeslaw.results.fit import NEW_FAMILY, require_fit

# -- decision quantities --------------------------------------------------------------------------

def _frame(rows, what: str) -> pd.DataFrame:
    return as_frame(rows, what).reset_index(drop=True)


def prob_below(fit, rows, target: float, *, kind: str = "observed", seed: int = 0) -> pd.DataFrame:
    """Probability that each planned run's loss falls below ``target``.

    Parameters
    ----------
    rows : DataFrame, dict or list of dicts
        Planned runs, as for :meth:`Fit.predict`.
    target : float
        The loss to beat.
    kind : {"observed", "law"}
        ``observed`` (default) includes run-to-run noise.

    Returns
    -------
    DataFrame with the inputs, the family, ``median`` and ``prob`` = P(loss < target).
    """
    if not is_real(target) or not np.isfinite(target):
        raise PredictionError(f"target must be a finite number, got {target!r}")
    table = fit._rows(_frame(rows, "rows"), warn_families=True)
    draws = fit.predictive_draws(table, kind=kind, seed=seed)
    out = pd.DataFrame(dict(table.inputs), index=table.frame.index)
    out["family"] = [fit.families[i] if i >= 0 else NEW_FAMILY for i in table.family_index]
    out["median"] = np.median(draws, axis=0)
    out["prob"] = (draws < target).mean(axis=0)
    out.attrs.update(target=float(target), kind=kind)
    return out


def prob_better(fit, plan_a, plan_b, kind: str = "observed", *, seed: int = 0):
    """Probability that plan A ends with a lower loss than plan B, on paired posterior draws.

    Both plans are predicted on the same posterior draws (and, for a new family, the same new
    family), so the uncertainty they share cancels in the comparison. Run noise is drawn
    independently per run (``kind="observed"``); the plans swap noise draws in a second pass so
    that ``prob_better(A, B) + prob_better(B, A) == 1`` exactly when both share the noise
    parameters (sigma, df). A draw in which the two tie (the same plan, or ``kind="law"`` where
    the law cannot tell them apart) counts one half: identical plans are 0.5, not 0.

    Parameters
    ----------
    plan_a, plan_b : dict or DataFrame
        One run each, or the same number of runs each (compared row by row).
    kind : {"observed", "law"}

    Returns
    -------
    float for one pair, else ndarray with one probability per pair.
    """
    require_fit(fit)
    a, b = _frame(plan_a, "plan_a"), _frame(plan_b, "plan_b")
    if len(a) != len(b):
        raise PredictionError(f"plan_a has {len(a)} rows and plan_b {len(b)}; give the same number of rows")
    n = len(a)
    for plan, name in ((a, "plan_a"), (b, "plan_b")):  # errors and warnings name the plan
        fit._rows(plan, what=name, warn_families=True)
    ab = fit.predictive_draws(fit._rows(pd.concat([a, b], ignore_index=True)), kind=kind, seed=seed)
    ba = fit.predictive_draws(fit._rows(pd.concat([b, a], ignore_index=True)), kind=kind, seed=seed)
    # Averaging over both orders gives each plan each row's noise draw once, so that
    # prob_better(A, B) + prob_better(B, A) = 1 exactly, not just in expectation; ties count half.
    def lower(x, y):
        return (x < y).mean(axis=0) + 0.5 * (x == y).mean(axis=0)

    prob = 0.5 * (lower(ab[:, :n], ab[:, n:]) + lower(ba[:, n:], ba[:, :n]))
    return float(prob[0]) if len(a) == 1 else prob


# -- precision-aware planning ---------------------------------------------------------------------

def plan_precision(fit, memory_gb: float | Sequence[float], bits: Sequence[float] = (4, 8, 16), *,
                   D: float, family: str | None = None, kind: str = "observed", ci_prob: float = 0.9,
                   seed: int = 0) -> pd.DataFrame:
    """Rank (model size, training precision) choices that fill a memory budget by predicted loss.

    For each budget and precision, ``N = memory_gb * 8e9 / bits`` parameters fit in the weights'
    memory; the law (with a precision input ``P``, see ``models/precision.toml``) predicts the
    loss after ``D`` tokens. Answers "is a larger 4-bit model better than a smaller 16-bit one?".

    Returns
    -------
    DataFrame, one row per (memory_gb, bits), with N, D, P, mean, sd, median, lower, upper,
    ``prob_best`` (paired probability that this choice has the lowest loss at its budget) and
    ``rank`` (1 = lowest median loss), sorted by budget then rank.
    """
    ci_prob = check_ci_prob(ci_prob)
    if "P" not in fit.law.input_names or "N" not in fit.law.input_names:
        raise PredictionError(f"law {fit.law.name!r} has no precision input 'P'; fit a law such as "
                              "'precision' (inputs N, D, P)")
    memory = _budgets(memory_gb, "memory_gb", "memory sizes in GB")
    bit_values = np.asarray(bits, dtype=float)
    if bit_values.ndim != 1 or bit_values.size == 0 or np.any(~np.isfinite(bit_values)) or np.any(bit_values <= 0):
        raise PredictionError(f"bits must be one or more positive numbers, got {bits!r}")
    rows = pd.DataFrame([(m, b) for m in memory for b in bit_values], columns=["memory_gb", "bits"])
    rows["N"] = rows["memory_gb"] * 8e9 / rows["bits"]
    rows["D"] = float(D)
    rows["P"] = rows["bits"]
    group = fit.table.group
    if family is not None:
        _family_index(fit, family)
    if group is not None and group not in rows.columns:
        rows[group] = family
    draws = fit.predictive_draws(rows, kind=kind, seed=seed)
    for col, values in interval_columns(draws, ci_prob).items():
        rows[col] = values
    rows["prob_best"] = 0.0
    for m in memory:
        sel = np.flatnonzero(rows["memory_gb"].to_numpy() == m)
        winner = np.argmin(draws[:, sel], axis=1)
        rows.loc[sel, "prob_best"] = np.bincount(winner, minlength=sel.size) / draws.shape[0]
    rows["rank"] = rows.groupby("memory_gb")["median"].rank(method="first").astype(int)
    if group is not None and group in rows.columns:
        rows = rows.rename(columns={group: "family"})
        rows["family"] = NEW_FAMILY if family is None else str(family)
    rows.attrs.update(ci_prob=ci_prob, kind=kind)
    return rows.sort_values(["memory_gb", "rank"]).reset_index(drop=True)
