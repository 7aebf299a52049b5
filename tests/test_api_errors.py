"""Bad arguments to the library's entry points raise bayeslaw's own errors, before any work."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl

RUNS = {"N": [1e8, 2e8, 4e8], "D": [1e9, 2e9, 4e9], "loss": [3.0, 2.9, 2.8]}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": 3}, "target must be a column name (str), got 3"),
    ({"group": ["family"]}, "group must be a column name (str) or None, got ['family']"),
    ({"run": 1}, "run must be a column name (str), False or None, got 1"),
    ({"pooling": ["alpha"]}, "pooling must be 'auto', None or a dict of parameter -> mode, got list"),
    ({"pooling": "none"}, "pooling must be 'auto', None or a dict of parameter -> mode, got 'none'"),
    ({"centered": "yes"}, "centered must be True, False or None, got 'yes'"),
    ({"group": ""}, "group must be a column name (str) or None, got ''"),  # was "column '' is missing"
    ({"target": " "}, "target must be a column name (str), got ' '"),
    ({"seed": 2**70}, f"seed must be a whole number from 0 to 4294967295 (32 bits), got {2**70}"),
    ({"chains": 0}, "chains must be a positive integer, got 0"),
])
def test_fit_refuses_bad_arguments_up_front(kwargs, message):
    with pytest.raises(bl.FitError, match=re.escape(message)):
        bl.fit("chinchilla", RUNS, **kwargs)


def test_load_fit_refuses_a_non_path():
    with pytest.raises(bl.BayeslawError, match=re.escape("load_fit takes the path of a fit file, got int")):
        bl.load_fit(3)


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_fit_path_or_law_name_says_it_is_empty(name):
    """'' was read as the current folder: "cannot load fit '.': it is a folder", "law file '' is a folder"."""
    with pytest.raises(bl.BayeslawError) as info:
        bl.load_fit(name)
    assert str(info.value) == "cannot load fit: the fit path is empty"
    with pytest.raises(bl.LawSpecError) as info:
        bl.load_law(name)
    assert str(info.value) == "law name is empty; give a catalogue name (e.g. chinchilla) or a path to a .toml file"


@pytest.mark.parametrize("seed", [2**70, -1, 1.5, True])
def test_predict_refuses_a_bad_seed(family_fit, seed):
    with pytest.raises(bl.PredictionError, match=re.escape(
            f"seed must be a whole number from 0 to 4294967295, got {seed!r}")):
        family_fit.predict({"N": 1e9, "D": 1e10}, seed=seed)


# -- from a probe of the API with bad input (helper, 2026-12-07) -------------------------------


def test_a_true_or_a_date_among_numbers_is_not_read_as_a_number(tiny_family_fit):
    """A True cell in an object column was read as N = 1 (loss 278 predicted), a date as a count."""
    with pytest.raises(bl.DataError) as info:
        tiny_family_fit.predict([{"N": True, "D": 1e12}, {"N": 1e9, "D": 1e12}])
    assert str(info.value) == "column 'N' in prediction rows is not numeric: row 0 (True)"
    runs = pd.DataFrame({**RUNS, "N": pd.Series([1e8, pd.Timestamp("2020-01-01"), 4e8], dtype=object)})
    with pytest.raises(bl.DataError, match=re.escape("column 'N' in the runs table is not numeric: row 1 (Timestamp(")):
        bl.fit("chinchilla", runs)


@pytest.mark.parametrize("column", ["famly", "Family", "FAMILY"])
def test_a_misspelt_family_column_is_refused_not_read_as_a_new_family(tiny_family_fit, column):
    """The row was predicted for a family not in the fit, with intervals about 10x as wide."""
    with pytest.raises(bl.DataError) as info:
        tiny_family_fit.predict({"N": 7e10, "D": 1.4e12, column: "dense"})
    assert str(info.value) == (f"column '{column}' of prediction rows looks like the family column 'family' misspelt: "
                               "name it 'family' to predict for a fitted family, or drop it to predict for a new family")
    assert len(tiny_family_fit.predict({"N": 7e10, "D": 1.4e12, "loss": 2.0})) == 1  # other columns are ignored


@pytest.mark.parametrize("value", [1e308, 1e-320, -1e39])
def test_numbers_a_32_bit_fit_cannot_hold_are_refused_naming_the_row(tiny_family_fit, value):
    """N = 1e308 fitted with chains that never moved (exit 0); loss = 1e-320 failed 40 s into the
    fit with 'check the table'; --at N=1e308 printed NumPy warnings and rows the user never gave."""
    with pytest.raises(bl.DataError) as info:
        bl.fit("chinchilla", {**RUNS, "N": [1e8, value, 4e8]})
    assert str(info.value).startswith("column 'N' in the runs table holds values outside the range of a 32-bit float")
    assert str(info.value).endswith(f"row 1 ({value:g})")
    with pytest.raises(bl.DataError, match=re.escape(f"row 0 ({value:g})")):
        tiny_family_fit.predict({"N": value, "D": 1e12})
    with pytest.raises(bl.PredictionError, match=re.escape("is outside the range of a 32-bit float")):
        bl.optimal_allocation(tiny_family_fit, [1e22, 1e-320])


def test_an_input_with_one_value_in_every_run_is_said_to_teach_nothing():
    from bayeslaw.infer.settings import checked_table

    runs = pd.DataFrame({"N": [1e8] * 8, "D": np.geomspace(1e9, 1e11, 8), "loss": np.linspace(3.2, 2.6, 8)})
    with pytest.warns(bl.DataWarning, match=re.escape("column 'N' of the runs table holds one value (1e+08) in every "
                                                      "run: how the law changes with N is not learnt")):
        checked_table(bl.load_law("chinchilla"), runs, "loss", None)


def test_a_target_with_one_value_in_every_run_is_said_to_teach_nothing():
    """A loss column filled with one value fitted to a confident posterior without a word."""
    from bayeslaw.infer.settings import checked_table

    runs = pd.DataFrame({"N": np.geomspace(1e8, 1e9, 8), "D": np.geomspace(1e9, 1e11, 8), "loss": [3.0] * 8})
    with pytest.warns(bl.DataWarning, match=re.escape("column 'loss' of the runs table holds one value (3) in every "
                                                      "run: there is no change with size to fit")):
        checked_table(bl.load_law("chinchilla"), runs, "loss", None)


def test_an_extrapolation_error_asked_for_by_name_is_refused_before_sampling(monkeypatch):
    """On a table too small for nested fits, extrapolation="C" was refused after the whole fit."""
    import bayeslaw.infer.fit as fit_module

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before the table was checked")

    monkeypatch.setattr(fit_module, "build_model", no_sampling)
    runs = {"N": np.geomspace(1e8, 1e9, 6), "D": np.geomspace(1e9, 1e11, 6), "loss": np.linspace(3.2, 2.6, 6)}
    with pytest.raises(bl.FitError, match=re.escape("cannot calibrate the extrapolation error: fewer than 8 runs or 3 "
                                                     "distinct 'C' values below every nested cutoff (6 runs")):
        bl.fit("chinchilla", runs, extrapolation="C")


def test_save_refuses_what_a_rename_would_destroy(tiny_family_fit, tmp_path):
    """fit.save replaced a FIFO, a read-only file (even for root) and said 'Device or resource
    busy' for an empty name; the command line refused each, now by the same check."""
    import os
    import stat

    fifo, frozen = tmp_path / "fifo.nc", tmp_path / "frozen.nc"
    os.mkfifo(fifo)
    frozen.write_text("old")
    frozen.chmod(0o444)
    for path, reason in [(fifo, "it exists and is not a regular file"), (frozen, "the file is read-only"),
                         ("", "not a file name"), (tmp_path, "it is a folder")]:
        with pytest.raises(bl.BayeslawError) as info:
            tiny_family_fit.save(path)
        assert str(info.value) == f"cannot save fit to '{path}': {reason}"
    assert stat.S_ISFIFO(fifo.stat().st_mode) and frozen.read_text() == "old"


