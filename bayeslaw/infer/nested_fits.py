"""Nested refits for the extrapolation error: short HMC chains, all nested fits in one program.

The extrapolation error (:mod:`bayeslaw.infer.extrapolation`) is measured by refitting the law on the
runs below several nested cutoffs and scoring the runs above. Each nested fit here starts at its
own posterior mode (``bl.fit``'s mode search, run once per nested fit) and runs two
short HMC chains (:mod:`bayeslaw.infer.batched_hmc`) whose metric starts from the full fit's
posterior covariance, scaled by the ratio of the full fit's rows to the nested fit's (a
posterior's variance grows like one over the rows that decide it), and adapts in Stan's windows.
A nested posterior is wider than the full one along the law's ridge, more so the fewer runs it
has: with the full fit's metric as it is, the smallest nested fits' chains crawl. The ridge
curves, so the step size stays small against its length and a trajectory needs many leapfrog
steps to cross it (:data:`STEPS`). Their draws go through the same
predictive code as a sampled fit, and each nested fit records its largest R-hat (one above 1.1
is refitted by ``bl.fit``, :mod:`bayeslaw.infer.nested_refits`).

Why not a Laplace approximation at the mode reweighted by importance sampling: a hierarchical
posterior is curved (a family's value = population + sd * z bends along sd) and the law's
E / A / alpha ridge is too, so the Gaussian at the mode fits neither, and the importance weights
collapse onto a few draws; the held-out predictions then move with the seed by a good part of
their own scale (benchmarks/README.md, "Nested fits by short chains"). Chains are exact up to
their length.

Every nested fit keeps the full fit's rows, families and run encoding and drops the runs above
its cutoff through the model's ``mask`` (its reference scales are its own runs'): all nested
fits then have one shape, so one compiled program serves them all, batched under ``vmap``. That is
what makes the error affordable on every fit by default.
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

from bayeslaw.infer import batched_hmc, programs
from bayeslaw.infer.nuts import DENSE_MAX_DIM
from bayeslaw.infer.settings import CENTRED_MIN_RUNS, default_centered
from bayeslaw.infer.start import (
    INIT_JITTER,
    jitter,
    log_reference,
    map_point,
    model_args,
    to_centred,
)
from bayeslaw.modeling.build import build_model
from bayeslaw.results.diagnostics import diagnose, largest_r_hat
from bayeslaw.results.fit import Fit

#: chains, warmup iterations and draws per chain of each nested fit
CHAINS, WARMUP, DRAWS = 2, 400, 250
#: warmup of the nested fits of a hierarchy with few families (as ``bl.fit``'s): the
#: between-family sd reaches towards zero, and its scale needs the longer adaptation (porian's
#: two families: R-hat 1.37-1.39 on the smallest nested fit after 400 iterations, 1.04-1.09
#: after 1000). Where ``bl.fit`` centres the families (many, each with many runs) the sd is
#: pinned and :data:`WARMUP` does (benchmarks/README.md, "The error's cost")
WARMUP_HIERARCHY = 1000
#: mean leapfrog steps per iteration. ``bl.fit``'s HMC takes 16 and falls back to NUTS where
#: that does not converge (most real tables); the nested fits have no fallback, and their smaller
#: tables curve more: at 16 steps their R-hat reached 1.2-2.6 on real tables, at 128 the largest
#: per table was 1.02-1.17 (benchmarks/README.md, "Nested fits need long trajectories")
STEPS = 128
#: target acceptance of the step-size adaptation
TARGET_ACCEPT = 0.8


def _args(fit, masks: np.ndarray) -> tuple:
    """Model arguments of the full table with one mask and one set of reference scales per
    nested fit (stacked on a leading axis): a nested fit centres its amplitudes on its own runs,
    as a refit of those runs would."""
    x, family, _, y = model_args(fit.table, fit.logref)
    refs = [log_reference(fit.plan, {k: v[m] for k, v in fit.table.inputs.items()}) for m in masks]
    ref = {k: jnp.asarray([r[k] for r in refs]) for k in fit.logref}
    run = None if fit.run_index is None else jnp.asarray(fit.run_index)
    return x, family, ref, y, jnp.asarray(masks), run


def _trace_sites(model, args: tuple) -> dict:
    """The model's sampled sites (name -> trace entry)."""
    trace = handlers.trace(handlers.seed(model, 0)).get_trace(*args)
    return {name: site for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}


def _sites(model, args: tuple) -> set:
    """Names of the model's sampled sites, traced abstractly (run eagerly, the model's ops
    compile one by one: seconds on a first fit)."""
    names = set()
    jax.eval_shape(lambda a: names.update(_trace_sites(model, a)), args)
    return names


def _template(model, args: tuple) -> dict:
    """A zero point of the model's sampled sites in unconstrained space: the layout of the
    nested fits' flat vectors. Traced abstractly from the model alone (tracing the mode search
    for its output's shapes took seconds)."""
    def unconstrained(a):
        return {name: biject_to(site["fn"].support).inv(site["value"])
                for name, site in _trace_sites(model, a).items()}
    return jax.tree.map(lambda v: jnp.zeros(v.shape, v.dtype), jax.eval_shape(unconstrained, args))


