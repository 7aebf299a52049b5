"""Observation models: how a run's measured target scatters around the law's value.

* ``StudentT`` / ``Normal`` with scale ``sigma`` (Student-t also ``df``), on ``log(target)``
  (``space = "log"``, the default for losses) or on the target itself (``space = "linear"``).
  With a ``sigma_trend`` the scale follows a power of one input: ``sigma * (x / x_ref) **
  sigma_trend``, ``x_ref`` the input's geometric mean in the fitted runs (``logref``).
* ``Beta`` for accuracies in (0, 1): mean = the law's value, ``concentration`` phi, so the sd is
  sqrt(p (1 - p) / (1 + phi)).
* ``Binomial`` for accuracies measured on a known number of items: the law's value is the
  probability of a correct answer and ``trials`` names the input column with the item count; the
  target is the observed accuracy (correct / items).

A new run's Student-t noise is drawn truncated to the largest standardized residual of the
fitted runs in the same posterior draw, never closer than :data:`MIN_NOISE_BOUND` scales
(:func:`noise_bound`). The t stands in for the runs a law does not describe, but beyond the
farthest fitted run its tail is the noise model extrapolating itself, and in log space that tail
has no mean (``exp`` of a Student-t): a few draws of a planned run were 1e8 times the loss, and
any mean or CRPS of the draws was ruled by them. Inside the bound the draws are the t's own, so
intervals move only where the t put mass beyond every fitted run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.distribution import validation_enabled

from bayeslaw.core.errors import DataError
from bayeslaw.laws.law import Law, ParamSpec

_EPS = 1e-6  # keeps a Beta/Binomial mean strictly inside (0, 1)
#: a new run's Student-t noise is never truncated closer than this many noise scales: a small
#: table's largest residual can be ~2 scales, where the t's own mass beyond is ~10%; beyond 10 it
#: is under 0.02% for df >= 5, and a fit whose df is lower has fitted runs farther out
MIN_NOISE_BOUND = 10.0


class StudentT(dist.StudentT):
    """numpyro's Student-t with the normalising constant computed once for shared ``df`` and
    ``sigma``: numpyro broadcasts both to every row first, so each row paid two ``lgamma`` (and
    two ``digamma`` in the gradient) and a ``log``; on small batched fits that was most of the
    cost of a gradient. Same density, same sampler."""

    def __init__(self, df, loc=0.0, scale=1.0, *, validate_args=None):
        self._df_arg, self._scale_arg = df, scale
        super().__init__(df, loc, scale, validate_args=validate_args)

    def log_prob(self, value):
        df, scale = jnp.asarray(self._df_arg), jnp.asarray(self._scale_arg)
        y = (value - self.loc) / scale
        z = (jnp.log(scale) + 0.5 * jnp.log(df) + 0.5 * np.log(np.pi)
             + jax.scipy.special.gammaln(0.5 * df) - jax.scipy.special.gammaln(0.5 * (df + 1.0)))
        return -0.5 * (df + 1.0) * jnp.log1p(y**2 / df) - z


def _df(law: Law, params: dict):
    df = law.likelihood.df
    return params["df"] if isinstance(df, ParamSpec) else df


def noise_scale(law: Law, params: dict, x: dict | None = None, logref: dict | None = None):
    """Scale of the Student-t/Normal noise: ``sigma``, times the input's power with a trend."""
    lik = law.likelihood
    if lik.sigma_trend is None:
        return params["sigma"]
    name = lik.trend_input
    return params["sigma"] * jnp.exp(params["sigma_trend"] * (jnp.log(x[name]) - logref[name]))


def observation_distribution(law: Law, mean, params: dict, x: dict | None = None,
                             logref: dict | None = None) -> dist.Distribution:
    """Distribution of the modelled target (log target in log space) given the law's value.

    Its arguments are not validated: far from the data (NumPyro's random initial points, a
    rejected trajectory) a law's value can overflow to a non-finite location, which must count
    as zero density for the sampler, not raise (NumPyro validates eagerly by default).
    """
    lik = law.likelihood
    with validation_enabled(False):  # also for the distributions they build inside (Beta's Dirichlet)
        if lik.dist == "Beta":
            p = jnp.clip(mean, _EPS, 1 - _EPS)
            phi = params["concentration"]
            return dist.Beta(p * phi, (1 - p) * phi)
        if lik.dist == "Binomial":
            return dist.Binomial(total_count=x[lik.trials], probs=jnp.clip(mean, _EPS, 1 - _EPS))
        loc = jnp.log(mean) if lik.space == "log" else mean
        scale = noise_scale(law, params, x, logref)
        if lik.dist == "StudentT":
            return StudentT(_df(law, params), loc, scale)
        return dist.Normal(loc, scale)


def transform_target(law: Law, y, x: dict | None = None):
    """The observed target as the likelihood sees it (log loss, or correct counts)."""
    lik = law.likelihood
    if lik.dist == "Binomial":
        return y * x[lik.trials]
    return jnp.log(y) if lik.space == "log" else y


def log_density(law: Law, mean, params: dict, y, x: dict | None = None, logref: dict | None = None):
    """Pointwise log density of observed targets ``y``."""
    obs = observation_distribution(law, mean, params, x, logref)
    value = transform_target(law, y, x)
    if law.likelihood.dist == "Binomial":  # accuracies x items need not be whole numbers
        n, p = x[law.likelihood.trials], obs.probs
        return (jax.scipy.special.gammaln(n + 1) - jax.scipy.special.gammaln(value + 1)
                - jax.scipy.special.gammaln(n - value + 1) + value * jnp.log(p) + (n - value) * jnp.log1p(-p))
    return obs.log_prob(value)


