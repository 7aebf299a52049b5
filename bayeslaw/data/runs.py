"""Validate a runs table and encode its families.

A *runs table* has one row per training run: numeric input columns (``N``, ``D``, ...),
optionally a numeric target (``loss``) and optionally a family column. Validation turns it
into a :class:`RunsTable` of float64 arrays plus an integer family encoding, or raises a
:class:`~bayeslaw.core.errors.DataError` naming the column, the offending rows (index labels) and
their values (those checks of single columns are :mod:`bayeslaw.data.columns`').
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError
from bayeslaw.data.columns import (
    check_columns,
    holds_containers,
    is_missing,
    listed_rows,
    numeric_column,
)
from bayeslaw.data.family_labels import (
    ALL,
    NEW_FAMILY,
    family_name,
    label_text,
    refuse_misspelt_family,
    warn_merged_labels,
    warn_small_families,
    warn_unused_families,
)
from bayeslaw.data.files import read_csv_file
from bayeslaw.data.frames import as_frame, no_rows, noun_of

__all__ = ["RunsTable", "encode_rows", "read_runs", "validate_runs"]


@dataclass(frozen=True)
class RunsTable:
    """A validated runs table: float64 inputs/target and an int32 family encoding."""

    frame: pd.DataFrame
    inputs: dict[str, np.ndarray]
    target: np.ndarray | None
    family_index: np.ndarray
    families: tuple[str, ...]
    target_name: str | None
    group: str | None

    def roles(self) -> dict[str, str]:
        """Each column the fit reads, mapped to its role in words (for messages)."""
        return {name: role for role, name in column_roles(self.inputs, self.target_name, self.group)}

    @property
    def n_families(self) -> int:
        """Number of families in the encoding (not counting new families, index -1)."""
        return len(self.families)


def read_runs(source: pd.DataFrame | Mapping | list | str | os.PathLike, what: str = "runs table") -> pd.DataFrame:
    """Read a runs table from a CSV path, or copy rows given in memory.

    Parameters
    ----------
    source : str, path-like, DataFrame, dict or list of dicts
        The path of a CSV file (UTF-8), or rows in any form
        :func:`bayeslaw.data.frames.as_frame` accepts (copied).
    what : str
        How a file is called in messages (``"prediction rows file"``, ``"candidates file"``).

    Returns
    -------
    DataFrame
        A fresh DataFrame that the caller may modify.

    Raises
    ------
    DataError
        If the file cannot be read as a table with rows (see
        :func:`bayeslaw.data.files.read_csv_file`).
    """
    if not isinstance(source, str | os.PathLike):
        return as_frame(source).copy()
    return read_csv_file(source, what)


def column_roles(inputs, target: str | None, group: str | None) -> list[tuple[str, str]]:
    """``(role in words, column)`` for each column a fit reads: law inputs, target, family."""
    roles = [(f"law input '{name}'", name) for name in inputs]
    roles += [(f"target '{target}'", target)] if target is not None else []
    return roles + ([(f"family column '{group}'", group)] if group is not None else [])


def validate_runs(
    frame: pd.DataFrame,
    inputs: Mapping[str, bool],
    target: str | None,
    group: str | None,
    *,
    positive_target: bool = True,
    what: str = "runs table",
    min_runs_per_family: int = 3,
) -> RunsTable:
    """Check a runs table and encode it for fitting.

    Parameters
    ----------
    frame : DataFrame
        The runs, one row per run; it is not modified.
    inputs : mapping of str to bool
        Input column names, each mapped to whether its values must be positive.
    target : str or None
        Target column (e.g. ``"loss"``); None for rows without an observation.
    group : str or None
        Family column; None means one implicit family named ``"all"``.
    positive_target : bool, default True
        Whether target values must be positive.
    what : str, default "runs table"
        How the table is named in error messages.
    min_runs_per_family : int, default 3
        A family with fewer rows triggers a :class:`~bayeslaw.core.errors.DataWarning`.

    Returns
    -------
    RunsTable
        Families are ``str(value)`` of the group column without surrounding spaces, sorted
        by name.

    Raises
    ------
    DataError
        On a missing column, an empty table, non-numeric, missing, infinite or
        non-positive values, or missing family values.
    """
    noun = noun_of(what)
    roles = column_roles(inputs, target, group)
    for i, (role, name) in enumerate(roles):
        earlier = next((r for r, n in roles[:i] if n == name), None)
        if earlier:  # e.g. target="N": a column cannot be what is predicted and what predicts it
            raise DataError(f"column '{name}' of {noun} is given two roles: {earlier} and {role}")
    needed = [name for _, name in roles]
    check_columns(frame, needed, noun)
    if len(frame) == 0:
        raise DataError(no_rows(noun))
    out = frame.copy()
    arrays = {name: numeric_column(out, name, positive, noun) for name, positive in inputs.items()}
    target_values = None
    if target is not None:
        target_values = numeric_column(out, target, positive_target, noun)
    if group is None:
        families: tuple[str, ...] = (ALL,)
        index = np.zeros(len(out), dtype=np.int32)
    else:
        labels = out[group]
        missing = is_missing(labels)
        if missing.any():
            raise DataError(f"column '{group}' in {noun} has missing values: "
                            f"{listed_rows(out.index[missing.to_numpy()])}")
        nested = holds_containers(labels)
        if nested.any():
            kind = type(labels[nested].iloc[0]).__name__.replace("ndarray", "array")
            raise DataError(f"column '{group}' in {noun} holds {'an' if kind[0] in 'aeiou' else 'a'} {kind} in "
                            f"{listed_rows(out.index[nested])}; family labels are text or numbers")
        names = [label_text(v) for v in labels]  # 'dense ' is the family 'dense', 1.0 is '1'
        if labels.dtype == object:
            warn_merged_labels(labels, group, noun)
        families = tuple(sorted(set(names)))
        lookup = {name: i for i, name in enumerate(families)}
        index = np.array([lookup[n] for n in names], dtype=np.int32)
        counts = np.bincount(index, minlength=len(families))
        warn_small_families(dict(zip(families, counts.tolist(), strict=True)), min_runs_per_family, group, noun)
    return RunsTable(frame=out, inputs=arrays, target=target_values, family_index=index,
                     families=families, target_name=target, group=group)


def encode_rows(
    frame: pd.DataFrame | pd.Series | Mapping | list,
    inputs: Mapping[str, bool],
    group: str | None,
    families: tuple[str, ...],
    *,
    what: str = "prediction rows",
    warn_families: bool = False,
) -> RunsTable:
    """Validate rows to predict for and encode their families with a fit's encoding.

    Parameters
    ----------
    frame : DataFrame, dict, list of dicts or Series
        The rows, in any form :func:`bayeslaw.data.frames.as_frame` accepts: a dict maps column
        names to scalars (one row) or lists (many rows); a list holds one dict per row; a Series
        is one row.
    inputs : mapping of str to bool
        Input column names, each mapped to whether its values must be positive.
    group : str or None
        The fit's family column (None if the fit had none).
    families : tuple of str
        The fit's family encoding (``RunsTable.families``).
    what : str, default "prediction rows"
        How the rows are named in error messages.
    warn_families : bool, default False
        Warn when a fit without a group gets rows whose ``family`` column names families:
        True where the rows are the user's (``Fit.predict``), False where the library passes
        its own tables or rows it has already checked.

    Returns
    -------
    RunsTable
        With ``target`` None. ``family_index`` is -1 for a new family: an empty family
        value (NaN, None or ""), ``"(new)"`` (as predictions name it), or no family column at all. The family column is the fit's
        group column or, where the rows lack it, ``family`` (the name predictions give it).
        If the fit had no group (``families == ("all",)``) every row gets index 0.

    Raises
    ------
    DataError
        As :func:`validate_runs`, or for a family value the fit does not know.

    Warns
    -----
    DataWarning
        With ``warn_families``, for a fit without a group and a ``family`` column that names a
        family other than ``"all"``: every row is predicted for the fit's one population.
    """
    frame = as_frame(frame, what)
    noun = noun_of(what)
    table = validate_runs(frame, inputs, None, None, what=what)
    out = table.frame
    if group is None or tuple(families) == (ALL,):
        if warn_families:
            warn_unused_families(out, noun)
        index = np.zeros(len(out), dtype=np.int32)
    elif group not in out.columns and "family" not in out.columns:
        refuse_misspelt_family(out, group, inputs, noun, families)
        index = np.full(len(out), -1, dtype=np.int32)
    else:
        lookup = {name: i for i, name in enumerate(families)}
        # the predictions name the family "family", so rows may too (as the CLI's --predict)
        labels = out[group if group in out.columns else "family"]
        missing = is_missing(labels).to_numpy()
        index = np.full(len(out), -1, dtype=np.int32)
        unknown: dict[str, list] = {}
        for pos, (label, value) in enumerate(zip(out.index, labels, strict=True)):
            if missing[pos]:
                continue
            name = family_name(value, lookup)
            if name in lookup:
                index[pos] = lookup[name]
            elif name == NEW_FAMILY:  # a predictions table read back as rows
                continue
            else:
                unknown.setdefault(name, []).append(label)
        if unknown:
            name, rows = next(iter(unknown.items()))
            raise DataError(f"unknown family '{name}' in {noun}: {listed_rows(rows)}; known families: "
                            f"{', '.join(families)} (leave the family empty to predict for a "
                            "new family)")
    return RunsTable(frame=out, inputs=table.inputs, target=None, family_index=index,
                     families=tuple(families), target_name=None, group=group)
