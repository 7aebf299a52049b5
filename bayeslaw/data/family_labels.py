"""How rows name families: labels read as text without surrounding spaces, and the warnings and
refusals about family columns that :mod:`bayeslaw.data.runs` gives when it encodes a table.

A family column is easy to get subtly wrong in ways that fit without error: many families of
one or two runs (the column names runs), a family column under another name in rows to predict
(they would silently be predicted as a new family, with far wider intervals), or family names
given to a fit that has none. Each is said here, in one place.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping

import pandas as pd

from bayeslaw.core.errors import DataError, DataWarning
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.data.columns import is_missing

__all__ = ["ALL", "NEW_FAMILY", "family_name", "label_text", "refuse_misspelt_family", "warn_merged_labels", "warn_small_families",
           "warn_unused_families"]

ALL = "all"  # the single implicit family of a table without a group column
#: how predictions name a family not in the fit; read back in rows, it asks for a new family
NEW_FAMILY = "(new)"

#: small families named one warning each up to this many; more are named in one warning
_SMALL_NAMED = 3


def warn_small_families(counts: dict[str, int], least: int, group: str, noun: str) -> None:
    """A DataWarning for families with fewer than ``least`` runs: one each for a few, one for
    many (200 families of 2 runs are one fact, not 200 lines), and a pointed one when every
    family has a single run (the column names runs, not families)."""
    small = {name: count for name, count in counts.items() if count < least}
    if len(counts) > 1 and all(count == 1 for count in counts.values()):
        warnings.warn(f"column '{group}' in {noun} names a different family for every run ({len(counts)} "
                      "families of one run each): it names runs, not families of runs; the families' "
                      "parameters rest on the population alone", DataWarning, stacklevel=3)
    elif len(small) > _SMALL_NAMED:
        listed = ", ".join(f"'{name}' ({count})" for name, count in list(small.items())[:5])
        warnings.warn(f"{len(small)} of {len(counts)} families have fewer than {least} runs ({listed}"
                      f"{', ...' if len(small) > 5 else ''}); their parameters will rest mostly on the "
                      "population", DataWarning, stacklevel=3)
    else:
        for name, count in small.items():
            warnings.warn(f"family '{name}' has {count} {'run' if count == 1 else 'runs'} (fewer than "
                          f"{least}); its parameters will rest mostly on the population",
                          DataWarning, stacklevel=3)


def refuse_misspelt_family(frame: pd.DataFrame, group: str, inputs, noun: str, families) -> None:
    """Rows without a family column are for a new family (wide intervals); a column spelt like
    the family column ('famly', 'Family'), or one holding the fit's family names under another
    name ('arch'), means the user named families and would silently get those intervals."""
    wanted = {group.lower(), "family"}
    known = set(families)
    for column in frame.columns:
        if column in inputs:
            continue
        name = str(column)
        if name.lower() in wanted or difflib.get_close_matches(name.lower(), wanted, n=1, cutoff=0.8):
            raise DataError(f"column '{name}' of {noun} looks like the family column '{group}' misspelt: name it "
                            f"'{group}' to predict for a fitted family, or drop it to predict for a new family")
        if pd.api.types.is_numeric_dtype(frame[column]):  # a seed column of 1s is not family '1'
            continue
        values = frame[column][~is_missing(frame[column]).to_numpy()]
        if len(values) and values.map(label_text).isin(known).all():
            raise DataError(f"column '{name}' of {noun} holds family names of the fit ('{str(values.iloc[0]).strip()}'): "
                            f"name it '{group}' to predict for those families, or drop it to predict for a new family")


def warn_unused_families(frame: pd.DataFrame, noun: str) -> None:
    """Say so when rows name families a fit without families cannot tell apart.

    Such a fit predicts every row for its one population and labels it ``"all"`` in the output's
    ``family`` column, which would otherwise replace the rows' own ``family`` values unsaid.
    """
    if "family" not in frame.columns:
        return
    labels = frame["family"]
    named = labels[~is_missing(labels).to_numpy()].astype(str)
    named = named[named != ALL]
    if len(named):
        warnings.warn(f"the fit has no families (it was fitted without a group column): column 'family' "
                      f"of {noun} is not used, and row {named.index[0]} ('{named.iloc[0]}'), like every "
                      "row, is predicted for the fit's one population", DataWarning, stacklevel=5)


def warn_merged_labels(labels: pd.Series, group: str, noun: str) -> None:
    """A DataWarning where one family is written several ways (1 and '1', 2 and 2.0 in one
    column): they are one family (:func:`label_text`), which a user may not have meant."""
    ways: dict[str, dict[tuple[str, str], object]] = {}
    for value in labels:
        ways.setdefault(label_text(value), {}).setdefault((type(value).__name__, str(value).strip()), value)
    merged = {name: list(seen.values()) for name, seen in ways.items() if len(seen) > 1}
    if merged:
        listed = "; ".join(f"{' and '.join(repr(v) for v in values[:3])} are family '{name}'"
                           for name, values in list(merged.items())[:3])
        warnings.warn(f"column '{group}' in {noun} writes a family in several ways ({listed}): they are fitted "
                      "as one family", DataWarning, stacklevel=4)


def label_text(value) -> str:
    """A family or run label as text: without surrounding spaces, and a whole number written as
    an integer. One object column may hold the same code as 1 and 1.0 (a float column writes
    every code as 1.0): one family, one run, named '1'."""
    if is_integer(value):
        return str(int(value))
    if is_real(value) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def family_name(value, lookup: Mapping[str, int]) -> str:
    """The fit's name for a family label of a row to predict: the label as text without spaces,
    or the fitted name of the same number. A CSV reader turns the family codes '001' or '3' into
    the numbers 1 and 3 (and 3.0 where a cell is empty), so the fit knows '1' and '3' while the
    user writes 001 or 3.0. A fit saved before labels were written by :func:`label_text` may
    know a float column's codes as '3.0'."""
    name = label_text(value)
    if name in lookup:
        return name
    try:
        number = float(name)
    except (ValueError, OverflowError):
        return name
    if number.is_integer():
        for written in (str(int(number)), str(number)):
            if written in lookup:
                return written
    return name
