"""The Fit object: posterior draws with summaries and predictions for planned runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayeslaw.core.errors import PredictionError
from bayeslaw.data.family_labels import NEW_FAMILY
from bayeslaw.data.runs import RunsTable, encode_rows
from bayeslaw.modeling.build import ModelPlan, family_draws, law_draws, observed_draws
from bayeslaw.modeling.likelihood import log_density, noise_bound
from bayeslaw.modeling.run_effects import fitted_run_offsets, with_run_effect
from bayeslaw.results import extrapolation_error as extrap
from bayeslaw.results.diagnostics import diagnose
from bayeslaw.results.draws import (
    DrawsMixin,
    check_ci_prob,
    check_kind,
    check_seed,
    predictive_columns,
)
from bayeslaw.results.sizes import below, beyond


def sampled_sites(plan: ModelPlan, samples: Mapping[str, np.ndarray]) -> list[str]:
    """Names of the sampled (not derived) sites of ``plan`` that are in ``samples``."""
    out = []
    for spec in plan.ordered_params():
        pooling, site = plan.pooling_map[spec.name], plan.site(spec.name)
        out += {"shared": [site], "partial": [site, f"{site}_sd", f"{site}_{'u' if plan.centered else 'z'}"],
                "none": [f"{site}_family"], "correlated": [site, f"{site}_sd"]}[pooling]
    extra = ("corr_z", "run_sd", "run_z", "ckpt_excess", "ckpt_power")
    return out + [k for k in extra if k in samples]


def require_fit(value, name: str = "fit") -> None:
    """Refuse anything but a :class:`Fit` where one is needed, naming the argument (an object
    without a law or draws would otherwise fail deep inside with an AttributeError)."""
    if not isinstance(value, Fit):
        raise TypeError(f"{name} must be a bayeslaw Fit (from bayeslaw.fit or bayeslaw.load_fit), "
                        f"got {type(value).__name__}")


@dataclass
class Fit(DrawsMixin):
    """A fitted scaling law: posterior draws plus everything needed to predict without refitting.

    Build with :func:`bayeslaw.fit` or :func:`bayeslaw.load_fit`. ``samples`` maps site names to
    arrays shaped (chains, draws, ...).
    """

    plan: ModelPlan
    table: RunsTable
    logref: dict
    samples: dict
    sample_stats: dict
    timings: dict
    config: dict
    versions: dict = field(default_factory=dict)
    run_index: np.ndarray | None = None
    #: rows of ``table`` the fit was fitted on (bool, rows), None for all: a nested refit keeps
    #: the full table and hides the runs above its cutoff (:mod:`bayeslaw.infer.nested_fits`)
    fitted_rows: np.ndarray | None = None

    @property
    def law(self):
        return self.plan.law

    @property
    def families(self) -> tuple[str, ...]:
        return self.table.families


    @cached_property
    def _flat_samples(self) -> dict:
        return {k: jnp.asarray(self.flat(k)) for k in self.samples}

    def sampled_sites(self) -> list[str]:
        """Names of the sampled (not derived) sites."""
        return sampled_sites(self.plan, self.samples)

    @property
    def extrapolation(self) -> extrap.ExtrapolationErrorModel | None:
        """The calibrated extrapolation error, or None (see :func:`bayeslaw.calibrate_extrapolation`)."""
        saved = self.config.get("extrapolation")
        return None if saved is None else extrap.ExtrapolationErrorModel.from_dict(saved)

    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS for every sampled quantity (see :func:`diagnostics.diagnose`)."""
        return diagnose({k: self.samples[k] for k in self.sampled_sites()})

    # -- parameter values ---------------------------------------------------------------------

    def family_values(self) -> dict[str, np.ndarray]:
        """Per-family draws of every law/likelihood parameter: name -> (S, F)."""
        idx = jnp.arange(self.table.n_families)
        values = family_draws(self.plan, self._flat_samples, idx, self._logref_jnp, jax.random.PRNGKey(0))
        return {k: np.asarray(v) for k, v in values.items()}

    def population_values(self) -> dict[str, np.ndarray]:
        """Population (or shared) draws of every parameter that has one: name -> (S,)."""
        out = {}
        for name, spec in self.law.all_params().items():
            pooling = self.plan.pooling_map[name]
            key = name if spec.center is not None else self.plan.site(name)
            if pooling != "none" and key in self.samples:
                out[name] = self.flat(key)
        return out

    def derived_values(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Evaluate the law's derived quantities on parameter draws (those computable)."""
        return {name: np.asarray(f(values)) for name, f in self.law.derived.items()
                if all(n in values for n in f.names)}

    @property
    def _logref_jnp(self) -> dict:
        return {k: jnp.asarray(v) for k, v in self.logref.items()}

    def summary(self, ci_prob: float = 0.9, internal: bool = False) -> pd.DataFrame:
        """Posterior summary of the law's parameters and derived quantities, by the law's names.

        Parameters
        ----------
        ci_prob : float
            Probability mass of the equal-tailed credible interval (default 0.9).
        internal : bool
            Also list the quantities a reader rarely asks for: log amplitudes the law reports
            as ``exp`` of themselves (``a`` beside ``A = exp(a)``), between-family sds
            (``E_sd``), correlations, the Student-t ``df`` and the run-to-run sd ``run_sd``.

        Returns
        -------
        DataFrame indexed by (parameter, family) with mean, sd, median, lower, upper, r_hat,
        ess_bulk, ess_tail and ``meaning`` (one line from the law file). ``family`` is
        ``(shared)`` for a quantity common to all families, ``(population)`` for the population
        value of a partially pooled one. ``attrs["legend"]`` maps each name to its meaning.
        """
        from bayeslaw.results.summary import summarize

        return summarize(self, ci_prob, internal)

    def to_inference_data(self):
        """This fit as ArviZ InferenceData, by the law's names (see :mod:`bayeslaw.results.idata`).

        Groups: ``posterior`` (law parameters, derived quantities, per-family values over a
        ``family`` dimension named by the families), ``posterior_predictive``,
        ``log_likelihood`` and ``observed_data`` (the target, over a ``run`` dimension named by
        the rows' labels), ``sample_stats`` and ``constant_data`` (the inputs), so
        ``az.summary``, ``az.plot_trace``, ``az.plot_ppc``, ``az.loo`` and ``az.compare`` take
        it as it is. The sampler's own sites are kept in a ``bayeslaw_sites`` group and the
        posterior's attributes hold what :func:`bayeslaw.load_fit` needs, so
        ``fit.to_inference_data().to_netcdf(path)`` writes the same file as ``fit.save(path)``.
        """
        from bayeslaw.results.persist import to_inference_data

        return to_inference_data(self)

    @cached_property
    def idata(self):
        """:meth:`to_inference_data`, built once."""
        return self.to_inference_data()

    # -- prediction ---------------------------------------------------------------------------

    def _rows(self, rows, what: str = "prediction rows", warn_families: bool = False) -> RunsTable:
        return encode_rows(rows, {i.name: i.positive for i in self.law.inputs}, self.table.group,
                           self.families, what=what, warn_families=warn_families)

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:
        """Posterior draws of the law (``kind="law"``) or of a new run (``"observed"``).

        Returns
        -------
        ndarray (S, R): one column per row, one line per posterior draw (paired across rows).
        """
        check_kind(kind)
        check_seed(seed)
        table = rows if isinstance(rows, RunsTable) else self._rows(rows, warn_families=True)
        k_fam, k_obs = jax.random.split(jax.random.PRNGKey(int(seed)))
        params = family_draws(self.plan, self._flat_samples, jnp.asarray(table.family_index),
                              self._logref_jnp, k_fam)
        x = {k: jnp.asarray(v) for k, v in table.inputs.items()}
        mean = law_draws(self.plan, params, x)
        if kind == "observed":
            if self.plan.n_runs:  # each planned row is a new run: draw its run offset
                k_obs, k_run = jax.random.split(k_obs)
                offset = self._flat_samples["run_sd"][:, None] * jax.random.normal(k_run, mean.shape)
                mean = with_run_effect(self.plan, mean, offset)
            mean = observed_draws(self.plan, params, mean, k_obs, x, self._logref_jnp,
                                  self._noise_bound)
        with np.errstate(all="ignore"):
            out = extrap.apply(self.extrapolation, np.asarray(mean), table.inputs, seed, table.family_index)
        bad = ~np.all(np.isfinite(out), axis=0)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            values = ", ".join(f"{k}={v[at]:g}" for k, v in table.inputs.items())
            raise PredictionError(f"the prediction for row {table.frame.index[at]} ({values}) is not a finite "
                                  f"number: its inputs are beyond what law {self.law.name!r} can be "
                                  "evaluated at in floating point")
        return out

    def predict(self, rows, kind: str = "observed", ci_prob: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """Predict planned runs with intervals.

        Parameters
        ----------
        rows : DataFrame, dict or list of dicts
            Inputs of the planned runs (any form :func:`bayeslaw.data.frames.as_frame`
            accepts), e.g. ``{"N": 70e9, "D": 1.4e12, "family": "dense"}``; the family under the
            fit's group column or ``family``. Leave it out (or empty) to predict for a family
            not in the fit, drawn from the population.
        kind : {"observed", "law"}
            ``"law"``: the curve itself (credible interval); ``"observed"``: a new run's target,
            including run-to-run noise (posterior-predictive interval). Both include the
            extrapolation error beyond the fitted runs once it is calibrated
            (:func:`bayeslaw.calibrate_extrapolation`).
        ci_prob : float
            Interval probability (default 0.9).
        seed : int
            Seed for the predictive noise and new-family draws.

        Returns
        -------
        DataFrame with the inputs, the family, and mean, sd, median, lower, upper, tail_k.
        ``tail_k`` is the Pareto shape of the predictive's heavier tail: where it reaches
        0.5 the sd is NaN (the variance does not exist), where it reaches 0.7 the mean too
        (the draws do not pin it down); median and interval are always given. See
        :mod:`bayeslaw.results.tails`.
        For each positive input (and compute C = 6 N D), ``beyond_<input>``: how many decades
        the row lies beyond the largest fitted value (0 inside the data); ``attrs["below"]``
        holds the decades below the smallest, as arrays by input.
        """
        ci_prob = check_ci_prob(ci_prob)
        table = self._rows(rows, warn_families=True)
        draws = self.predictive_draws(table, kind=kind, seed=seed)
        out = pd.DataFrame({k: v for k, v in table.inputs.items()}, index=table.frame.index)
        out["family"] = [self.families[i] if i >= 0 else NEW_FAMILY for i in table.family_index]
        for col, values in predictive_columns(draws, ci_prob).items():
            out[col] = values
        for col, values in beyond(self.table.inputs, table.inputs).items():
            out[col] = values
        out.attrs.update(ci_prob=ci_prob, kind=kind, below=below(self.table.inputs, table.inputs))
        return out

    def fitted_means(self) -> tuple[dict, dict, jnp.ndarray]:
        """Per-row parameter draws, inputs and the law's value (S, R) at the fitted runs, each
        run's own offset included where the fit has a run effect."""
        params = family_draws(self.plan, self._flat_samples, jnp.asarray(self.table.family_index),
                              self._logref_jnp, jax.random.PRNGKey(0))
        x = {k: jnp.asarray(v) for k, v in self.table.inputs.items()}
        mean = law_draws(self.plan, params, x)
        if self.plan.n_runs:
            mean = with_run_effect(self.plan, mean, fitted_run_offsets(self, self._flat_samples))
        return params, x, mean

    @cached_property
    def _noise_bound(self):
        """How far a new run's Student-t noise may reach per draw (None for other likelihoods):
        :func:`bayeslaw.modeling.likelihood.noise_bound` of the fitted runs."""
        params, x, mean = self.fitted_means()
        y = np.asarray(self.table.target, dtype=float)
        if self.fitted_rows is not None:  # rows the fit never saw are not its residuals (NaN: skipped)
            y = np.where(self.fitted_rows, y, np.nan)
        y = jnp.asarray(y)[None, :]
        rows = {k: v[None, :] for k, v in x.items()}
        return noise_bound(self.law, mean, params, y, rows, self._logref_jnp)

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood of the fitted runs, shape (chains, draws, runs)."""
        params, x, mean = self.fitted_means()
        y = jnp.asarray(self.table.target)[None, :]
        rows = {k: v[None, :] for k, v in x.items()}
        ll = log_density(self.law, mean, params, y, rows, self._logref_jnp)
        chains = np.asarray(next(iter(self.samples.values()))).shape[0]
        return np.asarray(ll).reshape(chains, -1, ll.shape[-1])

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the fit to a self-describing netCDF file (law text, data, encoding, versions)."""
        from bayeslaw.results.persist import save_fit

        save_fit(self, path)

    def __repr__(self) -> str:
        return (f"<Fit law={self.law.name!r} runs={len(self.table.frame)} families={len(self.families)} "
                f"draws={self.num_draws} divergences={self.divergences}>")
