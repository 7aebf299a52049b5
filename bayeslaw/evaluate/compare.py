"""Compare fitted laws: PSIS-LOO, extrapolation-aware held-out scores, stacking weights.

Ordinary leave-one-out (``method="loo"``) measures interpolation. Scaling laws are used to
extrapolate, so two held-out scores refit each law without part of the data and score what was
left out:

* ``"largest"`` (leave-largest-out): refit on the runs at or below a cutoff of one input or of
  compute ``C = 6 N D``; score the held-out larger runs. One unit per held-out run.
* ``"family"`` (leave-one-family-out): refit without each family in turn and predict it as a new
  family drawn from the population. One unit per family; a unit's score is the *joint* log
  predictive density of the family's runs, because a family's offset is shared by all its runs.

A unit's log predictive density is ``log mean_s p(y | draw s)`` over posterior draws, in the
likelihood's space (log of the target for ``space = "log"`` laws). Differences to the best fit
have the usual paired standard error ``sqrt(n var(d))``; weights are stacking weights
(Yao et al. 2018) of the units' predictive densities. The refits and the scoring of what they
leave out are :mod:`bayeslaw.evaluate.heldout`'s.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayeslaw.core import progress as progress_bars
from bayeslaw.core._arviz import az
from bayeslaw.core.errors import BayeslawError, ParetoKWarning
from bayeslaw.evaluate.heldout import family_scores, largest_scores
from bayeslaw.results.draws import check_ci_prob, check_seed, interval_columns
from bayeslaw.results.fit import Fit

METHODS = ("loo", "largest", "family")


def check_comparable(fits: Mapping[str, Fit]) -> None:
    """Refuse fits on different data or in different likelihood spaces.

    Raises
    ------
    BayeslawError
        Naming both fits and what differs.
    """
    if not isinstance(fits, Mapping) or len(fits) < 2:
        raise BayeslawError(f"compare needs a dict of at least two fits, got {len(fits) if isinstance(fits, Mapping) else type(fits).__name__}")
    for name, f in fits.items():
        if not isinstance(f, Fit):
            raise BayeslawError(f"compare: {name!r} is not a Fit (got {type(f).__name__})")
    names = list(fits)
    first, ref = names[0], fits[names[0]]
    for name in names[1:]:
        other = fits[name]
        pre = f"cannot compare fits {first!r} and {name!r}"
        s1, s2 = ref.law.likelihood.space, other.law.likelihood.space
        if s1 != s2:
            raise BayeslawError(f"{pre}: their likelihoods are in different spaces ({s1!r} vs {s2!r}); "
                                "scores are comparable only in the same space")
        a, b = ref.table, other.table
        if len(a.target) != len(b.target):
            raise BayeslawError(f"{pre}: they are fitted to different data ({len(a.target)} vs {len(b.target)} runs)")
        columns = [("target", a.target, b.target)]
        columns += [(f"input {k!r}", a.inputs[k], b.inputs[k]) for k in a.inputs if k in b.inputs]
        for what, x, y in columns:
            bad = np.flatnonzero(~np.isclose(np.asarray(x), np.asarray(y), rtol=1e-12, atol=0))
            if bad.size:
                raise BayeslawError(f"{pre}: they are fitted to different data ({what} differs at run "
                                    f"{a.frame.index[bad[0]]}: {x[bad[0]]:g} vs {y[bad[0]]:g})")


def _order(table: pd.DataFrame, units: np.ndarray | None) -> pd.DataFrame:
    """Sort best first; add rank, elpd_diff and dse (paired SE of the difference to the best)."""
    table = table.sort_values("elpd", ascending=False)
    best = table.index[0]
    table.insert(0, "rank", np.arange(len(table)))
    table["elpd_diff"] = table.loc[best, "elpd"] - table["elpd"]
    if units is not None:
        n = units.shape[0]
        d = units[:, [list(table.attrs["order"]).index(best)]] - units
        dse = np.sqrt(n * d.var(axis=0, ddof=1)) if n > 1 else np.full(d.shape[1], np.nan)
        table["dse"] = pd.Series(dse, index=table.attrs["order"])
    return table


def stacking_weights(lpd: np.ndarray, iterations: int = 2000, tol: float = 1e-10) -> np.ndarray:
    """Stacking weights maximising ``sum_i log sum_k w_k exp(lpd[i, k])`` over the simplex.

    The objective is concave; the EM fixed point ``w_k <- mean_i r_ik`` (``r`` the
    responsibilities) climbs it monotonically.
    """
    lpd = np.asarray(lpd, dtype=float)
    k = lpd.shape[1]
    dens = np.exp(lpd - lpd.max(axis=1, keepdims=True))
    w = np.full(k, 1.0 / k)
    for _ in range(iterations):
        r = dens * w
        r /= r.sum(axis=1, keepdims=True)
        new = r.mean(axis=0)
        if np.abs(new - w).max() < tol:
            return new
        w = new
    return w


def _loo(fits: Mapping[str, Fit]) -> pd.DataFrame:
    from bayeslaw.results.persist import to_inference_data

    loos = {}
    for name, f in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # we raise our own, clearer Pareto-k warning
            loos[name] = az.loo(to_inference_data(f), pointwise=True)
    rows = {}
    for name, res in loos.items():
        k = np.asarray(res.pareto_k)
        limit = float(getattr(res, "good_k", 0.7))
        high = np.flatnonzero(k > limit)
        if high.size:
            labels = ", ".join(str(fits[name].table.frame.index[i]) for i in high[:5])
            warnings.warn(f"fit {name!r}: PSIS-LOO is unreliable for {high.size} run(s) with Pareto k > "
                          f"{limit:.2f} (rows {labels}{', ...' if high.size > 5 else ''}); "
                          "use method='largest' or 'family' to refit instead", ParetoKWarning, stacklevel=3)
        rows[name] = {"elpd": float(res.elpd_loo), "se": float(res.se), "p_loo": float(res.p_loo),
                      "pareto_k_max": float(k.max()), "n_high_k": int(high.size)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = az.compare(loos, ic="loo", method="stacking", scale="log")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["weight"] = ranked["weight"].reindex(table.index).astype(float)
    table["dse"] = ranked["dse"].reindex(table.index).astype(float)
    return _order(table, None)


def compare(fits: Mapping[str, Fit], *, method: str = "loo", by: str | None = None,
            cutoff: float | None = None, seed: int = 0, progress: bool | None = None) -> pd.DataFrame:
    """Rank fits of the same runs by expected log predictive density (ELPD).

    Parameters
    ----------
    fits : dict of str to Fit
        At least two fits of the same runs (same targets, in the same order).
    method : {"loo", "largest", "family"}
        ``"loo"``: PSIS-LOO (ArviZ), with a :class:`ParetoKWarning` for unreliable runs.
        ``"largest"``: refit each law on runs with scale ``< cutoff`` and score the others.
        ``"family"``: refit without each family and score it as a new family.
    by : str, optional
        Size key for ``"largest"``: an input column, or ``"C"`` (``6 N D``; the default when the
        runs have N and D, else the first input of the first fit).
    cutoff : float, optional
        Runs with scale at or above it are held out. Default: the largest 20% of runs.
    seed : int
        Seed for predictive draws of held-out runs.
    progress : bool, optional
        A bar over the refits of the held-out methods (see :mod:`bayeslaw.core.progress`).

    Returns
    -------
    DataFrame indexed by fit name, best first: rank, elpd, se, elpd_diff (to the best, >= 0),
    dse (standard error of that difference), weight (stacking); ``"loo"`` adds p_loo,
    pareto_k_max and n_high_k; the held-out methods add mare (mean absolute relative error of the
    posterior-predictive median). ``attrs`` records the method and its settings.

    Raises
    ------
    BayeslawError
        For fits on different data or likelihood spaces, an unknown method or a bad cutoff.
    """
    if method not in METHODS:
        raise BayeslawError(f"method must be one of: {', '.join(METHODS)}; got {method!r}")
    seed = check_seed(seed)
    if method != "largest" and (by is not None or cutoff is not None):
        raise BayeslawError(f"by and cutoff choose the held-out runs of method='largest', not method={method!r}")
    check_comparable(fits)
    if method == "loo":
        table = _loo(fits)
        table.attrs.update(method="loo")
        return table
    first = next(iter(fits.values()))
    total = len(fits) * (1 if method == "largest" else len(first.families))
    with progress_bars.bar(total, f"compare ({method})", progress, unit="refit") as meter:
        lpd, stats, info = (largest_scores(fits, by, cutoff, seed, meter) if method == "largest"
                            else family_scores(fits, seed, meter))
    names = list(fits)
    units = np.stack([lpd[n] for n in names], axis=1)
    n = units.shape[0]
    table = pd.DataFrame({"elpd": units.sum(axis=0),
                          "se": np.sqrt(n * units.var(axis=0, ddof=1)) if n > 1 else np.nan,
                          "weight": stacking_weights(units),
                          "mare": [stats[k]["mare"] for k in names],
                          "n_units": n}, index=pd.Index(names, name="fit"))
    table.attrs.update(order=names)
    table = _order(table, units)
    table.attrs.update(method=method, **info)
    del table.attrs["order"]
    return table


def average_predict(fits: Mapping[str, Fit], weights, rows, *, kind: str = "observed",
                    ci_prob: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """Model-averaged prediction: mix the fits' predictive draws in proportion to ``weights``.

    Parameters
    ----------
    fits : dict of str to Fit
    weights : mapping of fit name to weight, or the DataFrame returned by :func:`compare`
        (its ``weight`` column). Weights are normalised; fits with zero weight are skipped.
    rows : DataFrame or dict
        Runs to predict, with every input any weighted law needs (see :meth:`Fit.predict`).
    kind, ci_prob, seed
        As in :meth:`Fit.predict`.

    Returns
    -------
    DataFrame with the union of the laws' inputs, mean, sd, median, lower, upper.
    """
    ci_prob = check_ci_prob(ci_prob)
    w = weights["weight"] if isinstance(weights, pd.DataFrame) else pd.Series(dict(weights), dtype=float)
    unknown = [n for n in w.index if n not in fits]
    if unknown:
        raise BayeslawError(f"weight given for unknown fit {unknown[0]!r}; fits: {', '.join(fits)}")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise BayeslawError("weights must be non-negative numbers with a positive sum")
    w = w[w > 0] / w[w > 0].sum()
    rng = np.random.default_rng(seed)
    draws = {n: fits[n].predictive_draws(rows, kind=kind, seed=seed) for n in w.index}
    total = max(d.shape[0] for d in draws.values())
    counts = rng.multinomial(total, w.to_numpy())
    parts = [d[rng.choice(d.shape[0], c, replace=c > d.shape[0])] for d, c in zip(draws.values(), counts) if c]
    mixed = np.concatenate(parts, axis=0)
    inputs: dict = {}
    for n in w.index:
        inputs.update(fits[n]._rows(rows).inputs)
    out = pd.DataFrame(inputs)
    for col, values in interval_columns(mixed, ci_prob).items():
        out[col] = values
    out.attrs.update(ci_prob=ci_prob, kind=kind, weights=w.to_dict())
    return out