def test_a_target_named_with_a_slash_saves_and_loads(tiny_family_fit, tmp_path):
    """netCDF refuses '/' in names: a target column 'val/loss' fitted, then save raised xarray's
    ValueError (a traceback on the command line after the whole fit)."""
    from dataclasses import replace

    table = replace(tiny_family_fit.table, target_name="val/loss",
                    frame=tiny_family_fit.table.frame.rename(columns={"loss": "val/loss"}))
    fit = replace(tiny_family_fit, table=table)
    fit.save(tmp_path / "slash.nc")
    again = bl.load_fit(tmp_path / "slash.nc")
    assert again.table.target_name == "val/loss"
    np.testing.assert_array_equal(again.table.target, tiny_family_fit.table.target)
    assert list(again.idata.observed_data.data_vars) == ["val_loss"]


def test_runs_listed_twice_are_warned_about():
    from bayeslaw.infer.settings import checked_table

    runs = pd.DataFrame({"N": np.geomspace(1e8, 1e9, 8), "D": np.geomspace(1e9, 1e11, 8), "loss": np.linspace(3.2, 2.6, 8)})
    twice = pd.concat([runs, runs.iloc[[3]]], ignore_index=True)
    with pytest.warns(bl.DataWarning, match=re.escape("row 8 of the runs table repeats an earlier row in N, D, loss: each "
                                                      "copy counts as one more of the runs")):
        checked_table(bl.load_law("chinchilla"), twice, "loss", None)


