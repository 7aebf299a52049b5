"""Row filters such as ``"N < 1e9 and D >= 2e10"``: a small parser, never ``eval``.

A filter is one or more conditions ``COLUMN OP VALUE`` joined by ``and`` or commas; every
condition must hold. ``OP`` is one of ``<``, ``<=``, ``>``, ``>=``, ``==`` (or ``=``) and ``!=``.
``VALUE`` is a number (``1e9``, ``3.5e11``); ``==`` and ``!=`` also take a text value, compared
with the column as text without surrounding spaces (``family == dense``, or quoted:
``family == 'dense'``, ``family == "001"``). Used by :func:`bayeslaw.fit` and
:func:`bayeslaw.backtest` (``where=``) and by the command line's ``--where``.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError
from bayeslaw.data.columns import parse_numbers
from bayeslaw.data.frames import as_frame

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
        "<": operator.lt, ">": operator.gt, "=": operator.eq}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|!=|<|>|=)\s*('[^']*'|\"[^\"]*\"|[^\s<>=!'\"]+)\s*$")
_SPLIT = re.compile(r",|\s+and\s+", re.IGNORECASE)
_HELP = "expected COLUMN OP VALUE, OP one of <, <=, >, >=, ==, !=, joined by 'and' or ','"


@dataclass(frozen=True)
class Condition:
    """One parsed condition: ``column op value`` (value a float, or text for == and !=)."""

    column: str
    op: str
    value: float | str
    text: str


def parse_where(text: str) -> list[Condition]:
    """Parse a filter into its conditions.

    Raises
    ------
    DataError
        Naming the condition that cannot be read.
    """
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"where: empty filter {text!r}; {_HELP}")
    out = []
    for token in _SPLIT.split(text):
        match = _CONDITION.match(token)
        if not match:
            raise DataError(f"where: cannot read condition {token.strip()!r} in {text!r}; {_HELP}")
        column, op, raw = match.groups()
        try:
            if raw[0] in "'\"":  # quoted: text, whatever it looks like (family == '001')
                raise ValueError
            value: float | str = float(raw)
        except ValueError:
            if op not in ("==", "=", "!="):
                raise DataError(f"where: {raw!r} in condition {token.strip()!r} is not a number "
                                f"(only == and != compare text)") from None
            value = raw.strip("'\"") if raw[0] in "'\"" else raw
        if isinstance(value, float) and not math.isfinite(value):
            raise DataError(f"where: {raw!r} in condition {token.strip()!r} is not a finite number")
        out.append(Condition(column, "==" if op == "=" else op, value, token.strip()))
    return out


def filter_runs(runs: pd.DataFrame, where: str) -> pd.DataFrame:
    """The rows of ``runs`` that satisfy every condition of ``where`` (labels kept).

    Raises
    ------
    DataError
        For a condition that cannot be read, a column not in the table, a numeric comparison
        on a column with non-numeric values, or a filter no row satisfies.
    """
    if not isinstance(runs, pd.DataFrame):
        raise DataError(f"filter_runs needs the runs as a DataFrame, got {type(runs).__name__}")
    runs = as_frame(runs)  # one name per column: runs[column] is then a column, never a table
    keep = np.ones(len(runs), dtype=bool)
    for cond in parse_where(where):
        if cond.column not in runs.columns:
            raise DataError(f"where: column {cond.column!r} in condition {cond.text!r} is not in "
                            f"the runs table; columns: {', '.join(map(str, runs.columns))}")
        column = runs[cond.column]
        if isinstance(cond.value, str):
            values, target = column.astype(str).str.strip().to_numpy(), cond.value.strip()
        else:
            try:  # numbers as the fit reads them: text, true/false and dates are refused
                values = parse_numbers(runs, cond.column, "the runs table")
            except DataError as exc:
                raise DataError(f"where: condition {cond.text!r}: {exc}") from None
            if np.isnan(values).any():  # a comparison with a missing value would drop its row unsaid
                label = runs.index[np.flatnonzero(np.isnan(values))[0]]
                raise DataError(f"where: column {cond.column!r} in condition {cond.text!r} has a "
                                f"missing value in row {label!r}")
            target = cond.value
        keep &= np.asarray(_OPS[cond.op](values, target), dtype=bool)
    if not keep.any():
        raise DataError(f"where: no run satisfies {where!r} ({len(runs)} runs in the table)")
    return runs[keep]
