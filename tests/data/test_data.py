"""Tests for bayeslaw.data.runs: reading, validating and encoding runs tables."""

import io
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from bayeslaw.core.errors import DataError, DataWarning
from bayeslaw.data.frames import as_frame
from bayeslaw.data.runs import RunsTable, encode_rows, read_runs, validate_runs

INPUTS = {"N": True, "D": True}


def runs(n_per_family=3, families=("a", "b")):
    rows = []
    for k, fam in enumerate(families):
        for i in range(n_per_family):
            rows.append({"N": 1e7 * (i + 1), "D": 1e9 * (k + 1), "loss": 3.0 - 0.1 * i,
                         "family": fam})
    return pd.DataFrame(rows)


def raises(msg):
    return pytest.raises(DataError, match=f"^{re.escape(msg)}$")


# --- read_runs ---------------------------------------------------------------------------

def test_read_runs_copies_a_frame():
    frame = runs()
    out = read_runs(frame)
    out.loc[0, "N"] = -5.0
    assert frame.loc[0, "N"] == 1e7


def test_read_runs_reads_csv(tmp_path):
    path = tmp_path / "runs.csv"
    runs().to_csv(path, index=False)
    out = read_runs(path)
    assert list(out.columns) == ["N", "D", "loss", "family"]
    assert len(out) == 6
    assert len(read_runs(str(path))) == 6


def test_read_runs_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with raises(f"cannot read runs table '{path}': no such file"):
        read_runs(path)


