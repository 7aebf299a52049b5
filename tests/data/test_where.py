"""Row filters (bayeslaw.data.where): parsing, filtering and the errors that name the bad token."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.cli.main import main
from bayeslaw.data.where import parse_where

RUNS = pd.DataFrame({"N": [1e8, 5e8, 2e9, 8e9], "D": [2e9, 1e10, 4e10, 1.6e11],
                     "family": ["a", "b", "a", "b"], "loss": [3.1, 2.9, 2.7, 2.5]})


@pytest.mark.parametrize("text, labels", [
    ("N<1e9", [0, 1]),
    ("N <= 2e9 and D > 2e9", [1, 2]),
    ("N>=5e8, N<8e9", [1, 2]),
    ("family == a", [0, 2]),
    ("family!=a AND loss<2.8", [3]),
    ("N=2e9", [2]),
    ("family == 'a'", [0, 2]),  # quoted text was compared with its quotes: no run satisfied it
    ('family != "a"', [1, 3]),
])
def test_filter_keeps_rows_satisfying_every_condition(text, labels):
    assert list(bl.filter_runs(RUNS, text).index) == labels


@pytest.mark.parametrize("text, message", [
    ("N<<1e9", "where: cannot read condition 'N<<1e9' in 'N<<1e9'; expected COLUMN OP VALUE"),
    ("N<1e9 and import os", "where: cannot read condition 'import os' in 'N<1e9 and import os'"),
    ("N < big", "where: 'big' in condition 'N < big' is not a number (only == and != compare text)"),
    ("N < inf", "where: 'inf' in condition 'N < inf' is not a finite number"),
    ("", "where: empty filter ''"),
    ("__import__('os')", "where: cannot read condition \"__import__('os')\""),
])
def test_unreadable_filters_name_the_token(text, message):
    with pytest.raises(bl.DataError, match=re.escape(message)):
        parse_where(text)


def test_filter_errors_name_column_row_and_empty_result():
    with pytest.raises(bl.DataError, match=re.escape("where: column 'P' in condition 'P>1' is not in the runs "
                                                      "table; columns: N, D, family, loss")):
        bl.filter_runs(RUNS, "N<1e9 and P>1")
    with pytest.raises(bl.DataError, match=re.escape("where: condition 'family<1': column 'family' in the runs "
                                                      "table is not numeric: rows 0, 1, 2, 3 ('a', 'b', 'a', 'b')")):
        bl.filter_runs(RUNS, "family<1")
    with pytest.raises(bl.DataError, match=re.escape("where: condition 'N>1': column 'N' in the runs table holds "
                                                      "dates (datetime64")):
        bl.filter_runs(RUNS.assign(N=pd.Timestamp("2026-01-01")), "N>1")
    with pytest.raises(bl.DataError, match=re.escape("column 'N' appears more than once in the runs table")):
        bl.filter_runs(pd.DataFrame([[1.0, 2.0]], columns=["N", "N"]), "N > 1")
    with pytest.raises(bl.DataError, match=re.escape("where: no run satisfies 'N>1e12' (4 runs in the table)")):
        bl.filter_runs(RUNS, "N>1e12")
    gap = RUNS.assign(N=[1e8, 5e8, float("nan"), 8e9])  # a comparison would drop row 2 unsaid
    with pytest.raises(bl.DataError, match=re.escape("where: column 'N' in condition 'N < 1e12' has a missing "
                                                      "value in row 2")):
        bl.filter_runs(gap, "N < 1e12")
    with pytest.raises(bl.DataError, match=re.escape("filter_runs needs the runs as a DataFrame, got int")):
        bl.filter_runs(5, "N<1e9")


def test_drop_early_checkpoints_refuses_what_would_drop_rows_unsaid():
    curves = pd.DataFrame({"N": [1e8] * 3, "D": [1e9, 2e10, 4e10], "loss": [3.5, 3.0, 2.9]})
    assert list(bl.drop_early_checkpoints(curves).index) == [1, 2]
    cases = [
        ({"min_tokens": float("nan")}, "min_tokens must be a non-negative number of tokens, got nan"),
        ({"min_tokens": "1e10"}, "min_tokens must be a non-negative number of tokens, got '1e10'"),
        ({"min_tokens": 1e30}, "no checkpoint has at least 1e+30 tokens (column 'D' reaches 4e+10); lower min_tokens"),
        ({"tokens": "loss", "min_tokens": 10.0},
         "no checkpoint has at least 10 tokens (column 'loss' reaches 3.5); lower min_tokens"),
    ]
    for kwargs, message in cases:
        with pytest.raises(bl.DataError, match=re.escape(message)):
            bl.drop_early_checkpoints(curves, **kwargs)
    with pytest.raises(bl.DataError, match=re.escape("column 'D' in the runs table has missing or infinite values: row 1")):
        bl.drop_early_checkpoints(curves.assign(D=[1e9, float("nan"), 4e10]))
    with pytest.raises(bl.DataError, match=re.escape("column 'N' in the runs table is not numeric: rows 0, 1, 2")):
        bl.drop_early_checkpoints(curves.assign(N=["a", "b", "c"]), tokens="N")


def test_cli_where_error_is_one_line(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    RUNS.to_csv(path, index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "chinchilla", str(path), "--where", "N<1e9 or D>1", "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == ("bayeslaw: error: where: cannot read condition 'N<1e9 or D>1' in 'N<1e9 or D>1'; expected "
                   "COLUMN OP VALUE, OP one of <, <=, >, >=, ==, !=, joined by 'and' or ','\n")
    assert main(["backtest", "chinchilla", str(path), "--cutoff", "1e20", "--where", "Q>1"]) == 2
    assert capsys.readouterr().err == ("bayeslaw: error: where: column 'Q' in condition 'Q>1' is not in the "
                                       "runs table; columns: N, D, family, loss\n")