def _student_t(key, df: np.ndarray, shape: tuple[int, ...],
               bound: np.ndarray | None = None) -> jnp.ndarray:
    """Standard Student-t draws of the given ``shape``, seeded by ``key``, drawn by NumPy;
    with ``bound`` (broadcasting against ``shape``) truncated to ``|t| <= bound`` by redrawing.

    JAX's gamma sampler behind ``StudentT.sample`` is a rejection loop that XLA compiles anew
    for every array shape (seconds each), and predictions come in many shapes (rows x draws);
    NumPy's sampler costs nothing to start. ``simulate`` runs eagerly, never under ``jit``.
    """
    seed = np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                      else key).ravel()
    rng = np.random.default_rng([int(v) for v in seed])
    df = np.broadcast_to(df, shape)
    draws = rng.standard_t(df)
    if bound is not None:
        bound = np.broadcast_to(np.asarray(bound, dtype=float), shape)  # inf: no bound
        for _ in range(200):
            out = np.abs(draws) > bound
            if not out.any():
                break
            draws[out] = rng.standard_t(df[out])
        draws = np.clip(draws, -bound, bound)
    return jnp.asarray(draws)


def noise_bound(law: Law, mean, params: dict, y, x: dict | None = None, logref: dict | None = None):
    """Largest standardized residual of the fitted runs per posterior draw, at least
    :data:`MIN_NOISE_BOUND`, (S, 1), for a Student-t likelihood (None otherwise): how far a new
    run's noise may reach (module docstring); inf where no residual is finite.

    ``mean`` (S, R) is the law with the fitted runs' own offsets, ``y`` (R,) their target.
    """
    lik = law.likelihood
    if lik.dist != "StudentT":
        return None
    resid = transform_target(law, y, x) - (jnp.log(mean) if lik.space == "log" else mean)
    z = np.abs(np.asarray(resid / noise_scale(law, params, x, logref)))
    largest = np.where(np.isfinite(z), z, -np.inf).max(axis=-1, keepdims=True)
    return np.where(np.isfinite(largest), np.maximum(largest, MIN_NOISE_BOUND), np.inf)


def simulate(law: Law, mean, params: dict, key, x: dict | None = None, logref: dict | None = None,
             bound=None):
    """One simulated observation per element of ``mean``, on the target's own scale; Student-t
    noise truncated to ``bound`` standard units where given (:func:`noise_bound`)."""
    lik = law.likelihood
    if lik.dist == "Beta":
        return observation_distribution(law, mean, params, x, logref).sample(key)
    if lik.dist == "Binomial":  # numpyro's sampler needs integer counts
        items = jnp.round(jnp.broadcast_to(x[lik.trials], mean.shape)).astype(int)  # default int width
        p = jnp.clip(mean, _EPS, 1 - _EPS)
        return dist.Binomial(total_count=items, probs=p).sample(key) / items
    if lik.dist == "StudentT":
        noise = _student_t(key, np.asarray(_df(law, params)), mean.shape, bound)
    else:
        noise = jax.random.normal(key, mean.shape)
    noise = noise * noise_scale(law, params, x, logref)
    return mean * jnp.exp(noise) if lik.space == "log" else mean + noise


def check_target(law: Law, target: np.ndarray, frame, target_name: str, inputs: dict) -> None:
    """Likelihood-specific checks of the target column (range, and counts vs items)."""
    lik = law.likelihood
    if lik.dist not in ("Beta", "Binomial"):
        return
    low_ok = target > 0 if lik.dist == "Beta" else target >= 0
    high_ok = target < 1 if lik.dist == "Beta" else target <= 1
    bad = ~(low_ok & high_ok)
    if bad.any():
        interval = "(0, 1)" if lik.dist == "Beta" else "[0, 1]"
        rows = ", ".join(f"{label} ({value:g})" for label, value in zip(frame.index[bad][:5], target[bad][:5]))
        raise DataError(f"column '{target_name}' holds accuracies and must lie in {interval}: rows {rows}"
                        + (", ..." if bad.sum() > 5 else ""))
    if lik.dist == "Binomial":
        items = inputs[lik.trials]
        correct = target * items
        fractional = np.abs(items - np.round(items)) > 1e-9
        if fractional.any():
            rows = ", ".join(str(label) for label in frame.index[fractional][:5])
            raise DataError(f"column '{lik.trials}' must hold whole item counts: rows {rows}")
        below = items + 1e-9 < correct
        if below.any():
            rows = ", ".join(str(label) for label in frame.index[below][:5])
            raise DataError(f"column '{lik.trials}' has item counts below the observed correct counts: rows {rows}")


def check_enough_runs(law: Law, inputs: dict, target: np.ndarray, what: str = "the runs table") -> None:
    """Reject a table with no more distinct rows (inputs and target) than the law has
    parameters: the law then passes through every row exactly, a learnt noise scale collapses
    towards zero and the chains stick wherever they start (2 runs for the Chinchilla law: R-hat
    above 4 after a minute of sampling). ``curve_fit`` refuses the same case. Replicates of a
    run that disagree count apart: they measure the noise, so nothing collapses."""
    columns = [np.asarray(inputs[i.name], dtype=float) for i in law.inputs] + [np.asarray(target, dtype=float)]
    rows = len(np.unique(np.column_stack(columns), axis=0))
    need = len(law.params) + 1
    if rows < need:
        raise DataError(f"{what} has {rows} distinct {'row' if rows == 1 else 'rows'}; law {law.name!r} has "
                        f"{len(law.params)} parameters ({', '.join(law.params)}) and needs at least {need} "
                        "(with no more rows than parameters it passes through every row exactly)")