def _unconstrained_draws(fit, model, args: tuple) -> dict | None:
    """The full fit's draws of every sampled site of ``model`` in unconstrained space, one row
    per draw; a centred ``model`` of a non-centred fit gets its family values ``u = pop + sd z``
    (:func:`bayeslaw.infer.start.to_centred`). None where the fit lacks a site's draws."""
    wanted = _sites(model, args)
    fit_model = build_model(fit.plan)
    fit_sites = _sites(fit_model, args)
    if not fit_sites <= set(fit.samples):
        return None

    @jax.jit  # one program: op by op, the transforms compiled a second's worth of kernels
    def transform(samples, a):
        out = {}
        for name, site in _trace_sites(fit_model, a).items():
            values = samples[name]
            out[name] = biject_to(site["fn"].support).inv(values.reshape((-1,) + values.shape[2:]))
        if set(out) != wanted:
            out = jax.vmap(lambda point: to_centred(replace(fit.plan, centered=True), point))(out)
        return out

    out = transform({name: jnp.asarray(fit.samples[name]) for name in fit_sites}, args)
    return out if set(out) == wanted else None


def full_fit_metric(fit, model, args: tuple, dense: bool) -> np.ndarray | None:
    """The full fit's posterior covariance in unconstrained space as an HMC metric: its Cholesky
    factor (dense) or the square roots of its diagonal: the nested chains' starting metric. None
    when the fit has too few draws of its sampled sites (a fit built without sampling); the
    chains then start from the curvature at their own mode."""
    draws = _unconstrained_draws(fit, model, args)
    if draws is None:
        return None
    flat = np.asarray(jax.vmap(lambda point: ravel_pytree(point)[0])(draws))
    if flat.shape[0] < 2 * flat.shape[1] or not np.all(np.isfinite(flat)):
        return None
    cov = np.cov(flat, rowvar=False) + 1e-8 * np.eye(flat.shape[1])
    if not dense:
        return np.sqrt(np.diag(cov))
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None


def nested_plan(fit):
    """The plan the nested fits sample: the fit's, centred where every family has at least
    :data:`CENTRED_MIN_RUNS` runs.

    Where a family's own runs pin its values, the non-centred coordinates (value = population +
    sd * z) bend: z must follow every move of the population and sd, and short chains crawl
    along that curve (``benchmarks/nested_fits.py`` compares both with full MCMC refits).
    ``bl.fit`` also asks for five families before centring, because with fewer the
    between-family sd reaches down to zero where centred values form a funnel; the nested fits
    accept its occasional divergent transition, since they serve predictions of known families.
    """
    plan = fit.plan
    if plan.centered or "partial" not in plan.pooling_map.values():
        return plan
    counts = np.bincount(np.asarray(fit.table.family_index))
    return replace(plan, centered=True) if counts.min() >= CENTRED_MIN_RUNS else plan


def _modes(plan, model, args: tuple, key) -> jax.Array:
    """Each nested fit's posterior mode (flat, unconstrained, in ``plan``'s coordinates), one
    nested fit at a time by ``bl.fit``'s search (:func:`bayeslaw.infer.start.map_point` on the
    same table, its rows masked: damped Newton, BFGS above ``NEWTON_MAX_DIM`` dimensions as for
    ``bl.fit``'s own start), compiled once for all of them. Searched inside the vmapped nested
    program, the damped Newton search and its Hessian were ~40% of that program's compile, more
    than the unbatched search compiles in."""
    x, family, refs, y, masks, run = args
    keys = jax.random.split(key, masks.shape[0])

    def mode(i):
        ref = {k: v[i] for k, v in refs.items()}
        return ravel_pytree(map_point(model, (x, family, ref, y, masks[i], run), keys[i], plan))[0]

    return jnp.stack([mode(i) for i in range(masks.shape[0])])