def test_held_out_runs_are_not_chosen_by_their_outcome(demo_runs):
    """backtest(by='loss') fitted the low-loss runs and 'predicted' the others, scored as an
    extrapolation test; compare(method='largest', by='loss') ranked laws on it."""
    with pytest.raises(bl.DataError) as info:
        bl.backtest("chinchilla", demo_runs, cutoff=3.0, by="loss", group="family")
    assert str(info.value) == ("cannot hold out runs by the target 'loss': a held-out test splits on a size key "
                               "(C, N or D), not on the runs' outcome or family")
    from bayeslaw.evaluate.heldout import holdout_split
    from bayeslaw.infer.settings import checked_table

    table = checked_table(bl.load_law("chinchilla"), demo_runs, "loss", "family")
    with pytest.raises(bl.DataError, match=re.escape("cannot hold out runs by the family column 'family'")):
        holdout_split(table, "family", None)


def test_a_column_of_fitted_family_names_under_another_name_is_refused(tiny_family_fit):
    """{'arch': 'dense'} was predicted as a new family, with an interval ten times wider."""
    with pytest.raises(bl.DataError) as info:
        tiny_family_fit.predict({"N": 7e10, "D": 1.4e12, "arch": "dense"})
    assert str(info.value) == ("column 'arch' of prediction rows holds family names of the fit ('dense'): name it "
                               "'family' to predict for those families, or drop it to predict for a new family")
    tiny_family_fit.predict({"N": 7e10, "D": 1.4e12, "note": "big"})  # other columns stay unused


def test_pooling_without_families_is_refused():
    """It was ignored: the fit had no families to pool across."""
    with pytest.raises(bl.FitError) as info:
        bl.fit("chinchilla", RUNS, pooling={"alpha": "partial"})
    assert str(info.value) == "pooling {'alpha': 'partial'} applies across families: give group (the family column)"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bins": 1}, "bins must be a whole number from 2 to 8 (the rank values of chains * draws // thin = 7 draws), got 1"),
    ({"bins": 2.5}, ("bins must be a whole number from 2 to 8 (the rank values of chains * draws // thin = 7 "
                     "draws), got 2.5")),
    ({"chains": 0}, "chains must be a positive integer, got 0"),
    ({"seed": -1}, "seed must be a whole number from 0 to 4294967295 (32 bits), got -1"),
])
def test_sbc_refuses_its_settings_before_any_draw(kwargs, message):
    """bins=1 ran 40 s and gave NaN p-values; chains=0 blamed thin; seed=-1 failed 11 s in."""
    design = pd.DataFrame({"N": np.geomspace(1e7, 1e9, 8), "D": np.geomspace(1e9, 1e11, 8)})
    settings = {"n": 10, "chains": 1, "draws": 30, "warmup": 30, **kwargs}
    with pytest.raises(bl.FitError) as info:
        bl.sbc("chinchilla", design, **settings)
    assert str(info.value) == message


def test_family_test_counts_the_families_before_fitting(demo_runs):
    """One family was found after the first fit, a minute later."""
    one = demo_runs[demo_runs["family"] == demo_runs["family"].iloc[0]]
    with pytest.raises(bl.FitError) as info:
        bl.family_test("chinchilla", one, group="family")
    assert str(info.value) == "family_test needs at least two families; the runs have 1 (group column: 'family')"


