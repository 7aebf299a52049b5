"""Run inference: validate, build the model, start from the MAP point, sample (HMC or NUTS)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS, init_to_median
from numpyro.infer.util import initialize_model, potential_energy

from . import fit_hmc, programs, runtime
from . import progress as progress_bars
from .checkpoints import encode_runs
from .data import read_runs, validate_runs
from .diagnostics import RHAT_LIMIT, diagnose, problems, quantity_labels, warn_if_unreliable
from .errors import FitError
from .law import Law, load_law, with_noise_trend
from .likelihood import check_target
from .mode_search import damped_newton
from .model import ModelPlan, build_model, make_plan
from .prior_medians import init_to_closed_form_median
from .results import Fit, sampled_sites
from .where import filter_runs

INIT_JITTER = 0.1  # sd of the per-chain perturbation of the MAP point, unconstrained space
#: families with at least this many runs each get centred partial pooling (see make_plan) ...
CENTRED_MIN_RUNS = 10
#: ... when there are at least this many families. With fewer, the between-family sd is barely
#: identified and its posterior reaches down to zero, where centred family values form a funnel:
#: the 2- and 3-family real data sets (pythia, porian, gadre) gave 90-141 divergences centred and
#: 0-3 non-centred (4 x 500 + 500 draws), at about twice the sampling time.
CENTRED_MIN_FAMILIES = 5
#: up to this many unconstrained dimensions the mass matrix is dense over everything; above it,
#: dense over the global block only. E, a and b of one family trade off, which a diagonal block
#: cannot follow: 5 families needed 65 leapfrog steps per draw with the global block alone and 14
#: fully dense; 80 families (about 250 dimensions) 63 steps and R-hat 1.04 vs 51 and 1.005
DENSE_MAX_DIM = 400
#: seeds are 32-bit unsigned integers, as JAX's PRNGKey takes them on every platform
SEED_MAX = 2**32 - 1
#: largest model whose MAP bl.fit searches by damped Newton (a Hessian costs ~dim gradients)
NEWTON_MAX_DIM = 64
#: the bulk ESS the default NUTS run goes on sampling for (Vehtari et al. 2021 ask for 400)
ESS_TARGET = 400
#: at most this many continuations of ``draws`` more draws each
MAX_EXTENSIONS = 2
#: runs asked for fewer draws per chain than this (quick looks, tests) are not continued
EXTEND_FROM = 1000


def default_centered(family_index: np.ndarray) -> bool:
    """Centred partial pooling for many families with many runs each, non-centred otherwise."""
    counts = np.bincount(family_index)
    return bool(counts.size >= CENTRED_MIN_FAMILIES and counts.min() >= CENTRED_MIN_RUNS)


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
    (:mod:`bayeslaw.prior_medians`; no sampler to compile). Call it traced (under ``jit``): run
    eagerly, each of its 140-200 small operations is compiled on its own (3-6 s of start-up)."""
    strategy = init_to_closed_form_median() if closed_form else init_to_median(num_samples=15)
    info = initialize_model(key, model, model_args=args, dynamic_args=True, init_strategy=strategy)[0]
    return info[0]


