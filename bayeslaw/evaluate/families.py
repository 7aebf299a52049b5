"""Do families scale differently? Compare a law with parameters shared against per-family.

Decision rule (documented, deliberately conservative): families are declared to *differ* in the
tested parameters when the per-family model has the higher ELPD and the difference exceeds twice
its standard error (``elpd_diff > 2 * dse``). Otherwise the verdict is "same": the data give no
clear reason to let those parameters vary (which is not proof that they are equal; the contrasts
show how large a difference the data still allow).

This tests the fitted runs (PSIS-LOO). Whether the families should be fitted apart for
prediction beyond the runs is what :func:`bayeslaw.fit`'s ``pooling="auto"`` decides, by the
extrapolation error's nested refits (:mod:`bayeslaw.infer.pooling_choice`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from bayeslaw.core import progress as progress_bars
from bayeslaw.core.errors import FitError
from bayeslaw.evaluate.compare import compare
from bayeslaw.evaluate.heldout import check_fit_keywords, refit
from bayeslaw.laws.law import Law, load_law
from bayeslaw.results.draws import check_ci_prob
from bayeslaw.results.fit import Fit

#: the per-family model must beat the shared one by this many standard errors
SE_MULTIPLIER = 2.0
ALTERNATIVES = ("partial", "none")
SHARED, PER_FAMILY = "shared", "per_family"


def _names(params: Sequence[str]) -> str:
    params = list(params)
    return params[0] if len(params) == 1 else ", ".join(params[:-1]) + f" and {params[-1]}"


def decide(table: pd.DataFrame, params: Sequence[str]) -> tuple[bool, str]:
    """Apply the decision rule to a :func:`compare` table of the ``shared`` and ``per_family`` fits."""
    names = _names(params)
    best = table.index[0]
    diff = float(table["elpd_diff"].iloc[1])
    se = float(table["dse"].iloc[1])
    numbers = f"elpd difference {diff:.1f} (SE {se:.1f})"
    if best == PER_FAMILY and diff > SE_MULTIPLIER * se:
        return True, f"families differ in {names}: {numbers} favours per-family {names}"
    if best == PER_FAMILY:
        return False, (f"no clear evidence that families differ in {names}: {numbers} favours per-family "
                       f"{names} by less than {SE_MULTIPLIER:g} SE; keep {names} shared")
    return False, f"no evidence that families differ in {names}: {numbers} favours shared {names}"


def contrasts(fit: Fit, params: Sequence[str], ci_prob: float = 0.9) -> pd.DataFrame:
    """Posterior differences of each parameter between every pair of families.

    Returns
    -------
    DataFrame with parameter, family_a, family_b, median, lower, upper (of ``a - b``) and
    p_positive = P(a - b > 0).
    """
    ci_prob = check_ci_prob(ci_prob)
    values = fit.family_values()
    tail = (1 - ci_prob) / 2
    rows = []
    for p in params:
        v = values[p]
        for i, j in combinations(range(len(fit.families)), 2):
            d = v[:, i] - v[:, j]
            lo, med, hi = np.quantile(d, [tail, 0.5, 1 - tail])
            rows.append({"parameter": p, "family_a": fit.families[i], "family_b": fit.families[j],
                         "median": med, "lower": lo, "upper": hi, "p_positive": float(np.mean(d > 0))})
    out = pd.DataFrame(rows, columns=["parameter", "family_a", "family_b", "median", "lower", "upper", "p_positive"])
    out.attrs["ci_prob"] = ci_prob
    return out


def plot_forest(fit: Fit, params: Sequence[str] = ("alpha",), *, ci_prob: float = 0.9, ax=None):
    """Forest plot: each family's median and equal-tailed interval of each parameter.

    The population value (for partially pooled parameters) is drawn as a diamond. Parameters
    share one horizontal axis; plot one parameter per call when their scales differ.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ci_prob = check_ci_prob(ci_prob)
    params = [params] if isinstance(params, str) else list(params)
    unknown = [p for p in params if p not in fit.law.all_params()]
    if unknown:
        raise FitError(f"unknown parameter {unknown[0]!r}; parameters: {', '.join(fit.law.all_params())}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 0.35 * len(params) * (len(fit.families) + 1) + 1.2), layout="constrained")
    fam, pop = fit.family_values(), fit.population_values()
    tail = (1 - ci_prob) / 2
    labels, y = [], 0
    for p in params:
        lo, med, hi = np.quantile(fam[p], [tail, 0.5, 1 - tail], axis=0)
        for j, family in enumerate(fit.families):
            ax.plot([lo[j], hi[j]], [y, y], color="C0", linewidth=2)
            ax.plot(med[j], y, "o", color="C0", markersize=5)
            labels.append(f"{p} · {family}")
            y += 1
        if p in pop and fit.plan.pooling_map[p] == "partial":
            plo, pmed, phi = np.quantile(pop[p], [tail, 0.5, 1 - tail])
            ax.plot([plo, phi], [y, y], color="C1", linewidth=2)
            ax.plot(pmed, y, "D", color="C1", markersize=6)
            labels.append(f"{p} · (population)")
            y += 1
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"median and {ci_prob:.0%} interval")
    ax.set_title(f"{fit.law.name}: per-family parameters", fontsize=10)
    return ax


