"""Checks of the downstream models' tables, rows and arguments, with messages that name the
argument, the column and the rows.

A downstream fit reads accuracies, flags, item counts and sizes that a law fit never sees: each
is checked here once, for the fits and for their ``predict`` rows alike (rows once reached
``np.asarray(..., int)``, which truncated 4.7 bits to 4 and read the text 'False' as true).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.core.numbers import is_integer, is_real, real_array
from bayeslaw.data.columns import listed_rows, row_numbers

__all__ = ["check_accuracy", "check_chance", "check_folds", "check_items", "check_share", "flag_column",
           "require_rows", "row_numbers"]

#: share of the scores below ``chance`` above which chance is refused: scores of models near
#: chance scatter about it (about half below), a floor above most of them is a wrong argument
CHANCE_ABOVE_SHARE = 0.75


def check_share(value, name: str, *, low_open: bool = False, high_open: bool = True) -> float:
    """A share such as chance accuracy (in [0, 1)) or a ceiling (in (0, 1]) as a float; anything
    else is a DataError naming the argument, raised before sampling (chance 1 put the floor above
    every score, chance -1 or NaN sampled nonsense)."""
    ok = is_real(value) and np.isfinite(value)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise DataError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_folds(value, most: int) -> int:
    """``extrapolation_folds`` as an int from 0 to ``most`` (the nested cutoffs a model has);
    anything else is a DataError naming the argument."""
    if not is_integer(value) or not 0 <= value <= most:
        raise DataError(f"extrapolation_folds must be an integer from 0 to {most}, got {value!r}")
    return int(value)


def require_rows(frame: pd.DataFrame, need: int, noun: str) -> None:
    """Refuse a table with fewer than ``need`` rows before sampling (an empty one ended in 'no
    starting point ... check the table' after seconds of compiling)."""
    if len(frame) < need:
        raise DataError(f"{noun} has {len(frame)} {'row' if len(frame) == 1 else 'rows'}; the fit needs at "
                        f"least {need}")


def check_accuracy(values: np.ndarray, column: str, labels, *, open_interval: bool = False,
                   noun: str | None = None) -> None:
    """Raise a DataError naming the rows whose accuracy is outside [0, 1] (or (0, 1)).

    NaN entries are allowed (missing values); the caller decides what they mean. ``noun`` names
    the table or file in the message (a data folder's loader gives it, so the message names the
    file the column is in).
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    ok = (values > 0) & (values < 1) if open_interval else (values >= 0) & (values <= 1)
    bad = finite & ~ok | np.isinf(values)
    if bad.any():
        interval = "(0, 1)" if open_interval else "[0, 1]"
        labels = np.asarray(list(labels))
        rows = ", ".join(f"{label} ({value:g})" for label, value in zip(labels[bad][:5], values[bad][:5]))
        where = f" in {noun}" if noun else ""
        raise DataError(f"column '{column}'{where} holds accuracies and must lie in {interval}: rows {rows}"
                        + (", ..." if bad.sum() > 5 else ""))


def check_items(items: np.ndarray, correct: np.ndarray, column: str, labels) -> None:
    """Item counts must be whole, positive and at least the observed correct counts."""
    items = np.asarray(items, dtype=float)
    correct = np.asarray(correct, dtype=float)
    labels = np.asarray(list(labels))
    bad = ~np.isfinite(items) | (items < 1) | (np.abs(items - np.round(items)) > 1e-9)
    if bad.any():
        raise DataError(f"column '{column}' must hold whole positive item counts: rows "
                        + ", ".join(str(v) for v in labels[bad][:5]))
    below = np.isfinite(correct) & (items + 1e-9 < correct)
    if below.any():
        raise DataError(f"column '{column}' has item counts below the observed correct counts: rows "
                        + ", ".join(str(v) for v in labels[below][:5]))


def check_chance(values: np.ndarray, chance: float, column: str, noun: str) -> None:
    """Refuse a ``chance`` floor above most of the scores it is the floor of: the fit put every
    prediction at the floor without a word (chance 0.8 with accuracies 0.26-0.70)."""
    given = np.asarray(values, dtype=float)
    given = given[np.isfinite(given)]
    below = given < chance
    if given.size and below.mean() > CHANCE_ABOVE_SHARE:
        raise DataError(f"chance {chance:g} lies above {int(below.sum())} of the {given.size} scores in column "
                        f"'{column}' of {noun} (median {np.median(given):.3g}); chance is the benchmark's "
                        "random-guess accuracy, the floor of its scores")


def flag_column(frame: pd.DataFrame, column: str, noun: str) -> np.ndarray:
    """A column of true/false flags (bool, or 0/1) as a bool array; anything else, a missing cell
    or the text 'False' included, is a DataError naming the rows (``bool('False')`` is true)."""
    values = frame[column]
    ok = values.map(lambda v: isinstance(v, bool | np.bool_) or (is_real(v) and v in (0, 1)))
    if not ok.all():
        bad = ~ok.to_numpy()
        shown = ", ".join(repr(v) for v in values[bad].tolist()[:5])
        raise DataError(f"column '{column}' of {noun} must hold true/false flags: {listed_rows(frame.index[bad])} "
                        f"({shown})")
    return values.astype(bool).to_numpy()


def positive_values(value, name: str, what: str, *, zero: bool = False) -> np.ndarray:
    """``value`` (a number or a 1-d list of them) as a float array of finite values > 0 (>= 0 with
    ``zero``); anything else, text, true/false and a table included, is a PredictionError naming
    the argument."""
    values = real_array(value)  # True is not a size of 1
    if values is None or not np.all(np.isfinite(values) & (values >= 0 if zero else values > 0)):
        raise PredictionError(f"{name} must be one or more {'non-negative' if zero else 'positive'} {what}, "
                              f"got {value!r}")
    return values


def train_mask(train, index: pd.Index) -> np.ndarray | None:
    """``train`` as a boolean array in the order of the rows of ``index``, or None for none given.

    A Series is aligned by its labels, as pandas aligns one (a mask built from a filtered or
    reordered copy of the table must pick the same models, not the same positions); labels it
    lacks or has beyond ``index`` are refused with their names. Anything else is taken by position.
    """
    if train is None:
        return None
    if isinstance(train, pd.Series):
        if train.index.has_duplicates or index.has_duplicates:
            raise DataError("train is a Series: its index and the models table's must name each row once "
                            "to be matched; pass a list or an array to match by position")
        lacking, extra = index.difference(train.index), train.index.difference(index)
        if len(lacking) or len(extra):
            which = (f"has no entry for {listed_rows(lacking)}" if len(lacking)
                     else f"names {listed_rows(extra)}, which the table lacks")
            raise DataError(f"train is a Series matched to the models table by its index, and it {which}")
        train = train.reindex(index)
    mask = np.asarray(train)
    if mask.dtype != bool or mask.shape != (len(index),):
        raise DataError(f"train must be a true/false mask with one entry per model ({len(index)}), got "
                        f"{mask.dtype} values of shape {mask.shape}")
    return mask


def check_ladder_options(ideal, choices: tuple[str, ...], anchor, chance: float | None, max_step2_rows) -> None:
    """The ladder's scalar options: ``ideal`` one of ``choices``, ``anchor`` None or in (chance,
    1], ``max_step2_rows`` None or a whole number of at least 5 (step 2's least)."""
    if ideal not in choices:
        raise DataError(f"ideal must be one of: {', '.join(choices)}; got {ideal!r}")
    if anchor is not None and not (is_real(anchor) and 0 < anchor <= 1 and (chance is None or anchor > chance)):
        raise DataError(f"anchor (accuracy at zero task loss) must be in (chance, 1], got {anchor!r}")
    if max_step2_rows is not None and not (is_integer(max_step2_rows) and max_step2_rows >= 5):
        raise DataError(f"max_step2_rows must be a whole number of at least 5 (step 2's least) or None, "
                        f"got {max_step2_rows!r}")
