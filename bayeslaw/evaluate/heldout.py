"""Held-out scores of fitted laws: refit without part of the runs and score what was left out.

The two held-out methods of :func:`bayeslaw.evaluate.compare.compare`: leave-largest-out
(:func:`largest_scores`, one unit per held-out run) and leave-one-family-out
(:func:`family_scores`, one unit per family). A unit's log predictive density is
``log mean_s p(y | draw s)`` over the refit's posterior draws, in the likelihood's space.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayeslaw.core.errors import BayeslawError, DataError, FitError
from bayeslaw.core.numbers import is_real
from bayeslaw.data.runs import RunsTable, encode_rows
from bayeslaw.modeling.build import family_draws, pointwise_log_likelihood
from bayeslaw.results.fit import Fit

#: share of runs held out by ``method="largest"`` when no cutoff is given
HOLDOUT_SHARE = 0.2


def refit(fit: Fit, runs, **overrides) -> Fit:
    """Fit ``fit``'s law again on other runs with the same target, group, pooling and sampler.

    Centring (``centered``) is chosen afresh from the new runs unless given in ``overrides``,
    since the default depends on how many runs each family has.

    Parameters
    ----------
    fit : Fit
        The fit whose law and settings to reuse.
    runs : DataFrame
        The runs to fit.
    **overrides
        Any keyword of :func:`bayeslaw.fit` to change (e.g. ``pooling``, ``seed``).
    """
    from bayeslaw.infer.fit import (
        fit as fit_law,
        # fit.py imports results.py; keep this module light,
    )

    cfg = fit.config
    kwargs = {"target": fit.table.target_name, "group": fit.table.group,
              "run": cfg.get("run") or False,  # the fit's own run column, or none (not re-detected)
              "pooling": fit.plan.pooling_map if fit.plan.n_families > 1 else None}
    kwargs.update({k: cfg[k] for k in ("chains", "draws", "warmup", "seed", "target_accept", "sampler", "steps")
                   if k in cfg})
    kwargs.update(overrides)
    if kwargs.get("sampler") == "nuts" and "steps" not in overrides:  # the fit's HMC path length
        kwargs.pop("steps", None)
    return fit_law(fit.law, runs, **kwargs)


def heldout_draws(train: Fit, runs: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise log-likelihood (S, R) and observed-kind predictive draws (S, R) of held-out runs.

    Runs of a family the training fit has not seen are predicted as a new family.
    """
    runs = runs.copy()
    group = train.table.group
    if group is not None:
        runs[group] = [v if str(v) in train.families else None for v in runs[group]]
        runs[group] = runs[group].astype(object)
    columns = list(train.law.input_names) + ([group] if group is not None else [])
    rows = encode_rows(runs[columns], {i.name: i.positive for i in train.law.inputs}, group, train.families)
    key = jax.random.PRNGKey(int(seed))
    params = family_draws(train.plan, train._flat_samples, jnp.asarray(rows.family_index),
                          train._logref_jnp, key)
    x = {k: jnp.asarray(v) for k, v in rows.inputs.items()}
    y = jnp.asarray(runs[train.table.target_name].to_numpy(dtype=float))
    ll = np.asarray(pointwise_log_likelihood(train.plan, params, x, y, train._logref_jnp))
    pred = train.predictive_draws(rows, kind="observed", seed=seed)
    return ll, pred


def log_mean_exp(x: np.ndarray, axis: int = 0) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.mean(np.exp(x - m), axis=axis))


def scale_of(fit: Fit, by: str | None) -> tuple[str, np.ndarray]:
    """The scale that orders runs for leave-largest-out: an input column or compute ``C``."""
    return table_scale(fit.table, by)


def check_fit_keywords(kwargs: Mapping, caller: str, taken: tuple[str, ...] = ()) -> None:
    """Refuse, before any fit, keywords that ``caller`` would pass on to :func:`bayeslaw.fit` and
    that it does not take (``chainz=2`` was fit()'s raw TypeError after the caller's checks), or
    that the caller sets itself (``taken``)."""
    from bayeslaw.infer.fit import fit  # kept light, as refit

    known = [name for name in inspect.signature(fit).parameters if name not in ("law", "runs", *taken)]
    unknown = [name for name in kwargs if name not in known]
    if unknown:
        raise FitError(f"{caller} passes keywords on to bayeslaw.fit, which has no {unknown[0]!r} there; "
                       f"it takes: {', '.join(known)}")


def refuse_outcome_key(by, target: str | None, group: str | None) -> None:
    """Refuse the target (or the family column) as the size key: runs held out by their own
    outcome (the lowest losses) make ARE, coverage and a ranking meaningless as a test of
    extrapolation, and families are not sizes."""
    if by is not None and (not isinstance(by, str) or not by.strip()):  # a list was a raw TypeError
        raise DataError(f"by must be a size column name (str) such as 'C', got {by!r}")
    if by is not None and by in (target, group):
        role = "target" if by == target else "family column"
        raise DataError(f"cannot hold out runs by the {role} {by!r}: a held-out test splits on a size "
                        "key (C, N or D), not on the runs' outcome or family")