def nested_fits(fit, masks: np.ndarray, seed: int = 0, chains: int = CHAINS, warmup: int | None = None,
                draws: int = DRAWS) -> list[Fit]:
    """One :class:`Fit` per row of ``masks`` (rows to fit on), sampled by short HMC chains.

    Parameters
    ----------
    fit : Fit
        The full fit: its law, plan, table, run encoding and (for the metric) draws are reused.
    masks : bool array (K, rows)
        ``masks[k]`` selects the rows nested fit ``k`` is fitted on.
    seed : int
        Seed of the chains' jitter and momenta.
    chains, warmup, draws : int
        Chains per nested fit, their warmup (step size and metric; default :data:`WARMUP`, or
        :data:`WARMUP_HIERARCHY` when families are partially pooled and too few, or with too few
        runs, to be centred by ``bl.fit``) and their kept draws.

    Returns
    -------
    list of Fit
        Fits with ``chains`` chains of ``draws`` draws each (``sample_stats`` holds their
        divergences, ``config["max_r_hat"]`` the largest R-hat of their sampled quantities,
        :func:`max_r_hat`); they predict like any fit.
    """
    plan = nested_plan(fit)
    if warmup is None:
        few = "partial" in plan.pooling_map.values() and not default_centered(fit.table.family_index)
        warmup = WARMUP_HIERARCHY if few else WARMUP
    model = build_model(plan)
    masks = np.asarray(masks, dtype=bool)
    n_fits = masks.shape[0]
    args = _args(fit, masks)
    first = (args[0], args[1], {k: v[0] for k, v in args[2].items()}, args[3], args[4][0], args[5])
    template = _template(model, first)
    flat0, unravel = ravel_pytree(template)
    dim = int(flat0.shape[0])
    dense = dim <= DENSE_MAX_DIM
    metric = full_fit_metric(fit, model, first, dense)
    n_full = float(len(fit.table.frame) if fit.fitted_rows is None else np.sum(fit.fitted_rows))

    def nested_args(args, ref, mask):
        """One nested fit's model arguments: the full table's with its reference scales and mask."""
        x, family, _, y, _, run = args
        return x, family, ref, y, mask, run

    def potential(a, v):
        return potential_energy(model, a, {}, unravel(v))

    def start(args, ref, mask, mode, key, chol):
        """One nested fit's chains' starting points (its mode, jittered) and their metric."""
        a = nested_args(args, ref, mask)
        _, k_jitter = jax.random.split(key)  # the jitter's key as when the mode was searched here
        if chol is None:
            chol = batched_hmc.laplace_chol(lambda v: potential(a, v), mode, dense)
        else:  # a posterior's variance grows like 1 / rows where the rows decide it
            chol = chol * jnp.sqrt(n_full / jnp.sum(mask))
        starts = batched_hmc.shrink_starts(jitter(mode, chains, k_jitter), mode, chol, dense, INIT_JITTER)
        return starts, jnp.broadcast_to(chol, (chains,) + chol.shape)

    chain = batched_hmc.make_chain(potential, dim, warmup, draws, STEPS, TARGET_ACCEPT, dense)

    def lane(args, ref, mask, x0, key, chol):
        """One chain of one nested fit: its constrained draws and divergences."""
        a = nested_args(args, ref, mask)
        out = chain(a, x0, key, chol)
        values = jax.vmap(lambda v: constrain_fn(model, a, {}, unravel(v), return_deterministic=True))(out.z)
        return {name: v for name, v in values.items() if name != "obs"}, out.diverging

    def batch(args, modes, key, chol):
        refs, masks = args[2], args[4]
        k_start, k_run = jax.random.split(key)
        starts, chols = jax.vmap(lambda r, m, mode, k: start(args, r, m, mode, k, chol))(
            refs, masks, modes, jax.random.split(k_start, n_fits))
        # one vmap over nested fits x chains: nesting two vmaps doubles the batching work
        repeat = lambda v: jnp.repeat(v, chains, axis=0)
        flat = lambda v: v.reshape((n_fits * chains,) + v.shape[2:])
        samples, diverging = jax.vmap(lane, in_axes=(None, 0, 0, 0, 0, 0))(
            args, jax.tree.map(repeat, refs), repeat(masks), flat(starts),
            jax.random.split(k_run, n_fits * chains), flat(chols))
        return jax.tree.map(lambda v: v.reshape((n_fits, chains) + v.shape[1:]), (samples, diverging))

    chol = None if metric is None else jnp.asarray(metric)
    ident = (repr(plan), chains, warmup, draws, STEPS, TARGET_ACCEPT, dense)
    key = jax.random.PRNGKey(int(seed))
    modes = _modes(plan, model, args, jax.random.fold_in(key, 1))
    samples, diverging = programs.call("nested_fits", ident, batch, args, modes, key, chol)
    sampled = set(template)
    out = []
    for k in range(masks.shape[0]):
        logref = {name: float(v[k]) for name, v in args[2].items()}
        draws_k = {name: np.asarray(v[k]) for name, v in samples.items()}
        out.append(Fit(plan=plan, table=fit.table, logref=logref, samples=draws_k,
                       sample_stats={"diverging": np.asarray(diverging[k])}, timings={},
                       config={"nested": True, "seed": int(seed),
                               "max_r_hat": max_r_hat({n: draws_k[n] for n in sampled}, fit.run_index, masks[k])},
                       run_index=fit.run_index, fitted_rows=masks[k]))
    return out


def max_r_hat(draws: dict, run_index, mask: np.ndarray) -> float:
    """Largest R-hat of a nested fit's sampled quantities (``draws``: site -> (chains, draws,
    ...)), leaving out the run effects of runs it does not fit: those follow their prior, and its
    predictions of them draw new runs' effects. NaN when R-hat cannot be computed."""
    draws = dict(draws)
    if "run_z" in draws and run_index is not None:
        draws["run_z"] = draws["run_z"][..., np.unique(np.asarray(run_index)[mask])]
    return largest_r_hat(diagnose(draws))
