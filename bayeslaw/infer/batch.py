"""Many independent fits in one compiled program: vectorised over fits x chains, sharded over devices.

One small fit is compile-bound; throughput comes from batching. :func:`fit_many` builds each fit's
plan and model arguments exactly as :func:`bayeslaw.fit` does, pads every table to the same number
of rows (the model's ``mask`` drops the padding from the likelihood), and runs one sampler under
``jax.vmap`` over fits and chains: for single-family fits by default
:mod:`bayeslaw.infer.batched_hmc` (HMC with the same jittered number of leapfrog steps in every
lane, so no lane waits for another), for hierarchical ones the one NUTS kernel as a pure chain
(:func:`bayeslaw.infer.nuts.nuts_chain`). Every chain of every fit has its own step size and
mass-matrix adaptation, its own MAP start (damped Newton, :func:`bayeslaw.infer.start.newton_mode`,
as :func:`bayeslaw.fit`), its own random stream. The fit axis is split across all devices with
``jax.shard_map`` when there is more than one, so each device runs its share of fits
independently; under ``jax.distributed`` that is every process's devices, and every process gets
every fit back (see docs/distributed.md). Results come back as ordinary :class:`Fit` objects
(summary, predict, save work unchanged). Run effects (checkpoints of one run, ``run=`` as in
:func:`bayeslaw.fit`) batch too: every table is padded to the batch's largest number of runs,
and a padded run, seen by no row, keeps its prior offset without touching the fitted runs
(:func:`bayeslaw.modeling.run_effects.run_projection`); each fit gets back its own runs. The
compiled program itself is built in :mod:`bayeslaw.infer.batch_program`."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayeslaw.core import progress as progress_bars
from bayeslaw.core import runtime
from bayeslaw.core.errors import FitError
from bayeslaw.data.checkpoints import encode_runs, resolve_run
from bayeslaw.data.runs import RunsTable, read_runs
from bayeslaw.infer import batch_program
from bayeslaw.infer.fit import wall_timings
from bayeslaw.infer.settings import (
    check_fixed_pooling,
    check_names,
    check_sampler,
    check_settings,
    checked_table,
    default_centered,
)
from bayeslaw.infer.start import log_reference, model_args
from bayeslaw.laws.law import Law, load_law
from bayeslaw.modeling.build import make_plan
from bayeslaw.results.batch import diagnose_many, summarize_many, warn_if_unreliable
from bayeslaw.results.fit import Fit

__all__ = ["diagnose_many", "fit_many", "summarize_many"]


def _split(tables, split_by: str | None) -> tuple[list, list[pd.DataFrame]]:
    """Labels and frames: a list of tables (labels 0..n-1) or one table split by a column."""
    if split_by is not None:
        if not isinstance(tables, pd.DataFrame):
            raise FitError(f"split_by={split_by!r} needs one DataFrame, got {type(tables).__name__}")
        if split_by not in tables.columns:
            raise FitError(f"column '{split_by}' to split by is missing; present: "
                           f"{', '.join(map(str, tables.columns))}")
        if tables[split_by].isna().any():
            raise FitError(f"column '{split_by}' to split by has missing values")
        groups = list(tables.groupby(split_by, sort=True))
        return [label for label, _ in groups], [frame for _, frame in groups]
    if isinstance(tables, (pd.DataFrame, str, os.PathLike)):
        raise FitError("tables must be a list of runs tables; to fit one table per group, pass "
                       "split_by='<column>'")
    if isinstance(tables, Mapping):  # named tables: the fits are labelled by their names
        labels, frames = list(tables), list(tables.values())
    else:
        frames = list(tables)
        labels = list(range(len(frames)))
    if not frames:
        raise FitError("tables is empty: nothing to fit")
    return labels, frames


def batch_runs(labels: list, tables: list[RunsTable], run: str | bool | None) -> list[tuple]:
    """Each table's run column, run index and number of runs, as :func:`bayeslaw.fit` resolves
    them (``run=``); the batch fits one model, so either every table has a run effect or none."""
    runs = []
    for label, table in zip(labels, tables, strict=True):
        column = resolve_run(table.frame, run, table.roles())
        runs.append((column, *encode_runs(table.frame, column, what=f"runs table {label!r}",
                                          taken=table.roles(), family_index=table.family_index)))
    having = [label for label, (_, index, _) in zip(labels, runs, strict=True) if index is not None]
    if having and len(having) < len(runs):
        lacking = [label for label, (_, index, _) in zip(labels, runs, strict=True) if index is None]
        shown = lambda found: ", ".join(repr(v) for v in found[:5]) + (", ..." if len(found) > 5 else "")
        raise FitError(
            f"a batch fits one model, but runs tables {shown(having)} have a run effect (their run "
            f"column repeats a label: checkpoints of one run) and tables {shown(lacking)} have none; "
            "batch them apart, or pass run=False to fit every table without one")
    return runs


def _pad(table: RunsTable, logref: Mapping[str, float], rows: int, run_index: np.ndarray | None) -> tuple:
    """Model arguments of one table padded to ``rows`` with copies of row 0, plus the mask (and
    the run index, when the batch has a run effect: the copies are masked out of it too)."""
    x, family, ref, y = jax.tree.map(np.asarray, model_args(table, logref))
    n = family.shape[0]
    take = np.concatenate([np.arange(n), np.zeros(rows - n, dtype=int)])
    mask = np.arange(rows) < n
    args = ({k: v[take] for k, v in x.items()}, family[take], ref, y[take], mask)
    return args if run_index is None else args + (run_index[take],)


def _own_runs(plan, samples: dict, n_runs: int) -> tuple:
    """One fit's plan and draws cut from the batch's padded runs to its own ``n_runs``."""
    if not plan.n_runs:
        return plan, samples
    return replace(plan, n_runs=n_runs), {**samples, "run_z": samples["run_z"][..., :n_runs]}


def fit_many(
    law: str | os.PathLike | Law,
    tables: Sequence | pd.DataFrame,
    target: str = "loss",
    group: str | None = None,
    *,
    run: str | bool | None = None,
    split_by: str | None = None,
    pooling: Mapping[str, str] | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    centered: bool | None = None,
    sampler: str = "auto",
    steps: int | None = None,
    progress: bool | None = None,
) -> list[Fit]:
    """Fit one law to many runs tables at once, in a single compiled program.

    Every fit is independent (its own MAP start, step size, mass matrix and diagnostics) and
    gives the same posterior, within Monte Carlo error, as :func:`bayeslaw.fit` on its table.
    The fits run vectorised over fits x chains, split across all local JAX devices.

    Parameters
    ----------
    law : str, path or Law
        As in :func:`bayeslaw.fit`.
    tables : list of DataFrames (or CSV paths), a dict of them by name, or one DataFrame with ``split_by``
        The runs tables. Every table must have the same number of families (the batch shares
        one model); tables may have different numbers of runs.
    target, group, pooling, chains, draws, warmup, target_accept
        As in :func:`bayeslaw.fit`; the same for every fit.
    run : str, False or None
        The run effect, as in :func:`bayeslaw.fit`: by default a ``run`` or ``run_id`` column
        that repeats a label (checkpoints of one run); a column name; False for none. Every
        table in a batch must then have one, or none.
    split_by : str, optional
        Column of ``tables`` (one DataFrame) whose values define the fits, one per value.
    seed : int
        Base seed; fit ``i`` uses a key derived from ``(seed, i)``, so results do not depend on
        the batch's sharding.
    centered : bool, optional
        Centred or non-centred partial pooling (see :func:`bayeslaw.fit`). Default: centred
        when every table has at least 5 families of at least 10 runs each.
    sampler : {"auto", "hmc", "nuts"}
        ``"auto"`` (default): ``"hmc"`` when every table is one family without a run effect,
        ``"nuts"`` for hierarchical fits and run effects (with short warmups the fixed-length
        sampler diverged on centred 5-family fits and left chains apart, R-hat > 2, on
        training curves with a run effect). ``"hmc"``: :mod:`bayeslaw.infer.batched_hmc`, HMC whose number of leapfrog steps is
        the same in every lane at each iteration (jittered around ``steps``), so the batch never
        waits for its longest trajectory. ``"nuts"``: NumPyro's NUTS under ``vmap``, which adapts
        each trajectory's length but makes every lane wait for the deepest tree (several times
        slower per draw on CPU; use it for posteriors whose scales differ widely by direction).
    steps : int, optional
        Mean leapfrog steps per iteration for ``sampler="hmc"`` (default 16). Refused with
        ``sampler="nuts"``, which chooses its own path length. Raise it if the bulk ESS is low
        with few divergences: 22 trades some sampling time for fewer fits with R-hat > 1.01
        (``benchmarks/bench_hmc_steps.py``).
    progress : bool, optional
        A bar counting the fits (see :mod:`bayeslaw.core.progress`); the batch runs as one compiled
        program, so it advances once, when every fit is done.

    Returns
    -------
    list of Fit
        In the order of ``tables`` (or of the sorted ``split_by`` values). Each fit's
        ``config`` records ``batch_index``, ``batch_label`` and ``batch_size``; its ``timings``
        hold its equal share of the call's wall time (``compile_s``, ``init_s``, ``sampling_s``
        and ``other_s`` add up to ``total_s``) plus the batch totals (``batch_*``).
        One :class:`ConvergenceWarning` lists the fits whose diagnostics look unreliable.

    Raises
    ------
    FitError
        For invalid settings, an empty batch, tables with different numbers of families, or
        some tables with a run effect and some without.
    DataError
        For an invalid table (the message names the table's position).
    """
    started = time.perf_counter()
    chains, draws, warmup, seed, target_accept = check_settings(chains, draws, warmup, seed, target_accept)
    steps = check_sampler(sampler, steps, ("auto", "hmc", "nuts"))
    check_names(target, group, run, pooling, centered)
    check_fixed_pooling(pooling, "fit_many")
    runtime.configure()
    law = load_law(law)
    labels, frames = _split(tables, split_by)
    validated = [checked_table(law, read_runs(f), target, group, label)
                 for label, f in zip(labels, frames, strict=True)]
    runs = batch_runs(labels, validated, run)
    counts = sorted({t.n_families for t in validated})
    if len(counts) > 1:
        raise FitError(f"all tables in a batch need the same number of families; got {counts} "
                       "(fit groups with different family counts in separate batches)")
    if centered is None:
        centered = all(default_centered(t.family_index) for t in validated)
    plan = make_plan(law, counts[0], dict(pooling or {}), centered=bool(centered),
                     n_runs=max(n for _, _, n in runs))
    if sampler == "auto":
        # a run effect is a hierarchy too (run_sd over the runs' offsets)
        sampler = "hmc" if plan.n_families == 1 and not plan.n_runs else "nuts"
    logrefs = [log_reference(plan, t.inputs) for t in validated]
    rows = max(len(t.family_index) for t in validated)
    padded = [_pad(t, ref, rows, index) for t, ref, (_, index, _) in zip(validated, logrefs, runs, strict=True)]

    n_fits = len(padded)
    # every process must own a share of a multi-process batch; one process uses what it needs
    n_devices = jax.device_count() if jax.process_count() > 1 else min(jax.device_count(), n_fits)
    total = -(-n_fits // n_devices) * n_devices
    padded += [padded[0]] * (total - n_fits)  # filler lanes so every device gets a full share
    args = jax.tree.map(lambda *leaves: np.stack(leaves), *padded)
    base = jax.random.PRNGKey(int(seed))
    keys = np.asarray(jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(total)))

    with progress_bars.bar(n_fits, f"{law.name}: batch of {n_fits}", progress) as meter, \
            runtime.stopwatch() as clock:
        meter.set_postfix_str("one compiled program")
        settings = (chains, warmup, draws, target_accept, sampler, steps, n_devices)
        program, dense, mesh = batch_program.build(plan, padded[0], *settings)
        samples, diverging, num_steps, step_size = batch_program.run(
            program, mesh, (repr(plan), *settings), args, keys)
        meter.update(n_fits)
    fits = []
    share = {"compile_s": clock["compile"] / n_fits, "init_s": 0.0,
             "sampling_s": clock["run"] / n_fits,
             "batch_compile_s": clock["compile"], "batch_run_s": clock["run"],
             "batch_total_s": clock["total"]}
    for i, (label, table, ref, (column, index, n_runs)) in enumerate(
            zip(labels, validated, logrefs, runs, strict=True)):
        stats = {"diverging": diverging[i], "num_steps": num_steps[i],
                 "step_size": np.broadcast_to(step_size[i][:, None], diverging[i].shape).copy()}
        config = {"chains": chains, "draws": draws, "warmup": warmup, "seed": int(seed),
                  "target_accept": target_accept, "chain_method": "batched", "sampler": sampler,
                  **({"steps": steps} if sampler == "hmc" else {}),
                  "centered": bool(centered), "dense_mass": bool(dense), "batch_index": i,
                  "batch_label": _jsonable(label), "batch_size": n_fits, "devices": n_devices,
                  "n_runs": n_runs, "run": column}
        own_plan, own = _own_runs(plan, {k: v[i] for k, v in samples.items()}, n_runs)
        fits.append(Fit(plan=own_plan, table=table, logref=ref, samples=own, sample_stats=stats,
                        timings=dict(share), config=config, run_index=index))
    warn_if_unreliable(fits, chains, target_accept)
    wall = (time.perf_counter() - started) / n_fits
    for f in fits:
        parts = {k: f.timings[k] for k in ("compile_s", "init_s", "sampling_s")}
        f.timings.update(wall_timings(parts, wall))
    return fits


def _jsonable(label):
    """A split value as a JSON scalar (fit configs are saved as JSON)."""
    if isinstance(label, np.generic):
        label = label.item()
    return label if isinstance(label, (str, int, float, bool)) else str(label)