@dataclass
class FamilyTestResult:
    """Outcome of :func:`family_test`.

    Attributes
    ----------
    params : tuple of str
    table : DataFrame
        :func:`compare` table of the ``shared`` and ``per_family`` fits.
    differ : bool
    verdict : str
        Plain-language conclusion with the ELPD difference and its SE.
    contrasts : DataFrame
        Pairwise family differences of each tested parameter (from the per-family fit).
    fits : dict
        ``{"shared": Fit, "per_family": Fit}``.
    extra : dict of str to DataFrame
        Further comparisons (``"family"``: leave-one-family-out), when asked for.
    """

    params: tuple[str, ...]
    table: pd.DataFrame
    differ: bool
    verdict: str
    contrasts: pd.DataFrame
    fits: dict
    extra: dict = field(default_factory=dict)

    def plot_forest(self, *, ci_prob: float = 0.9, ax=None):
        """Forest plot of the tested parameters per family (per-family fit)."""
        return plot_forest(self.fits[PER_FAMILY], self.params, ci_prob=ci_prob, ax=ax)

    def __repr__(self) -> str:
        return f"<FamilyTestResult {self.verdict}>"


def _require_families(runs, group: str | None) -> None:
    """Refuse runs of fewer than two families before the first fit (it was found after fitting,
    a minute later)."""
    from bayeslaw.data.runs import read_runs

    frame = read_runs(runs)
    if group is not None and group not in frame.columns:
        return  # the fit names the missing column
    count = 0 if group is None else frame[group].dropna().nunique()
    if count < 2:
        raise FitError(f"family_test needs at least two families; the runs have {max(count, 1)} "
                       f"(group column: {group!r})")


