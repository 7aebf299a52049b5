"""Hamiltonian Monte Carlo built for many chains in one program (the default sampler of fit_many).

Under ``jax.vmap`` over fits x chains, NUTS is only as fast as its longest trajectory: every lane
waits at each iteration for the lane whose tree grew deepest, so the batch pays the deepest tree's
leapfrog steps at every draw. NumPyro's warmup also
runs under ``vmap`` with a per-lane iteration counter, which turns its window-end ``cond`` into
a ``select``: the step-size search of a window end is paid at every iteration.

This kernel avoids both:

* Every iteration uses the same number of leapfrog steps in all lanes, drawn uniformly from
  ``steps/2 .. 3*steps/2`` (shared, state-independent, so each chain stays reversible with
  respect to its posterior; the jitter breaks the periodic trajectories a fixed length can
  fall into). Step sizes and mass matrices stay per lane, so trajectory lengths differ by fit.
* Adaptation follows Stan's schedule (dual averaging of the step size towards
  ``target_accept``; windowed dense or diagonal mass matrix from Welford estimates, regularised
  as Stan does; a step-size search at every window end), but the branch points depend only on
  the loop index, which is the same for every lane, so ``cond`` stays a real branch.

Chains start from given points (the MAP point, jittered, in fit_many). The kernel works on a
flat unconstrained vector: ``potential(args, x)`` is the negative log density.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc_util import build_adaptation_schedule, dual_averaging, welford_covariance

#: energy error above which a transition counts as divergent (NumPyro's and Stan's threshold)
MAX_DELTA_ENERGY = 1000.0
#: doublings/halvings tried by the step-size search at the start and at every window end
SEARCH_TRIES = 10


class Draws(NamedTuple):
    """Post-warmup output of one chain."""

    z: jax.Array  # (draws, dim) unconstrained positions
    diverging: jax.Array  # (draws,)
    num_steps: jax.Array  # (draws,)
    accept_prob: jax.Array  # (draws,)
    step_size: jax.Array  # () after warmup


def laplace_chol(objective: Callable, x: jax.Array, dense: bool) -> jax.Array:
    """Starting metric from the curvature at ``x`` (the mode): the Cholesky factor of the
    inverse Hessian (dense) or the square roots of its diagonal; the identity where the Hessian
    is not positive definite (a mode on a boundary, an unidentified direction)."""
    dim = x.shape[0]
    h = jax.hessian(objective)(x)
    h = 0.5 * (h + h.T)
    cov = jnp.linalg.inv(h)
    chol = jnp.linalg.cholesky(cov)
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.diag(chol) > 0)
    if dense:
        return jnp.where(ok, chol, jnp.eye(dim, dtype=x.dtype))
    return jnp.where(ok, jnp.sqrt(jnp.diag(cov)), jnp.ones(dim, x.dtype))


def shrink_starts(starts: jax.Array, centre: jax.Array, chol: jax.Array, dense: bool,
                  jitter: float) -> jax.Array:
    """Chains' starting points with their offsets from the mode cut to the posterior's scale.

    ``starts`` are ``centre`` plus ``jitter`` times standard normal noise, shape ``(chains,
    dim)``; each coordinate's offset is shrunk to at most the Laplace marginal sd from ``chol``
    (:func:`laplace_chol`), so the noise becomes ``min(jitter, sd)`` per coordinate. A fixed
    unconstrained jitter is tens of posterior sds on a large table, and chains descending from
    that far with a fixed trajectory length can be thrown into a heavy tail (the Student-t
    ``df``) and stay there; NUTS lengthens its trajectories and recovers, this kernel needs the
    start.
    """
    sd = jnp.sqrt(jnp.sum(chol * chol, axis=1)) if dense else chol
    return centre + (starts - centre) * jnp.minimum(1.0, sd / jitter)


class _State(NamedTuple):
    x: jax.Array
    u: jax.Array  # potential at x
    g: jax.Array  # its gradient
    step_size: jax.Array
    chol: jax.Array  # (dim, dim) or (dim,): Cholesky factor of the inverse mass matrix
    da: tuple  # dual-averaging state
    welford: tuple
    key: jax.Array


def step_counts(steps: int, iterations: int) -> np.ndarray:
    """Leapfrog steps of each iteration: uniform on ``ceil(steps/2) .. steps + steps//2``.

    A fixed sequence (the same for every fit, chain and seed): it only has to be independent of
    the chains' states.
    """
    low, high = max(1, -(-steps // 2)), max(1, steps + steps // 2)
    return np.random.default_rng(20241123).integers(low, high + 1, size=iterations)


def _schedule_flags(warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Per warmup iteration: whether it feeds the mass-matrix estimate, and whether it closes a
    mass-matrix window (Stan's schedule: fast buffer, doubling slow windows, fast buffer)."""
    windows = build_adaptation_schedule(warmup)
    collect = np.zeros(warmup, bool)
    closes = np.zeros(warmup, bool)
    for w in windows[1:-1]:
        collect[w.start:w.end + 1] = True
        closes[w.end] = True
    return collect, closes