def _find_map(model, args: tuple, key, program: str | None = None, newton: bool = False) -> dict:
    """MAP point in unconstrained space, searched from the prior median (the median itself if
    the search fails).

    ``newton``: damped Newton (:func:`bayeslaw.mode_search.damped_newton`, as ``fit_many``) when
    the model has at most ``NEWTON_MAX_DIM`` dimensions, else one BFGS run. From the prior
    median, BFGS stopped more than 10 nats above the mode on 145 of 200 simulated
    single-family Chinchilla tables (line-search failures), and 24 and 190 nats above it on
    the fitted runs of datablations and gadre_overtraining; damped Newton reached it on all.
    The downstream models keep BFGS, which they were tuned with.

    ``program`` names the model for :mod:`bayeslaw.programs` (a refit of the same shape reuses
    both compiled programs); None compiles them afresh."""
    def optimise(start, args):
        flat0, unravel = ravel_pytree(start)
        objective = lambda v: potential_energy(model, args, {}, unravel(v))
        if newton and flat0.shape[0] <= NEWTON_MAX_DIM:
            return unravel(damped_newton(objective, flat0))
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
    distinct so R-hat can still detect a multimodal or poorly identified posterior. For a centred
    hierarchical ``plan`` the mode is searched in the non-centred form and mapped back: the
    centred density is unbounded as a between-family sd goes to zero (it grows like sd^(1-F)),
    so a direct search starts the chains in the neck of the funnel (seen: every transition
    divergent at 20 families). Law models (a ``plan``) are searched by damped Newton, other
    models (the downstream ones) by BFGS (see :func:`_find_map`).
    """
    k_init, k_jit = jax.random.split(key)
    newton = plan is not None
    if plan is not None and plan.centered and "partial" in plan.pooling_map.values():
        search = replace(plan, centered=False)
        point = to_centred(plan, _find_map(build_model(search), args, k_init, repr(search), newton))
    else:
        point = _find_map(model, args, k_init, None if plan is None else repr(plan), newton)
    centre, unravel = ravel_pytree(point)
    starts = centre + INIT_JITTER * jax.random.normal(k_jit, (chains, centre.shape[0]), centre.dtype)
    return jax.vmap(unravel)(starts), point


def _sample_nuts(model, args, starts, key, dense, chains, warmup, draws, target_accept,
                 progress_bar, enough=None):
    """NumPyro's NUTS from ``starts``: draws and stats by chain, the chain method, timings.

    While ``enough(samples)`` is false the chains go on from where they stopped, ``draws`` more
    at a time, at most :data:`MAX_EXTENSIONS` times: the same compiled loop, adaptation frozen.
    """
    method = chain_method(chains)
    kernel = NUTS(model, dense_mass=dense, target_accept_prob=target_accept)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=method, progress_bar=progress_bar)
    if chains == 1:
        starts = jax.tree.map(lambda v: v[0], starts)
    parts = []
    with runtime.stopwatch() as clock:
        mcmc.run(key, *args, init_params=starts, extra_fields=("diverging", "num_steps"))
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


def converged(plan: ModelPlan, samples: dict, chains: int) -> bool:
    """Whether NUTS's draws meet the default's targets: R-hat at most 1.01 and a bulk ESS of at
    least :data:`ESS_TARGET` on every sampled quantity (1 chain: nothing to extend for)."""
    if chains < 2:
        return True
    diag = diagnose({k: samples[k] for k in sampled_sites(plan, samples)})
    return bool((diag["r_hat"].max() <= RHAT_LIMIT) and (diag["ess_bulk"].min() >= ESS_TARGET))


def check_sampler(sampler: str, steps: int, allowed: tuple[str, ...]) -> None:
    """Validate the ``sampler`` and ``steps`` settings."""
    if sampler not in allowed:
        names = [repr(a) for a in allowed]
        raise FitError(f"sampler must be {', '.join(names[:-1])} or {names[-1]}, got {sampler!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise FitError(f"steps must be a positive integer, got {steps!r}")


def check_settings(chains: int, draws: int, warmup: int, seed: int, target_accept: float) -> None:
    """Validate the sampler settings shared by every fitting entry point."""
    for name, value in (("chains", chains), ("draws", draws), ("warmup", warmup)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FitError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise FitError(f"seed must be an int, got {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise FitError(f"seed must be a whole number from 0 to {SEED_MAX} (32 bits), got {seed!r}")
    if (isinstance(target_accept, bool) or not isinstance(target_accept, (int, float))
            or not 0.5 <= target_accept < 1):
        raise FitError(f"target_accept must be in [0.5, 1), got {target_accept!r}")


def check_names(target, group, run, pooling, centered) -> None:
    """Validate the column names and the pooling/centring options of :func:`fit`."""
    if not isinstance(target, str):
        raise FitError(f"target must be a column name (str), got {target!r}")
    for name, value in (("group", group), ("run", run)):
        if value is not None and not isinstance(value, str):
            raise FitError(f"{name} must be a column name (str) or None, got {value!r}")
    if pooling is not None and not isinstance(pooling, Mapping):
        raise FitError(f"pooling must be a dict of parameter -> mode, got {type(pooling).__name__}")
    if centered is not None and not isinstance(centered, bool | np.bool_):
        raise FitError(f"centered must be True, False or None, got {centered!r}")


def hmc_first(plan: ModelPlan) -> bool:
    """Whether ``sampler="auto"`` tries the batched HMC before NUTS.

    Not for non-centred hierarchies (partially pooled families sampled non-centred, or a run
    effect): a between-family or between-run sd that the data barely pin down leaves a funnel
    whose neck a fixed trajectory length does not cross (the 2- and 3-family calibration tables
    left HMC chains apart, R-hat 2.0-2.3, where NUTS converged).
    """
    if plan.n_runs:
        return False
    pooled = {"partial", "correlated"} & set(plan.pooling_map.values())
    return plan.n_families == 1 or plan.centered or not pooled


def hmc_trouble(plan: ModelPlan, samples: dict, stats: dict, chains: int,
                target_accept: float, families: tuple[str, ...] = ()) -> str | None:
    """Why the HMC draws would not be trusted (the first problem a ConvergenceWarning would
    name, with the summary's names given the ``families``), or None when they pass every
    check."""
    draws = {k: samples[k] for k in sampled_sites(plan, samples)}
    diag = diagnose(draws)
    found = problems(diag, int(np.asarray(stats["diverging"]).sum()), chains, target_accept,
                     quantity_labels(plan, families or range(plan.n_families), diag.index))
    return found[0] if found else None


def _sample(sampler: str, plan: ModelPlan, hmc, nuts, chains: int, target_accept: float,
            families: tuple[str, ...] = ()):
    """Run the chosen sampler (``auto``: HMC, then NUTS if HMC's draws fail a check).

    Returns draws, stats, chain method, timings, the sampler whose draws these are, and why
    HMC's draws were set aside (None if they were not).
    """
    if sampler == "nuts" or (sampler == "auto" and not hmc_first(plan)):
        return *nuts(), "nuts", None
    with runtime.stopwatch() as t_hmc:
        samples, stats = hmc()
    fallback = (hmc_trouble(plan, samples, stats, chains, target_accept, families)
                if sampler == "auto" else None)
    if fallback is None:
        return samples, stats, "batched", t_hmc, "hmc", None
    samples, stats, method, t_nuts = nuts()
    return samples, stats, method, {k: t_hmc[k] + t_nuts[k] for k in t_nuts}, "nuts", fallback


def chain_method(chains: int) -> str:
    """Parallel across devices when there are enough; else vectorized on accelerators and
    sequential on CPU, where vectorized NUTS makes every chain wait for the longest trajectory
    (measured 2x slower than sequential for the 5-family Chinchilla model)."""
    if chains == 1:
        return "sequential"
    if jax.local_device_count() >= chains:
        return "parallel"
    return "sequential" if jax.default_backend() == "cpu" else "vectorized"


def mass_matrix(plan: ModelPlan, dim: int):
    """NumPyro ``dense_mass`` argument for a model with ``dim`` unconstrained dimensions."""
    if dim <= DENSE_MAX_DIM:
        return True
    block = plan.global_sites()
    return [tuple(block)] if block else False


def dim_of(starts: dict) -> int:
    """Unconstrained dimensions of a model from its per-chain starting points."""
    return sum(int(np.prod(v.shape[1:])) for v in jax.tree.leaves(starts))


def _sample_all(sampler, plan, model, args, starts, centre, key, chains, warmup, draws, steps,
                target_accept, show, families=()):
    """Build the two samplers for :func:`fit` and run the chosen one (see :func:`_sample`)."""
    dense = mass_matrix(plan, dim_of(starts))
    hmc = partial(fit_hmc.sample, model, args, centre, starts, key, warmup=warmup, draws=draws,
                  steps=steps, target_accept=target_accept, dense=dense is True, jitter=INIT_JITTER,
                  program=repr(plan))
    enough = partial(converged, plan, chains=chains) if draws >= EXTEND_FROM else None
    nuts = partial(_sample_nuts, model, args, starts, key, dense, chains, warmup, draws,
                   target_accept, show, enough)
    return _sample(sampler, plan, hmc, nuts, chains, target_accept, families)


def wall_timings(parts: Mapping[str, float], total: float) -> dict[str, float]:
    """``parts`` plus ``other_s`` (the wall time they do not cover) and ``total_s``, so the
    parts add up to the total."""
    return {**parts, "other_s": max(total - sum(parts.values()), 0.0), "total_s": total}


def fit(
    law: str | os.PathLike | Law,
    runs,
    target: str = "loss",
    group: str | None = None,
    *,
    run: str | None = None,
    pooling: Mapping[str, str] | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    centered: bool | None = None,
    progress: bool | None = None,
    sampler: str = "auto",
    steps: int = 16,
    noise_trend: str | None = None,
    extrapolation: str | bool = "auto",
    where: str | None = None,
) -> Fit:
    """Fit a scaling law to a table of runs by MCMC (fixed-length HMC or NUTS, see ``sampler``).

    Parameters
    ----------
    law : str, path or Law
        Catalogue name (``"chinchilla"``), path to a TOML law file, or a loaded :class:`Law`.
    runs : DataFrame, dict of columns, list of dicts, or path to a CSV file
        One row per training run, with a column per law input, the target and the group (any
        form :func:`bayeslaw.data.as_frame` accepts, as ``Fit.predict`` does).
    target : str
        Column with the observed loss (or other target). Default ``"loss"``.
    group : str, optional
        Column naming each run's family. Without it, all runs are one family.
    run : str, optional
        Column naming the training run of each row, when rows are intermediate checkpoints: adds
        a per-run offset so the points of one curve are not treated as independent runs (see
        :mod:`bayeslaw.checkpoints`). When every run has only one row the offset is the noise
        itself: the fit warns (``DataWarning``) and has no run effect.
    pooling : dict, optional
        Per-parameter override of the law's pooling, e.g. ``{"alpha": "partial"}``. Values:
        ``shared``, ``partial``, ``none``, ``correlated`` (all parameters marked so vary jointly
        across families, with an LKJ prior on their correlation). ``sigma`` (and ``df``) can be pooled too.
    chains, draws, warmup : int
        Number of chains, post-warmup draws per chain and warmup iterations per chain.
    seed : int
        Random seed; the same seed, data and settings give the same draws.
    target_accept : float
        NUTS target acceptance probability; raise towards 0.95 if divergences are reported.
    centered : bool, optional
        Sample partially pooled family values centred (True) or non-centred (False). Default:
        centred when there are at least 5 families with at least 10 runs each, the regime where
        the data pin each family and the between-family sd down; non-centred otherwise, which
        avoids the funnel of weakly informed families and of a between-family sd near zero.
    progress : bool, optional
        Show progress on stderr: a bar through the stages (mode search, sampling) and NumPyro's
        per-iteration bar for NUTS (the batched HMC runs as one compiled call, one step of the
        bar). Default None: shown in a notebook or a terminal (see :mod:`bayeslaw.progress`).
    sampler : {"auto", "nuts", "hmc"}
        ``"hmc"``: :mod:`bayeslaw.batched_hmc`, all chains in one vectorised program with the
        same jittered number of leapfrog steps per iteration, a metric started from the
        curvature at the mode and adapted on Stan's schedule; several times faster per
        effective draw on CPU for the catalogue's laws (see benchmarks/bench_plain_models.py).
        ``"nuts"``: NumPyro's NUTS, chains in parallel over devices or one after another; it
        copes better with posteriors whose scales vary from place to place (funnels): on the
        calibration report's 2- and 3-family tables ``"hmc"`` left chains apart (R-hat
        2.0-2.3) where NUTS converged. ``"auto"`` (default): ``"hmc"`` for one family or
        centred partial pooling, then NUTS from the same starts and seed if the HMC draws
        fail any convergence check (R-hat above 1.01, bulk ESS below 100 per chain, any
        divergence); NUTS straight away for non-centred hierarchies and run effects (see
        :func:`hmc_first`). ``fit.config["sampler_used"]`` says which draws you got and
        ``fit.config["hmc_fallback"]`` why HMC's were set aside.
    steps : int
        Mean leapfrog steps per iteration for ``sampler="hmc"`` (default 16).
    noise_trend : str, optional
        An input (e.g. ``"N"``) whose power the noise scale follows: row i scatters with
        ``sigma * (x_i / x_ref) ** sigma_trend``, ``x_ref`` the input's geometric mean, with
        ``sigma_trend ~ Normal(0, 0.5)`` learned (see :func:`bayeslaw.with_noise_trend`). For
        tables whose small runs are noisier than the large ones (early checkpoints, few seeds):
        one noise scale would take the small runs' scatter to the large runs' predictions.
    extrapolation : {"auto", "C", input name, False}
        Carry the error of extrapolating beyond the fitted runs into every prediction
        (:meth:`Fit.calibrate_extrapolation`, nested refits at the mode with a Laplace
        approximation, one batched program). ``"auto"`` (default) measures it along compute
        ``C = 6 N D`` for laws in N and D, along the law's only input otherwise, and leaves it
        out (with ``fit.config["extrapolation_skipped"]`` saying why) when the law is not in
        log space or the runs are too few for a nested fit. ``False`` turns it off.
    where : str, optional
        Fit only the rows satisfying a filter such as ``"N < 1e9 and D >= 2e10"`` (conditions
        ``COLUMN OP VALUE`` joined by ``and`` or commas; see :mod:`bayeslaw.where`).

    Returns
    -------
    Fit
        Posterior draws, diagnostics (R-hat, ESS, divergences) and timings, with ``summary``,
        ``predict`` and ``save``. ``timings`` (seconds): ``compile_s``, ``init_s`` (mode
        search), ``sampling_s`` and ``other_s`` (checks, set-up, diagnostics) add up to
        ``total_s``, the wall time of the call.
    """
    started = time.perf_counter()
    check_settings(chains, draws, warmup, seed, target_accept)
    check_sampler(sampler, steps, ("auto", "nuts", "hmc"))
    check_names(target, group, run, pooling, centered)
    runtime.configure()
    law = load_law(law)
    if noise_trend is not None:
        law = with_noise_trend(law, noise_trend)
    check_extrapolation(law, extrapolation)
    frame = read_runs(runs)
    if where is not None:
        frame = filter_runs(frame, where)
    table = validate_runs(
        frame,
        {i.name: i.positive for i in law.inputs},
        target,
        group,
        positive_target=law.likelihood.space == "log",
    )
    check_target(law, table.target, table.frame, target, table.inputs)
    run_index, n_runs = encode_runs(table.frame, run)
    if centered is None:
        centered = default_centered(table.family_index)
    plan = make_plan(law, table.n_families, dict(pooling or {}), centered=bool(centered), n_runs=n_runs)
    logref = log_reference(plan, table.inputs)
    model = build_model(plan)
    args = model_args(table, logref) + (None, None if run_index is None else jnp.asarray(run_index))
    key_init, key_run = jax.random.split(jax.random.PRNGKey(int(seed)))
    show = progress_bars.enabled(progress)
    with progress_bars.bar(2, f"{law.name}", show, unit="stage") as stage:
        stage.set_postfix_str("finding the mode")
        with runtime.stopwatch() as t_init:
            starts, centre = map_start_and_point(model, args, chains, key_init, plan)
        stage.update()
        stage.set_postfix_str(f"sampling {chains} chains x {warmup}+{draws}")
        samples, stats, method, t_mcmc, sampler_used, fallback = _sample_all(
            sampler, plan, model, args, starts, centre, key_run, chains, warmup, draws, steps,
            target_accept, show, table.families)
        stage.update()
    runtime.release_compiled()
    dense = mass_matrix(plan, dim_of(starts))
    result = Fit(
        plan=plan,
        table=table,
        logref=logref,
        samples=samples,
        sample_stats=stats,
        timings={},
        config={"chains": chains, "draws": draws, "warmup": warmup, "seed": int(seed),
                "target_accept": target_accept, "chain_method": method, "sampler": sampler,
                "sampler_used": sampler_used, "hmc_fallback": fallback,
                **({"steps": steps} if sampler != "nuts" else {}), "centered": bool(centered),
                "dense_mass": dense is True, "n_runs": n_runs, "run": run,
                "draws_kept": int(np.shape(next(iter(samples.values())))[1]),
                **({"where": where} if where is not None else {})},
        run_index=run_index,
    )
    diag = result.diagnostics()
    warn_if_unreliable(diag, int(stats["diverging"].sum()), chains, target_accept,
                       quantity_labels(plan, table.families, diag.index))
    parts = {"compile_s": t_init["compile"] + t_mcmc["compile"], "init_s": t_init["run"],
             "sampling_s": t_mcmc["run"]}
    result.timings.update(wall_timings(parts, time.perf_counter() - started))
    return with_extrapolation(result, extrapolation)


def check_extrapolation(law: Law, extrapolation) -> None:
    """Refuse an ``extrapolation`` setting before any work (see :func:`fit`)."""
    from . import extrapolation as extrap

    if extrapolation is False or extrapolation is None or extrapolation == "auto":
        return
    if not isinstance(extrapolation, str):
        raise FitError(f"extrapolation must be 'auto', an input name or False, got {extrapolation!r}")
    extrap.check_key(law, extrapolation)


def with_extrapolation(result: Fit, extrapolation: str | bool) -> Fit:
    """``result`` with its extrapolation error measured (see ``extrapolation`` in :func:`fit`)."""
    from . import extrapolation as extrap

    if extrapolation is False or extrapolation is None:
        return result
    by = extrapolation
    if by == "auto":
        names = result.law.input_names
        by = "C" if {"N", "D"} <= set(names) and "C" not in names else names[0]
        if result.law.likelihood.space != "log":
            return replace(result, config={**result.config, "extrapolation_skipped":
                                           "the law's likelihood is not in log space"})
    with runtime.stopwatch() as clock:
        try:
            error = extrap.calibrate(result, by=by)
        except (FitError, np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            # by default a failed measurement leaves the fit as it is and says why
            if extrapolation != "auto":
                if isinstance(exc, FitError):
                    raise
                raise FitError(f"cannot calibrate the extrapolation error: {exc}") from exc
            return replace(result, config={**result.config, "extrapolation_skipped": str(exc)})
    timings = {**result.timings, "extrapolation_s": clock["total"],
               "total_s": result.timings["total_s"] + clock["total"]}
    return replace(result, timings=timings,
                   config={**result.config, "extrapolation": error.to_dict()})
