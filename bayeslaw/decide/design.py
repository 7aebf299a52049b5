"""Which runs to train next: preposterior Bayesian design from the posterior itself.

:func:`suggest_runs` picks, greedily, the candidate runs that are
expected to shrink the predictive sd of a target quantity the most per unit cost. The
target is the law's log value at planned runs, or log N* of the compute-optimal allocation at
given budgets. The kernels and the loop are in :mod:`bayeslaw.decide.design_greedy`.

How the expected sd is computed (importance reweighting, no refit):

1. The posterior is represented by its S draws theta_s. In each of ``outer`` simulated worlds m a
   draw theta_m is taken as the truth, and the outcome y of a candidate run is simulated from the
   fit's likelihood (Student-t or normal, with its sigma) under theta_m.
2. Every draw is reweighted by p(y | theta_s); the weighted variance of the target is the
   posterior variance that would remain after observing y. The world's own truth is left out of
   the reweighted draws (leave-one-out), as an unseen truth would be.
3. The world's predictive sd is the square root of that variance plus the extrapolation error's
   (below); the criterion is its mean over worlds. The sd, not the variance: an interval's width
   goes with the sd, and learning how large an uncertain error is shrinks the expected sd while
   leaving the expected variance as it was (a posterior mean is a martingale). It is also the
   proper score a forecast is judged by: with the truth drawn from the world's posterior, a
   Gaussian predictive of sd s has expected CRPS s / sqrt(pi), so the mean sd over worlds ranks
   designs as their expected CRPS does.
4. Step k picks the candidate with the largest (expected sd now - expected sd with it) / cost,
   conditioning jointly on the outcomes already chosen in the same worlds. Each step draws fresh
   noise, so a candidate may be chosen again (a replicate) unless ``replicates=False``.
5. With a ``budget``, gain per cost alone can leave most of the budget unspent on cheap runs that
   barely inform the target, so a second sequence ranked by gain alone (among the affordable
   runs) is made from the same worlds and the one with the lower final expected sd is
   returned (the usual rule for greedy selection under a budget). Without one, the second
   sequence is made too, and where it would cut the sd more than twice as much a warning gives
   both (cheap replicates of the smallest run are otherwise all a user sees).

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
of one and the same new family drawn from the population.

A fit with a calibrated extrapolation error (the default of :func:`bayeslaw.fit`) adds that error's
variance at planned target runs to the target's. New runs shrink it by coming closer to the target
(moving the data's frontier) and by telling small errors from large ones (each is one more held-out
run of the nested fits it lies beyond), in each world by its own simulated residuals
(:mod:`bayeslaw.decide.design_extrapolation`). A design that trusts its law less than the fit does
thus values coming closer and spreading runs over the sizes the nested fits score; N* targets carry
no such term.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayeslaw.core.errors import DesignWarning, PredictionError
from bayeslaw.decide import design_inputs as inputs
from bayeslaw.decide.design_extrapolation import ExtrapolationTerm
from bayeslaw.decide.design_greedy import greedy
from bayeslaw.modeling.build import family_draws, law_draws
from bayeslaw.modeling.likelihood import _df, noise_scale

#: a mean effective-sample-size fraction below this makes the reweighting unreliable
MIN_ESS_FRACTION = 0.05
_DISTS = ("StudentT", "Normal")


def _law_arrays(fit, kind: str, target, cands: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-draw target quantity (S, T), the candidates' likelihood location/scale (S, C) and
    their noise sd in log target (S, C; the scale itself in log space, relative to the law's
    value in linear space)."""
    law = fit.law
    lik = law.likelihood
    if lik.dist not in _DISTS:
        raise PredictionError(f"suggest_runs needs a Student-t or normal likelihood; law {law.name!r} has {lik.dist}")
    frame = inputs.family_column(fit, cands)
    fit._rows(frame, what="candidates")  # errors name the candidates' own index labels
    if kind == "rows":
        planned = inputs.family_column(fit, target)
        fit._rows(planned, what="target")
        frame = pd.concat([planned, frame], ignore_index=True)
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
    lognoise = scale if lik.space == "log" else scale / mean
    S = mean.shape[0]
    df = jnp.broadcast_to(jnp.asarray(_df(law, params) if lik.dist == "StudentT" else 1.0, dtype=float),
                          mean.shape)[:, 0]
    if kind == "rows":
        T = len(target)
        quantity = jnp.log(mean[:, :T])
        loc, scale, lognoise = loc[:, T:], scale[:, T:], lognoise[:, T:]
    else:
        from bayeslaw.decide.allocation import allocation_draws

        # seed 0 = the key of the candidates' draws above: a new family in the target and in the
        # candidates is one and the same new family
        draws = allocation_draws(fit, target["compute"], family=target["family"], flops=target["flops"], seed=0)
        quantity = jnp.log(jnp.asarray(draws["N_opt"]))
    out = {"q": quantity, "loc": loc, "scale": scale, "lognoise": lognoise, "df": df,
           "normal": jnp.full((S,), lik.dist == "Normal")}
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _warn_if_cheap_only(runs, informative) -> None:
    """Without a budget, gain per cost favours cheap runs that may barely inform the target; where
    as many runs ranked by gain alone would cut the sd more than twice as much, say so with both
    figures and costs, so the user can weigh them (``budget=``)."""
    cut, better = runs.sd_now - runs.sd, informative.sd_now - informative.sd
    if better <= 2 * cut:
        return
    warnings.warn(f"ranked by gain per cost without a budget, the {len(runs.steps)} runs cut the expected "
                  f"sd from {runs.sd_now:.3g} to {runs.sd:.3g} (cost {runs.steps[-1][1]:.3g}); the "
                  f"{len(informative.steps)} most informative runs would cut it to {informative.sd:.3g} "
                  f"(cost {informative.steps[-1][1]:.3g}): give a budget to weigh the cost",
                  DesignWarning, stacklevel=3)


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
    """Choose the next runs that shrink the target's predictive uncertainty most per unit cost.

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
    cost, cumulative_cost, expected_sd (the target's predictive sd in log space after this step,
    mean over the worlds), extrapolation_sd (the root mean extrapolation variance over the worlds;
    0 without one), ess_fraction (mean effective sample size of the weights over worlds, as a
    fraction of the draws). ``attrs``: ``sd_now`` (sd before any new run), ``variance_by_world``
    (steps x worlds, the posterior part), ``criterion`` (``"gain per cost"``, or ``"gain"`` where
    that spent a budget better) and ``law_weight_if_true``: per law, the mean posterior mass the chosen runs
    leave on it in the worlds where it is the truth (how surely the batch would recognise it; 1
    for one law).
    """
    inputs.check_settings(n, budget, outer, seed, replicates)
    if fits is None:
        fits = {"fit": fit}
    law_w = inputs.law_weights(fits, weights)
    kind, target_spec = inputs.parse_target(target)
    first = next(iter(fits.values()))
    cands = inputs.parse_candidates(candidates, inputs.cost_constant(cost))
    inputs.check_distinct(cands, replicates)
    costs = inputs.candidate_costs(cost, cands)
    if budget is not None and budget < costs.min():
        warnings.warn(f"budget {budget:g} is below the cheapest candidate's cost {costs.min():g}: no run fits "
                      "it, the table is empty", DesignWarning, stacklevel=2)
    pool = _pool(fits, law_w, kind, target_spec, cands)
    rng = np.random.default_rng(int(seed))
    prior = np.exp(pool["logprior"] - pool["logprior"].max())
    truth = rng.choice(pool["q"].shape[0], size=outer, p=prior / prior.sum())
    extra = ExtrapolationTerm.of(fits, law_w, target_spec, cands, seed=int(seed)) if kind == "rows" else None
    select = partial(greedy, pool, truth, costs, n=int(n), budget=budget, replicates=replicates, extra=extra)
    # with a budget, the better of gain per cost and gain alone (budgeted greedy selection: per
    # cost alone can leave most of a budget unspent on cheap runs that barely inform the target)
    runs = select(rng=copy.deepcopy(rng), per_cost=True)
    criterion = "gain per cost"
    if budget is not None:
        alternative = select(rng=rng, per_cost=False)
        if alternative.sd < runs.sd * (1 - 1e-9):
            runs, criterion = alternative, "gain"
    elif runs.steps:
        _warn_if_cheap_only(runs, select(rng=rng, per_cost=False))
    chosen = []
    group = first.table.group
    for step, (best, spent, sd, ex_sd, ess) in enumerate(runs.steps, start=1):
        row = {"step": step, "candidate": cands.index[best], "N": float(cands["N"].iloc[best]),
               "D": float(cands["D"].iloc[best])}
        for column in ("family", group):
            if column and column in cands.columns:
                row["family"] = cands[column].iloc[best]
        row.update(cost=float(costs[best]), cumulative_cost=spent, expected_sd=sd, extrapolation_sd=ex_sd,
                   ess_fraction=ess)
        chosen.append(row)
    columns = ["step", "candidate", "N", "D"] + (["family"] if chosen and "family" in chosen[0] else [])
    out = pd.DataFrame(chosen, columns=columns + ["cost", "cumulative_cost", "expected_sd", "extrapolation_sd",
                                                  "ess_fraction"])
    if len(out) and out["ess_fraction"].min() < MIN_ESS_FRACTION:
        warnings.warn(f"the reweighted posterior rests on {out['ess_fraction'].min():.1%} of the draws on "
                      "average (below 5%): the expected sd is unreliable; draw more posterior samples, or "
                      "check the chosen runs by refitting simulated outcomes with bayeslaw.fit_many",
                      DesignWarning, stacklevel=2)
    far = inputs.far_runs(first, out)
    if far is not None:
        warnings.warn(f"chosen runs lie far below the fitted runs, where the law was never checked: {far}",
                      DesignWarning, stacklevel=2)
    names = [name for name in fits if law_w[name] > 0]
    edges = np.cumsum([0] + [int(fits[name].num_draws) for name in names])
    final = np.asarray(jax.nn.softmax(runs.base, axis=1))
    truth_law = np.searchsorted(edges[1:], truth, side="right")
    recovery = {}
    for i, name in enumerate(names):
        mass = final[:, edges[i]:edges[i + 1]].sum(axis=1)[truth_law == i]
        recovery[name] = float(mass.mean()) if mass.size else float("nan")
    out.attrs.update(sd_now=runs.sd_now, variance_by_world=np.array(runs.by_world), outer=int(outer),
                     law_weight_if_true=recovery, target=kind, criterion=criterion)
    return out

