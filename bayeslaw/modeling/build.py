"""Build the NumPyro model for a law, and evaluate the law from posterior draws.

The geometry is fixed here, in the model, not left to the sampler:

* A centred parameter (``center = { input = "N", slope = "alpha" }``) is sampled at the data's
  reference scale (geometric mean of N), which removes the strong A-alpha correlation that makes
  naive scaling-law posteriors need hundreds of leapfrog steps per draw.
* ``partial`` pooling happens in the unconstrained space of the prior's support (``T`` the
  bijection onto it, so positive parameters pool in log space): ``family = T(u)`` with
  ``u ~ Normal(T^-1(population), sd)``, sampled centred or non-centred (``u = T^-1(pop) + sd * z``)
  as the plan says; :func:`bayeslaw.fit` picks centred when every family has enough runs.
* With one family, ``partial`` and ``none`` collapse to ``shared``: there is nothing to pool.

Site names: ``p`` (shared or population value), ``p_sd`` (between-family sd in the unconstrained
space), ``p_u`` (centred) or ``p_z`` (non-centred) family offsets, ``p_family`` (per-family values); a centred
parameter ``p`` is sampled as ``p_ref`` / ``p_ref_family`` and ``p`` / ``p_family`` are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

from bayeslaw.core.errors import FitError, PredictionError
from bayeslaw.laws.law import POOLINGS, Law, ParamSpec
from bayeslaw.modeling import correlated, likelihood
from bayeslaw.modeling.run_effects import (
    CHECKPOINT_SITES,
    EXCESS_SCALE,
    RUN_SD_SCALE,
    checkpoint_excess,
    run_fraction,
    run_offsets,
    run_projection,
    with_run_effect,
)


@dataclass(frozen=True)
class ModelPlan:
    """Everything static about a model: the law, effective pooling, number of families."""

    law: Law
    pooling: tuple[tuple[str, str], ...]
    n_families: int
    centered: bool = True
    n_runs: int = 0

    @property
    def pooling_map(self) -> dict[str, str]:
        return dict(self.pooling)

    def site(self, name: str) -> str:
        """Sampled site name of a parameter (``a_ref`` for a centred ``a``)."""
        spec = self.law.all_params()[name]
        return f"{name}_ref" if spec.center is not None else name

    def ordered_params(self) -> list[ParamSpec]:
        """Parameters with every centring slope before the parameter centred on it."""
        specs = list(self.law.all_params().values())
        return [s for s in specs if s.center is None] + [s for s in specs if s.center is not None]

    def global_sites(self) -> list[str]:
        """Sites with no family dimension (the block that gets a dense mass matrix)."""
        out = []
        for spec in self.ordered_params():
            pooling, site = self.pooling_map[spec.name], self.site(spec.name)
            if pooling in ("shared", "partial", "correlated"):
                out.append(site)
            if pooling in ("partial", "correlated"):
                out.append(f"{site}_sd")
        if correlated.members(self):
            out.append("corr_chol")
        if self.n_runs:
            out.append("run_sd")
        if self.checkpoint_excess:
            out += list(CHECKPOINT_SITES)
        return out

    @property
    def checkpoint_excess(self) -> bool:
        """Whether rows are checkpoints whose loss carries an unfinished-schedule excess: a run
        effect with a token input ``D`` (see
        :func:`~bayeslaw.modeling.run_effects.checkpoint_excess`)."""
        return bool(self.n_runs) and "D" in self.law.input_names


def make_plan(law: Law, n_families: int, pooling: dict[str, str] | None = None,
              centered: bool = True, n_runs: int = 0) -> ModelPlan:
    """Resolve per-fit pooling overrides against the law's own choices.

    ``centered`` chooses how partially pooled family values are sampled: centred
    (``u_f ~ Normal(population, sd)``) suits families with many informative runs, where the
    non-centred form (``u_f = population + sd * z_f``) makes sd and every z_f strongly
    correlated; non-centred suits families with few runs, where the centred form has a funnel.

    Raises
    ------
    FitError
        For an unknown parameter name or pooling value.
    """
    specs = law.all_params()
    chosen = {name: spec.pooling for name, spec in specs.items()}
    for name, value in (pooling or {}).items():
        if name not in specs:
            raise FitError(f"pooling override names unknown parameter {name!r}; parameters: {', '.join(specs)}")
        if value not in POOLINGS:
            raise FitError(f"pooling {value!r} for {name!r} is not one of: {', '.join(POOLINGS)}")
        chosen[name] = value
    if n_families == 1:
        chosen = {name: "shared" for name in chosen}
    if list(chosen.values()).count("correlated") == 1:
        name = next(k for k, v in chosen.items() if v == "correlated")
        raise FitError(f"pooling 'correlated' needs at least two parameters; only {name!r} has it")
    return ModelPlan(law, tuple(chosen.items()), n_families, centered, n_runs)


def pool(spec: ParamSpec, population, sd, z):
    """Family values from a population value, a between-family sd and standard offsets."""
    transform = biject_to(spec.prior.support)
    return transform(transform.inv(population) + sd * z)


def uncenter(spec: ParamSpec, ref_value, slope_value, logref):
    """Undo centring: ``p = p_ref + sign * slope * log(input_ref)``."""
    return ref_value + spec.center.sign * slope_value * logref[spec.center.input]


def _sample_family_values(plan: ModelPlan, spec: ParamSpec, values: dict, logref: dict, block: dict):
    """Sample one parameter; return its per-family values, shape (F,) (population in ``values``)."""
    F = plan.n_families
    pooling, site = plan.pooling_map[spec.name], plan.site(spec.name)
    prior = spec.prior.build()
    population = None
    if pooling == "correlated":
        population, fam = block[spec.name]
    elif pooling == "shared":
        population = numpyro.sample(site, prior)
        fam = jnp.broadcast_to(population, (F,))
    elif pooling == "partial":
        population = numpyro.sample(site, prior)
        sd = numpyro.sample(f"{site}_sd", dist.HalfNormal(spec.pool_scale))
        transform = biject_to(spec.prior.support)
        with numpyro.plate("family", F):
            if plan.centered:
                u = numpyro.sample(f"{site}_u", dist.Normal(transform.inv(population), sd))
            else:
                u = transform.inv(population) + sd * numpyro.sample(f"{site}_z", dist.Normal(0.0, 1.0))
        fam = numpyro.deterministic(f"{site}_family", transform(u))
    else:
        with numpyro.plate("family", F):
            fam = numpyro.sample(f"{site}_family", prior)
    if spec.center is not None:
        slope = spec.center.slope
        fam = numpyro.deterministic(f"{spec.name}_family", uncenter(spec, fam, values[slope], logref))
        if population is not None and values.get(f"{slope}@population") is not None:
            population = numpyro.deterministic(
                spec.name, uncenter(spec, population, values[f"{slope}@population"], logref)
            )
        else:
            population = None
    values[f"{spec.name}@population"] = population
    return fam


def build_model(plan: ModelPlan):
    """Return the NumPyro model function for a plan.

    The model takes ``(x, family, logref, y=None, mask=None)``: ``x`` a dict of input arrays (R,),
    ``family`` an int array (R,), ``logref`` a dict of log reference scales for centred inputs,
    ``y`` the observed target (R,) or None for prior predictive draws, ``mask`` a boolean array
    (R,) that drops padded rows from the likelihood (used to batch fits of different sizes).
    """
    law = plan.law
    lik = law.likelihood
    shared = {name for name, pooling in plan.pooling_map.items() if pooling == "shared"}

    def per_row(name, values, family):
        # a shared value is one scalar: broadcasting it (not gathering it per row) keeps the
        # gradient a sum instead of a scatter-add, which dominates small batched fits on CPU
        return values[name][0] if name in shared else values[name][family]

    def model(x, family, logref, y=None, mask=None, run=None):
        values: dict = {}
        block = correlated.sample_block(plan)
        for spec in plan.ordered_params():
            values[spec.name] = _sample_family_values(plan, spec, values, logref, block)
        env = dict(x)
        env.update({name: per_row(name, values, family) for name in law.params})
        row_values = {name: per_row(name, values, family) for name in lik.params}
        mean = law.formula(env)
        if plan.n_runs:
            run_sd = numpyro.sample("run_sd", dist.HalfNormal(RUN_SD_SCALE))
            with numpyro.plate("run", plan.n_runs):
                run_z = numpyro.sample("run_z", dist.Normal(0.0, 1.0))
            offsets = run_offsets(plan, run_sd, run_z, run_projection(plan, x, run, family, mask))[run]
            if plan.checkpoint_excess:
                excess = numpyro.sample("ckpt_excess", dist.HalfNormal(EXCESS_SCALE))
                power = numpyro.sample("ckpt_power", dist.LogNormal(0.0, 0.5))
                offsets = offsets + checkpoint_excess(excess, power, run_fraction(plan, x, run))
            mean = with_run_effect(plan, mean, offsets)
        obs_dist = likelihood.observation_distribution(law, mean, row_values, x, logref)
        if y is not None:
            y = likelihood.transform_target(law, y, x)
        with numpyro.plate("rows", family.shape[0]), numpyro.handlers.mask(mask=True if mask is None else mask):
            numpyro.sample("obs", obs_dist, obs=y)

    return model


def family_draws(plan: ModelPlan, samples: dict, family: jnp.ndarray, logref: dict, key) -> dict:
    """Per-row parameter values for every posterior draw.

    Parameters
    ----------
    plan : ModelPlan
    samples : dict
        Posterior draws with a flat leading draw axis (S, ...).
    family : int array (R,)
        Family index per row; ``-1`` means a family not in the fit, drawn from the population.
    logref : dict
        Log reference scales used at fit time.
    key : jax PRNG key
        For the new family's offsets.

    Returns
    -------
    dict of name -> array (S, R) for every law and likelihood parameter.
    """
    new = family < 0
    safe = jnp.where(new, 0, family)
    out: dict = {}
    keys = jax.random.split(key, len(plan.law.all_params()) + 1)
    block_new = correlated.new_family_draws(plan, samples, keys[-1]) if bool(jnp.any(new)) else {}
    for spec, k in zip(plan.ordered_params(), keys):
        pooling, site = plan.pooling_map[spec.name], plan.site(spec.name)
        if pooling == "correlated":
            known = samples[f"{site}_family"][:, safe]
            value = jnp.where(new[None, :], block_new[spec.name][:, None], known) if block_new else known
        elif pooling == "shared":
            value = samples[site][:, None]
        elif pooling == "none":
            if bool(jnp.any(new)):
                raise PredictionError(
                    f"cannot predict a new family: parameter {spec.name!r} has pooling 'none' "
                    "(name a fitted family, or refit with pooling 'partial' to learn a population for "
                    "it, or pooling={} for the law's own pooling)"
                )
            value = samples[f"{site}_family"][:, safe]
        else:
            z = jax.random.normal(k, samples[site].shape)
            new_value = pool(spec, samples[site], samples[f"{site}_sd"], z)[:, None]
            value = jnp.where(new[None, :], new_value, samples[f"{site}_family"][:, safe])
        value = jnp.broadcast_to(value, (value.shape[0], family.shape[0]))
        if spec.center is not None:
            value = uncenter(spec, value, out[spec.center.slope], logref)
        out[spec.name] = value
    return out


def law_draws(plan: ModelPlan, params: dict, x: dict) -> jnp.ndarray:
    """Evaluate the law for per-row parameter draws (S, R) and inputs (R,); returns (S, R)."""
    env = {k: jnp.asarray(v)[None, :] for k, v in x.items()}
    env.update({name: params[name] for name in plan.law.params})
    return plan.law.formula(env)


def pointwise_log_likelihood(plan: ModelPlan, params: dict, x: dict, y,
                             logref: dict) -> jnp.ndarray:
    """Log density of each observed run under each draw, (S, R), in the likelihood's space.

    In log space this is the density of log(y), the quantity the model describes; fits compared
    by LOO must share that space.
    """
    mean = law_draws(plan, params, x)
    return likelihood.log_density(plan.law, mean, params, y[None, :], {k: v[None, :] for k, v in x.items()},
                                  logref)


def observed_draws(plan: ModelPlan, params: dict, mean: jnp.ndarray, key, x: dict, logref: dict,
                   bound=None) -> jnp.ndarray:
    """Add observation noise to law draws: one simulated run per draw and row (Student-t noise
    truncated to ``bound``, see :func:`~bayeslaw.modeling.likelihood.noise_bound`)."""
    return likelihood.simulate(plan.law, mean, params, key, {k: jnp.asarray(v)[None, :] for k, v in x.items()},
                               logref, bound)
