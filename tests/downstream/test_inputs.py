"""Bad input to the downstream models, refused before sampling or predicting with messages that
name the argument, the column and the rows (a probe found each reaching the sampler or a raw
numpy error; fits here are the real classes with a few constant draws: only their checks run)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.downstream import (
    LadderFit,
    ObservationalFit,
    PerformanceLawFit,
    QuantizationFit,
    fit_ladder,
    fit_observational,
    fit_performance_law,
    fit_quantization,
)
from bayeslaw.downstream.inputs import (
    check_chance,
    flag_column,
    positive_values,
    row_numbers,
    train_mask,
)


def _draws(*shape):
    return np.full((1, 4, *shape), 0.5)


def _fit(cls, sites, info):
    return cls(samples={name: _draws(*shape) for name, shape in sites.items()},
               sample_stats={}, timings={}, config={}, info=info)


QUANT = _fit(QuantizationFit, {"top": (), "k": (), "m": (), "sigma16": (), "drop": (2,), "drop_slope": (2,)},
             {"chance": 0.25, "lnN_ref": float(np.log(1e10)), "bits": [4]})


def test_flags_numbers_and_positive_values_name_what_is_wrong():
    frame = pd.DataFrame({"final": [True, "False", np.nan, 1]}, index=[10, 11, 12, 13])
    with pytest.raises(DataError) as info:
        flag_column(frame, "final", "the runs table")
    assert str(info.value) == "column 'final' of the runs table must hold true/false flags: rows 11, 12 ('False', nan)"
    np.testing.assert_array_equal(flag_column(frame.loc[[10, 13]], "final", "t"), [True, True])
    with pytest.raises(PredictionError) as info:
        row_numbers(pd.DataFrame({"N": ["1B", 2e9]}), {"N": True})
    assert str(info.value) == "column 'N' in the prediction rows is not numeric: row 0 ('1B')"
    with pytest.raises(PredictionError, match=re.escape("column 'D' is missing from the prediction rows")):
        row_numbers(pd.DataFrame({"N": [1e9]}), {"N": True, "D": True})
    for bad in (["x"], {"a": 1}, [[1, 2], [3, 4]], [np.inf], True, [-1.0]):
        with pytest.raises(PredictionError) as info:
            positive_values(bad, "memory_gb", "gigabytes")
        assert str(info.value) == f"memory_gb must be one or more positive gigabytes, got {bad!r}"
    np.testing.assert_array_equal(positive_values(np.float32(2), "x", "y"), [2.0])
    check_chance(np.array([0.24, 0.26, 0.3, np.nan]), 0.25, "acc", "t")  # near-chance scores scatter about it
    with pytest.raises(DataError) as info:
        check_chance(np.array([0.26, 0.4, 0.7, 0.5]), 0.8, "accuracy", "the curve table")
    assert str(info.value) == ("chance 0.8 lies above 4 of the 4 scores in column 'accuracy' of the curve table "
                               "(median 0.45); chance is the benchmark's random-guess accuracy, the floor of its scores")


@pytest.mark.parametrize(("rows", "message"), [
    ({"params_B": [7], "bits": [4.7]},  # was predicted at 4 bits
     "column 'bits' of the prediction rows must be 16 or 4 (the widths the fit has pairs of): row 0 (4.7)"),
    ({"params_B": [7], "bits": [8]},  # was the 8-bit drop's prior
     "column 'bits' of the prediction rows must be 16 or 4 (the widths the fit has pairs of): row 0 (8)"),
    ({"params_B": [7], "bits": [np.nan]}, "column 'bits' in the prediction rows has missing or infinite values: row 0"),
    ({"params_B": [np.inf], "bits": [4]}, "column 'params_B' in the prediction rows has missing or infinite values: row 0"),
    ({"params_B": ["7B"], "bits": [4]}, "column 'params_B' in the prediction rows is not numeric: row 0 ('7B')"),
])
def test_quantization_rows_are_checked(rows, message):
    with pytest.raises(PredictionError) as info:
        QUANT.predict(rows)
    assert str(info.value) == message


def test_quantization_memory_and_bits_are_checked():
    with pytest.raises(PredictionError) as info:
        QUANT.prob_quantized_wins([10.0], bits=8)
    assert str(info.value) == "bits must be 4 (the widths the fit has pairs of), got 8"
    out = QUANT.prob_quantized_wins([10.0], bits=4.0)
    assert list(out.columns[:3]) == ["memory_gb", "params_B_16bit", "params_B_4bit"]  # was params_B_4.0bit
    with pytest.raises(PredictionError, match=re.escape("memory_gb must be one or more positive gigabytes, got [inf]")):
        QUANT.prob_quantized_wins([np.inf])


@pytest.mark.parametrize("seed", [-1, "a", 1.5])
def test_every_downstream_prediction_checks_its_seed(seed):
    with pytest.raises(PredictionError) as info:
        QUANT.predict({"params_B": [7], "bits": [4]}, seed=seed)
    assert str(info.value) == f"seed must be a whole number from 0 to 4294967295, got {seed!r}"
    for fit in (_fit(ObservationalFit, {}, {"n_models": 3}), _fit(PerformanceLawFit, {}, {}),
                _fit(LadderFit, {}, {})):
        with pytest.raises(PredictionError, match="^seed must be a whole number"):
            fit.predict({"row": [0], "N": [1e9], "D": [1e10]}, seed=seed)


@pytest.mark.parametrize("row", [1.7, True, "x", -1, 3])
def test_observational_row_positions_are_whole_and_in_range(row):
    fit = _fit(ObservationalFit, {}, {"n_models": 3})
    with pytest.raises(PredictionError) as info:
        fit.predict({"row": [0, row]})
    text = str(info.value)
    if isinstance(row, str):
        assert text == "column 'row' in the prediction rows is not numeric: row 1 ('x')"
    elif isinstance(row, bool):
        assert text == "column 'row' in the prediction rows is not numeric: row 1 (True)"
    else:
        assert text == ("column 'row' of the prediction rows must hold positions of models in the fitted table, "
                        f"whole numbers from 0 to 2: row 1 ({row:g})")


PL_ROW = {"layers": [32.0], "hidden": [4096.0], "ffn": [14336.0], "tokens_T": [15.0], "params_B": [8.0]}


def test_performance_law_unstable_rows_are_flags_and_need_a_learnt_discount():
    fit = _fit(PerformanceLawFit, {}, {"unstable": False})
    with pytest.raises(PredictionError) as info:
        fit.predict({**PL_ROW, "unstable": ["False"]})  # bool('False') is true: the discount was applied
    assert str(info.value) == "column 'unstable' of the prediction rows must hold true/false flags: row 0 ('False')"
    with pytest.raises(PredictionError) as info:
        fit.predict({**PL_ROW, "unstable": [True]})
    assert str(info.value) == ("the fit had no unstable models to learn their discount from (fit with "
                               "unstable=<column>); the prediction rows flag row 0")


def _pl_models(n=12):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"layers": rng.integers(12, 80, n).astype(float), "hidden": 2.0 ** rng.integers(10, 14, n),
                         "ffn": 2.0 ** rng.integers(12, 15, n), "tokens_T": rng.uniform(0.1, 15, n),
                         "params_B": rng.uniform(0.5, 70, n), "mmlu": rng.uniform(0.3, 0.7, n)})


def test_performance_law_refuses_a_feature_every_model_shares():
    """A constant column's standardised weight was divided by 1e-12: every prediction at the floor."""
    with pytest.raises(DataError) as info:
        fit_performance_law(_pl_models().assign(hidden=4096.0))
    assert str(info.value) == ("column 'hidden' of the models table give every model the same log_hidden (4096): "
                               "its weight cannot be learned; the Performance Law needs models that differ in "
                               "layers, hidden, ffn and min(tokens_T, params_B)")
    with pytest.raises(DataError, match="^chance 0.8 lies above 12 of the 12 scores in column 'mmlu'"):
        fit_performance_law(_pl_models(), chance=0.8)