def table_scale(table: RunsTable, by: str | None) -> tuple[str, np.ndarray]:
    """:func:`scale_of` for a validated runs table (checked before any fit is made)."""
    frame = table.frame
    refuse_outcome_key(by, table.target_name, table.group)
    if by is None:
        by = "C" if {"N", "D"} <= set(frame.columns) and "C" not in frame.columns else None
        by = by or ("C" if "C" in frame.columns else next(iter(table.inputs)))
    if by in frame.columns:
        return by, frame[by].to_numpy(dtype=float)
    if by == "C" and {"N", "D"} <= set(frame.columns):
        return by, 6.0 * frame["N"].to_numpy(dtype=float) * frame["D"].to_numpy(dtype=float)
    cols = ", ".join(str(c) for c in frame.columns)
    raise BayeslawError(f"cannot hold out the largest runs by {by!r}: no such column (columns: {cols}; "
                        "'C' is computed as 6*N*D when N and D are present)")


def check_cutoff(cutoff) -> float:
    """A held-out cutoff as a float; anything but a finite number (the string '1e21', a bool) is
    a DataError, shared by :func:`holdout_split` and :func:`bayeslaw.backtest`."""
    if not is_real(cutoff) or not np.isfinite(cutoff):
        raise DataError(f"cutoff must be a finite number, got {cutoff!r}")
    return float(cutoff)


def holdout_split(table: RunsTable, by: str | None, cutoff: float | None) -> tuple[str, float, np.ndarray]:
    """``(by, cutoff, held_out)`` of leave-largest-out on a validated runs table: the size key,
    the cutoff (default: the largest :data:`HOLDOUT_SHARE` of runs) and a mask of the runs it
    holds out.

    Raises
    ------
    BayeslawError
        For an unknown size key, or a cutoff that leaves no run to score or fewer than 3 to fit.
    """
    by, scale = table_scale(table, by)
    if cutoff is not None:
        cutoff = check_cutoff(cutoff)
    if cutoff is None:  # the largest HOLDOUT_SHARE of runs (rounded up)
        cutoff = float(np.sort(scale)[len(scale) - int(np.ceil(HOLDOUT_SHARE * len(scale)))])
    test = scale >= cutoff
    if test.sum() == 0 or (~test).sum() < 3:
        raise BayeslawError(f"cutoff {cutoff:g} on {by!r} leaves {int((~test).sum())} runs to fit and "
                            f"{int(test.sum())} to score; choose a cutoff between {scale.min():g} and {scale.max():g}")
    return by, cutoff, test


def check_families(table: RunsTable) -> None:
    """Refuse leave-one-family-out on a table without a group column or with one family."""
    if table.group is None or len(table.families) < 2:
        raise BayeslawError("method='family' needs fits with a group column and at least two families")


def largest_scores(fits: Mapping[str, Fit], by: str | None, cutoff: float | None, seed: int,
                   meter) -> tuple[dict, dict, dict]:
    """Leave-largest-out: refit each fit on the runs below ``cutoff`` on ``by`` and score the
    others, one unit per held-out run; returns the units' log predictive densities and the mean
    absolute relative error per fit, and the settings used. ``meter`` counts the refits."""
    by, cutoff, test = holdout_split(next(iter(fits.values())).table, by, cutoff)
    lpd, stats = {}, {}
    for name, f in fits.items():
        frame = f.table.frame
        train = refit(f, frame.loc[~test])
        ll, pred = heldout_draws(train, frame.loc[test], seed)
        y = np.asarray(f.table.target)[test]
        lpd[name] = log_mean_exp(ll)
        stats[name] = {"mare": float(np.mean(np.abs(np.median(pred, axis=0) - y) / np.abs(y)))}
        meter.update()
    return lpd, stats, {"by": by, "cutoff": cutoff, "n_heldout": int(test.sum())}


def family_scores(fits: Mapping[str, Fit], seed: int, meter) -> tuple[dict, dict, dict]:
    """Leave-one-family-out: refit each fit without each family and score the family as a new
    one, one unit per family (the joint density of its runs); returns as :func:`largest_scores`."""
    first = next(iter(fits.values()))
    for name, f in fits.items():  # every fit, before the first refit: a later one failed minutes in
        check_families(f.table)
        if (f.table.group, tuple(f.families)) != (first.table.group, tuple(first.families)):
            raise BayeslawError(f"method='family' needs fits grouped alike: {next(iter(fits))!r} groups by "
                                f"{first.table.group!r} ({', '.join(first.families)}), {name!r} by "
                                f"{f.table.group!r} ({', '.join(f.families)})")
    lpd = {n: [] for n in fits}
    err = {n: [] for n in fits}
    for name, f in fits.items():
        frame, group = f.table.frame, f.table.group
        labels = frame[group].astype(str).to_numpy()
        for family in first.families:
            out = labels == family
            train = refit(f, frame.loc[~out])
            ll, pred = heldout_draws(train, frame.loc[out], seed)
            y = np.asarray(f.table.target)[out]
            lpd[name].append(float(log_mean_exp(ll.sum(axis=1))))  # joint over the family's runs
            err[name].append(np.abs(np.median(pred, axis=0) - y) / np.abs(y))
            meter.update()
    stats = {n: {"mare": float(np.mean(np.concatenate(err[n])))} for n in fits}
    return {n: np.asarray(v) for n, v in lpd.items()}, stats, {"n_families": len(first.families)}
