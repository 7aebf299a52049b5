"""The compiled program behind :func:`bayeslaw.infer.batch.fit_many`: every chain of every fit
in one ``jax.vmap``, split over devices.

:func:`build` makes, for one model plan, the function from the batched model arguments and
per-fit keys to draws and sampler statistics: each lane finds its own MAP start (damped Newton
from the closed-form prior median, as :func:`bayeslaw.fit`), jitters its chains' starts and runs
either :mod:`bayeslaw.infer.batched_hmc` or the NUTS kernel as a pure chain
(:func:`bayeslaw.infer.nuts.nuts_chain`), with one vmap over fits x chains. On more than one
device the fit axis is sharded with ``jax.shard_map``. :func:`run` calls it, kept compiled in
:mod:`bayeslaw.infer.programs` in one process, or fed global arrays and gathered on every process
under ``jax.distributed``. Kept apart from :func:`~bayeslaw.infer.batch.fit_many`, which checks
and pads the tables and turns the draws into fits, because this is the part that is traced and
compiled.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from numpyro.infer.util import constrain_fn, potential_energy

from bayeslaw.infer import batched_hmc, programs
from bayeslaw.infer.nuts import mass_matrix, nuts_chain
from bayeslaw.infer.start import (
    INIT_JITTER,
    jitter,
    newton_mode,
    prior_median,
    search_plan,
    to_centred,
)
from bayeslaw.modeling.build import ModelPlan, build_model

_AXIS = "fits"


def build(plan: ModelPlan, example_args: tuple, chains: int, warmup: int, draws: int,
          target_accept: float, sampler: str, steps: int, n_devices: int):
    """The batch program: (batched args, per-fit keys) -> draws and sampler statistics.

    Starting points follow :func:`bayeslaw.infer.start.map_start`, through the same functions
    (:func:`~bayeslaw.infer.start.search_plan`, :func:`~bayeslaw.infer.start.newton_mode` from the
    closed-form prior median, :func:`~bayeslaw.infer.start.jitter`); damped Newton's iterations
    cost the same in every lane. The prior median does not depend on the data, so it is computed
    once, before the program (kept in :mod:`bayeslaw.infer.programs` like the batch itself), not
    once per fit inside it. Returns the function, whether the mass matrix is dense, and the
    device mesh (None on one device).
    """
    def initial(p: ModelPlan):
        """Model, flat prior median (unconstrained), unravel, and potential and constrain functions."""
        model_fn = build_model(p)
        median = programs.call("prior_median_closed", repr(p),
                               partial(prior_median, model_fn, closed_form=True),
                               jax.random.PRNGKey(0), example_args)
        potential = lambda *a: partial(potential_energy, model_fn, a, {})
        constrain = lambda *a: partial(constrain_fn, model_fn, a, {}, return_deterministic=True)
        return *ravel_pytree(median), potential, constrain

    flat0, unravel, potential_gen, postprocess_gen = initial(plan)
    dense = mass_matrix(plan, int(flat0.shape[0]))
    # as bl.fit: the mode of search_plan(plan), mapped back to plan's coordinates
    search = search_plan(plan)
    nc = search is not plan
    search0, search_unravel, search_gen, _ = initial(search) if nc \
        else (flat0, unravel, potential_gen, None)

    def map_starts(args, key):
        point = newton_mode(search_gen(*args), search_unravel(search0))
        centre = ravel_pytree(to_centred(plan, point) if nc else point)[0]
        starts = jitter(centre, chains, key)
        if sampler != "hmc":
            return starts, None
        chol = batched_hmc.laplace_chol(lambda v: flat_potential(args, v), centre, dense is True)
        starts = batched_hmc.shrink_starts(starts, centre, chol, dense is True, INIT_JITTER)
        return starts, jnp.broadcast_to(chol, (chains,) + chol.shape)

    def flat_potential(args, v):
        return potential_gen(*args)(unravel(v))

    if sampler == "hmc":
        hmc_chain = batched_hmc.make_chain(flat_potential, int(flat0.shape[0]), warmup, draws,
                                           steps, target_accept, dense is True)

        def run_chain(args, start, key, chol0):
            out = hmc_chain(args, start, key, chol0)
            return jax.vmap(unravel)(out.z), out.diverging, out.num_steps, out.step_size
    else:
        nuts = nuts_chain(potential_gen, unravel, dense, warmup, draws, target_accept)
        run_chain = lambda args, start, key, _: nuts(args, start, key)

    def one_chain(args, start, key, chol0):
        z, diverging, num_steps, step_size = run_chain(args, start, key, chol0)
        return jax.vmap(postprocess_gen(*args))(z), diverging, num_steps, step_size

    def batch(args, keys):
        n = keys.shape[0]
        k_init, k_run = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        starts, chol0 = jax.vmap(map_starts)(args, k_init)
        starts = starts.reshape(n * chains, -1)
        chol0 = None if chol0 is None else chol0.reshape((n * chains,) + chol0.shape[2:])
        lanes = jax.tree.map(lambda v: jnp.repeat(v, chains, axis=0), args)
        chain_keys = jax.vmap(lambda k: jax.random.split(k, chains))(k_run).reshape(n * chains, -1)
        # a single vmap over fits x chains: nesting two vmaps doubles the batching work at trace time
        out = jax.vmap(one_chain)(lanes, starts, chain_keys, chol0)
        return jax.tree.map(lambda v: v.reshape((n, chains) + v.shape[1:]), out)

    mesh = None
    if n_devices > 1:
        # jax.devices() spans every process once jax.distributed is initialised (multi-host)
        mesh = Mesh(np.array(jax.devices()[:n_devices]), (_AXIS,))
        batch = jax.shard_map(batch, mesh=mesh, in_specs=PartitionSpec(_AXIS),
                              out_specs=PartitionSpec(_AXIS), check_vma=False)
    return batch, dense is True, mesh


def run(batch, mesh, ident: tuple, args, keys):
    """Run the batch program: in one process through :mod:`bayeslaw.infer.programs` (kept
    compiled for the next batch of the same shape); across processes, fed global arrays, with
    every fit gathered everywhere."""
    if jax.process_count() == 1:
        return programs.call("batch", ident, batch, args, keys)
    sharding = NamedSharding(mesh, PartitionSpec(_AXIS))
    place = lambda v: jax.make_array_from_callback(v.shape, sharding, lambda index: v[index])
    out = jax.jit(batch)(jax.tree.map(place, args), place(np.asarray(keys)))
    return jax.tree.map(np.asarray, multihost_utils.process_allgather(out, tiled=True))
