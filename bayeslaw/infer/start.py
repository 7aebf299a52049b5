"""Where chains start: the prior median and the MAP point (damped Newton or BFGS), jittered per chain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import init_to_median
from numpyro.infer.util import initialize_model, potential_energy

from bayeslaw.infer import programs
from bayeslaw.infer.mode_search import damped_newton
from bayeslaw.infer.prior_medians import init_to_closed_form_median
from bayeslaw.modeling.build import ModelPlan, build_model

INIT_JITTER = 0.1  # sd of the per-chain perturbation of the MAP point, unconstrained space


#: largest model whose MAP bl.fit searches by damped Newton (a Hessian costs ~dim gradients)
NEWTON_MAX_DIM = 64


def log_reference(plan: ModelPlan, inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Log geometric mean of every input a parameter is centred on or the noise trends with."""
    names = {s.center.input for s in plan.law.params.values() if s.center is not None}
    if plan.law.likelihood.trend_input is not None:
        names.add(plan.law.likelihood.trend_input)
    return {name: float(np.mean(np.log(inputs[name]))) for name in sorted(names)}


def model_args(table, logref: Mapping[str, float], with_target: bool = True) -> tuple:
    """Arrays passed to the model (data stay arguments, so compiled programs are reused)."""
    x = {k: jnp.asarray(v) for k, v in table.inputs.items()}
    ref = {k: jnp.asarray(v) for k, v in logref.items()}
    y = jnp.asarray(table.target) if with_target else None
    return x, jnp.asarray(table.family_index), ref, y


def prior_median(model, key, args: tuple, closed_form: bool = False) -> dict:
    """Unconstrained prior median of every sampled site: the median of 15 prior draws (NumPyro's
    ``init_to_median``), or with ``closed_form`` each prior's median computed without drawing
    (:mod:`bayeslaw.infer.prior_medians`; no sampler to compile). Call it traced (under ``jit``): run
    eagerly, each of its 140-200 small operations is compiled on its own (3-6 s of start-up)."""
    strategy = init_to_closed_form_median() if closed_form else init_to_median(num_samples=15)
    info = initialize_model(key, model, model_args=args, dynamic_args=True, init_strategy=strategy)[0]
    return info[0]


def find_map(model, args: tuple, key, program: str | None = None, newton: bool = False) -> dict:
    """MAP point in unconstrained space, searched from the prior median (the median itself if
    the search fails).

    ``newton``: damped Newton (:func:`bayeslaw.infer.mode_search.damped_newton`, as ``fit_many``) when
    the model has at most ``NEWTON_MAX_DIM`` dimensions, else one BFGS run. From the prior
    median, BFGS's line search often stops well above the mode of a scaling law's posterior,
    where damped Newton reaches it. The downstream models keep BFGS, which they were tuned with.

    ``program`` names the model for :mod:`bayeslaw.infer.programs` (a refit of the same shape reuses
    both compiled programs); None compiles them afresh."""
    def optimise(start, args):
        flat0, unravel = ravel_pytree(start)
        objective = lambda v: potential_energy(model, args, {}, unravel(v))
        if newton and flat0.shape[0] <= NEWTON_MAX_DIM:
            return newton_mode(lambda point: potential_energy(model, args, {}, point), start)
        result = jax.scipy.optimize.minimize(objective, flat0, method="BFGS", options={"maxiter": 300})
        # judge the returned point itself: after a failed line search result.fun can be finite
        # while the point's potential is infinite, and chains started there never move
        value = objective(result.x)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(result.x)) & (value <= objective(flat0))
        return unravel(jnp.where(ok, result.x, flat0))

    # the Newton search starts from the closed-form median (nothing to compile for it), BFGS
    # from the 15-draw median it was tuned with
    start = programs.call("prior_median_closed" if newton else "prior_median", program,
                          partial(prior_median, model, closed_form=newton), key, args)
    return programs.call("map_newton" if newton else "map_bfgs", program, optimise, start, args)


