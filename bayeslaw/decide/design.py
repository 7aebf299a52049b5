"""Which runs to train next: preposterior Bayesian design from the posterior itself.

:func:`suggest_runs` picks, greedily, the candidate runs that are
expected to shrink the posterior variance of a target quantity the most per unit cost. The
target is the law's log value at planned runs, or log N* of the compute-optimal allocation at
given budgets.

How the expected variance is computed (importance reweighting, no refit):

1. The posterior is represented by its S draws theta_s. In each of ``outer`` simulated worlds m a
   draw theta_m is taken as the truth, and the outcome y of a candidate run is simulated from the
   fit's likelihood (Student-t or normal, with its sigma) under theta_m.
2. Every draw is reweighted by p(y | theta_s); the weighted variance of the target is the
   posterior variance that would remain after observing y. Its mean over worlds is the
   expected remaining variance. The world's own truth is left out of the reweighted draws
   (leave-one-out), as an unseen truth would be.
3. Step k picks the candidate with the largest (expected variance now - expected variance with
   it) / cost, conditioning jointly on the outcomes already chosen in the same worlds. Each step
   draws fresh noise, so a candidate may be chosen again (a replicate) unless
   ``replicates=False``.

The weights degenerate as the simulated runs become informative; the effective sample size of
the weights is reported per step, and a mean below 5% of the draws triggers a warning (refit on
the simulated data, e.g. with :func:`bayeslaw.fit_many`, for a check then).

Law-robust design: with ``fits={"chinchilla": a, "kaplan": b}`` the posterior is the mixture of
the fits' draws, fit l holding total mass ``w_l`` (``weights``, e.g. stacking weights from
:func:`bayeslaw.compare`). Worlds draw their truth from the mixture, and reweighting by p(y |
theta_s) moves mass within each law and between laws at once (the mass of law l becomes
proportional to w_l times its estimated marginal likelihood of the simulated outcomes), so runs
where the laws disagree about the target also earn credit for telling them apart.

A new run's run-to-run offset (fits with ``run_sd``) is folded into the noise scale,
sqrt(sigma^2 + run_sd^2). Runs without a family (in the target and the candidates alike) are runs
of one and the same new family drawn from the population. The calibrated extrapolation error is not part of the target: new
small runs do not inform it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayeslaw.core.errors import DesignWarning, PredictionError
from bayeslaw.decide import design_inputs as inputs
from bayeslaw.modeling.build import family_draws, law_draws
from bayeslaw.modeling.likelihood import _df, noise_scale

#: a mean effective-sample-size fraction below this makes the reweighting unreliable
MIN_ESS_FRACTION = 0.05
_DISTS = ("StudentT", "Normal")


def _law_arrays(fit, kind: str, target, cands: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-draw target quantity (S, T) and the candidates' likelihood location/scale (S, C)."""
    law = fit.law
    lik = law.likelihood
    if lik.dist not in _DISTS:
        raise PredictionError(f"suggest_runs needs a Student-t or normal likelihood; law {law.name!r} has {lik.dist}")
    frame = inputs.family_column(fit, cands)
    if kind == "rows":
        frame = pd.concat([inputs.family_column(fit, target), frame], ignore_index=True)
    table = fit._rows(frame)
    params = family_draws(fit.plan, fit._flat_samples, jnp.asarray(table.family_index), fit._logref_jnp,
                          jax.random.PRNGKey(0))
    x = {k: jnp.asarray(v) for k, v in table.inputs.items()}
    mean = law_draws(fit.plan, params, x)
    scale = noise_scale(law, params, {k: v[None, :] for k, v in x.items()}, fit._logref_jnp)
    scale = jnp.broadcast_to(scale, mean.shape)
    if fit.plan.n_runs:
        scale = jnp.sqrt(scale**2 + fit._flat_samples["run_sd"][:, None] ** 2)
    loc = jnp.log(mean) if lik.space == "log" else mean
    S = mean.shape[0]
    df = jnp.broadcast_to(jnp.asarray(_df(law, params) if lik.dist == "StudentT" else 1.0, dtype=float),
                          mean.shape)[:, 0]
    if kind == "rows":
        T = len(target)
        quantity = jnp.log(mean[:, :T])
        loc, scale = loc[:, T:], scale[:, T:]
    else:
        from bayeslaw.decide.allocation import allocation_draws

        # seed 0 = the key of the candidates' draws above: a new family in the target and in the
        # candidates is one and the same new family
        draws = allocation_draws(fit, target["compute"], family=target["family"], flops=target["flops"], seed=0)
        quantity = jnp.log(jnp.asarray(draws["N_opt"]))
    out = {"q": quantity, "loc": loc, "scale": scale, "df": df,
           "normal": jnp.full((S,), lik.dist == "Normal")}
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


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