def test_decisions_and_figures_refuse_what_they_cannot_use(tiny_family_fit, tmp_path):
    with pytest.raises(bl.PredictionError, match=re.escape("seed must be a whole number from 0 to 4294967295, got 1.5")):
        bl.optimal_allocation(tiny_family_fit, 1e22, seed=1.5)  # was truncated to seed 1
    with pytest.raises(bl.PredictionError, match=re.escape("compute must be one or more positive FLOP budgets, got True")):
        bl.optimal_allocation(tiny_family_fit, True)  # was a budget of 1 FLOP
    fits = {"a": tiny_family_fit, "b": tiny_family_fit}
    with pytest.raises(bl.BayeslawError, match=re.escape("by and cutoff choose the held-out runs of method='largest'")):
        bl.compare(fits, cutoff=1e21)  # was ignored under method='loo'
    with pytest.raises(bl.BayeslawError, match=re.escape("cutoff must be a finite number, got '1e21'")):
        bl.compare(fits, method="largest", cutoff="1e21")
    with pytest.raises(TypeError, match=re.escape("fit must be a bayeslaw Fit")):
        bl.plot.plot_fit(None)
    with pytest.raises(TypeError, match=re.escape("plot_isoflop draws the isoFLOP profiles of bayeslaw.isoflop(runs)")):
        bl.plot.plot_isoflop(tiny_family_fit)
    with pytest.raises(bl.PredictionError, match=re.escape("ratios must be one or more positive D/N ratios, got [-1]")):
        bl.plot.plot_decision(tiny_family_fit, ratios=[-1])
    with pytest.raises(TypeError, match=re.escape("title must be a str, got int")):
        bl.write_report(tiny_family_fit, tmp_path / "r.html", title=3)
    with pytest.raises(TypeError, match=re.escape("backtest must be a result of bayeslaw.backtest, got int")):
        bl.write_report(tiny_family_fit, tmp_path / "r.html", backtest=3)
    with pytest.raises(bl.PredictionError, match=re.escape("no sampled site 'bogus'; sites: ")):
        tiny_family_fit.flat("bogus")
    with pytest.raises(bl.BayeslawError, match=re.escape("cannot save fit to: the path must be a str or path-like, got int")):
        tiny_family_fit.save(3)
    assert list(tmp_path.iterdir()) == []


def test_fit_many_takes_tables_by_name():
    """A dict's keys were read as CSV paths ("cannot read runs table 'a': no such file")."""
    good = pd.DataFrame({"N": np.geomspace(1e7, 1e9, 8), "D": np.geomspace(1e9, 1e11, 8), "loss": np.linspace(3, 2.5, 8)})
    with pytest.raises(bl.DataError) as info:
        bl.fit_many("chinchilla", {"web": good, "code": good.assign(loss=-1.0)})
    assert str(info.value).startswith("column 'loss' in the runs table 'code' must be positive: rows 0 (-1)")


def test_pooling_auto_is_refused_where_there_is_no_one_fit_to_choose_for(demo_runs):
    """fit_many and sbc passed 'auto' on to dict('auto'): a raw ValueError."""
    for call, caller in [(lambda: bl.fit_many("chinchilla", [demo_runs, demo_runs], group="family", pooling="auto"),
                          "fit_many"),
                         (lambda: bl.sbc("kaplan", demo_runs, n=4, group="family", pooling="auto"), "sbc")]:
        with pytest.raises(bl.FitError) as info:
            call()
        assert str(info.value) == (f"pooling='auto' is bayeslaw.fit's choice per fit; {caller} takes None or a dict "
                                   "of parameter -> mode")


def test_compare_by_family_checks_every_fit_before_refitting(tiny_family_fit):
    """A second fit grouped otherwise failed after the first fit's refits ('no prediction rows
    were given'); an ungrouped second fit raised a bare KeyError: None."""
    from dataclasses import replace

    table = tiny_family_fit.table
    other = replace(tiny_family_fit, table=replace(table, group="arch", frame=table.frame.rename(columns={"family": "arch"})))
    with pytest.raises(bl.BayeslawError) as info:
        bl.compare({"a": tiny_family_fit, "b": other}, method="family")
    assert str(info.value).startswith("method='family' needs fits grouped alike: 'a' groups by 'family' (deep, dense, ")
    alone = replace(tiny_family_fit, table=replace(table, group=None))
    with pytest.raises(bl.BayeslawError, match=re.escape("method='family' needs fits with a group column")):
        bl.compare({"a": tiny_family_fit, "b": alone}, method="family")


def test_a_fit_path_that_is_a_device_is_not_called_missing():
    """load_fit('/dev/null') said 'no such file'."""
    with pytest.raises(bl.BayeslawError) as info:
        bl.load_fit("/dev/null")
    assert str(info.value) == "cannot load fit '/dev/null': it is not a regular file (a pipe or a device)"