def test_quantization_refuses_a_chance_above_the_curve():
    curve = pd.DataFrame({"params_B": [0.5, 1, 3, 7, 13, 30, 70], "accuracy": [0.26, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7]})
    pairs = pd.DataFrame({"params_B": [7, 13], "bits": [4, 4], "delta": [-0.02, -0.01]})
    with pytest.raises(DataError) as info:
        fit_quantization(curve, pairs, chance=0.8)
    assert str(info.value) == ("chance 0.8 lies above 7 of the 7 scores in column 'accuracy' of the curve table "
                               "(median 0.5); chance is the benchmark's random-guess accuracy, the floor of its scores")


def _obs_models(n=6):
    rng = np.random.default_rng(1)
    return pd.DataFrame({"family": ["a", "b"] * (n // 2), "flops": np.geomspace(1e21, 1e23, n),
                         "b1": rng.uniform(0.3, 0.6, n), "b2": rng.uniform(0.3, 0.6, n),
                         "target": rng.uniform(0.2, 0.4, n)})


@pytest.mark.parametrize(("change", "kwargs", "message"), [
    ({}, {"benchmarks": "b1"}, "benchmarks must be a list of column names, got 'b1'"),  # was split into 'b', '1'
    ({"b2": np.nan}, {}, "column 'b2' of the models table has no score: every benchmark needs at least one"),
    ({}, {"chance": 0.6}, ("chance 0.6 lies above 6 of the 6 scores in column 'target' of the models table "
                           "(median 0.273); chance is the benchmark's random-guess accuracy, the floor of its scores")),
    ({"target": [0.3, np.nan, np.nan, np.nan, np.nan, np.nan]}, {},
     "1 models have a 'target' score; the link needs at least 3"),  # one model was fitted, with NaNs
])
def test_observational_refusals(change, kwargs, message):
    settings = {"benchmarks": ["b1", "b2"], "target": "target", "k": 1, **kwargs}
    with pytest.raises(DataError) as info:
        fit_observational(_obs_models().assign(**change), settings.pop("benchmarks"), settings.pop("target"),
                          **settings)
    assert str(info.value) == message


def _ladder_runs(n=10):
    return pd.DataFrame({"N": np.repeat([1e8, 2e8], n // 2), "D": np.tile(np.geomspace(1e9, 1e10, n // 2), 2),
                         "task_loss": np.linspace(1.2, 0.9, n), "accuracy": np.linspace(0.3, 0.5, n),
                         "final": [True] * n, "items": [100] * n})


@pytest.mark.parametrize(("change", "kwargs", "message"), [
    ({"final": ["True", "False"] * 5}, {},  # bool('False') fitted every checkpoint in step 1
     "column 'final' of the runs table must hold true/false flags: rows 0, 1, 2, 3, 4, ... ('True', 'False', "
     "'True', 'False', 'True')"),
    ({}, {"anchor": "1"}, "anchor (accuracy at zero task loss) must be in (chance, 1], got '1'"),
    ({}, {"max_step2_rows": -1}, "max_step2_rows must be a whole number of at least 5 (step 2's least) or None, got -1"),
    ({}, {"max_step2_rows": 2.5}, "max_step2_rows must be a whole number of at least 5 (step 2's least) or None, got 2.5"),
    ({}, {"loss": "accuracy"}, "loss, accuracy, step1 and items must name different columns, got ['accuracy', "
                               "'accuracy', 'final']"),
    ({"items": ["x"] + [100] * 9}, {"items": "items"}, "column 'items' in the runs table is not numeric: row 0 ('x')"),
    ({}, {"chance": 0.6}, ("chance 0.6 lies above 10 of the 10 scores in column 'accuracy' of the runs table "
                           "(median 0.4); chance is the benchmark's random-guess accuracy, the floor of its scores")),
])
def test_ladder_refusals(change, kwargs, message):
    with pytest.raises(DataError) as info:
        fit_ladder(_ladder_runs().assign(**change), **kwargs)
    assert str(info.value) == message


def test_ladder_predictions_and_losses_are_checked():
    fit = _fit(LadderFit, {}, {})
    with pytest.raises(PredictionError) as info:
        fit.predict({"N": ["1B", "7B"], "D": [1e10, 1e11]})
    assert str(info.value) == "column 'N' in the prediction rows is not numeric: rows 0, 1 ('1B', '7B')"
    with pytest.raises(PredictionError) as info:
        fit.accuracy_at(["x"])
    assert str(info.value) == "task losses must be one or more non-negative finite numbers, got ['x']"


def test_a_train_series_is_matched_by_its_index_not_its_position():
    """fit_observational(train=Series) read the mask by position: a mask built on a reordered or
    filtered copy of the table picked other models without a word."""
    index = pd.Index(["a", "b", "c", "d"])
    shuffled = pd.Series([True, False, True, False], index=["d", "c", "b", "a"])
    assert train_mask(shuffled, index).tolist() == [False, True, False, True]
    assert train_mask([True, False, True, False], index).tolist() == [True, False, True, False]
    assert train_mask(None, index) is None
    cases = [
        (pd.Series([True, True, False], index=["a", "b", "c"]),
         "train is a Series matched to the models table by its index, and it has no entry for row d"),
        (pd.Series([True] * 5, index=["a", "b", "c", "d", "e"]),
         "train is a Series matched to the models table by its index, and it names row e, which the table lacks"),
        (pd.Series([True] * 4, index=["a", "a", "b", "c"]),
         "train is a Series: its index and the models table's must name each row once to be matched; pass a "
         "list or an array to match by position"),
        (pd.Series([1, 0, 1, 0], index=index),
         "train must be a true/false mask with one entry per model (4), got int64 values of shape (4,)"),
    ]
    for train, message in cases:
        with pytest.raises(DataError) as info:
            train_mask(train, index)
        assert str(info.value) == message
    obs = pd.DataFrame({"family": ["a", "b"] * 5, "flops": np.geomspace(1e20, 1e23, 10),
                        **{b: np.linspace(0.3, 0.7, 10) for b in ("b1", "b2", "b3", "t")}}, index=range(10, 20))
    with pytest.raises(DataError) as info:
        fit_observational(obs, ["b1", "b2", "b3"], "t", train=pd.Series(True, index=range(10)))
    assert str(info.value).startswith("train is a Series matched to the models table by its index, and it has "
                                      "no entry for rows 10, 11, 12, 13, 14, ...")


def test_downstream_fits_warn_about_repeated_rows_as_bl_fit_does():
    """A table concatenated twice was fitted twice without the DataWarning bl.fit gives: every
    model counted double and the intervals narrowed, unsaid. (Each call then stops at a later,
    unrelated refusal, so nothing samples.)"""
    from bayeslaw.core.errors import DataWarning

    def doubled(frame):
        return pd.concat([frame, frame.iloc[:2]], ignore_index=True)

    curve = pd.DataFrame({"params_B": [0.5, 1, 3, 7, 13], "accuracy": [0.26, 0.3, 0.4, 0.5, 0.6]})
    pairs = pd.DataFrame({"params_B": [7, 13], "bits": [4, 4], "delta": [-2.0, -0.01]})
    obs = _obs_models()
    calls = [
        (lambda: fit_observational(doubled(obs), ["b1", "b2"], "target", k=5),
         "rows 6, 7 of the models table repeat earlier rows in family, flops, target, b1, b2: each copy counts "
         "as one more of the models"),
        (lambda: fit_ladder(doubled(_ladder_runs()), anchor=2.0),
         "rows 10, 11 of the runs table repeat earlier rows in N, D, task_loss, accuracy, final: each copy "
         "counts as one more of the checkpoints"),
        (lambda: fit_quantization(doubled(curve), pairs),
         "rows 5, 6 of the curve table repeat earlier rows in params_B, accuracy: each copy counts as one more "
         "of the models"),
        (lambda: fit_performance_law(doubled(_pl_models()), chance=0.8),
         "rows 12, 13 of the models table repeat earlier rows in layers, hidden, ffn, tokens_T, params_B, mmlu: "
         "each copy counts as one more of the models"),
    ]
    for call, message in calls:
        with pytest.warns(DataWarning) as caught, pytest.raises(DataError):
            call()
        assert any(str(w.message).startswith(message) for w in caught), [str(w.message) for w in caught]
