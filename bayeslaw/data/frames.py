"""Rows in any form a user may hand over (a DataFrame, a dict, a list of dicts) as one DataFrame.

:func:`as_frame` is the one converter behind ``bl.fit``, ``Fit.predict``, the decision functions
and the downstream laws; it refuses what cannot be a table of runs with a message naming how the
rows are called (``what``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError


def noun_of(what: str) -> str:
    """'runs table' -> 'the runs table'; plural or already-determined phrases stay as given."""
    if what.startswith("the ") or what.endswith("s"):
        return what
    return f"the {what}"


def no_rows(noun: str) -> str:
    """The message for an empty table: 'the runs table has no rows', 'no prediction rows were given'."""
    if noun.startswith("the "):
        return f"{noun} has no rows"
    return f"no {noun} were given"


def as_frame(rows: pd.DataFrame | pd.Series | Mapping | list | tuple,
             what: str = "runs table") -> pd.DataFrame:
    """Rows in any of the accepted forms as a DataFrame: the one converter behind ``bl.fit``,
    ``Fit.predict`` and the decision functions.

    Parameters
    ----------
    rows : DataFrame, Series, dict or list of dicts
        A DataFrame (returned as it is); a Series (one row); a dict of scalars (one row) or of
        columns (lists or arrays of one length; scalars among them are repeated); a list or
        tuple of dicts, one per row (keys missing from a row are missing values).
    what : str
        How the rows are named in error messages.

    Raises
    ------
    DataError
        For any other type, columns of different lengths, an empty list, or a column name that
        appears more than once.
    """
    noun = noun_of(what)
    if isinstance(rows, pd.DataFrame):
        frame = rows
    elif isinstance(rows, pd.Series):
        frame = rows.to_frame().T
    elif isinstance(rows, Mapping):
        # a 0-d array is its one value; Series of different indexes would be paired by label
        rows = {k: v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v for k, v in rows.items()}
        _refuse_misaligned(rows, noun)
        try:
            if all(np.ndim(v) == 0 for v in rows.values()):
                frame = pd.DataFrame({k: [v] for k, v in rows.items()})
            else:
                frame = pd.DataFrame(dict(rows))
        except ValueError as exc:
            raise DataError(f"cannot make a table of {noun}: {exc}") from None
    elif isinstance(rows, list | tuple) and rows and all(isinstance(r, Mapping) for r in rows):
        frame = pd.DataFrame([dict(r) for r in rows])
    elif isinstance(rows, list | tuple) and not rows:
        raise DataError(no_rows(noun))
    else:
        raise DataError(f"{noun} must be a DataFrame, a dict of columns, a dict of one row or a "
                        f"list of dicts, got {type(rows).__name__}")
    if isinstance(frame.columns, pd.MultiIndex):
        raise DataError(f"{noun} has column names on {frame.columns.nlevels} levels; give one name per "
                        "column (e.g. join the levels with '_')")
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"column '{twice[0]}' appears more than once in {noun}")
    sparse = [c for c in frame.columns if isinstance(frame[c].dtype, pd.SparseDtype)]
    if sparse:  # pandas cannot mask a sparse column's cells; its values are the same dense
        frame = frame.assign(**{str(c): frame[c].sparse.to_dense() for c in sparse})
    return frame


def _refuse_misaligned(columns: Mapping, noun: str) -> None:
    """Refuse a dict of Series whose indexes differ: pandas would pair their values by label,
    re-ordering some and leaving missing cells the user never wrote."""
    indexes = [(k, v.index) for k, v in columns.items() if isinstance(v, pd.Series)]
    for name, index in indexes[1:]:
        if not index.equals(indexes[0][1]):
            raise DataError(f"columns '{indexes[0][0]}' and '{name}' of {noun} are Series with different "
                            "indexes (pandas would pair their values by label); give lists or arrays, or "
                            "Series with one index")
