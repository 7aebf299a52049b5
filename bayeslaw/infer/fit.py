"""Run inference: validate, build the model, start from the MAP point, sample (HMC or NUTS)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from bayeslaw.core import progress as progress_bars
from bayeslaw.core import runtime
from bayeslaw.core.errors import DataError, FitError
from bayeslaw.data.checkpoints import encode_runs, resolve_run
from bayeslaw.data.runs import read_runs
from bayeslaw.data.where import filter_runs
from bayeslaw.infer import extrapolation as extrap
from bayeslaw.infer.extrapolation_checks import warn_if_drifting
from bayeslaw.infer.nuts import dim_of, mass_matrix
from bayeslaw.infer.pooling_choice import choose_pooling
from bayeslaw.infer.sampler import sample_law
from bayeslaw.infer.settings import (
    check_extrapolation,
    check_names,
    check_sampler,
    check_settings,
    checked_table,
    default_centered,
    extrapolation_key,
)
from bayeslaw.infer.start import log_reference, map_start_and_point, model_args
from bayeslaw.laws.law import Law, load_law, with_noise_trend
from bayeslaw.modeling.build import build_model, make_plan
from bayeslaw.results.diagnostics import quantity_labels, warn_if_unreliable
from bayeslaw.results.extrapolation_error import ExtrapolationErrorModel
from bayeslaw.results.fit import Fit


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
    run: str | bool | None = None,
    pooling: Mapping[str, str] | str | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    centered: bool | None = None,
    progress: bool | None = None,
    sampler: str = "auto",
    steps: int | None = None,
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
        form :func:`bayeslaw.data.frames.as_frame` accepts, as ``Fit.predict`` does).
    target : str
        Column with the observed loss (or other target). Default ``"loss"``.
    group : str, optional
        Column naming each run's family. Without it, all runs are one family.
    run : str or False, optional
        Column naming the training run of each row, when rows are intermediate checkpoints: adds
        a per-run offset so the points of one curve are not treated as independent runs (see
        :mod:`bayeslaw.data.checkpoints`). When every run has only one row the offset is the noise
        itself: the fit warns (``DataWarning``) and has no run effect. Default: a column named
        ``run`` (or ``run_id``) that repeats a label; False: no run effect.
    pooling : dict, "auto" or None
        How parameters vary across families. None (default) or ``{}``: the law's pooling as
        written. A dict overrides it per parameter, e.g. ``{"alpha": "partial"}``. ``"auto"``
        (experimental, opt-in): the law's pooling, or every law parameter per family where the
        nested refits of the extrapolation error say the families extrapolate clearly better
        apart (:mod:`bayeslaw.infer.pooling_choice`, which says why it is not the default;
        ``fit.config["pooling_choice"]`` records the evidence). Values:
        ``shared``, ``partial``, ``none``, ``correlated`` (all parameters marked so vary jointly
        across families, with an LKJ prior on their correlation). ``sigma`` (and ``df``) can be pooled too.
    chains, draws, warmup : int
        Number of chains, post-warmup draws per chain and warmup iterations per chain.
    seed : int
        Random seed; the same seed, data and settings give the same draws.
    target_accept : float
        Target acceptance probability of the step-size adaptation (default 0.8). Under
        ``sampler="auto"`` NUTS draws with a divergent transition are redrawn at 0.95, then at
        0.99 and 0.999 while they still diverge; ``fit.config["target_accept"]`` gives the
        value of the draws returned.
    centered : bool, optional
        Sample partially pooled family values centred (True) or non-centred (False). Default:
        centred when there are at least 5 families with at least 10 runs each, the regime where
        the data pin each family and the between-family sd down; non-centred otherwise, which
        avoids the funnel of weakly informed families and of a between-family sd near zero.
    progress : bool, optional
        Show progress on stderr: a bar through the stages (mode search, sampling) and NumPyro's
        per-iteration bar for NUTS (the batched HMC runs as one compiled call, one step of the
        bar). Default None: shown in a notebook or a terminal (see :mod:`bayeslaw.core.progress`).
    sampler : {"auto", "nuts", "hmc"}
        ``"hmc"``: :mod:`bayeslaw.infer.batched_hmc`, all chains in one vectorised program with the
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
        :func:`hmc_first`); NUTS draws with a divergent transition are redrawn at
        ``target_accept=0.95``, then 0.99 and 0.999. ``fit.config["sampler_used"]`` says which
        draws you got and ``fit.config["hmc_fallback"]`` why HMC's were set aside.
    steps : int, optional
        Mean leapfrog steps per HMC iteration (``sampler="hmc"``, and ``"auto"``'s HMC attempt;
        default 16). Refused with ``sampler="nuts"``, which chooses its own path length.
    noise_trend : str, optional
        An input (e.g. ``"N"``) whose power the noise scale follows: row i scatters with
        ``sigma * (x_i / x_ref) ** sigma_trend``, ``x_ref`` the input's geometric mean, with
        ``sigma_trend ~ Normal(0, 0.5)`` learned (see :func:`bayeslaw.with_noise_trend`). For
        tables whose small runs are noisier than the large ones (early checkpoints, few seeds):
        one noise scale would take the small runs' scatter to the large runs' predictions.
    extrapolation : {"auto", "C", input name, False}
        Carry the error of extrapolating beyond the fitted runs into every prediction
        (:func:`calibrate_extrapolation`, nested refits by short HMC chains, one batched
        program; a nested fit whose chains do not mix, R-hat above 1.1, is refitted by this
        function). ``"auto"`` (default) measures it along compute ``C = 6 N D`` for laws in N
        and D, along the law's only input otherwise, and leaves it out (with
        ``fit.config["extrapolation_skipped"]`` saying why) when the law is not in log space or
        the runs are too few for a nested fit. ``False`` turns it off.
    where : str, optional
        Fit only the rows satisfying a filter such as ``"N < 1e9 and D >= 2e10"`` (conditions
        ``COLUMN OP VALUE`` joined by ``and`` or commas; see :mod:`bayeslaw.data.where`).

    Returns
    -------
    Fit
        Posterior draws, diagnostics (R-hat, ESS, divergences) and timings, with ``summary``,
        ``predict`` and ``save``. ``timings`` (seconds): ``compile_s``, ``init_s`` (mode
        search), ``sampling_s`` and ``other_s`` (checks, set-up, diagnostics) add up to
        ``total_s``, the wall time of the call.

    Raises
    ------
    DataError
        For a missing, non-numeric or non-positive input, and for no more distinct rows than the
        law has parameters (it would pass through them exactly).
    """
    started = time.perf_counter()
    chains, draws, warmup, seed, target_accept = check_settings(chains, draws, warmup, seed, target_accept)
    steps = check_sampler(sampler, steps, ("auto", "nuts", "hmc"))
    check_names(target, group, run, pooling, centered)
    runtime.configure()
    law = load_law(law)
    if noise_trend is not None:
        law = with_noise_trend(law, noise_trend)
    check_extrapolation(law, extrapolation)
    frame = read_runs(runs)
    if where is not None:
        frame = filter_runs(frame, where)
    table = checked_table(law, frame, target, group)
    if extrapolation not in (False, None, "auto"):  # asked for by name: refuse a table too small now
        extrap.checked_cutoffs(table, extrapolation)
    run = resolve_run(table.frame, run, table.roles())
    run_index, n_runs = encode_runs(table.frame, run, taken=table.roles(), family_index=table.family_index)
    if centered is None:
        centered = default_centered(table.family_index)
    auto = isinstance(pooling, str)
    plan = make_plan(law, table.n_families, {} if auto else dict(pooling or {}), centered=bool(centered),
                     n_runs=n_runs)
    choice, t_choice, key = None, 0.0, extrapolation_key(law, extrapolation)
    if auto and table.n_families > 1 and key is not None:
        with runtime.stopwatch() as clock:
            try:
                choice = choose_pooling(plan, table, run_index, key, seed)
            except FitError:  # the extrapolation error cannot be measured: with_extrapolation says why
                choice = None
        plan, t_choice = (plan if choice is None else choice.plan), clock["total"]
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
        samples, stats, method, t_mcmc, sampler_used, fallback, accept = sample_law(
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
                "target_accept": accept, "chain_method": method, "sampler": sampler,
                "sampler_used": sampler_used, "hmc_fallback": fallback,
                **({"steps": steps} if sampler != "nuts" else {}), "centered": bool(centered),
                "dense_mass": dense is True, "n_runs": n_runs, "run": run,
                "draws_kept": int(np.shape(next(iter(samples.values())))[1]),
                **({"where": where} if where is not None else {}),
                **({"pooling_choice": choice.to_dict()} if choice is not None else {})},
        run_index=run_index,
    )
    diag = result.diagnostics()
    warn_if_unreliable(diag, int(stats["diverging"].sum()), chains, accept,
                       quantity_labels(plan, table.families, diag.index))
    parts = {"compile_s": t_init["compile"] + t_mcmc["compile"], "init_s": t_init["run"],
             "sampling_s": t_mcmc["run"]}
    result.timings.update(wall_timings(parts, time.perf_counter() - started - t_choice))
    return with_extrapolation(result, extrapolation, None if choice is None else (choice.error, t_choice))


