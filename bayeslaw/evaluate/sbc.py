"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) with :func:`fit_many`.

Draw parameters from the prior, simulate a data set from each draw on a fixed design, fit every
data set (all in one compiled batch), and rank each prior draw among its posterior draws. If the
model, the sampler and the code are right, every rank is uniform on ``0..L``. A chi-square test
on binned ranks (its survival function from ``jax.scipy.special.gammaincc``, no SciPy) and a
rank histogram per quantity say where they are not.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro.infer import Predictive

from bayeslaw.core import runtime
from bayeslaw.core.errors import ConvergenceWarning, FitError
from bayeslaw.core.numbers import is_integer
from bayeslaw.data.frames import as_frame
from bayeslaw.data.runs import validate_runs
from bayeslaw.infer.batch import diagnose_many, fit_many
from bayeslaw.infer.settings import CENTRED_MIN_RUNS, check_fixed_pooling, check_settings
from bayeslaw.infer.start import log_reference, model_args
from bayeslaw.laws.law import Law, load_law
from bayeslaw.modeling.build import build_model, make_plan
from bayeslaw.modeling.likelihood import check_enough_runs

__all__ = ["SBCResult", "chi2_sf", "rank_uniformity", "sbc"]

_TARGET = "_sbc_target"


def chi2_sf(stat, dof) -> np.ndarray:
    """Survival function of the chi-square distribution: ``P(X > stat)`` for ``dof`` degrees."""
    stat = jnp.asarray(stat, dtype=float)
    return np.asarray(jax.scipy.special.gammaincc(jnp.asarray(dof, dtype=float) / 2.0, stat / 2.0))


