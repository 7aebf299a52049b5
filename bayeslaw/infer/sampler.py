"""Sampler choice for law fits: the batched HMC first where it is safe, NUTS otherwise or when HMC's draws fail a check."""

from __future__ import annotations

from functools import partial

import numpy as np

from bayeslaw.core import runtime
from bayeslaw.infer import hmc as fit_hmc
from bayeslaw.infer.nuts import EXTEND_FROM, converged, dim_of, mass_matrix, sample_nuts
from bayeslaw.infer.start import INIT_JITTER
from bayeslaw.modeling.build import ModelPlan
from bayeslaw.results.diagnostics import (
    ACCEPT_LADDER,
    diagnose,
    problems,
    quantity_labels,
)
from bayeslaw.results.fit import sampled_sites


def hmc_first(plan: ModelPlan) -> bool:
    """Whether ``sampler="auto"`` tries the batched HMC before NUTS.

    Not for non-centred hierarchies (partially pooled families sampled non-centred, or a run
    effect): a between-family or between-run sd that the data barely pin down leaves a funnel
    whose neck a fixed trajectory length does not cross, where NUTS's adaptive trajectories do.
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


#: ``sampler="auto"`` redraws NUTS draws that hold a divergent transition at the next of these
#: target acceptances above the current one, while they still diverge: smaller steps through the
#: curved E/A/alpha ridge and the hierarchies' funnels, the usual remedy (Stan's adapt_delta)
#: made the default rather than left to a warning. 0.99 is for the few tables 0.95 does not
#: settle (two families with a run effect and a 10x gap in N: 59 divergences at 0.95, none at 0.99);
#: 0.999 for those 0.99 does not (Pythia's two families of checkpoints with that gap: 15 at 0.99,
#: in one chain's visit to the E/alpha ridge's tail, none at 0.999)
RETRY_ACCEPTS = ACCEPT_LADDER  # the rungs the divergence warning suggests, too


def run_sampler(sampler: str, plan: ModelPlan, hmc, nuts, chains: int, target_accept: float,
            families: tuple[str, ...] = ()):
    """Run the chosen sampler (``auto``: HMC, then NUTS if HMC's draws fail a check; NUTS draws
    with divergent transitions are redrawn up the ladder :data:`RETRY_ACCEPTS`).

    ``nuts(accept)`` runs NUTS at target acceptance ``accept``. Returns draws, stats, chain
    method, timings, the sampler whose draws these are, why HMC's draws were set aside (None if
    they were not), and the target acceptance of the draws returned.
    """
    if sampler == "nuts" or (sampler == "auto" and not hmc_first(plan)):
        samples, stats, method, clock, accept = _nuts(nuts, sampler, target_accept)
        return samples, stats, method, clock, "nuts", None, accept
    with runtime.stopwatch() as t_hmc:
        samples, stats = hmc()
    fallback = (hmc_trouble(plan, samples, stats, chains, target_accept, families)
                if sampler == "auto" else None)
    if fallback is None:
        return samples, stats, "batched", t_hmc, "hmc", None, target_accept
    samples, stats, method, t_nuts, accept = _nuts(nuts, sampler, target_accept)
    return samples, stats, method, {k: t_hmc[k] + t_nuts[k] for k in t_nuts}, "nuts", fallback, accept


def _nuts(nuts, sampler: str, target_accept: float):
    """NUTS at ``target_accept``, redrawn under ``auto`` at each higher rung of
    :data:`RETRY_ACCEPTS` while the draws diverge; draws, stats, chain method, timings and the
    target acceptance of the draws."""
    samples, stats, method, clock = nuts(target_accept)
    accept = target_accept
    for rung in RETRY_ACCEPTS if sampler == "auto" else ():
        if rung <= accept or not np.asarray(stats["diverging"]).any():
            continue
        samples, stats, method, again = nuts(rung)
        clock, accept = {k: clock[k] + again[k] for k in again}, rung
    return samples, stats, method, clock, accept


def sample_law(sampler, plan, model, args, starts, centre, key, chains, warmup, draws, steps,
                target_accept, show, families=()):
    """Build the two samplers for :func:`fit` and run the chosen one (see :func:`run_sampler`)."""
    dense = mass_matrix(plan, dim_of(starts))
    hmc = partial(fit_hmc.sample, model, args, centre, starts, key, warmup=warmup, draws=draws,
                  steps=steps, target_accept=target_accept, dense=dense is True, jitter=INIT_JITTER,
                  program=repr(plan))
    enough = partial(converged, plan, chains=chains) if draws >= EXTEND_FROM else None

    def nuts(accept: float):
        return sample_nuts(model, args, starts, key, dense, chains, warmup, draws, accept, show, enough)

    return run_sampler(sampler, plan, hmc, nuts, chains, target_accept, families)