def make_chain(potential: Callable, dim: int, warmup: int, draws: int, steps: int,
               target_accept: float, dense: bool) -> Callable:
    """Build ``chain(args, x0, key, chol0) -> Draws`` for one chain; ``jax.vmap`` it over lanes.

    ``chol0`` is the starting metric: a Cholesky factor of the inverse mass matrix (dense) or
    its diagonal's square root, e.g. from the Hessian at the mode (:func:`laplace_chol`). A
    fixed trajectory length cannot recover from a start whose scales are far off (a direction
    the metric shrinks barely moves within a window, so the next estimate shrinks it again),
    which NUTS escapes by lengthening its trajectories.

    Parameters
    ----------
    potential : callable
        ``potential(args, x)``: negative log density at the flat unconstrained point ``x``.
    dim : int
        Length of ``x``.
    warmup, draws : int
        Adaptation iterations and kept draws.
    steps : int
        Mean leapfrog steps per iteration (see :func:`step_counts`).
    target_accept : float
        Target mean acceptance probability of the step-size adaptation.
    dense : bool
        Dense mass matrix (else diagonal).
    """
    collect, closes = _schedule_flags(warmup)
    # the step size is searched for at the start and after every mass-matrix update
    search = np.concatenate([[True], closes, np.zeros(draws, bool)])[:warmup + draws]
    # flags cover every iteration (sampling ones are False), so indexing never leaves the array
    collect, closes = (jnp.asarray(np.concatenate([a, np.zeros(draws, bool)])) for a in (collect, closes))
    search = jnp.asarray(search)
    counts = jnp.asarray(step_counts(steps, warmup + draws))
    da_init, da_update = dual_averaging()
    wf_init, wf_update, wf_final = welford_covariance(diagonal=not dense)

    def mul(chol, v):  # velocity from momentum: chol @ v
        return chol @ v if dense else chol * v

    def tmul(chol, v):  # chol.T @ v
        return chol.T @ v if dense else chol * v

    def chain(args, x0, key, chol0):
        value_and_grad = jax.value_and_grad(lambda x: potential(args, x))

        def leapfrog(n, eps, chol, x, p, g):
            def body(_, carry):
                x, p, g, _u = carry
                p = p - 0.5 * eps * tmul(chol, g)
                x = x + eps * mul(chol, p)
                u, g = value_and_grad(x)
                p = p - 0.5 * eps * tmul(chol, g)
                return x, p, g, u
            return jax.lax.fori_loop(0, n, body, (x, p, g, jnp.zeros((), x.dtype)))

        def transition(state: _State, n):
            key, k_p, k_u = jax.random.split(state.key, 3)
            p0 = jax.random.normal(k_p, state.x.shape, state.x.dtype)
            x, p, g, u = leapfrog(n, state.step_size, state.chol, state.x, p0, state.g)
            delta = (u + 0.5 * p @ p) - (state.u + 0.5 * p0 @ p0)
            delta = jnp.where(jnp.isnan(delta), jnp.inf, delta)
            accept_prob = jnp.minimum(1.0, jnp.exp(-delta))
            accept = jax.random.uniform(k_u, (), x.dtype) < accept_prob
            new = state._replace(x=jnp.where(accept, x, state.x), u=jnp.where(accept, u, state.u),
                                 g=jnp.where(accept, g, state.g), key=key)
            return new, accept_prob, delta > MAX_DELTA_ENERGY

        def search_step_size(state: _State) -> jax.Array:
            """Double or halve the step size until one leapfrog step's acceptance crosses 0.8
            (the first try, at the current step size, sets the direction)."""
            keys = jax.random.split(jax.random.fold_in(state.key, 1), SEARCH_TRIES + 1)

            def body(k, carry):
                eps, grow, done = carry
                trial = jnp.where(k == 0, eps, jnp.where(grow, eps * 2.0, eps * 0.5))
                p0 = jax.random.normal(keys[k], state.x.shape, state.x.dtype)
                _, p, _, u = leapfrog(1, trial, state.chol, state.x, p0, state.g)
                delta = (u + 0.5 * p @ p) - (state.u + 0.5 * p0 @ p0)
                ok = jnp.where(jnp.isnan(delta), -jnp.inf, -delta) > jnp.log(0.8)
                grow = jnp.where(k == 0, ok, grow)
                # crossed: keep the step size on the safe side of the threshold
                eps = jnp.where(done | (grow & ~ok), eps, trial)
                return eps, grow, done | ((k > 0) & (ok != grow))

            init = (state.step_size, jnp.asarray(False), jnp.asarray(False))
            return jax.lax.fori_loop(0, SEARCH_TRIES + 1, body, init)[0]

        def restart_adaptation(state: _State) -> _State:
            eps = search_step_size(state)
            return state._replace(step_size=eps, da=da_init(jnp.log(10.0 * eps)))

        def close_window(state: _State) -> _State:
            cov, _, _ = wf_final(state.welford, regularize=True)
            chol = jnp.linalg.cholesky(cov) if dense else jnp.sqrt(cov)
            ok = jnp.all(jnp.isfinite(chol))
            return state._replace(chol=jnp.where(ok, chol, state.chol), welford=wf_init(dim))

        def adapt(i, state: _State, accept_prob) -> _State:
            da = da_update(target_accept - accept_prob, state.da)
            log_eps = jnp.where(i == warmup - 1, da[1], da[0])
            finfo = jnp.finfo(state.x.dtype)
            state = state._replace(da=da, step_size=jnp.clip(jnp.exp(log_eps), finfo.tiny, finfo.max))
            state = jax.lax.cond(collect[i], lambda s: s._replace(welford=wf_update(s.x, s.welford)),
                                 lambda s: s, state)
            return jax.lax.cond(closes[i], close_window, lambda s: s, state)

        u0, g0 = value_and_grad(x0)
        state = _State(x0, u0, g0, jnp.ones((), x0.dtype), chol0, da_init(), wf_init(dim), key)
        zero = jnp.zeros((), x0.dtype)
        buffers = Draws(jnp.zeros((draws, dim), x0.dtype), jnp.zeros(draws, bool),
                        jnp.zeros(draws, counts.dtype), jnp.zeros(draws, x0.dtype), zero)

        def iteration(i, carry):
            state, out = carry
            state = jax.lax.cond(search[i], restart_adaptation, lambda s: s, state)
            state, accept_prob, diverging = transition(state, counts[i])
            state = jax.lax.cond(i < warmup, lambda s: adapt(i, s, accept_prob), lambda s: s, state)
            # warmup iterations all write slot 0, which the first kept draw overwrites
            slot = jnp.maximum(i - warmup, 0)
            out = out._replace(z=out.z.at[slot].set(state.x), diverging=out.diverging.at[slot].set(diverging),
                               num_steps=out.num_steps.at[slot].set(counts[i]),
                               accept_prob=out.accept_prob.at[slot].set(accept_prob))
            return state, out

        state, out = jax.lax.fori_loop(0, warmup + draws, iteration, (state, buffers))
        return out._replace(step_size=state.step_size)

    return chain
