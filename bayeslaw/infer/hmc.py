"""Sample one fit's chains with :mod:`bayeslaw.infer.batched_hmc` (``bl.fit``, ``sampler="hmc"`` or "auto").

NUTS runs each chain's trajectories to their own length, and on CPU its chains run one after
another (vectorised NUTS makes every chain wait for the deepest tree). The fixed-length HMC
kernel has no such wait: all chains run in one vectorised program, split over the local devices
when there are several, starting from the MAP point with the inverse Hessian there as the metric.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, PartitionSpec
from numpyro.infer.util import constrain_fn, potential_energy

from bayeslaw.infer import batched_hmc, programs

_AXIS = "chains"


def sample(model, args: tuple, centre: dict, starts: dict, key, *, warmup: int, draws: int,
           steps: int, target_accept: float, dense: bool, jitter: float,
           program: str | None = None) -> tuple[dict, dict]:
    """Run ``chains`` HMC chains of ``model`` from ``starts`` (unconstrained, leading chain axis).

    Parameters
    ----------
    model : callable
        The NumPyro model; ``args`` its positional arguments.
    centre : dict
        The MAP point (unconstrained): the Hessian there gives every chain's starting metric.
    starts : dict
        Per-chain starting points, each site with a leading chain axis: ``centre`` plus ``jitter``
        times standard normal noise. Each offset is cut to the Laplace sd at the mode
        (:func:`bayeslaw.infer.batched_hmc.shrink_starts`).
    key : jax.Array
        PRNG key; chain ``c`` uses ``fold_in(key, c)``.
    warmup, draws, steps, target_accept, dense
        As in :func:`bayeslaw.infer.batched_hmc.make_chain`.
    program : str, optional
        Names ``model`` for :mod:`bayeslaw.infer.programs`: a later call with the same model, shapes
        and settings reuses the compiled sampler. None compiles it afresh.

    Returns
    -------
    samples : dict
        Constrained draws of every sampled and deterministic site, shape ``(chains, draws, ...)``.
    stats : dict
        ``diverging``, ``num_steps`` and ``step_size``, each ``(chains, draws)``.
    """
    flat_centre, unravel = ravel_pytree(centre)
    flat_starts = jax.vmap(lambda s: ravel_pytree(s)[0])(starts)
    chains, dim = flat_starts.shape

    # built straight from the model (numpyro's initialize_model would run it eagerly again)
    def flat_potential(a, v):
        return potential_energy(model, a, {}, unravel(v))

    def constrained(a, v):
        return constrain_fn(model, a, {}, unravel(v), return_deterministic=True)

    chain = batched_hmc.make_chain(flat_potential, dim, warmup, draws, steps, target_accept, dense)

    def run(a, centre_v, starts_v, keys):
        chol = batched_hmc.laplace_chol(lambda v: flat_potential(a, v), centre_v, dense)
        starts_v = batched_hmc.shrink_starts(starts_v, centre_v, chol, dense, jitter)
        chol = jnp.broadcast_to(chol, (starts_v.shape[0],) + chol.shape)
        out = jax.vmap(chain, in_axes=(None, 0, 0, 0))(a, starts_v, keys, chol)
        values = jax.vmap(jax.vmap(lambda z: constrained(a, z)))(out.z)
        return values, out.diverging, out.num_steps, out.step_size

    n_dev = jax.local_device_count()
    if n_dev > 1 and chains % n_dev == 0:
        mesh = Mesh(np.array(jax.local_devices()), (_AXIS,))
        split, whole = PartitionSpec(_AXIS), PartitionSpec()
        run = jax.shard_map(run, mesh=mesh, in_specs=(whole, whole, split, split),
                            out_specs=split, check_vma=False)
    keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(jnp.arange(chains))
    ident = None if program is None else (program, warmup, draws, steps, target_accept, dense, jitter)
    samples, diverging, num_steps, step_size = jax.tree.map(
        np.asarray, programs.call("hmc", ident, run, args, flat_centre, flat_starts, keys))
    stats = {"diverging": diverging, "num_steps": num_steps,
             "step_size": np.broadcast_to(step_size[:, None], diverging.shape).copy()}
    return samples, stats