def with_extrapolation(result: Fit, extrapolation: str | bool,
                       measured: tuple[ExtrapolationErrorModel, float] | None = None) -> Fit:
    """``result`` with its extrapolation error measured (see ``extrapolation`` in :func:`fit`);
    ``measured``: an error already measured on this fit's plan (by the pooling choice) and the
    seconds that took."""
    if extrapolation is False or extrapolation is None:
        return result
    by = extrapolation_key(result.law, extrapolation)
    if by is None:
        return replace(result, config={**result.config, "extrapolation_skipped":
                                       "the law's likelihood is not in log space"})
    with runtime.stopwatch() as clock:
        try:
            # refit=fit: a nested fit whose short chains did not mix is refitted by fit itself
            error = extrap.calibrate(result, by=by, refit=fit) if measured is None else measured[0]
        except (FitError, DataError, np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            # by default a failed measurement leaves the fit as it is and says why
            if extrapolation != "auto":
                if isinstance(exc, FitError):
                    raise
                raise FitError(f"cannot calibrate the extrapolation error: {exc}") from exc
            return replace(result, config={**result.config, "extrapolation_skipped": str(exc)})
    warn_if_drifting(error, result.families)
    seconds = clock["total"] + (0.0 if measured is None else measured[1])
    timings = {**result.timings, "extrapolation_s": seconds, "total_s": result.timings["total_s"] + seconds}
    return replace(result, timings=timings,
                   config={**result.config, "extrapolation": error.to_dict()})


def calibrate_extrapolation(result: Fit, by: str = "C", folds: int = extrap.DEFAULT_FOLDS, *,
                            progress: bool | None = None, **fit_kwargs) -> Fit:
    """A copy of ``result`` whose predictions carry the measured extrapolation error.

    What :func:`fit` does by default (``extrapolation=``), for a fit made without it or to
    measure on another size key: see
    :func:`bayeslaw.infer.extrapolation.calibrate_extrapolation` for the parameters.
    ``method="mcmc"`` refits by :func:`fit` instead of by short chains in one program.
    """
    fit_kwargs.setdefault("refit", fit)
    return extrap.calibrate_extrapolation(result, by, folds, progress=progress, **fit_kwargs)