def test_read_runs_in_another_encoding_says_so(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("N,D,loss,family\n1e8,2e9,3.1,caf\u00e9\n".encode("latin-1"))
    with raises(f"cannot read runs table '{path}': it is not UTF-8 text (byte 0xe9 cannot be decoded); "
                "save it as UTF-8"):
        read_runs(path)
    path.write_bytes("\ufeffN,D,loss\n1e8,2e9,3.1\n".encode())  # UTF-8 with a byte-order mark reads
    assert list(read_runs(path).columns) == ["N", "D", "loss"]


def test_read_runs_unparsable_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("N,loss\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match=re.escape(f"cannot read runs table '{path}': ")
                       + ".*Expected 2 fields"):
        read_runs(path)


# --- validate_runs: errors ----------------------------------------------------------------

def test_missing_input_column():
    frame = pd.DataFrame({"N": [1.0], "loss": [2.0], "family": ["a"]})
    with raises("column 'D' is missing from the runs table; needed: N, D, loss "
                "(present: N, loss, family)"):
        validate_runs(frame, INPUTS, "loss", None)


def test_missing_group_column():
    frame = pd.DataFrame({"N": [1.0], "D": [1.0], "loss": [2.0]})
    with raises("column 'family' is missing from the runs table; needed: N, D, loss, family "
                "(present: N, D, loss)"):
        validate_runs(frame, INPUTS, "loss", "family")


def test_not_numeric_lists_bad_cells_not_missing_ones():
    n = ["1e9"] * 10
    n[3], n[7], n[5] = "abc", "1e9x", None
    frame = pd.DataFrame({"N": n, "D": [1e9] * 10, "loss": [2.0] * 10})
    with raises("column 'N' in the runs table is not numeric: rows 3, 7 ('abc', '1e9x')"):
        validate_runs(frame, INPUTS, "loss", None)


def test_numeric_strings_are_accepted():
    frame = pd.DataFrame({"N": ["1e9", "2e9", "3"], "D": [1e9] * 3, "loss": ["2.5", "2", "1"]})
    table = validate_runs(frame, INPUTS, "loss", None)
    np.testing.assert_array_equal(table.inputs["N"], [1e9, 2e9, 3.0])
    np.testing.assert_array_equal(table.target, [2.5, 2.0, 1.0])
    assert table.frame["N"].dtype == np.float64


@pytest.mark.parametrize("values, message", [
    ([True, False], "column 'N' in the runs table holds true/false values (bool), not numbers"),
    (np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[ns]"), "column 'N' in the runs table holds dates (datetime64[ns]), not numbers"),
    (np.array([1, 2], dtype="timedelta64[ns]"), "column 'N' in the runs table holds durations (timedelta64[ns]), not numbers"),
    ([1e9 + 1j, 2e9 + 0j], "column 'N' in the runs table holds complex numbers (complex128), not numbers"),
])
def test_columns_pandas_would_coerce_are_refused(values, message):
    frame = pd.DataFrame({"N": values, "D": [1e9, 2e9], "loss": [2.0, 1.9]})
    with raises(message):
        validate_runs(frame, INPUTS, "loss", None)


@pytest.mark.parametrize("target, group, message", [
    ("N", None, "column 'N' of the runs table is given two roles: law input 'N' and target 'N'"),
    ("loss", "loss", "column 'loss' of the runs table is given two roles: target 'loss' and family column 'loss'"),
    ("loss", "D", "column 'D' of the runs table is given two roles: law input 'D' and family column 'D'"),
])
def test_one_column_cannot_play_two_roles(target, group, message):
    frame = pd.DataFrame({"N": [1e9, 2e9], "D": [1e9, 2e9], "loss": [2.0, 1.9]})
    with raises(message):
        validate_runs(frame, INPUTS, target, group)


def test_multi_level_column_names_are_refused():
    frame = pd.DataFrame([[1e9, 1e9, 2.0]], columns=pd.MultiIndex.from_tuples([("x", "N"), ("x", "D"), ("y", "loss")]))
    with raises("the runs table has column names on 2 levels; give one name per column (e.g. join the levels with '_')"):
        as_frame(frame)


def test_missing_or_infinite_values():
    loss = [2.0] * 7
    loss[2], loss[5] = np.nan, np.inf
    frame = pd.DataFrame({"N": [1e9] * 7, "D": [1e9] * 7, "loss": loss})
    with raises("column 'loss' in the runs table has missing or infinite values: rows 2, 5"):
        validate_runs(frame, INPUTS, "loss", None)


def test_empty_string_counts_as_missing():
    frame = pd.DataFrame({"N": ["1e9", " "], "D": [1e9] * 2, "loss": [2.0] * 2})
    with raises("column 'N' in the runs table has missing or infinite values: row 1"):
        validate_runs(frame, INPUTS, "loss", None)


def test_non_positive_values():
    n = [1e9] * 10
    n[4], n[9] = 0.0, -1.0
    frame = pd.DataFrame({"N": n, "D": [1e9] * 10, "loss": [2.0] * 10})
    with raises("column 'N' in the runs table must be positive: rows 4 (0), 9 (-1)"):
        validate_runs(frame, INPUTS, "loss", None)


def test_at_most_five_rows_listed():
    frame = pd.DataFrame({"N": [-2.5e-3] * 7, "D": ["x"] * 7, "loss": [2.0] * 7})
    with raises("column 'N' in the runs table must be positive: rows 0 (-0.0025), 1 (-0.0025), "
                "2 (-0.0025), 3 (-0.0025), 4 (-0.0025), ..."):
        validate_runs(frame, INPUTS, "loss", None)
    with raises("column 'D' in the runs table is not numeric: rows 0, 1, 2, 3, 4, ... "
                "('x', 'x', 'x', 'x', 'x', ...)"):
        validate_runs(frame, {"D": True}, "loss", None)


def test_positive_flags():
    frame = pd.DataFrame({"N": [1e9, 2e9], "D": [1e9, 1e9], "x": [-1.0, 0.0],
                          "loss": [-0.5, 0.5]})
    table = validate_runs(frame, {"N": True, "x": False}, "loss", None, positive_target=False)
    np.testing.assert_array_equal(table.inputs["x"], [-1.0, 0.0])
    with raises("column 'loss' in the runs table must be positive: row 0 (-0.5)"):
        validate_runs(frame, {"N": True}, "loss", None)


def test_no_rows():
    frame = pd.DataFrame({"N": [], "D": [], "loss": []})
    with raises("the runs table has no rows"):
        validate_runs(frame, INPUTS, "loss", None)


def test_index_labels_in_messages():
    frame = pd.DataFrame({"N": [1e9, 0.0, "q"], "D": [1e9] * 3, "loss": [2.0] * 3},
                         index=["run-a", "run-b", 17])
    with raises("column 'N' in the runs table is not numeric: row 17 ('q')"):
        validate_runs(frame, INPUTS, "loss", None)
    frame.loc[17, "N"] = 5.0
    with raises("column 'N' in the runs table must be positive: row run-b (0)"):
        validate_runs(frame, INPUTS, "loss", None)


def test_what_changes_the_wording():
    frame = pd.DataFrame({"N": ["x"], "D": [1.0]})
    with raises("column 'N' in prediction rows is not numeric: row 0 ('x')"):
        validate_runs(frame, INPUTS, None, None, what="prediction rows")
    with raises("column 'Q' is missing from the held-out table; needed: Q (present: N, D)"):
        validate_runs(frame, {"Q": True}, None, None, what="held-out table")


def test_missing_family_value():
    frame = runs()
    frame.loc[4, "family"] = None
    with raises("column 'family' in the runs table has missing values: row 4"):
        validate_runs(frame, INPUTS, "loss", "family")


# --- validate_runs: encoding and warning --------------------------------------------------

def test_encoding_with_groups():
    frame = runs(families=("zeta", "alpha", "mid")).iloc[::-1].set_index(
        pd.Index(range(100, 109)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = validate_runs(frame, INPUTS, "loss", "family")
    assert isinstance(table, RunsTable)
    assert table.families == ("alpha", "mid", "zeta")
    assert table.n_families == 3
    assert table.family_index.dtype == np.int32
    expected = [table.families.index(f) for f in frame["family"]]
    np.testing.assert_array_equal(table.family_index, expected)
    assert all(v.dtype == np.float64 for v in table.inputs.values())
    assert list(table.inputs) == ["N", "D"]
    np.testing.assert_array_equal(table.target, frame["loss"].to_numpy())
    assert list(table.frame.index) == list(range(100, 109))
    assert (table.target_name, table.group) == ("loss", "family")
    assert table.frame is not frame


def test_family_names_are_strings():
    frame = runs().assign(family=[3, 3, 3, 10, 10, 10])
    table = validate_runs(frame, INPUTS, "loss", "family")
    assert table.families == ("10", "3")
    np.testing.assert_array_equal(table.family_index, [1, 1, 1, 0, 0, 0])


def test_no_group_is_one_family():
    table = validate_runs(runs(1, ("a",)), INPUTS, "loss", None)
    assert table.families == ("all",)
    np.testing.assert_array_equal(table.family_index, [0])
    assert table.group is None


def test_no_target():
    table = validate_runs(runs().drop(columns="loss"), INPUTS, None, "family")
    assert table.target is None and table.target_name is None


def test_small_family_warns():
    frame = pd.concat([runs(3, ("a",)), runs(2, ("x",))], ignore_index=True)
    with pytest.warns(DataWarning) as record:
        validate_runs(frame, INPUTS, "loss", "family")
    assert [str(w.message) for w in record] == [
        "family 'x' has 2 runs (fewer than 3); its parameters will rest mostly on the population"]
    with pytest.warns(DataWarning) as record:
        validate_runs(frame, INPUTS, "loss", "family", min_runs_per_family=4)
    assert [str(w.message).split(";")[0] for w in record] == [
        "family 'a' has 3 runs (fewer than 4)", "family 'x' has 2 runs (fewer than 4)"]
    frame = pd.concat([runs(3, ("a",)), runs(1, ("y",))], ignore_index=True)
    with pytest.warns(DataWarning, match=re.escape("family 'y' has 1 run (fewer than 3);")):
        validate_runs(frame, INPUTS, "loss", "family")


def test_family_labels_lose_surrounding_spaces_here_and_in_predictions():
    """'dense' and 'dense ' were two families of half the runs each, without a word."""
    frame = runs(3, ("a", "a ", " b"))
    table = validate_runs(frame, INPUTS, "loss", "family")
    assert table.families == ("a", "b")
    np.testing.assert_array_equal(np.bincount(table.family_index), [6, 3])
    rows = {"N": [1e9, 1e9], "D": [1e10, 1e10], "family": ["b ", "a"]}
    np.testing.assert_array_equal(encode_rows(rows, INPUTS, "family", table.families).family_index, [1, 0])


def test_many_small_families_are_one_warning_and_one_run_each_is_named():
    """200 families of 2 runs printed 200 warnings; a column unique per row (a run name given as
    the group) gave one warning per row and no hint."""
    frame = runs(2, tuple(f"f{i}" for i in range(6)))
    with pytest.warns(DataWarning) as record:
        validate_runs(frame, INPUTS, "loss", "family")
    assert [str(w.message) for w in record] == [
        "6 of 6 families have fewer than 3 runs ('f0' (2), 'f1' (2), 'f2' (2), 'f3' (2), 'f4' (2), ...); "
        "their parameters will rest mostly on the population"]
    with pytest.warns(DataWarning) as record:
        validate_runs(runs(1, ("p", "q", "r", "s")), INPUTS, "loss", "family")
    assert [str(w.message) for w in record] == [
        "column 'family' in the runs table names a different family for every run (4 families of one run each): "
        "it names runs, not families of runs; the families' parameters rest on the population alone"]


@pytest.mark.parametrize(("text", "message"), [
    ("family,N,D,loss\na,1e8,1e9,3.1,0.5\na,2e8,2e9,3.0,0.5\n",  # pandas shifted every column left
     "its rows have more fields than the 4 column names of its header; name every column in the header "
     "(or drop the extra fields)"),
    ("family;N;D;loss\na;1e8;1e9;3,1\n", "its header is one column 'family;N;D;loss'; bayeslaw reads "
                                           "comma-separated files and this one looks separated by ';'"),
    ("family\tN\tD\tloss\na\t1e8\t1e9\t3.1\n", "its header is one column 'family\\tN\\tD\\tloss'; bayeslaw "
                                               "reads comma-separated files and this one looks separated by '\\t'"),
], ids=["extra-field", "semicolon", "tab"])
def test_a_file_whose_fields_do_not_line_up_with_its_header_is_refused(tmp_path, text, message):
    path = tmp_path / "runs.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_runs(path)
    assert str(info.value) == f"cannot read runs table '{path}': {message}"


def test_header_spaces_and_a_trailing_comma_on_every_row_are_read(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("family, N, D, loss\na,1e8,1e9,3.1,\nb,2e8,2e9,3.0,\n")
    frame = read_runs(path)
    assert list(frame.columns) == ["family", "N", "D", "loss"]
    assert frame["N"].tolist() == [1e8, 2e8] and frame["loss"].tolist() == [3.1, 3.0]


# --- encode_rows --------------------------------------------------------------------------

FAMILIES = ("a", "b", "c")


def test_encode_known_and_new_families():
    rows = pd.DataFrame({"N": [1e9] * 5, "D": [1e10] * 5,
                         "family": ["c", None, "", "a", np.nan]}, index=list("vwxyz"))
    table = encode_rows(rows, INPUTS, "family", FAMILIES)
    np.testing.assert_array_equal(table.family_index, [2, -1, -1, 0, -1])
    assert table.family_index.dtype == np.int32
    assert table.families == FAMILIES and table.target is None
    assert list(table.frame.index) == list("vwxyz")


def test_encode_without_group_column_is_new_family():
    table = encode_rows({"N": [1e9, 2e9], "D": [1e10, 1e10]}, INPUTS, "family", FAMILIES)
    np.testing.assert_array_equal(table.family_index, [-1, -1])


def test_encode_reads_family_where_the_group_column_is_absent():
    """Predictions name the group column ``family``: rows named the same way are not silently
    predicted as a new family; the fit's own group column wins where both are given."""
    rows = {"N": [1e9, 2e9], "D": [1e10, 1e10], "family": ["b", ""]}
    np.testing.assert_array_equal(encode_rows(rows, INPUTS, "model", FAMILIES).family_index, [1, -1])
    both = dict(rows, model=["c", "a"])
    np.testing.assert_array_equal(encode_rows(both, INPUTS, "model", FAMILIES).family_index, [2, 0])
    with raises("unknown family 'q' in prediction rows: row 0; known families: a, b, c (leave the "
                "family empty to predict for a new family)"):
        encode_rows({"N": [1e9], "D": [1e10], "family": ["q"]}, INPUTS, "model", FAMILIES)


def test_encode_for_a_fit_without_groups():
    rows = {"N": [1e9, 2e9], "D": [1e10, 1e10], "family": [None, "all"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing named that the fit cannot tell apart: no warning
        table = encode_rows(rows, INPUTS, None, ("all",), warn_families=True)
    np.testing.assert_array_equal(table.family_index, [0, 0])


def test_families_named_to_a_fit_without_groups_are_warned_about():
    """The output's family column says 'all' for every row: the rows' own names are not used."""
    rows = pd.DataFrame({"N": [1e9, 2e9], "D": [1e10, 1e10], "family": [None, "q"]}, index=[3, 7])
    with pytest.warns(DataWarning) as record:
        table = encode_rows(rows, INPUTS, None, ("all",), warn_families=True)
    np.testing.assert_array_equal(table.family_index, [0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library's own tables (held-out runs) pass quietly
        encode_rows(rows, INPUTS, None, ("all",))
    assert str(record[0].message) == (
        "the fit has no families (it was fitted without a group column): column 'family' of prediction "
        "rows is not used, and row 7 ('q'), like every row, is predicted for the fit's one population")


def test_encode_unknown_family():
    with raises("unknown family 'foo' in prediction rows: row 0; known families: a, b, c "
                "(leave the family empty to predict for a new family)"):
        encode_rows({"N": 70e9, "D": 1.4e12, "family": "foo"}, INPUTS, "family", FAMILIES)
    rows = pd.DataFrame({"N": [1e9] * 3, "D": [1e9] * 3, "family": ["a", "foo", "foo"]},
                        index=[10, 11, 12])
    with raises("unknown family 'foo' in prediction rows: rows 11, 12; known families: "
                "a, b, c (leave the family empty to predict for a new family)"):
        encode_rows(rows, INPUTS, "family", FAMILIES)


def test_encode_dict_of_scalars_is_one_row():
    table = encode_rows({"N": 70e9, "D": 1.4e12, "family": "b"}, INPUTS, "family", FAMILIES)
    assert len(table.frame) == 1
    np.testing.assert_array_equal(table.inputs["N"], [70e9])
    np.testing.assert_array_equal(table.family_index, [1])


def test_encode_dict_of_lists_and_series():
    table = encode_rows({"N": [1e9, 2e9, 3e9], "D": 1e10}, INPUTS, "family", FAMILIES)
    np.testing.assert_array_equal(table.inputs["D"], [1e10] * 3)
    row = pd.Series({"N": 5e9, "D": 1e11, "family": "c"})
    np.testing.assert_array_equal(encode_rows(row, INPUTS, "family", FAMILIES).family_index, [2])


def test_encode_validates_inputs():
    with raises("column 'N' in prediction rows must be positive: row 0 (-1)"):
        encode_rows({"N": -1.0, "D": 1.0}, INPUTS, "family", FAMILIES)
    with raises("column 'D' is missing from prediction rows; needed: N, D (present: N)"):
        encode_rows({"N": 1.0}, INPUTS, "family", FAMILIES)
    with raises("no prediction rows were given"):
        encode_rows(pd.DataFrame({"N": [], "D": []}), INPUTS, "family", FAMILIES)
    with raises("prediction rows must be a DataFrame, a dict of columns, a dict of one row or a "
                "list of dicts, got list"):
        encode_rows([1.0, 2.0], INPUTS, "family", FAMILIES)


def test_encode_integer_families_from_float_column():
    rows = {"N": [1e9, 1e9], "D": [1e9, 1e9], "family": [3, None]}  # pandas makes 3.0
    table = encode_rows(rows, INPUTS, "family", ("10", "3"))
    np.testing.assert_array_equal(table.family_index, [1, -1])


# -- one converter of rows for fit, predict and the decision functions --------------------------


@pytest.mark.parametrize("rows", [
    pd.DataFrame({"N": [1.0, 2.0], "D": [3.0, 4.0]}),
    {"N": [1.0, 2.0], "D": [3.0, 4.0]},
    {"N": np.array([1.0, 2.0]), "D": (3.0, 4.0)},
    [{"N": 1.0, "D": 3.0}, {"N": 2.0, "D": 4.0}],
    ({"N": 1.0, "D": 3.0}, {"D": 4.0, "N": 2.0}),
], ids=["frame", "dict-of-lists", "dict-of-arrays", "list-of-dicts", "tuple-of-dicts"])
def test_as_frame_accepts_every_form(rows):
    frame = as_frame(rows)
    assert frame[["N", "D"]].to_numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert read_runs(rows)[["N", "D"]].to_numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_as_frame_one_row_forms():
    assert as_frame({"N": 1.0, "D": 2.0}).to_dict("list") == {"N": [1.0], "D": [2.0]}
    assert as_frame({"N": np.array(1.0), "D": 2.0}).to_dict("list") == {"N": [1.0], "D": [2.0]}  # a 0-d array
    assert as_frame(pd.Series({"N": 1.0, "D": 2.0})).to_dict("list") == {"N": [1.0], "D": [2.0]}
    # keys missing from a row are missing values there
    assert as_frame([{"N": 1.0, "family": "a"}, {"N": 2.0}])["family"].isna().tolist() == [False, True]


@pytest.mark.parametrize(("rows", "message"), [
    ([], "the runs table has no rows"),
    ([1.0, 2.0], "the runs table must be a DataFrame, a dict of columns, a dict of one row or a list of "
                 "dicts, got list"),
    ("N=1", "the runs table must be a DataFrame, a dict of columns, a dict of one row or a list of dicts, "
            "got str"),
    ({"N": [1.0, 2.0], "D": [1.0]}, "cannot make a table of the runs table: All arrays must be of the same length"),
    (pd.DataFrame([[1.0, 2.0]], columns=["N", "N"]), "column 'N' appears more than once in the runs table"),
    ({"N": pd.Series([1.0, 2.0]), "D": pd.Series([3.0, 4.0], index=[1, 0])},
     "columns 'N' and 'D' of the runs table are Series with different indexes (pandas would pair their values "
     "by label); give lists or arrays, or Series with one index"),
])
def test_as_frame_refuses(rows, message):
    with raises(message):
        as_frame(rows)


def test_a_sparse_column_is_read_as_its_dense_values():
    rows = pd.DataFrame({"N": pd.arrays.SparseArray([1e9, 2e9, 1e9]), "D": [1e10, 1e10, 2e10]})
    frame = as_frame(rows)
    assert frame["N"].tolist() == [1e9, 2e9, 1e9] and not isinstance(frame["N"].dtype, pd.SparseDtype)
    assert isinstance(rows["N"].dtype, pd.SparseDtype)  # the caller's table is left as it was


def test_read_runs_refuses_a_duplicated_column_name(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("N,D,loss,D\n1,2,3,4\n")  # pandas alone would rename the second D to 'D.1'
    with raises(f"column 'D' appears more than once in runs table '{path}'"):
        read_runs(path)
    with raises(f"cannot read runs table '{tmp_path}': it is a folder"):
        read_runs(tmp_path)


def test_an_integer_beyond_float_range_is_infinite_not_a_traceback(tmp_path):
    """A CSV column of integers holds Python ints; one of 401 digits made pandas raise OverflowError."""
    path = tmp_path / "runs.csv"
    path.write_text("N,D,loss\n1" + "0" * 400 + ",1000000000,3\n100000000,10000000000,2.9\n")
    with raises("column 'N' in the runs table has missing or infinite values: row 0"):
        validate_runs(read_runs(path), INPUTS, "loss", None)


def test_a_family_label_that_is_a_list_is_refused():
    frame = runs(3, ("a", "b")).astype({"family": object})
    frame.at[2, "family"] = ["a"]
    with raises("column 'family' in the runs table holds a list in row 2; family labels are text or numbers"):
        validate_runs(frame, INPUTS, "loss", "family")


def test_a_cell_holding_an_array_is_not_a_number():
    """pandas' parser raised a raw TypeError ('len() of unsized object') on such a column."""
    frame = runs(3, ("a",))
    frame["loss"] = frame["loss"].astype(object)
    frame.loc[1, "loss"] = np.array([3.1])
    frame.loc[2, "loss"] = "2.9"
    with raises("column 'loss' in the runs table is not numeric: row 1 (array(3.1))"):
        validate_runs(frame, INPUTS, "loss", None)


def test_numeric_family_codes_match_however_they_are_written():
    """A CSV's family codes 001 and 3 are read as the numbers 1 and 3: the fit knows '1' and
    '3', and a row naming family 001 (or 3.0) was an unknown family."""
    table = validate_runs(pd.read_csv(io.StringIO("family,N,D,loss\n" + "".join(
        f"{code},{1e7 * (i + 1)},{1e9},{3.0 - 0.1 * i}\n" for code in ("001", "003") for i in range(3)))),
        INPUTS, "loss", "family")
    assert table.families == ("1", "3")
    rows = {"N": [1e9] * 3, "D": [1e10] * 3, "family": ["001", "3.0", 1]}
    np.testing.assert_array_equal(encode_rows(rows, INPUTS, "family", table.families).family_index, [0, 1, 0])
    # a numeric column is no family column, even where its values spell family codes
    seeds = {"N": [1e9], "D": [1e10], "seed": [1]}
    np.testing.assert_array_equal(encode_rows(seeds, INPUTS, "family", table.families).family_index, [-1])


def test_a_signalling_decimal_nan_is_a_missing_value():
    """pandas' missing-value test raised decimal.InvalidOperation on Decimal('sNaN')."""
    from decimal import Decimal
    frame = runs(3, ("a", "b")).astype({"N": object, "family": object})
    frame.at[1, "N"] = Decimal("sNaN")
    with raises("column 'N' in the runs table has missing or infinite values: row 1"):
        validate_runs(frame, INPUTS, "loss", "family")
    frame.at[1, "N"], frame.at[4, "family"] = Decimal("2e7"), Decimal("sNaN")
    with raises("column 'family' in the runs table has missing values: row 4"):
        validate_runs(frame, INPUTS, "loss", "family")


def test_a_whole_number_label_is_one_family_and_one_run_however_it_is_written():
    """An object column holding 1 and 1.0 made two families ('1', '1.0') and two runs, and a
    float family column named its families '1.0', which a row naming family 1 did not find."""
    from bayeslaw.data.checkpoints import encode_runs
    frame = runs(3, ("a", "b")).astype({"family": object})
    frame["family"] = pd.Series([1, 1.0, np.int64(1), 2.0, 2, np.float32(2)], dtype=object)
    frame["run"] = pd.Series([1, 1.0, " 1", 2.0, 2, np.float32(2)], dtype=object)
    with pytest.warns(DataWarning) as record:  # said: the user may have meant two families
        table = validate_runs(frame, INPUTS, "loss", "family")
    assert str(record[0].message) == ("column 'family' in the runs table writes a family in several ways (1 and "
                                      "1.0 and np.int64(1) are family '1'; 2.0 and 2 and np.float32(2.0) are "
                                      "family '2'): they are fitted as one family")
    assert table.families == ("1", "2")
    np.testing.assert_array_equal(table.family_index, [0, 0, 0, 1, 1, 1])
    index, n_runs = encode_runs(frame, "run")
    assert n_runs == 2 and list(index) == [0, 0, 0, 1, 1, 1]
    floats = validate_runs(frame.astype({"family": float}), INPUTS, "loss", "family")
    assert floats.families == ("1", "2")
    rows = {"N": [1e9] * 3, "D": [1e10] * 3, "family": [1, "1.0", 2.0]}
    np.testing.assert_array_equal(encode_rows(rows, INPUTS, "family", floats.families).family_index, [0, 0, 1])
    # a fit saved before: its float column's codes are '1.0' and '2.0'
    np.testing.assert_array_equal(encode_rows(rows, INPUTS, "family", ("1.0", "2.0")).family_index, [0, 0, 1])


def test_a_family_called_na_is_a_label_and_na_in_a_number_column_is_missing(tmp_path):
    """pandas reads NA, None, null, nan as missing in every column: a family 'NA' was refused as
    missing in a fit and predicted as a new family (intervals 6x wider) from a rows file."""
    path = tmp_path / "runs.csv"
    path.write_text("family,N,D,loss\nNA,1e7,1e9,3.0\nNA,2e7,1e9,2.9\nnull,1e7,2e9,3.1\nnull,2e7,NA,3.0\n")
    frame = read_runs(path)
    assert frame["family"].tolist() == ["NA", "NA", "null", "null"]
    with raises("column 'D' in the runs table has missing or infinite values: row 3"):
        validate_runs(frame, INPUTS, "loss", "family")
    with pytest.warns(DataWarning, match="fewer than 3"):
        assert validate_runs(frame.iloc[:3], INPUTS, "loss", "family").families == ("NA", "null")


def test_a_pipe_is_read_once(tmp_path):
    """The file was opened twice (table, then header): a FIFO's second open waited forever and a
    pipe's second reading was empty ('the file is empty')."""
    import threading

    fifo = tmp_path / "runs.csv"
    os.mkfifo(fifo)
    text = "N,D,loss\n1e7,1e9,3.0\n2e7,1e9,2.9\n"
    writer = threading.Thread(target=lambda: fifo.write_text(text))
    writer.start()
    frame = read_runs(fifo)
    writer.join(timeout=10)
    assert frame.shape == (2, 3) and frame["loss"].tolist() == [3.0, 2.9]


def test_a_compressed_csv_is_read_by_its_suffix(tmp_path):
    import gzip

    path = tmp_path / "runs.csv.gz"
    path.write_bytes(gzip.compress(b"N,D,loss\n1e7,1e9,3.0\n2e7,1e9,2.9\n"))
    assert read_runs(path)["N"].tolist() == [1e7, 2e7]


def test_rows_naming_the_new_family_as_predictions_do_are_for_a_new_family():
    """A predictions CSV read back as rows: its '(new)' was an unknown family."""
    rows = {"N": [1e9, 1e9], "D": [1e10, 1e10], "family": ["(new)", "a"]}
    np.testing.assert_array_equal(encode_rows(rows, INPUTS, "family", ("a", "b")).family_index, [-1, 0])
