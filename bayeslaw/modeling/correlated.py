"""Correlated family effects: parameters with pooling ``correlated`` vary jointly across families.

All parameters of a fit whose pooling is ``correlated`` form one block. In the unconstrained space
of each prior (log space for positive parameters), family f's vector is::

    u_f = T^-1(population) + sd * (L z_f),   z_f ~ Normal(0, I),   L ~ LKJCholesky(k, eta=2)

so the block has per-parameter population values and between-family sds as with ``partial``,
plus a correlation matrix L L^T with an LKJ prior. Fitted (log A, alpha) and (log B, beta) of real
model families are strongly correlated (Choshen et al. 2024); this lets the model learn that.
Sites: ``corr_chol`` (k x k Cholesky factor), ``corr_z`` (F x k), deterministic ``corr`` (k x k).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

LKJ_CONCENTRATION = 2.0


def members(plan) -> list:
    """Specs of the correlated block, in the plan's parameter order."""
    return [s for s in plan.ordered_params() if plan.pooling_map[s.name] == "correlated"]


def _combine(specs, populations, sds, chol, z):
    """Family values (..., F, k) -> list of k arrays on each parameter's own scale."""
    loc = jnp.stack([biject_to(s.prior.support).inv(p) for s, p in zip(specs, populations)], -1)
    scale = jnp.stack(sds, -1)
    u = loc[..., None, :] + scale[..., None, :] * jnp.einsum("...ij,...fj->...fi", chol, z)
    return [biject_to(s.prior.support)(u[..., j]) for j, s in enumerate(specs)]


def sample_block(plan) -> dict:
    """Sample the block inside a NumPyro model; returns name -> (population, family values (F,))."""
    specs = members(plan)
    if not specs:
        return {}
    populations = [numpyro.sample(plan.site(s.name), s.prior.build()) for s in specs]
    sds = [numpyro.sample(f"{plan.site(s.name)}_sd", dist.HalfNormal(s.pool_scale)) for s in specs]
    chol = numpyro.sample("corr_chol", dist.LKJCholesky(len(specs), LKJ_CONCENTRATION))
    numpyro.deterministic("corr", chol @ chol.T)
    with numpyro.plate("family", plan.n_families):
        z = numpyro.sample("corr_z", dist.Normal(0.0, 1.0).expand([len(specs)]).to_event(1))
    values = _combine(specs, populations, sds, chol, z)
    out = {}
    for spec, population, value in zip(specs, populations, values):
        out[spec.name] = (population, numpyro.deterministic(f"{plan.site(spec.name)}_family", value))
    return out


def new_family_draws(plan, samples: dict, key) -> dict:
    """Values of the block for a family not in the fit, one per posterior draw: name -> (S,)."""
    specs = members(plan)
    if not specs:
        return {}
    populations = [samples[plan.site(s.name)] for s in specs]
    sds = [samples[f"{plan.site(s.name)}_sd"] for s in specs]
    chol = samples["corr_chol"]
    z = jax.random.normal(key, (chol.shape[0], 1, len(specs)))
    values = _combine(specs, populations, sds, chol, z)
    return {s.name: v[:, 0] for s, v in zip(specs, values)}
