"""Which column names each row's training run (``run=``), and when the fit says one may be missing."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.data.checkpoints import encode_runs, resolve_run

CURVES = pd.DataFrame({"run": ["a", "a", "b", "b"], "N": [1e8, 1e8, 2e8, 2e8],
                       "D": [1e9, 2e9, 1e9, 2e9], "loss": [3.0, 2.9, 2.8, 2.7]})
HINT = "the runs table has a {!r} column: if rows are checkpoints of the same runs, pass run="


def _quietly(frame, run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return resolve_run(frame, run)


def test_a_run_column_that_repeats_a_label_is_the_run_by_default():
    assert _quietly(CURVES, None) == "run"
    assert _quietly(CURVES.rename(columns={"run": "Run_ID"}), None) == "Run_ID"


def test_given_and_refused_run_columns_are_kept():
    assert _quietly(CURVES.assign(seed=["x", "x", "y", "y"]), "seed") == "seed"
    assert _quietly(CURVES, False) is None


def test_one_row_per_run_has_no_run_effect_and_no_warning():
    finals = CURVES.drop_duplicates("run", keep="last")
    assert _quietly(finals, None) is None


@pytest.mark.parametrize(("frame", "column"), [
    (CURVES.assign(step=[1, 2, 1, 2]).drop(columns="run"), "step"),
    (CURVES.assign(run=["a", None, "b", "b"]), "run"),  # labels missing: not taken as the run
])
def test_a_checkpoint_column_without_a_usable_run_label_warns(frame, column):
    with pytest.warns(bl.DataWarning, match=re.escape(HINT.format(column))):
        assert resolve_run(frame, None) is None


@pytest.mark.parametrize("run, group, message", [
    ("family", "family", ("run column 'family' is also the family column 'family'; give the column that names "
                          "each training run")),
    ("loss", None, "run column 'loss' is also the target 'loss'; give the column that names each training run"),
    ("N", None, "run column 'N' is also the law input 'N'; give the column that names each training run"),
])
def test_the_run_column_cannot_have_another_role(run, group, message):
    frame = pd.DataFrame({"run": [r for r in "abcd" for _ in range(2)], "family": ["x"] * 4 + ["y"] * 4,
                          "N": [n for n in (1e8, 2e8, 4e8, 8e8) for _ in range(2)], "D": [1e9, 2e9] * 4,
                          "loss": [3.0, 2.9, 2.8, 2.7, 2.6, 2.5, 2.45, 2.4]})
    with pytest.raises(bl.DataError, match="^" + re.escape(message) + "$"):
        bl.fit("chinchilla", frame, run=run, group=group, progress=False)


def test_a_run_column_that_groups_families_is_not_taken_as_the_run():
    assert resolve_run(CURVES, None, {"run": "family column 'run'"}) is None


# -- run labels read as family labels are --------------------------------------------------------


def _labelled(labels, families=None):
    frame = pd.DataFrame({"run": labels, "N": 1e9, "D": 1e10})
    index = None if families is None else np.asarray(families)
    return encode_runs(frame, "run", family_index=index)


def test_run_labels_lose_surrounding_spaces_and_blank_ones_are_missing():
    codes, n_runs = _labelled(["a", "a ", " b", "b"])
    assert n_runs == 2 and codes.tolist() == [0, 0, 1, 1]
    with pytest.raises(bl.DataError, match=r"^column 'run' in the runs table has missing values: rows 1, 2$"):
        _labelled(["a", "", "  ", "a"])


def test_one_run_for_every_row_is_no_run_effect():
    with pytest.warns(bl.DataWarning, match=re.escape("column 'run' names one run ('a') for every row: its offset "
                                                      "cannot be told apart from the law's level, so the fit has none")):
        assert _labelled(["a", "a ", "a"]) == (None, 0)


def test_a_run_label_in_several_families_is_said():
    with pytest.warns(bl.DataWarning, match=re.escape("run labels in column 'run' name rows of several families "
                                                      "('seed0'): each label is one training run")):
        codes, n_runs = _labelled(["seed0", "seed0", "seed1", "seed0"], families=[0, 0, 0, 1])
    assert n_runs == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _labelled(["x0", "x0", "y0", "y0"], families=[0, 0, 1, 1])
