"""Checks of single columns of a table, with messages that name the column, the offending rows
(by index label, at most five) and their values.

Shared by :mod:`bayeslaw.data.runs` (runs tables, prediction rows) and the other readers of
tables of runs, e.g. :func:`bayeslaw.decide.isoflop.isoflop`.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, DataWarning, PredictionError
from bayeslaw.core.runtime import FLOAT32_RANGE, outside_float32

__all__ = ["check_columns", "holds_containers", "is_missing", "listed_rows", "numeric_column", "parse_numbers",
           "positive_or_missing", "row_numbers", "warn_repeated_rows"]

_MAX_LISTED = 5


#: the words pandas' CSV reader takes for a missing value: missing in a column of numbers, a
#: label as written in a column of text (a family may be called 'NA')
NA_WORDS = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                      "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def check_columns(frame: pd.DataFrame, needed: list[str], noun: str) -> None:
    """Refuse a table that lacks one of the ``needed`` columns or has one of them twice.

    ``noun`` names the table in the message, e.g. ``"the runs table"``; the message lists the
    columns needed and those present, so a misspelt header is easy to spot.
    """
    present = [str(c) for c in frame.columns]
    for name in needed:
        if name not in frame.columns:
            raise DataError(f"column '{name}' is missing from {noun}; needed: "
                            f"{', '.join(needed)} (present: {', '.join(present)})")
        if present.count(name) > 1:
            raise DataError(f"column '{name}' appears more than once in {noun}")


def is_missing(values: pd.Series) -> pd.Series:
    """NaN/None/NA (a signalling ``Decimal('sNaN')`` too: pandas' test raises on it), or a string
    that is empty after stripping."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.isna()
    signalling = values.map(lambda v: isinstance(v, Decimal) and v.is_snan()).astype(bool)
    missing = values.mask(signalling).isna() | signalling
    blank = values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    return missing | blank


def numeric_column(frame: pd.DataFrame, name: str, positive: bool, noun: str) -> np.ndarray:
    """Column ``name`` as finite float64 values, stored back into ``frame`` and returned.

    Text that parses as a number is accepted; anything else, a missing or infinite value, or
    (with ``positive``) a value <= 0 raises :class:`~bayeslaw.core.errors.DataError` naming the
    rows and values. So does a column of true/false, dates, durations or complex numbers, which
    pandas would read as 0/1, nanoseconds or a real part.
    """
    values = parse_numbers(frame, name, noun)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"column '{name}' in {noun} has missing or infinite values: "
                        f"{listed_rows(frame.index[bad])}")
    wide = outside_float32(values)
    if wide.any():  # 1e308 or 1e-320: inf or 0 in a 32-bit fit, and overflowing 6 N D in any
        pairs = [f"{label} ({v:g})" for label, v in zip(frame.index[wide], values[wide], strict=True)]
        low, high = FLOAT32_RANGE
        raise DataError(f"column '{name}' in {noun} holds values outside the range of a 32-bit float ({low:.1e} "
                        f"to {high:.1e} in magnitude), in which fits on a GPU run: {_rows_phrase(pairs)}")
    if positive:
        low = values <= 0
        if low.any():
            bad_rows = zip(frame.index[low], values[low], strict=True)
            pairs = [f"{label} ({v:g})" for label, v in bad_rows]
            raise DataError(f"column '{name}' in {noun} must be positive: {_rows_phrase(pairs)}")
    frame[name] = values
    return values