def family_test(fit_or_law: Fit | Law | str | os.PathLike, runs=None, params: Sequence[str] = ("alpha",), *,
                alternative: str = "partial", target: str = "loss", group: str | None = None,
                leave_family_out: bool = False, ci_prob: float = 0.9, progress: bool | None = None,
                **fit_kwargs) -> FamilyTestResult:
    """Test whether families differ in ``params`` (e.g. the exponents) by comparing two fits.

    The law is fitted with ``params`` shared across families and with them ``alternative``
    (``"partial"``: per family, partially pooled; ``"none"``: independent per family); the two are
    compared by PSIS-LOO. See the module docstring for the decision rule.

    Parameters
    ----------
    fit_or_law : Fit, Law, or law name / path
        A fit (its law, runs, target, group, pooling and sampler settings are reused; if it
        already has ``params`` shared it serves as the shared model) or a law (then give ``runs``
        and ``group``).
    runs : DataFrame or CSV path, optional
        The runs; default: the fit's own runs.
    params : sequence of str
        Parameters to test, e.g. ``("alpha", "beta")``.
    alternative : {"partial", "none"}
    target, group : str
        As in :func:`bayeslaw.fit` (used when a law is given).
    leave_family_out : bool
        Also compare by leave-one-family-out (refits once per family and model; needs
        ``alternative="partial"``). Reported in ``extra["family"]``; the verdict stays LOO-based.
    ci_prob : float
        Interval probability of the contrasts.
    progress : bool, optional
        A bar over the test's steps (the fits, the comparison, the leave-one-family-out
        refits; see :mod:`bayeslaw.core.progress`).
    **fit_kwargs
        Sampler settings for :func:`bayeslaw.fit` (chains, draws, warmup, seed, ...).
    """
    try:  # a name twice is one parameter to test
        params = tuple(dict.fromkeys((params,) if isinstance(params, str) else params))
    except TypeError:
        raise FitError(f"family_test: params must be a parameter name or a list of names, got {params!r}") from None
    ci_prob = check_ci_prob(ci_prob)
    if alternative not in ALTERNATIVES:
        raise FitError(f"alternative must be one of: {', '.join(ALTERNATIVES)}; got {alternative!r}")
    if leave_family_out and alternative == "none":
        raise FitError("leave_family_out needs alternative='partial': with 'none' a held-out family cannot be predicted")
    check_fit_keywords(fit_kwargs, "family_test", ("target", "group", "pooling", "progress", "runs"))
    law = fit_or_law.law if isinstance(fit_or_law, Fit) else load_law(fit_or_law)
    valid = law.all_params()
    for p in params:
        if p not in valid:
            raise FitError(f"family_test: unknown parameter {p!r} of law {law.name!r}; parameters: {', '.join(valid)}")
    if not params:
        raise FitError("family_test: give at least one parameter to test")
    if isinstance(fit_or_law, Fit):
        _require_families(fit_or_law.table.frame if runs is None else runs, fit_or_law.table.group)
    elif runs is not None and group is not None:
        _require_families(runs, group)
    steps = 3 + bool(leave_family_out)
    with progress_bars.bar(steps, f"family test ({_names(params)})", progress, unit="step") as meter:
        if isinstance(fit_or_law, Fit):
            base = fit_or_law
            frame = base.table.frame if runs is None else runs
            if fit_kwargs:  # the fit's own run column and settings, these sampler settings
                base = refit(base, frame, pooling={**base.plan.pooling_map, **{p: "shared" for p in params}},
                             **{"extrapolation": False, **fit_kwargs})
            shared_pooling = {**base.plan.pooling_map, **{p: "shared" for p in params}}
            reuse = runs is None and all(base.plan.pooling_map[p] == "shared" for p in params)
            shared = base if reuse else refit(base, frame, pooling=shared_pooling, extrapolation=False)
        else:
            if runs is None or group is None:
                raise FitError("family_test with a law needs runs and group (the family column)")
            from bayeslaw.infer.fit import fit as fit_law

            shared = fit_law(law, runs, target, group, pooling={p: "shared" for p in params}, **fit_kwargs)
            frame = shared.table.frame
        meter.update()
        if len(shared.families) < 2:
            raise FitError(f"family_test needs at least two families; the runs have {len(shared.families)} "
                           f"(group column: {shared.table.group!r})")
        pooling = {**shared.plan.pooling_map, **{p: alternative for p in params}}
        per_family = refit(shared, frame, pooling=pooling, extrapolation=False)
        meter.update()
        fits = {SHARED: shared, PER_FAMILY: per_family}
        table = compare(fits, method="loo")
        differ, verdict = decide(table, params)
        meter.update()
        extra = {"family": compare(fits, method="family")} if leave_family_out else {}
        meter.update(int(leave_family_out))
    return FamilyTestResult(params, table, differ, verdict, contrasts(per_family, params, ci_prob), fits, extra)


__all__ = ["FamilyTestResult", "contrasts", "decide", "family_test", "plot_forest"]
