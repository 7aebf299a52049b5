"""Nested refits at the posterior mode: a Laplace approximation for the extrapolation error.

The extrapolation error (:mod:`bayeslaw.infer.extrapolation`) is measured by refitting the law on the
runs below several nested cutoffs and scoring the runs above. What it needs from each nested fit
is a predictive median and a predictive scale for the held-out runs, not MCMC, so each nested
fit here draws from a Gaussian at the posterior mode with the inverse Hessian there (a Laplace
approximation), reweights the draws to the exact posterior by importance sampling, and pushes
them through the same predictive code as a sampled fit.

Every nested fit keeps the full fit's rows, families and run encoding and drops the runs above
its cutoff through the model's ``mask`` (its reference scales are its own runs'): all nested
fits then have one shape, so one compiled program serves them all, batched under ``vmap``. That is
what makes the error affordable on every fit by default (a few Newton solves instead of one MCMC
run per cutoff).
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import constrain_fn, potential_energy

from bayeslaw.infer import programs
from bayeslaw.infer.mode_search import damped_newton
from bayeslaw.infer.start import log_reference, model_args, prior_median
from bayeslaw.modeling.build import build_model
from bayeslaw.results.fit import Fit

#: draws of each Laplace approximation pushed through the predictive
LAPLACE_DRAWS = 1000
#: the proposal's scale relative to the Laplace approximation: importance sampling needs a
#: proposal with heavier tails than the posterior it reweights towards
WIDEN = 1.3
#: smallest curvature kept in the Hessian: a direction the data leave flat gets unit variance in
#: unconstrained space (about the prior's own scale) instead of an unbounded one
MIN_CURVATURE = 1.0


def _plan(fit):
    """The fit's plan, non-centred: the mode of a centred hierarchy sits in its funnel's neck."""
    plan = fit.plan
    if plan.centered and "partial" in plan.pooling_map.values():
        plan = replace(plan, centered=False)
    return plan


def _args(fit, masks: np.ndarray) -> tuple:
    """Model arguments of the full table with one mask and one set of reference scales per
    nested fit (stacked on a leading axis): a nested fit centres its amplitudes on its own runs,
    as a refit of those runs would."""
    x, family, _, y = model_args(fit.table, fit.logref)
    refs = [log_reference(fit.plan, {k: v[m] for k, v in fit.table.inputs.items()}) for m in masks]
    ref = {k: jnp.asarray([r[k] for r in refs]) for k in fit.logref}
    run = None if fit.run_index is None else jnp.asarray(fit.run_index)
    return x, family, ref, y, jnp.asarray(masks), run


def _laplace_draws(model, args: tuple, key, z) -> tuple[dict, jax.Array]:
    """Draws of the Laplace approximation at the mode for one mask, and their log importance
    weights against the exact posterior.

    ``z`` holds standard normal draws (draws, dim). The proposal is a Gaussian centred on the
    mode with the inverse Hessian of the potential, widened by :data:`WIDEN`, curvatures below
    :data:`MIN_CURVATURE` raised to it. The weights ``-U(theta) - log q(theta)`` turn the
    proposal's draws into the posterior's: on a curved ridge the mode and the posterior median
    predict differently far from the data, and the fit being mimicked reports the median.
    """
    start = prior_median(model, key, args, closed_form=True)
    flat0, unravel = ravel_pytree(start)
    objective = lambda v: potential_energy(model, args, {}, unravel(v))
    mode = damped_newton(objective, flat0)
    hessian = jax.hessian(objective)(mode)
    values, vectors = jnp.linalg.eigh(0.5 * (hessian + hessian.T))
    values = jnp.maximum(jnp.where(jnp.isfinite(values), values, MIN_CURVATURE), MIN_CURVATURE)
    flat = mode[None, :] + WIDEN * (z / jnp.sqrt(values)) @ vectors.T
    log_w = -jax.vmap(objective)(flat) + 0.5 * jnp.sum(z**2, axis=-1)
    log_w = jnp.where(jnp.isfinite(log_w), log_w, -jnp.inf)
    draws = jax.vmap(lambda v: constrain_fn(model, args, {}, unravel(v), return_deterministic=True))(flat)
    return {name: value for name, value in draws.items() if name != "obs"}, log_w


def resample(log_w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of draws resampled by truncated importance weights (Ionides 2008: each weight
    capped at ``sqrt(S)`` times the mean, which bounds the variance a few huge weights add)."""
    finite = np.isfinite(log_w)
    if not finite.any():  # no draw has a finite density: keep the proposal's own draws
        return np.arange(log_w.size)
    w = np.where(finite, np.exp(log_w - np.max(log_w[finite])), 0.0)
    w = np.minimum(w, np.mean(w) * np.sqrt(w.size))
    return rng.choice(w.size, size=w.size, p=w / w.sum())


def laplace_fits(fit, masks: np.ndarray, seed: int = 0, draws: int = LAPLACE_DRAWS) -> list[Fit]:
    """One Laplace-approximated :class:`Fit` per row of ``masks`` (rows to fit on).

    Parameters
    ----------
    fit : Fit
        The full fit: its law, plan, table and run encoding are reused.
    masks : bool array (K, rows)
        ``masks[k]`` selects the rows nested fit ``k`` is fitted on.
    seed : int
        Seed of the mode search's start, of the proposal draws and of their resampling.
    draws : int
        Draws of each approximation.

    Returns
    -------
    list of Fit
        Fits with one chain of ``draws`` draws each; they predict like any fit.
    """
    plan = _plan(fit)
    model = build_model(plan)
    masks = np.asarray(masks, dtype=bool)
    args = _args(fit, masks)
    k_start, k_draw = jax.random.split(jax.random.PRNGKey(int(seed)))

    def batch(args, key, z):
        x, family, refs, y, masks, run = args
        one = lambda ref, mask, z: _laplace_draws(model, (x, family, ref, y, mask, run), key, z)
        return jax.vmap(one)(refs, masks, z)

    first = (args[0], args[1], {k: v[0] for k, v in args[2].items()}, args[3], args[4][0], args[5])
    dim = sum(int(np.prod(np.shape(v))) for v in jax.tree.leaves(jax.eval_shape(
        lambda a: _unconstrained_shapes(model, a), first)))
    z = jax.random.normal(k_draw, (masks.shape[0], draws, dim))
    samples, log_w = programs.call("laplace_nested", repr(plan), batch, args, k_start, z)
    rng = np.random.default_rng([int(seed), 11])
    out = []
    for k in range(masks.shape[0]):
        pick = resample(np.asarray(log_w[k]), rng)
        logref = {name: float(v[k]) for name, v in args[2].items()}
        out.append(Fit(plan=plan, table=fit.table, logref=logref,
                       samples={name: np.asarray(v[k])[pick][None] for name, v in samples.items()},
                       sample_stats={}, timings={}, config={"laplace": True, "seed": int(seed)},
                       run_index=fit.run_index, fitted_rows=masks[k]))
    return out


def _unconstrained_shapes(model, args: tuple) -> dict:
    """The model's unconstrained sites (traced only for their shapes)."""
    trace = handlers.trace(handlers.seed(model, 0)).get_trace(*args)
    return {name: biject_to(site["fn"].support).inv(site["value"]) for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]}