def parse_numbers(frame: pd.DataFrame, name: str, noun: str) -> np.ndarray:
    """Column ``name`` as float64 values, missing values NaN; text that is not a number, or a
    column of true/false, dates, durations or complex numbers, raises
    :class:`~bayeslaw.core.errors.DataError` naming the column, the rows and their values."""
    raw = frame[name]
    kind = _non_number_kind(raw)
    if kind:
        raise DataError(f"column '{name}' in {noun} holds {kind} ({raw.dtype}), not numbers")
    missing = is_missing(raw)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):  # a CSV's text keeps the NA words
        missing |= raw.map(lambda v: isinstance(v, str) and v.strip() in NA_WORDS).astype(bool)
    nested = holds_containers(raw)  # no number (pandas' parser raised TypeError on some)
    masked = raw.mask(missing | nested)
    try:
        parsed = pd.to_numeric(masked, errors="coerce")
    except OverflowError:  # a Python int beyond float64 (a CSV column of integers): infinite as a float
        parsed = masked.map(_as_float).astype(float)
    failed = (parsed.isna() & ~missing).to_numpy().copy()
    if raw.dtype == object:  # a True among numbers would be read as 1, a date or complex number as a count
        failed |= raw.map(lambda v: isinstance(v, bool | np.bool_ | complex | np.complexfloating)
                          or hasattr(v, "isoformat")).to_numpy(dtype=bool)
    if failed.any():
        values = _listed([repr(v) for v in raw[failed].tolist()])
        raise DataError(f"column '{name}' in {noun} is not numeric: "
                        f"{listed_rows(frame.index[failed])} ({', '.join(values)})")
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan)


def positive_or_missing(frame: pd.DataFrame, name: str, noun: str) -> np.ndarray:
    """Column ``name`` as float64 values (missing values NaN, as :func:`parse_numbers`); a value
    <= 0 or infinite raises :class:`~bayeslaw.core.errors.DataError` naming the rows and values."""
    values = parse_numbers(frame, name, noun)
    bad = (values <= 0) | np.isinf(values)
    if bad.any():
        pairs = [f"{label} ({v:g})" for label, v in zip(frame.index[bad], values[bad], strict=True)]
        raise DataError(f"column '{name}' in {noun} must be positive where given: {_rows_phrase(pairs)}")
    return values


def holds_containers(values: pd.Series) -> np.ndarray:
    """Which cells hold a list, tuple, dict, set, array or Series: neither a number nor a label."""
    return values.map(lambda v: isinstance(v, list | tuple | dict | set | np.ndarray | bytearray | pd.Series)
                      ).to_numpy(dtype=bool)


def _as_float(value) -> float:
    """A cell as a float: NaN for what is no number, +-inf for an integer beyond float64."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        return math.nan


def _non_number_kind(values: pd.Series) -> str | None:
    """What a column holds when its dtype is one pandas converts to numbers without being numbers."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "true/false values"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "dates"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "durations"
    if pd.api.types.is_complex_dtype(dtype):
        return "complex numbers"
    return None


def listed_rows(labels) -> str:
    """``"row 3"`` or ``"rows 1, 4, 7, 9, 12, ..."``: the index labels of offending rows, at most
    five of them, for a message."""
    return _rows_phrase([str(label) for label in labels])


def _listed(items: list[str]) -> list[str]:
    return items[:_MAX_LISTED] + (["..."] if len(items) > _MAX_LISTED else [])


def _rows_phrase(items: list[str]) -> str:
    word = "row" if len(items) == 1 else "rows"
    return f"{word} {', '.join(_listed(items))}"


def warn_repeated_rows(frame: pd.DataFrame, columns: list[str], noun: str, what: str = "runs") -> None:
    """A DataWarning naming rows that repeat an earlier row in every one of ``columns``: a run
    listed twice (a concatenated export) counts twice and narrows every interval, unsaid."""
    repeated = frame.duplicated(subset=[c for c in columns if c in frame.columns], keep="first").to_numpy()
    if repeated.any():
        verb = "repeats an earlier row" if repeated.sum() == 1 else "repeat earlier rows"
        warnings.warn(f"{listed_rows(frame.index[repeated])} of {noun} {verb} in {', '.join(columns)}: "
                      f"each copy counts as one more of the {what}, which narrows the intervals; drop the "
                      "copies unless they are real replicates", DataWarning, stacklevel=3)


def row_numbers(frame: pd.DataFrame, columns: dict[str, bool], noun: str = "the prediction rows") -> list[np.ndarray]:
    """The ``columns`` (name -> must be positive) of rows to predict as finite floats; a missing
    column, text, a true/false, a missing or infinite value or (where positive) a value <= 0 is a
    PredictionError naming the column and the rows. ``frame`` is left as given."""
    work = frame.copy()
    try:
        check_columns(work, list(columns), noun)
        return [numeric_column(work, name, positive, noun) for name, positive in columns.items()]
    except DataError as exc:
        raise PredictionError(str(exc)) from None
