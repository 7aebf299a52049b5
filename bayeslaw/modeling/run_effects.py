"""Run effects: how the rows of one training run sit off its family's law.

With a run column (``run=`` of :func:`bayeslaw.fit`) each run gets an offset from the law,
projected so that it cannot take up what the law itself explains (:func:`run_projection`); when
the rows are intermediate checkpoints of runs in tokens ``D``, they also carry the excess of an
unfinished learning-rate schedule (:func:`checkpoint_excess`).
:func:`~bayeslaw.modeling.build.build_model` samples these sites; :func:`fitted_run_offsets`
reads them back from a fit's draws. ``plan`` is a :class:`~bayeslaw.modeling.build.ModelPlan`
(not imported here, even for annotations: build imports this module, and imports run one way).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: prior scale of the run-to-run sd (log space): one run sits ~1-5% off its family's law
RUN_SD_SCALE = 0.05
#: prior scale of the checkpoint excess at the start of a run (log space): ~10% above the law
EXCESS_SCALE = 0.1
#: sites of the checkpoint excess: its size at the start of a run and its decay power
CHECKPOINT_SITES = ("ckpt_excess", "ckpt_power")


def with_run_effect(plan, mean, offset):
    """Shift the law's value by a run's offset: multiplicative in log space, additive otherwise."""
    return mean * jnp.exp(offset) if plan.law.likelihood.space == "log" else mean + offset


def run_projection(plan, x: dict, run, family, mask=None) -> jnp.ndarray:
    """Projection (n_runs, n_runs) that keeps run offsets orthogonal to what the law explains.

    A run effect lets each training run sit off its family's law, which is right for checkpoints
    of one run. But when each run has one model size, a free offset per run can also take up the
    N dependence itself (small runs high, large runs low) and leave the law's ``A/N^alpha`` flat,
    so the law predicts new sizes badly. The offsets are therefore projected onto the orthogonal
    complement of the run-level design: one indicator per family (the family's own offsets
    carry its level) and the run's mean log value of every law input (the law carries the trend
    in size and tokens). What is left is each run's deviation that no law of this form explains.
    The design uses the inputs only, never the target, so the projection is fixed data.

    ``mask`` (rows, bool) marks the rows the fit sees (nested refits and padded batches hide the
    others from the likelihood): the design is built from those rows alone, and a run with none
    of them gets a zero design row, so its offset is its own prior draw, decoupled from the
    fitted runs. Were such runs in the design, their free offsets could balance a trend across
    the fitted runs' offsets, which is what the projection exists to forbid.
    """
    seen = jnp.ones(run.shape[0], dtype=bool) if mask is None else jnp.asarray(mask, dtype=bool)
    weight = jnp.where(seen, 1.0, 0.0)
    count = jax.ops.segment_sum(weight, run, plan.n_runs)
    present = jnp.where(count > 0, 1.0, 0.0)

    def per_run(values):  # mean over each run's seen rows, (n_runs, k)
        return jax.ops.segment_sum(values, run, plan.n_runs) / jnp.maximum(count, 1.0)[:, None]

    # the share of the run's seen rows per family, and its mean log input, centred over the runs
    cols = [per_run(jax.nn.one_hot(family, plan.n_families) * weight[:, None])]
    for name in plan.law.input_names:
        mean = per_run(jnp.where(seen, jnp.log(x[name]), 0.0)[:, None])
        centre = jnp.sum(mean * present[:, None]) / jnp.maximum(jnp.sum(present), 1.0)
        cols.append((mean - centre) * present[:, None])
    design = jax.lax.stop_gradient(jnp.concatenate(cols, axis=1))
    return jnp.eye(plan.n_runs) - design @ jnp.linalg.pinv(design)


#: runs whose last checkpoint lies within this factor of the longest run's share its schedule end
SHARED_END = 0.9
#: ... when at least this share of the runs ends there
SHARED_SHARE = 1 / 3


def run_fraction(plan, x: dict, run) -> jnp.ndarray:
    """Share of its run's schedule each row has seen: ``D / end of the run`` (1 at the end).

    A run ends at its last checkpoint, unless it was cut short of a schedule the runs share: at
    least :data:`SHARED_SHARE` of the runs end together (within :data:`SHARED_END` of the
    longest, as a suite trained on one schedule does: Pythia, OLMo, GPT-3's curves) and every run
    that stops short of them is larger (N) than every run that ends there, the signature of a
    compute cutoff (C = 6 N D keeps fewer tokens of a larger run) or of large runs still training.
    Such a run's last checkpoint is part-way through the shared schedule, and the run ends where
    the others do: taken as the end of its schedule, a large run's early, unannealed checkpoint
    would pin the law above the run's real end. Sweeps whose runs end where their own budgets do
    (smaller runs longer, as on an isoFLOP grid, or each run its own length) are left as they are.
    """
    final = jax.ops.segment_max(x["D"], run, plan.n_runs)
    size = jax.ops.segment_max(x["N"], run, plan.n_runs) if "N" in x else jnp.zeros_like(final)
    longest = jnp.max(final)
    together = final >= SHARED_END * longest
    largest_together = jnp.max(jnp.where(together, size, -jnp.inf))
    smallest_short = jnp.min(jnp.where(together, jnp.inf, size))
    shared = (jnp.mean(together) >= SHARED_SHARE) & (smallest_short > largest_together)
    end = jnp.where(shared & ~together, longest, final)
    return x["D"] / end[run]


def checkpoint_excess(excess, power, fraction) -> jnp.ndarray:
    """How far an intermediate checkpoint sits above the law: ``excess * (1 - fraction)^power``.

    The law describes a run trained to the end of its schedule; a checkpoint part-way through a
    decaying learning-rate schedule has not been annealed and sits above it, by most at the start
    and by nothing at the end. Modelling that excess (shared by the runs, learnt from them) lets
    checkpoints inform the law without pulling it up, and leaves the final checkpoints, which is
    what a planned run is, on the law itself. Broadcasts draws (S,) against rows (R,).
    """
    excess, power = jnp.asarray(excess)[..., None], jnp.asarray(power)[..., None]
    return excess * (1.0 - fraction) ** power


def run_offsets(plan, run_sd, run_z, projection) -> jnp.ndarray:
    """Each fitted run's offset from the law, ``projection @ (run_sd * run_z)``, for one draw
    (``run_z`` of shape (n_runs,)) or many (``run_sd`` (S,), ``run_z`` (S, n_runs))."""
    run_sd = jnp.asarray(run_sd)
    return (run_sd[..., None] * run_z) @ projection.T


def fitted_run_offsets(fit, flat: dict) -> jnp.ndarray:
    """Offsets of a fit's own rows from the law, (S, R): each run's projected offset plus, for
    checkpoints, the unfinished-schedule excess (from flat draws of the run sites). The
    projection is the one the fit was sampled with: over the rows it saw (``fit.fitted_rows``)."""
    x = {k: jnp.asarray(v) for k, v in fit.table.inputs.items()}
    run = jnp.asarray(fit.run_index)
    projection = run_projection(fit.plan, x, run, jnp.asarray(fit.table.family_index), fit.fitted_rows)
    offsets = run_offsets(fit.plan, flat["run_sd"], flat["run_z"], projection)[:, run]
    if fit.plan.checkpoint_excess and "ckpt_excess" in flat:
        fraction = run_fraction(fit.plan, x, run)
        offsets = offsets + checkpoint_excess(flat["ckpt_excess"], flat["ckpt_power"], fraction)
    return offsets
