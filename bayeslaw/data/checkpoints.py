"""Intermediate checkpoints as data: encode runs, warn about unlabelled curves, drop early points.

A training curve gives many rows per run (tokens seen so far). Its points share the run's own
deviation from the law, so they are not independent: :func:`bayeslaw.fit` takes ``run=<column>``
and adds a per-run offset (``run_sd``) so one long curve does not count as hundreds of runs. A
column named ``run`` (or ``run_id``) that repeats a label is taken as that column by default
(:func:`resolve_run`): most tables of training curves name it so, and treating their checkpoints
as independent runs makes the fit both overconfident and, with families, hard to sample.
The offsets are kept orthogonal to the runs' sizes (they cannot take over the law's trend), and
checkpoints before the end of a run carry a shared excess over the law that vanishes at the run's
final checkpoint (an unannealed schedule; see
:func:`bayeslaw.modeling.run_effects.checkpoint_excess`). A larger run that stops short of a
schedule the smaller runs share (a compute cutoff, a run still training) ends where they do
(:func:`bayeslaw.modeling.run_effects.run_fraction`).
The Hitchhiker's Guide to Scaling Law Estimation (Choshen et al. 2024) found that dropping
checkpoints before ~10B tokens cuts extrapolation error from >15% to 4-10% for large families:
:func:`drop_early_checkpoints` does that.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, DataWarning
from bayeslaw.core.numbers import is_real
from bayeslaw.data.columns import is_missing, listed_rows, numeric_column
from bayeslaw.data.family_labels import label_text

#: column names taken as the run label when ``run`` is not given (see :func:`resolve_run`)
RUN_COLUMNS = ("run", "run_id")
#: column names that suggest rows are checkpoints of the same runs
CHECKPOINT_HINTS = (*RUN_COLUMNS, "step", "checkpoint", "iteration", "tokens_seen")


def resolve_run(frame: pd.DataFrame, run: str | bool | None, taken: Mapping[str, str] | None = None) -> str | None:
    """The column naming each row's training run, or None for no run effect.

    ``run`` is a column name (used as given), False (no run effect) or None: then a column named
    as in :data:`RUN_COLUMNS` is used when it has no missing labels, some label is on several
    rows and it has no other role (``taken``, as in :func:`encode_runs`: grouping families by
    a ``run`` column is not a run effect). A table of one row per run has no run effect and no
    warning. Otherwise, when a column looks like a checkpoint label (``step``, ...), the fit
    warns that ``run=`` may be wanted.
    """
    if run is False:
        return None
    if run is not None:
        return run
    column = _named_run_column(frame)
    if column is not None and column in (taken or {}):
        return None
    if column is not None and not is_missing(frame[column]).any():
        # a label on several rows: checkpoints of one run; else one row per run, nothing to share
        return column if frame[column].map(label_text).duplicated().any() else None
    hint = column if column is not None else next(
        (c for c in frame.columns if str(c).lower() in CHECKPOINT_HINTS), None)
    if hint is not None:
        warnings.warn(
            f"the runs table has a {hint!r} column: if rows are checkpoints of the same runs, pass "
            f"run=<column naming the run> so one training curve does not count as many independent runs",
            DataWarning, stacklevel=3)
    return None


def _named_run_column(frame: pd.DataFrame):
    names = {str(c).lower(): c for c in frame.columns}
    return next((names[n] for n in RUN_COLUMNS if n in names), None)


def encode_runs(frame: pd.DataFrame, run: str | None, what: str = "runs table",
                taken: Mapping[str, str] | None = None,
                family_index: np.ndarray | None = None) -> tuple[np.ndarray | None, int]:
    """Integer run index per row (and the number of runs), or (None, 0) without a run effect.

    ``run`` is a column name or None (see :func:`resolve_run`); ``what`` names the table in
    errors; ``taken`` maps the columns that already have a role (``RunsTable.roles``) to it, which
    the run column may not share. Labels are read as text without surrounding spaces, as family
    labels are (``'r1 '`` is run ``'r1'``); an empty label is missing. Warns when every row is a
    run of its own or all rows are one run (then there is no run effect: see below), and when a
    label names runs of several families (``family_index``: each family's ``seed0`` is a run of
    its own, but one label makes them one run).
    """
    if run is None:
        return None, 0
    role = (taken or {}).get(run)
    if role is not None:
        raise DataError(f"run column {run!r} is also the {role}; give the column that names each "
                        "training run")
    if run not in frame.columns:
        raise DataError(f"run column {run!r} is missing from the {what} (present: {', '.join(map(str, frame.columns))})")
    labels = frame[run]
    missing = is_missing(labels).to_numpy()
    if missing.any():
        raise DataError(f"column {run!r} in the {what} has missing values: {listed_rows(frame.index[missing])}")
    codes, uniques = pd.factorize(labels.map(label_text), sort=True)
    if len(uniques) == len(codes) or len(uniques) == 1:
        # one row per run: each run's offset and its row's noise are the same quantity. The
        # run effect is then not identified, and worse, offsets equal to the residuals let the
        # noise scale go to 0, where the density has no upper bound (chains and the MAP search
        # head for that spike from some starts and not others). One run for every row: its
        # offset is the law's own level E, again not identified.
        said = (f"every run in column {run!r} has one row: a run effect cannot be told apart from the "
                f"noise" if len(uniques) == len(codes) else
                f"column {run!r} names one run ({uniques[0]!r}) for every row: its offset cannot be told "
                f"apart from the law's level")
        warnings.warn(f"{said}, so the fit has none (it is for tables with several checkpoints per run)",
                      DataWarning, stacklevel=3)
        return None, 0
    if family_index is not None:
        spans = pd.Series(np.asarray(family_index)).groupby(codes).nunique().to_numpy()
        if (spans > 1).any():
            shared = ", ".join(repr(str(uniques[i])) for i in np.flatnonzero(spans > 1)[:5])
            warnings.warn(f"run labels in column {run!r} name rows of several families ({shared}): each "
                          f"label is one training run, so those rows share one run offset; label runs "
                          f"uniquely across families (e.g. family and seed) if they are different runs",
                          DataWarning, stacklevel=3)
    return codes.astype(np.int32), len(uniques)


def drop_early_checkpoints(runs: pd.DataFrame, tokens: str = "D", min_tokens: float = 10e9) -> pd.DataFrame:
    """Drop checkpoint rows trained on fewer than ``min_tokens`` tokens.

    Parameters
    ----------
    runs : DataFrame
        The runs table, one row per checkpoint.
    tokens : str
        Column with the tokens seen at the checkpoint.
    min_tokens : float
        Keep rows with at least this many tokens (default 10B, the Hitchhiker's Guide's cut).

    Raises
    ------
    DataError
        For a token column that is missing or holds anything but positive numbers (a row it
        could not compare would be dropped unsaid), a bad ``min_tokens``, or a cut no row passes.
    """
    if tokens not in runs.columns:
        raise DataError(f"column {tokens!r} is missing from the runs table")
    if not is_real(min_tokens) \
            or not np.isfinite(min_tokens) or min_tokens < 0:
        raise DataError(f"min_tokens must be a non-negative number of tokens, got {min_tokens!r}")
    if len(runs) == 0:
        raise DataError("the runs table has no rows")
    values = numeric_column(runs[[tokens]].copy(), tokens, True, "the runs table")
    kept = runs[values >= min_tokens].copy()
    if len(kept) == 0:
        raise DataError(f"no checkpoint has at least {min_tokens:g} tokens (column {tokens!r} reaches "
                        f"{values.max():g}); lower min_tokens")
    return kept
