"""Greedy preposterior selection of runs: the reweighting kernels and the selection loop of
:func:`bayeslaw.decide.design.suggest_runs` (see that module's docstring for the method).

The pool is the mixture posterior's draws: per draw the target quantity ``q`` (S, T) and each
candidate's likelihood location and scale and its noise sd in log target (S, C). In ``outer``
simulated worlds, each with a truth drawn from the pool, every step simulates every candidate's
outcome, reweights the pool by it and takes the candidate whose expected predictive sd of the
target (the remaining variance plus the extrapolation error's share,
:mod:`bayeslaw.decide.design_extrapolation`, under the root) drops the most, per unit cost or in
all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np


def _logpdf(y, loc, scale, df, normal):
    """Log density of ``y`` under Student-t(df, loc, scale), or normal where ``normal``."""
    z = (y - loc) / scale
    t = (jax.scipy.special.gammaln(0.5 * (df + 1.0)) - jax.scipy.special.gammaln(0.5 * df)
         - 0.5 * jnp.log(df * jnp.pi) - 0.5 * (df + 1.0) * jnp.log1p(z**2 / df))
    n = -0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi)
    return jnp.where(normal, n, t) - jnp.log(scale)


def _weighted(logw, q):
    """Weighted variance of the target (mean over its components) and ESS fraction."""
    w = jax.nn.softmax(logw)
    centre = w @ q
    var = (w @ (q - centre) ** 2).mean()
    return var, 1.0 / (jnp.sum(w**2) * w.shape[0])


@jax.jit
def _score(base, y, loc, scale, df, normal, q):
    """Remaining variance and ESS fraction per world (M) for each candidate (C): (C, M) each.

    ``base`` (M, S) holds log prior mass plus the log likelihood of the runs chosen so far in
    each world; ``y`` (M, C) the candidates' simulated outcomes at this step.
    """
    def one(c_loc, c_scale, c_y):
        ll = _logpdf(c_y[:, None], c_loc[None, :], c_scale[None, :], df[None, :], normal[None, :])
        return jax.vmap(_weighted, in_axes=(0, None))(base + ll, q)

    return jax.lax.map(lambda args: one(*args), (loc.T, scale.T, y.T))


@jax.jit
def _now(base, q):
    return jax.vmap(_weighted, in_axes=(0, None))(base, q)


@jax.jit
def _update(base, y, loc, scale, df, normal):
    return base + _logpdf(y[:, None], loc[None, :], scale[None, :], df[None, :], normal[None, :])


@dataclass
class Selection:
    """One greedy sequence: per step (candidate position, cumulative cost, expected predictive sd,
    its extrapolation share as an sd, mean ESS fraction); the final log weights per world (M, S);
    the posterior variance per world at each step; the sd before any run; the final expected sd."""

    steps: list = field(default_factory=list)
    base: object = None
    by_world: list = field(default_factory=list)
    sd_now: float = 0.0
    sd: float = 0.0


def greedy(pool: dict, truth: np.ndarray, costs: np.ndarray, *, n: int, budget: float | None,
           replicates: bool, extra, per_cost: bool, rng: np.random.Generator) -> Selection:
    """Choose up to ``n`` candidates greedily (see the module docstring).

    ``extra`` is the :class:`~bayeslaw.decide.design_extrapolation.ExtrapolationTerm` or None (it
    is started afresh with this sequence's worlds, so the caller's stays as it is); ``per_cost``
    ranks by gain per unit cost, else by gain alone (among the affordable candidates).
    """
    outer = len(truth)
    S, C = pool["loc"].shape
    extra = extra.start(outer, rng, np.mean(pool["lognoise"] ** 2, axis=0)) if extra else None
    j = {k: jnp.asarray(pool[k]) for k in ("loc", "scale", "df", "normal", "q")}
    # a world's own truth is left out of its pool: reweighting the very draw that generated the
    # outcome would favour it and understate the remaining variance
    base = jnp.broadcast_to(jnp.asarray(pool["logprior"]), (outer, S)).at[jnp.arange(outer), truth].set(-jnp.inf)
    var_now, _ = _now(base, j["q"])
    var_now = np.asarray(var_now)
    ex_now = extra.now() if extra else np.zeros(outer)
    current = float(np.mean(np.sqrt(var_now + ex_now)))
    out = Selection(sd_now=current, sd=current)
    spent = 0.0
    allowed = np.ones(C, dtype=bool)
    for _ in range(n):
        if budget is not None:
            allowed &= spent + costs <= budget * (1 + 1e-12)
        if not allowed.any():
            break
        normal = pool["normal"][truth].astype(bool)[:, None]
        heavy = rng.standard_t(np.where(normal, 1.0, pool["df"][truth][:, None]), (outer, C))
        noise = np.where(normal, rng.standard_normal((outer, C)), heavy)
        y = pool["loc"][truth] + pool["scale"][truth] * noise
        var, ess = (np.asarray(a) for a in _score(base, jnp.asarray(y), j["loc"], j["scale"], j["df"],
                                                  j["normal"], j["q"]))
        ex_after, residuals = extra.after(rng) if extra else (np.zeros((C, outer)), None)
        expected = np.sqrt(var + ex_after).mean(axis=1)
        gain = current - expected
        gain = np.where(allowed, gain / costs if per_cost else gain, -np.inf)
        best = int(np.argmax(gain))
        base = _update(base, jnp.asarray(y[:, best]), j["loc"][:, best], j["scale"][:, best], j["df"], j["normal"])
        current = float(expected[best])
        ex_sd = float(np.sqrt(ex_after[best].mean()))
        if extra:
            extra.choose(best, residuals)
        spent += costs[best]
        out.by_world.append(var[best])
        out.steps.append((best, spent, current, ex_sd, float(ess[best].mean())))
        if not replicates:
            allowed[best] = False
    out.base, out.sd = base, current
    return out
