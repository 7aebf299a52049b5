"""Checks every fitting entry point shares: sampler settings, column options, and the runs
table against the law (:func:`checked_table`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from bayeslaw.core.errors import DataWarning, FitError
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.data.columns import warn_repeated_rows
from bayeslaw.data.runs import RunsTable, validate_runs
from bayeslaw.laws.law import Law
from bayeslaw.modeling.likelihood import check_enough_runs, check_target

#: seeds are 32-bit unsigned integers, as JAX's PRNGKey takes them on every platform
SEED_MAX = 2**32 - 1


#: mean leapfrog steps per HMC iteration when ``steps`` is not given
DEFAULT_STEPS = 16

#: families with at least this many runs each get centred partial pooling (see make_plan) ...
CENTRED_MIN_RUNS = 10
#: ... when there are at least this many families. With fewer, the between-family sd is barely
#: identified and its posterior reaches down to zero, where centred family values form a funnel
#: (divergences); non-centred values do not.
CENTRED_MIN_FAMILIES = 5


def default_centered(family_index: np.ndarray) -> bool:
    """Centred partial pooling for many families with many runs each, non-centred otherwise."""
    counts = np.bincount(family_index)
    return bool(counts.size >= CENTRED_MIN_FAMILIES and counts.min() >= CENTRED_MIN_RUNS)


def check_sampler(sampler: str, steps: int | None, allowed: tuple[str, ...]) -> int:
    """Validate the ``sampler`` and ``steps`` settings; return the steps HMC takes.

    ``steps`` sets fixed-length HMC's path; NUTS chooses its own, so a ``steps`` given with
    ``sampler="nuts"`` would be ignored without a word: it is refused instead.
    """
    if sampler not in allowed:
        names = [repr(a) for a in allowed]
        raise FitError(f"sampler must be {', '.join(names[:-1])} or {names[-1]}, got {sampler!r}")
    if steps is None:
        return DEFAULT_STEPS
    if not is_integer(steps) or steps < 1:
        raise FitError(f"steps must be a positive integer, got {steps!r}")
    if sampler == "nuts":
        raise FitError(f"steps={steps} sets HMC's path length, which sampler='nuts' chooses itself; "
                       "drop steps or use sampler='hmc' or 'auto'")
    return int(steps)


def check_settings(chains: int, draws: int, warmup: int, seed: int,
                   target_accept: float) -> tuple[int, int, int, int, float]:
    """Validate the sampler settings shared by every fitting entry point; return them as Python
    numbers (a NumPy integer is accepted, and would not survive the fit's JSON settings)."""
    for name, value in (("chains", chains), ("draws", draws), ("warmup", warmup)):
        if not is_integer(value) or value < 1:
            raise FitError(f"{name} must be a positive integer, got {value!r}")
    if not is_integer(seed):
        raise FitError(f"seed must be an int, got {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise FitError(f"seed must be a whole number from 0 to {SEED_MAX} (32 bits), got {seed!r}")
    if not is_real(target_accept) or not 0.5 <= target_accept < 1:
        raise FitError(f"target_accept must be in [0.5, 1), got {target_accept!r}")
    return int(chains), int(draws), int(warmup), int(seed), float(target_accept)


def check_names(target, group, run, pooling, centered) -> None:
    """Validate the column names and the pooling/centring options of :func:`fit`."""
    if not isinstance(target, str) or not target.strip():
        raise FitError(f"target must be a column name (str), got {target!r}")
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise FitError(f"group must be a column name (str) or None, got {group!r}")
    if run is not None and run is not False and (not isinstance(run, str) or not run.strip()):
        raise FitError(f"run must be a column name (str), False or None, got {run!r}")
    if isinstance(pooling, str) and pooling != "auto":
        raise FitError(f"pooling must be 'auto', None or a dict of parameter -> mode, got {pooling!r}")
    if pooling is not None and not isinstance(pooling, str | Mapping):
        raise FitError(f"pooling must be 'auto', None or a dict of parameter -> mode, got {type(pooling).__name__}")
    if group is None and pooling and pooling != "auto":  # pooling across families, with no families
        raise FitError(f"pooling {dict(pooling)} applies across families: give group (the family column)")
    if centered is not None and not isinstance(centered, bool | np.bool_):
        raise FitError(f"centered must be True, False or None, got {centered!r}")


def check_fixed_pooling(pooling, caller: str) -> None:
    """Refuse ``pooling="auto"`` where there is no one fit to choose it for (``fit_many``,
    ``sbc``): it reached ``dict("auto")``, a raw ValueError."""
    if isinstance(pooling, str):
        raise FitError(f"pooling={pooling!r} is bayeslaw.fit's choice per fit; {caller} takes None or a dict "
                       "of parameter -> mode")


def checked_table(law: Law, frame, target: str, group: str | None, label: str | None = None) -> RunsTable:
    """``frame`` checked against ``law`` and encoded: every check a fit makes on its data
    before sampling (the law's inputs present, numeric, positive where it needs; a target its
    likelihood takes; more distinct rows than it has parameters).

    ``label`` names the table in the messages (a batch's tables); the command line's ``compare``
    runs this for each law before fitting the first, so a table one law cannot take fails at
    once, not after the others' fits.
    """
    table = validate_runs(frame, {i.name: i.positive for i in law.inputs}, target, group,
                          positive_target=law.likelihood.space == "log",
                          what="runs table" if label is None else f"runs table {label!r}")
    check_target(law, table.target, table.frame, target, table.inputs)
    check_enough_runs(law, table.inputs, table.target,
                      "the runs table" if label is None else f"runs table {label!r}")
    noun = "the runs table" if label is None else f"runs table {label!r}"
    _warn_constant_inputs(law, table, noun)
    warn_repeated_rows(table.frame, list(table.roles()), noun)
    return table


def _warn_constant_inputs(law: Law, table: RunsTable, noun: str) -> None:
    """A law input with one value in every run (all at N = 1e8) leaves the terms that scale with
    it to the prior: say so, since the summary would show their exponents as if measured; and a
    target with one value (a column filled by mistake) leaves nothing to measure at all."""
    for name in law.formula.names:
        values = table.inputs.get(name)
        if values is not None and len(values) > 1 and np.ptp(values) == 0:
            warnings.warn(f"column '{name}' of {noun} holds one value ({values[0]:g}) in every run: how the law "
                          f"changes with {name} is not learnt from these runs (the parameters of its {name} terms "
                          "keep their prior)", DataWarning, stacklevel=3)
    target = table.target
    if target is not None and len(target) > 1 and np.ptp(target) == 0:
        warnings.warn(f"column '{table.target_name}' of {noun} holds one value ({target[0]:g}) in every run: "
                      "there is no change with size to fit, so the law's parameters are not learnt from these "
                      "runs (their narrow intervals come from the model, not from the data)", DataWarning, stacklevel=3)


def check_key(law, by: str) -> None:
    """Reject a key the law's inputs cannot compute, and laws outside log space."""
    names = law.input_names
    if by not in names and not (by == "C" and {"N", "D"} <= set(names)):
        extra = " or 'C' (6 N D)" if {"N", "D"} <= set(names) else ""
        raise FitError(f"extrapolation key {by!r} is not an input of law {law.name!r}; "
                       f"use one of: {', '.join(names)}{extra}")
    if law.likelihood.space != "log":
        raise FitError(f"extrapolation error needs a law with a log-space likelihood (a loss); "
                       f"law {law.name!r} has a {law.likelihood.space}-space likelihood")


def check_extrapolation(law: Law, extrapolation) -> None:
    """Refuse an ``extrapolation`` setting before any work (see :func:`bayeslaw.infer.fit.fit`)."""
    if extrapolation is False or extrapolation is None or extrapolation == "auto":
        return
    if not isinstance(extrapolation, str):
        raise FitError(f"extrapolation must be 'auto', an input name or False, got {extrapolation!r}")
    check_key(law, extrapolation)


def extrapolation_key(law: Law, extrapolation: str | bool | None) -> str | None:
    """The size key the extrapolation error is measured on, or None when it is off or (under
    ``"auto"``) the law's likelihood is not in log space."""
    if extrapolation is False or extrapolation is None:
        return None
    if extrapolation != "auto":
        return extrapolation
    if law.likelihood.space != "log":
        return None
    names = law.input_names
    return "C" if {"N", "D"} <= set(names) and "C" not in names else names[0]