def newton_mode(potential: Callable[[dict], jax.Array], start: dict) -> dict:
    """Mode of ``potential`` by damped Newton (:func:`bayeslaw.infer.mode_search.damped_newton`)
    from ``start``, both in unconstrained space.

    The MAP search of law models, shared by :func:`bayeslaw.fit` (through :func:`find_map`) and
    :func:`bayeslaw.fit_many` (inside its vmapped program: every iteration costs the same in
    every lane). ``start`` is the closed-form prior median (:func:`prior_median`).
    """
    flat0, unravel = ravel_pytree(start)
    return unravel(damped_newton(lambda v: potential(unravel(v)), flat0))


def search_plan(plan: ModelPlan) -> ModelPlan:
    """The plan whose mode is searched for ``plan``: its non-centred form for a centred
    hierarchy, whose density is unbounded as a between-family sd goes to zero (it grows like
    sd^(1-F)), so a direct search ends in the neck of the funnel (seen: every transition
    divergent at 20 families); the point found is mapped back by :func:`to_centred`."""
    if plan.centered and "partial" in plan.pooling_map.values():
        return replace(plan, centered=False)
    return plan


def jitter(centre: jax.Array, chains: int, key) -> jax.Array:
    """Per-chain starting points (chains, dim): the flat point ``centre`` plus independent
    normal noise of sd :data:`INIT_JITTER`, so chains stay distinct and R-hat can still detect
    a multimodal or poorly identified posterior."""
    return centre + INIT_JITTER * jax.random.normal(key, (chains, centre.shape[0]), centre.dtype)


def to_centred(plan: ModelPlan, point: dict) -> dict:
    """Map a non-centred unconstrained point to the centred model's coordinates.

    numpyro's unconstrained value of a population site is T^-1(population) with T the bijection
    onto its prior's support, the same T the model pools in, so u = T^-1(pop) + sd * z exactly.
    """
    out = dict(point)
    for spec in plan.ordered_params():
        if plan.pooling_map[spec.name] == "partial":
            site = plan.site(spec.name)
            out[f"{site}_u"] = out[site] + jnp.exp(out[f"{site}_sd"]) * out.pop(f"{site}_z")
    return out


def map_start(model, args: tuple, chains: int, key, plan: ModelPlan | None = None) -> dict:
    """Per-chain starting points: the MAP point, jittered."""
    return map_start_and_point(model, args, chains, key, plan)[0]


def map_start_and_point(model, args: tuple, chains: int, key,
                        plan: ModelPlan | None = None) -> tuple[dict, dict]:
    """Per-chain starting points (the MAP point, jittered) and the MAP point itself.

    Starting near the mode skips the long initial transient of warmup; the jitter keeps chains
    distinct (:func:`jitter`). For a ``plan`` the mode is searched in :func:`search_plan`'s form
    and mapped back. Law models (a ``plan``) are searched by damped Newton, other models (the
    downstream ones) by BFGS (see :func:`find_map`).
    """
    k_init, k_jit = jax.random.split(key)
    point = map_point(model, args, k_init, plan)
    centre, unravel = ravel_pytree(point)
    return jax.vmap(unravel)(jitter(centre, chains, k_jit)), point


def map_point(model, args: tuple, key, plan: ModelPlan | None = None) -> dict:
    """The MAP point of :func:`map_start_and_point` (unconstrained, in ``plan``'s coordinates):
    for a ``plan`` searched in :func:`search_plan`'s form and mapped back, by damped Newton;
    other models by BFGS (see :func:`find_map`)."""
    newton = plan is not None
    search = plan if plan is None else search_plan(plan)
    if search is not plan:
        return to_centred(plan, find_map(build_model(search), args, key, repr(search), newton))
    return find_map(model, args, key, None if plan is None else repr(plan), newton)
