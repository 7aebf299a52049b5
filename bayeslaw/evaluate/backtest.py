"""Backtest a law: fit on the small runs, predict the held-out larger ones, score the intervals.

This is how the product's promise is measured: a 90% interval for a held-out larger run should
contain it about 90% of the time, and its median should be close (absolute relative error, ARE).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.data.runs import read_runs
from bayeslaw.data.where import filter_runs
from bayeslaw.evaluate.heldout import check_cutoff, check_fit_keywords, refuse_outcome_key
from bayeslaw.laws.law import Law, load_law, with_noise_trend
from bayeslaw.results.fit import NEW_FAMILY, Fit, require_fit

DEFAULT_LEVELS = (0.5, 0.8, 0.95)


def _levels(ci_probs: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(p) for p in np.atleast_1d(ci_probs))
    if not levels or not all(0 < p < 1 for p in levels):
        raise PredictionError(f"ci_probs must be numbers in (0, 1), got {ci_probs!r}")
    return tuple(sorted(set(levels)))


def split_key(frame: pd.DataFrame, by: str) -> np.ndarray:
    """Values the cutoff applies to: column ``by``, or 6 N D for ``by="C"`` without a C column."""
    if by in frame.columns:
        values = pd.to_numeric(frame[by], errors="coerce").to_numpy(dtype=float)
    elif by == "C" and {"N", "D"} <= set(frame.columns):
        values = 6.0 * pd.to_numeric(frame["N"], errors="coerce").to_numpy(dtype=float) * \
            pd.to_numeric(frame["D"], errors="coerce").to_numpy(dtype=float)
    else:
        hint = " (or columns N and D, for C = 6ND)" if by == "C" else ""
        raise DataError(f"backtest column {by!r} is not in the runs table{hint}; columns: "
                        f"{', '.join(map(str, frame.columns))}")
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"column {by!r} has missing or non-numeric values in rows: "
                        f"{', '.join(map(str, frame.index[bad][:5]))}")
    return values


@dataclass
class Backtest:
    """Result of :func:`backtest`: the fit on the small runs and the scored held-out runs.

    Attributes
    ----------
    fit : Fit
        Fit on the runs below the cutoff.
    table : DataFrame
        One row per held-out run: its inputs, family, observed target, median, ``are``, and for
        each level p the bounds ``lower_p``/``upper_p`` and the flag ``inside_p``.
    cutoff, by, ci_probs
        As given.
    """

    fit: Fit
    table: pd.DataFrame
    cutoff: float
    by: str
    ci_probs: tuple[float, ...]
    n_train: int

    @property
    def median_are(self) -> float:
        """Median absolute relative error of the held-out runs' predictive medians."""
        return float(np.median(self.table["are"]))

    @property
    def coverage(self) -> pd.Series:
        """Share of held-out runs inside the predictive interval, per nominal level."""
        return pd.Series({p: float(self.table[f"inside_{p:g}"].mean()) for p in self.ci_probs},
                         name="coverage")

    def summary(self) -> pd.DataFrame:
        """The scores as one row: law, by, cutoff, n_train, the extrapolation error's medians
        (``extrapolation_kappa``, ``_tau``, ``_eta``; None without one), n_heldout, median_are and
        ``coverage_<p>`` per level p."""
        error = self.fit.extrapolation
        row = {"law": self.fit.law.name, "by": self.by, "cutoff": self.cutoff, "n_train": self.n_train,
               "extrapolation_kappa": None if error is None else error.kappa_median,
               "extrapolation_tau": None if error is None else error.tau_median,
               "extrapolation_eta": None if error is None else error.eta_median,
               "n_heldout": len(self.table), "median_are": self.median_are}
        row.update({f"coverage_{p:g}": c for p, c in self.coverage.items()})
        return pd.DataFrame([row])

    def plot_calibration(self, ax=None):
        """Nominal against empirical coverage, with the diagonal and a binomial 90% band."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        nominal = np.array(self.ci_probs)
        n = len(self.table)
        grid = np.linspace(0, 1, 101)
        half = 1.645 * np.sqrt(grid * (1 - grid) / max(n, 1))
        ax.fill_between(grid, np.clip(grid - half, 0, 1), np.clip(grid + half, 0, 1), color="0.85",
                        label=f"sampling band (n={n})")
        ax.plot([0, 1], [0, 1], color="0.4", lw=1, ls="--")
        ax.plot(nominal, self.coverage.to_numpy(), "o-", label=f"{self.fit.law.name}, cutoff {self.cutoff:g}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("nominal interval probability")
        ax.set_ylabel("empirical coverage of held-out runs")
        ax.legend(loc="upper left")
        return ax


def _noise(law: Law) -> str:
    trend = law.likelihood.trend_input
    return "one noise scale" if trend is None else f"a noise trend on {trend!r}"


def _check_fitted(fitted: Fit, law: Law, train: pd.DataFrame, target: str, cutoff: float, by: str) -> None:
    require_fit(fitted, "fitted")
    """Refuse a fit that is not the fit of these runs below the cutoff."""
    if fitted.law.name != law.name:
        raise DataError(f"fitted is a fit of law {fitted.law.name!r}, not of {law.name!r}")
    if fitted.law.likelihood.trend_input != law.likelihood.trend_input:
        raise DataError(f"fitted has {_noise(fitted.law)}, this backtest {_noise(law)}")
    mine = np.sort(np.asarray(fitted.table.target, dtype=float))
    theirs = np.sort(pd.to_numeric(train[target], errors="coerce").to_numpy(dtype=float))
    if len(mine) != len(theirs) or not np.allclose(mine, theirs, rtol=1e-12, atol=0.0):
        raise DataError(f"fitted was fitted on {len(mine)} runs that are not the {len(theirs)} runs "
                        f"below the cutoff {cutoff:g} on {by!r}; pass the fit of those runs")


def backtest(law: str | os.PathLike | Law, runs, cutoff: float, *, by: str = "C", target: str = "loss",
             group: str | None = None, ci_probs: Sequence[float] = DEFAULT_LEVELS, seed: int = 0,
             extrapolation: str | bool | None = "auto", fitted: Fit | None = None,
             where: str | None = None, progress: bool | None = None, **fit_kwargs) -> Backtest:
    """Fit on the runs below a cutoff and score the predictions of the runs at or above it.

    Parameters
    ----------
    law : str, path or Law
    runs : DataFrame or path to a CSV file
    cutoff : float
        Runs with ``by < cutoff`` are fitted; the others are held out and predicted.
    by : str
        Column the cutoff applies to; ``"C"`` (default) uses 6 N D when there is no C column.
    target, group
        As for :func:`bayeslaw.fit`. Held-out runs of a family absent from the fitted runs are
        predicted as a new family.
    ci_probs : sequence of float
        Nominal levels of the predictive intervals scored (default 0.5, 0.8, 0.95).
    seed : int
        Seed of the fit and of the predictive draws.
    extrapolation : {"auto", "C", input name, False or None}
        The extrapolation error the predictions carry, measured on the fitted runs only, as
        :func:`bayeslaw.fit` does: ``"auto"`` (default) as ``fit`` by default, a size key to
        measure it along that key, False or None for the posterior alone.
    fitted : Fit, optional
        An existing fit of the runs below the cutoff (e.g. ``other_backtest.fit``) to score instead
        of fitting again: the same law and the same runs, else :class:`DataError`. It is scored
        as it is under ``"auto"``, without its error under False, with the error measured along
        a given key on a copy; ``fitted`` itself is unchanged.
    where : str, optional
        Use only the rows satisfying a filter such as ``"N < 1e10"`` (see :mod:`bayeslaw.data.where`),
        before the split.
    progress : bool, optional
        Progress bars of the fit and of the nested refits (see :mod:`bayeslaw.core.progress`).
    **fit_kwargs
        Passed to :func:`bayeslaw.fit` (chains, draws, warmup, pooling, run, ...). ``noise_trend``
        goes into the law, so the nested refits of ``extrapolation`` keep it too.

    Returns
    -------
    Backtest
    """
    from bayeslaw.infer.fit import fit as run_fit
    from bayeslaw.infer.fit import with_extrapolation
    from bayeslaw.infer.settings import check_extrapolation

    levels = _levels(ci_probs)
    cutoff = check_cutoff(cutoff)
    law = load_law(law)
    check_fit_keywords(fit_kwargs, "backtest", ("target", "group", "seed", "extrapolation", "progress", "where"))
    trend = fit_kwargs.pop("noise_trend", None)
    if trend is not None:  # in the law itself, so `fitted` is checked against it and refits keep it
        law = with_noise_trend(law, trend)
    frame = read_runs(runs)
    if where is not None:
        frame = filter_runs(frame, where)
    refuse_outcome_key(by, target, group)
    key = split_key(frame, by)
    train, held = frame[key < cutoff], frame[key >= cutoff]
    if len(train) == 0 or len(held) == 0:
        side = "below" if len(train) == 0 else "at or above"
        raise DataError(f"no runs {side} the cutoff {cutoff:g} on {by!r} (range {key.min():g} to {key.max():g})")
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the runs table; columns: "
                        f"{', '.join(map(str, frame.columns))}")
    observed = pd.to_numeric(held[target], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(observed)):
        bad = held.index[~np.isfinite(observed)]
        raise DataError(f"column {target!r} has missing or non-numeric values in held-out rows: "
                        f"{', '.join(map(str, bad[:5]))}")
    extrapolation = False if extrapolation is None else extrapolation
    check_extrapolation(law, extrapolation)
    if fitted is None:
        fitted = run_fit(law, train, target=target, group=group, seed=seed,
                         extrapolation=extrapolation, progress=progress, **fit_kwargs)
    else:
        _check_fitted(fitted, law, train, target, cutoff, by)
        if extrapolation is False:  # the posterior alone
            config = {k: v for k, v in fitted.config.items() if k != "extrapolation"}
            fitted = replace(fitted, config=config)
        elif extrapolation != "auto":  # measured along this key, on a copy
            fitted = with_extrapolation(fitted, extrapolation)
    rows = held[list(law.input_names)].copy()
    if group is not None:
        known = held[group].astype(str).isin(fitted.families)
        rows[group] = held[group].astype(str).where(known, None)
    draws = fitted.predictive_draws(rows, kind="observed", seed=seed)
    table = rows.copy()
    table["family"] = table.pop(group) if group is not None else fitted.families[0]
    table["family"] = table["family"].fillna(NEW_FAMILY)
    table[by] = key[key >= cutoff]
    table["observed"] = observed
    table["median"] = np.median(draws, axis=0)
    table["are"] = np.abs(table["median"] - observed) / np.abs(observed)
    for p in levels:
        lower, upper = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        table[f"lower_{p:g}"], table[f"upper_{p:g}"] = lower, upper
        table[f"inside_{p:g}"] = (observed >= lower) & (observed <= upper)
    return Backtest(fitted, table, float(cutoff), by, levels, len(train))