def _pool(fits: Mapping, law_w: Mapping[str, float], kind, target, cands) -> dict[str, np.ndarray]:
    """The mixture posterior: every fit's draws with log prior mass log(w_l / S_l)."""
    parts = []
    for name, fit in fits.items():
        if law_w[name] <= 0:
            continue
        arrays = _law_arrays(fit, kind, target, cands)
        S = arrays["q"].shape[0]
        arrays["logprior"] = np.full(S, np.log(law_w[name]) - np.log(S))
        parts.append(arrays)
    shapes = {p["q"].shape[1] for p in parts}
    if len(shapes) != 1:
        raise PredictionError("the fits give the target different numbers of components")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def suggest_runs(fit, target, candidates, *, n: int = 4, cost="6*N*D", budget: float | None = None,
                 replicates: bool = True, fits: Mapping | None = None, weights=None, outer: int = 64,
                 seed: int = 0) -> pd.DataFrame:
    """Choose the next runs that shrink the target's posterior uncertainty most per unit cost.

    Parameters
    ----------
    fit : Fit
        The fit whose posterior is designed for (ignored when ``fits`` is given).
    target : dict, DataFrame or {"compute": [...]}
        Planned run(s) with N, D (and family): the quantity is the law's log value there, its
        variance averaged over the rows. Or ``{"compute": [C, ...], "family": ..., "flops":
        "6*N*D"}``: the quantity is log N* of the compute-optimal allocation at those budgets.
    candidates : DataFrame or {"compute": [...], "points": 7}
        Runs that could be trained, N, D (and family), one per row; their index labels are
        reported. Or iso-cost curves: for each budget C, ``points`` runs log-spaced in N over
        ``span`` (default 0.75) decades either side of N = sqrt(C / (20 k)) (20 tokens per
        parameter), D = C / (k N), k from the cost formula ``k*N*D`` (else 6).
    n : int
        Number of runs to choose (default 4).
    cost : str or array
        Cost formula in the candidates' columns (default ``"6*N*D"``), or one cost per candidate.
    budget : float, optional
        Stop before the cumulative cost would exceed it.
    replicates : bool
        Whether a candidate may be chosen more than once (default True).
    fits : dict of str to Fit, optional
        Several laws: design for the mixture of their posteriors (see the module docstring).
    weights : mapping or DataFrame, optional
        Weight per fit (or :func:`bayeslaw.compare`'s table); default equal.
    outer : int
        Number of simulated worlds (default 64).
    seed : int
        Seed of the simulated worlds and outcomes.

    Returns
    -------
    DataFrame, one row per chosen run in order: step, candidate (index label), N, D (family),
    cost, cumulative_cost, expected_sd (the target's expected posterior sd after this step),
    ess_fraction (mean effective sample size of the weights over worlds, as a fraction of the
    draws). ``attrs``: ``sd_now`` (sd before any new run), ``variance_by_world`` (steps x worlds)
    and ``law_weight_if_true``: per law, the mean posterior mass the chosen runs leave on it in
    the worlds where it is the truth (how surely the batch would recognise it; 1 for one law).
    """
    inputs.check_settings(n, budget, outer, seed)
    if fits is None:
        fits = {"fit": fit}
    law_w = inputs.law_weights(fits, weights)
    kind, target_spec = inputs.parse_target(target)
    first = next(iter(fits.values()))
    cands = inputs.parse_candidates(candidates, inputs.cost_constant(cost))
    costs = inputs.candidate_costs(cost, cands)
    pool = _pool(fits, law_w, kind, target_spec, cands)
    S, C = pool["loc"].shape
    rng = np.random.default_rng(int(seed))
    prior = np.exp(pool["logprior"] - pool["logprior"].max())
    truth = rng.choice(S, size=outer, p=prior / prior.sum())
    j = {k: jnp.asarray(pool[k]) for k in ("loc", "scale", "df", "normal", "q")}
    # a world's own truth is left out of its pool: reweighting the very draw that generated the
    # outcome would favour it and understate the remaining variance
    base = jnp.broadcast_to(jnp.asarray(pool["logprior"]), (outer, S)).at[jnp.arange(outer), truth].set(-jnp.inf)
    var_now, _ = _now(base, j["q"])
    sd_now = float(np.sqrt(np.mean(np.asarray(var_now))))
    current = float(np.mean(np.asarray(var_now)))
    chosen, spent, by_world = [], 0.0, []
    allowed = np.ones(C, dtype=bool)
    for step in range(1, int(n) + 1):
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
        expected = var.mean(axis=1)
        gain = np.where(allowed, (current - expected) / costs, -np.inf)
        best = int(np.argmax(gain))
        base = _update(base, jnp.asarray(y[:, best]), j["loc"][:, best], j["scale"][:, best], j["df"], j["normal"])
        current = float(expected[best])
        spent += costs[best]
        by_world.append(var[best])
        row = {"step": step, "candidate": cands.index[best], "N": float(cands["N"].iloc[best]),
               "D": float(cands["D"].iloc[best])}
        group = first.table.group
        for column in ("family", group):
            if column and column in cands.columns:
                row["family"] = cands[column].iloc[best]
        row.update(cost=float(costs[best]), cumulative_cost=spent, expected_sd=float(np.sqrt(current)),
                   ess_fraction=float(ess[best].mean()))
        chosen.append(row)
        if not replicates:
            allowed[best] = False
    columns = ["step", "candidate", "N", "D"] + (["family"] if chosen and "family" in chosen[0] else [])
    out = pd.DataFrame(chosen, columns=columns + ["cost", "cumulative_cost", "expected_sd", "ess_fraction"])
    if len(out) and out["ess_fraction"].min() < MIN_ESS_FRACTION:
        warnings.warn(f"the reweighted posterior rests on {out['ess_fraction'].min():.1%} of the draws on "
                      "average (below 5%): the expected sd is unreliable; draw more posterior samples, or "
                      "check the chosen runs by refitting simulated outcomes with bayeslaw.fit_many",
                      DesignWarning, stacklevel=2)
    names = [name for name in fits if law_w[name] > 0]
    edges = np.cumsum([0] + [int(fits[name].num_draws) for name in names])
    final = np.asarray(jax.nn.softmax(base, axis=1))
    truth_law = np.searchsorted(edges[1:], truth, side="right")
    recovery = {}
    for i, name in enumerate(names):
        mass = final[:, edges[i]:edges[i + 1]].sum(axis=1)[truth_law == i]
        recovery[name] = float(mass.mean()) if mass.size else float("nan")
    out.attrs.update(sd_now=sd_now, variance_by_world=np.array(by_world), outer=int(outer),
                     law_weight_if_true=recovery,
                     target=kind)
    return out

