"""The one NUTS path: NumPyro's NUTS kernel, run per fit (:func:`sample_nuts`, continued while the
draws fall short of the targets) or as one pure chain for ``vmap`` (:func:`nuts_chain`, every lane
of :func:`bayeslaw.fit_many`); chain method and mass matrix."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS
from numpyro.infer.hmc import hmc

from bayeslaw.core import runtime
from bayeslaw.core.errors import FitError
from bayeslaw.modeling.build import ModelPlan
from bayeslaw.results.diagnostics import (
    RHAT_LIMIT,
    diagnose,
)
from bayeslaw.results.fit import sampled_sites

#: up to this many unconstrained dimensions the mass matrix is dense over everything; above it,
#: dense over the global block only. E, a and b of one family trade off, which a diagonal block
#: cannot follow, so a dense matrix needs far fewer leapfrog steps while its cost stays small
DENSE_MAX_DIM = 400


#: the bulk and tail ESS the default NUTS run goes on sampling for (Vehtari et al. 2021 ask for 400)
ESS_TARGET = 400


#: at most this many continuations of ``draws`` more draws each
MAX_EXTENSIONS = 2


#: runs asked for fewer draws per chain than this (quick looks, tests) are not continued
EXTEND_FROM = 1000


def sample_nuts(model, args: tuple, starts: dict | None, key, dense, chains: int, warmup: int,
                draws: int, target_accept: float, progress_bar: bool, enough=None):
    """Run NumPyro's NUTS on ``model(*args)``: the one NUTS runner of :func:`bayeslaw.fit` and of
    the downstream models (:func:`bayeslaw.downstream.base.sample`).

    Parameters
    ----------
    model : callable
        NumPyro model; ``args`` are passed to it positionally.
    args : tuple
        Model arguments (data stay arguments, so a compiled program is reused).
    starts : dict or None
        Per-chain unconstrained starting points (leading axis ``chains``), as
        :func:`bayeslaw.infer.start.map_start` returns; None for NumPyro's default start.
    key : jax.random.PRNGKey
        Random key of the run.
    dense : bool or list of tuple
        NumPyro's ``dense_mass`` (see :func:`mass_matrix`).
    chains, warmup, draws, target_accept, progress_bar
        As in :func:`bayeslaw.fit`.
    enough : callable, optional
        ``enough(samples)`` -> bool. While it is false the chains go on from where they
        stopped, ``draws`` more at a time, at most :data:`MAX_EXTENSIONS` times: the same
        compiled loop, adaptation frozen. None: one run of ``draws``.

    Returns
    -------
    samples : dict
        Draws by site, shaped (chains, draws, ...).
    stats : dict
        ``diverging`` and ``num_steps``, shaped (chains, draws).
    method : str
        The chain method used (see :func:`chain_method`).
    clock : dict
        Compile, run and total seconds (:func:`bayeslaw.core.runtime.stopwatch`).
    """
    method = chain_method(chains)
    kernel = NUTS(model, dense_mass=dense, target_accept_prob=target_accept)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=method, progress_bar=progress_bar)
    if chains == 1:
        starts = jax.tree.map(lambda v: v[0], starts)
    parts = []
    with runtime.stopwatch() as clock:
        try:
            mcmc.run(key, *args, init_params=starts, extra_fields=("diverging", "num_steps"))
        except RuntimeError as exc:
            if "valid initial parameters" not in str(exc):
                raise
            raise FitError("the sampler found no starting point where the model's density is finite: "
                           "check the table for extreme values (e.g. a target many orders of magnitude "
                           "from the others)") from None
        while True:
            parts.append((jax.tree.map(np.asarray, mcmc.get_samples(group_by_chain=True)),
                          jax.tree.map(np.asarray, mcmc.get_extra_fields(group_by_chain=True))))
            samples, stats = (jax.tree.map(lambda *v: np.concatenate(v, axis=1), *group)
                              for group in zip(*parts))
            if enough is None or len(parts) > MAX_EXTENSIONS or enough(samples):
                break
            mcmc.post_warmup_state = mcmc.last_state
            mcmc.run(mcmc.post_warmup_state.rng_key, *args, extra_fields=("diverging", "num_steps"))
    return samples, {"diverging": stats["diverging"], "num_steps": stats["num_steps"]}, method, clock


def nuts_chain(potential_gen: Callable, unravel: Callable, dense, warmup: int, draws: int,
               target_accept: float) -> Callable:
    """One NUTS chain as a pure function, for ``vmap`` over fits and chains.

    The kernel :func:`sample_nuts` runs (NumPyro's NUTS in its functional form,
    ``numpyro.infer.hmc.hmc``), with the same warmup adaptation, but no host loop around it, so a
    batch of chains compiles into one program. Every lane waits for the deepest tree of the
    batch: on CPU this is for hierarchical batches, where trajectory lengths must adapt.

    Parameters
    ----------
    potential_gen : callable
        ``potential_gen(*args)`` -> potential energy of an unconstrained point (a dict).
    unravel : callable
        Flat unconstrained vector -> dict of sites.
    dense : bool or list of tuple
        NumPyro's ``dense_mass`` (see :func:`mass_matrix`).
    warmup, draws, target_accept
        As in :func:`bayeslaw.fit`.

    Returns
    -------
    callable
        ``chain(args, start, key)`` with ``args`` the model's arguments, ``start`` a flat
        unconstrained point and ``key`` a PRNG key; it returns the draws (a dict of unconstrained
        sites with a leading ``draws`` axis), ``diverging`` and ``num_steps`` (each ``(draws,)``)
        and the adapted step size.
    """
    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")

    def chain(args, start, key):
        state = init_kernel(unravel(start), warmup, dense_mass=dense, target_accept_prob=target_accept,
                            trajectory_length=None, model_args=args, rng_key=key)
        # one loop over warmup + draws (a second loop would compile NUTS twice); warmup
        # iterations all write slot 0, which the first kept draw overwrites
        record = lambda s: (s.z, s.diverging, s.num_steps)
        buffers = jax.tree.map(lambda v: jnp.zeros((draws,) + jnp.shape(v), jnp.result_type(v)),
                               record(state))

        def step(i, carry):
            s, buf = carry
            s = sample_kernel(s, model_args=args)
            slot = jnp.maximum(i - warmup, 0)
            return s, jax.tree.map(lambda b, v: b.at[slot].set(v), buf, record(s))

        state, (zs, diverging, steps) = jax.lax.fori_loop(0, warmup + draws, step, (state, buffers))
        return zs, diverging, steps, state.adapt_state.step_size

    return chain


def converged(plan: ModelPlan, samples: dict, chains: int) -> bool:
    """Whether NUTS's draws meet the default's targets: R-hat at most 1.01 and a bulk and a tail
    ESS of at least :data:`ESS_TARGET` on every sampled quantity (1 chain: nothing to extend
    for)."""
    if chains < 2:
        return True
    diag = diagnose({k: samples[k] for k in sampled_sites(plan, samples)})
    return bool((diag["r_hat"].max() <= RHAT_LIMIT)
                and (diag[["ess_bulk", "ess_tail"]].min().min() >= ESS_TARGET))


def chain_method(chains: int) -> str:
    """Parallel across devices when there are enough; else vectorized on accelerators and
    sequential on CPU, where vectorized NUTS makes every chain wait for the longest trajectory."""
    if chains == 1:
        return "sequential"
    if jax.local_device_count() >= chains:
        return "parallel"
    return "sequential" if jax.default_backend() == "cpu" else "vectorized"


def mass_matrix(plan: ModelPlan | None, dim: int, limit: int = DENSE_MAX_DIM):
    """NumPyro ``dense_mass`` argument for a model with ``dim`` unconstrained dimensions.

    Dense over everything up to ``limit`` dimensions; above it, dense over the ``plan``'s global
    block, or diagonal when there is none (no plan: a model not built from a law file). Each
    family of models passes the limit it was tuned with (:data:`DENSE_MAX_DIM` for law fits).
    """
    if dim <= limit:
        return True
    block = plan.global_sites() if plan is not None else ()
    return [tuple(block)] if block else False


def dim_of(starts: dict) -> int:
    """Unconstrained dimensions of a model from its per-chain starting points."""
    return sum(int(np.prod(v.shape[1:])) for v in jax.tree.leaves(starts))