def rank_uniformity(ranks: np.ndarray, n_draws: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square statistics and p-values of ranks (n, q) in ``0..n_draws`` against uniform.

    Ranks are put in ``bins`` equal-width bins of the ``n_draws + 1`` possible values; the
    expected count of each bin is exact even when ``n_draws + 1`` is not a multiple of ``bins``.
    """
    ranks = np.asarray(ranks)
    edges = np.floor(np.arange(n_draws + 1) * bins / (n_draws + 1)).astype(int)
    expected = np.bincount(edges, minlength=bins) / (n_draws + 1) * ranks.shape[0]
    observed = np.stack([np.bincount(edges[ranks[:, j]], minlength=bins) for j in range(ranks.shape[1])])
    stat = ((observed - expected) ** 2 / expected).sum(axis=1)
    return stat, chi2_sf(stat, bins - 1)


@dataclass
class SBCResult:
    """Ranks of prior draws among posterior draws, one row per simulated data set.

    Attributes
    ----------
    ranks : DataFrame (simulations x quantities) of ints in ``0..n_draws``.
    truth : DataFrame of the prior draws the data were simulated from.
    n_draws : int, posterior draws each rank counts over (after thinning).
    bins : int, bins of the uniformity test and histograms.
    diagnostics : DataFrame of per-fit max R-hat, min ESS and divergences.
    law_name : str.
    dropped : int, prior draws whose simulated data were invalid (not finite, or outside the
        likelihood's support after rounding) and were not fitted.
    """

    ranks: pd.DataFrame
    truth: pd.DataFrame
    n_draws: int
    bins: int
    diagnostics: pd.DataFrame
    law_name: str
    dropped: int = 0

    def test(self) -> pd.DataFrame:
        """Chi-square uniformity test per quantity: ``chi2``, ``dof``, ``p_value``."""
        stat, p = rank_uniformity(self.ranks.to_numpy(), self.n_draws, self.bins)
        return pd.DataFrame({"chi2": stat, "dof": self.bins - 1, "p_value": p},
                            index=pd.Index(self.ranks.columns, name="quantity"))

    def passed(self, alpha: float = 0.01) -> bool:
        """Whether every quantity passes at family-wise level ``alpha`` (Bonferroni)."""
        p = self.test()["p_value"]
        return bool((p >= alpha / len(p)).all())

    def plot_ranks(self, quantities: Sequence[str] | None = None, ncols: int = 4, ci_prob: float = 0.99):
        """Rank histograms with the expected count and its ``ci_prob`` band under uniformity.

        Returns
        -------
        ndarray of matplotlib Axes, one per quantity.
        """
        import matplotlib.pyplot as plt

        names = list(quantities or self.ranks.columns)
        nrows = -(-len(names) // ncols)
        fig, axes = plt.subplots(nrows, min(ncols, len(names)), squeeze=False,
                                 figsize=(3 * min(ncols, len(names)), 2.4 * nrows))
        n = len(self.ranks)
        edges = np.linspace(0, self.n_draws + 1, self.bins + 1)
        expected = n / self.bins
        # normal approximation to the binomial count of one bin
        z = float(jax.scipy.special.ndtri((1 + ci_prob) / 2))
        half = z * np.sqrt(expected * (1 - 1 / self.bins))
        pvals = self.test()["p_value"]
        for ax, name in zip(axes.flat, names):
            ax.axhspan(max(expected - half, 0), expected + half, color="0.85", zorder=0)
            ax.axhline(expected, color="0.4", lw=1)
            ax.hist(self.ranks[name], bins=edges, color="C0", alpha=0.85)
            ax.set_title(f"{name}  (p={pvals[name]:.2g})", fontsize=9)
            ax.set_yticks([])
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.suptitle(f"SBC rank histograms: {self.law_name}, {n} simulations, {self.n_draws} draws")
        fig.tight_layout()
        return axes.ravel()[: len(names)]


def _simulated_target(law: Law, obs: np.ndarray, x: Mapping[str, np.ndarray]) -> np.ndarray:
    """The model's ``obs`` site (the likelihood's space) back on the target's own scale."""
    lik = law.likelihood
    trials = getattr(lik, "trials", None)
    if lik.dist == "Binomial" and trials:
        return obs / np.asarray(x[trials])
    return np.exp(obs) if lik.space == "log" else obs


def sbc(
    law: str | os.PathLike | Law,
    design: pd.DataFrame,
    n: int = 100,
    *,
    group: str | None = None,
    pooling: Mapping[str, str] | None = None,
    chains: int = 2,
    warmup: int = 500,
    draws: int = 500,
    thin: int = 4,
    bins: int | None = None,
    seed: int = 0,
    centered: bool | None = None,
    sampler: str = "auto",
) -> SBCResult:
    """Simulation-based calibration of a law on a design, every fit in one batch.

    Parameters
    ----------
    law : str, path or Law
        The law to check.
    design : DataFrame
        The runs to simulate: one column per law input (and ``group`` if given); any target
        column is ignored.
    n : int
        Number of simulated data sets (prior draws).
    group, pooling, centered
        As in :func:`bayeslaw.fit`.
    chains, warmup, draws : int
        Sampler settings of every fit (as in :func:`bayeslaw.fit`).
    thin : int
        Keep every ``thin``-th posterior draw when ranking: autocorrelated draws make a correct
        sampler's rank histogram look non-uniform. Ranks count over ``chains * draws // thin``.
    bins : int, optional
        Bins of the uniformity test; default ``min(10, n // 5)`` (at least 5 expected per bin).
    seed : int
        Seed of the prior draws and the fits.
    sampler : {"auto", "hmc", "nuts"}
        The batch sampler (see :func:`bayeslaw.fit_many`).

    Returns
    -------
    SBCResult
        ``.test()`` per-quantity p-values, ``.passed()``, ``.plot_ranks()``.
    """
    if not is_integer(n) or n < 2:
        raise FitError(f"n must be an integer >= 2, got {n!r}")
    # before the prior draws, not in fit_many after them
    chains, draws, warmup, seed, _ = check_settings(chains, draws, warmup, seed, 0.8)
    check_fixed_pooling(pooling, "sbc")
    if not is_integer(thin) or thin < 1 or thin > chains * draws:
        raise FitError(f"thin must be an integer in [1, chains * draws], got {thin!r}")
    ranks = chains * draws // thin
    if bins is None:
        bins = max(2, min(10, n // 5, ranks + 1))
    if not is_integer(bins) or not 2 <= bins <= ranks + 1:
        # a rank takes ranks + 1 values: one bin has no test, more bins than values empty ones
        raise FitError(f"bins must be a whole number from 2 to {ranks + 1} (the rank values of "
                       f"chains * draws // thin = {ranks} draws), got {bins!r}")
    n, thin, bins = int(n), int(thin), int(bins)
    runtime.configure()
    law = load_law(law)
    frame = as_frame(design, "design").drop(columns=[_TARGET], errors="ignore").reset_index(drop=True)
    table = validate_runs(frame, {i.name: i.positive for i in law.inputs}, None, group, what="design")
    # simulated targets differ row by row, so the design's distinct input rows are what counts
    check_enough_runs(law, table.inputs, np.zeros(len(table.frame)), "the design")
    if centered is None:
        centered = bool(np.bincount(table.family_index).min() >= CENTRED_MIN_RUNS)
    plan = make_plan(law, table.n_families, dict(pooling or {}), centered=bool(centered))
    logref = log_reference(plan, table.inputs)
    k_prior = jax.random.fold_in(jax.random.PRNGKey(int(seed)), 2**31 - 1)
    prior = Predictive(build_model(plan), num_samples=n)(k_prior, *model_args(table, logref, with_target=False))
    prior = {k: np.asarray(v) for k, v in prior.items()}
    y = _simulated_target(law, prior.pop("obs"), table.inputs)
    ok = np.all(np.isfinite(y), axis=1)
    if law.likelihood.space == "log" or law.likelihood.dist == "Beta":
        ok &= np.all(y > 0, axis=1)
    if law.likelihood.dist == "Beta":  # float draws can round to exactly 1
        ok &= np.all(y < 1, axis=1)
    keep = np.flatnonzero(ok)
    if keep.size < 2:
        raise FitError(f"only {keep.size} of {n} prior draws gave finite simulated data; check the priors")
    tables = [frame.assign(**{_TARGET: y[i]}) for i in keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported in result.diagnostics
        fits = fit_many(law, tables, target=_TARGET, group=group, pooling=pooling, chains=chains,
                        draws=draws, warmup=warmup, seed=seed, centered=centered, sampler=sampler)
    columns, truth = {}, {}
    for site, values in prior.items():
        if site not in fits[0].samples or (plan.n_families == 1 and site.endswith("_family")):
            continue  # with one family, p_family repeats p
        flat = values[keep].reshape(keep.size, -1)
        for j in range(flat.shape[1]):
            label = site if values.ndim == 1 else f"{site}[{j}]"
            truth[label] = flat[:, j]
            post = np.stack([f.flat(site).reshape(f.num_draws, -1)[::thin, j] for f in fits])
            columns[label] = (post < flat[:, j, None]).sum(axis=1)
    n_draws = len(range(0, chains * draws, thin))
    diag = diagnose_many(fits).reset_index(drop=True)
    return SBCResult(ranks=pd.DataFrame(columns), truth=pd.DataFrame(truth), n_draws=n_draws,
                     bins=bins, diagnostics=diag, law_name=law.name, dropped=int(n - keep.size))
