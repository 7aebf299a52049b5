"""Data-folder loaders of the observational, quantization and Performance-Law models: a bad cell,
a missing column or a file left without rows is one exact error naming the file, column and row."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from bayeslaw.core.errors import DataError
from bayeslaw.downstream.observational import fit_observational
from bayeslaw.downstream.obsscaling import load_obsscaling
from bayeslaw.downstream.olmo_ladder import load_olmo_ladder
from bayeslaw.downstream.performance_law import load_not_just_scaling
from bayeslaw.downstream.quantization import fit_quantization, load_openllm

BENCH = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval"]


def _cell(column, row, value):
    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


def _obs_folder(folder, edit=None):
    rows = [{"Model": f"m{i}", "Model Family": f"f{i % 2}", "Model Size (B)": 1.0 + i,
             "Pretraining Data Size (T)": 1.0, "FLOPs (1E21)": 6.0 * (1 + i),
             **{b: 0.3 + 0.05 * i for b in BENCH}} for i in range(6)]
    frame = pd.DataFrame(rows)
    folder.mkdir()
    (edit(frame) if edit else frame).to_csv(folder / "base_llm_benchmark_eval.csv", index=False)
    return folder


@pytest.mark.parametrize(("edit", "message"), [
    (_cell("FLOPs (1E21)", 3, "big"),
     "column 'FLOPs (1E21)' in base_llm_benchmark_eval.csv of '{f}' is not numeric: row 3 ('big')"),
    (_cell("MMLU", 2, "abc"), "column 'MMLU' in base_llm_benchmark_eval.csv of '{f}' is not numeric: row 2 ('abc')"),
    (_cell("FLOPs (1E21)", 4, -3.0),
     "column 'FLOPs (1E21)' in base_llm_benchmark_eval.csv of '{f}' must be positive where given: row 4 (-3)"),
    (_cell("Model Size (B)", 1, float("inf")),
     "column 'Model Size (B)' in base_llm_benchmark_eval.csv of '{f}' must be positive where given: row 1 (inf)"),
    (_cell("Model Family", 5, None), "column 'Model Family' in base_llm_benchmark_eval.csv of '{f}' has missing values: row 5"),
    (lambda frame: frame.iloc[:0], "base_llm_benchmark_eval.csv of '{f}' has no rows"),
    (lambda frame: frame.assign(**{"ARC-C": frame["ARC-C"] * 100}),
     "column 'ARC-C' in base_llm_benchmark_eval.csv of '{f}' holds accuracies and must lie in [0, 1]: rows 0 (30), "
     "1 (35), 2 (40), 3 (45), 4 (50), ..."),
], ids=["text-flops", "text-score", "negative-flops", "inf-size", "no-family", "header-only", "percent-score"])
def test_a_bad_obsscaling_folder_is_an_exact_error(edit, message, tmp_path):
    """Text in FLOPs was a TypeError, text in a score 'could not convert string to float', a
    negative or infinite FLOPs figure and a header-only file went on to the fit."""
    folder = _obs_folder(tmp_path / "obs", edit)
    with pytest.raises(DataError) as info:
        load_obsscaling(folder)
    assert str(info.value) == message.format(f=folder)


def test_a_missing_obsscaling_column_says_the_folder_is_not_in_the_layout(tmp_path):
    """Was a bare KeyError('FLOPs (1E21)') in Python (the command line alone named the folder)."""
    folder = _obs_folder(tmp_path / "obs", lambda frame: frame.drop(columns=["FLOPs (1E21)"]))
    with pytest.raises(DataError) as info:
        load_obsscaling(folder)
    assert str(info.value) == f"data folder '{folder}' is not in the observational layout: column 'FLOPs (1E21)' is missing"


@pytest.mark.parametrize(("loader", "layout", "name"), [
    (load_obsscaling, "observational", "base_llm_benchmark_eval.csv"),
    (load_not_just_scaling, "performance-law", "model_table.csv"),
    (load_openllm, "quantization", "open_llm_leaderboard_v1_snapshot.csv"),
    (lambda folder: load_olmo_ladder(folder, "piqa"), "ladder", "ladder_runs.csv"),
], ids=["observational", "performance-law", "quantization", "ladder"])
def test_an_unreadable_data_folder_is_one_error_naming_folder_and_file(loader, layout, name, tmp_path):
    """A missing folder or file was a raw FileNotFoundError, an empty file pandas' 'No columns to
    parse from file', undecodable bytes a UnicodeDecodeError: none named what to fix."""
    with pytest.raises(DataError) as info:
        loader(tmp_path / "nodir")
    assert str(info.value) == f"cannot read data folder '{tmp_path / 'nodir'}' ({layout} layout): no such folder"
    with pytest.raises(DataError) as info:
        loader(tmp_path)
    assert str(info.value) == f"cannot read {layout} data file '{tmp_path / name}': no such file"
    (tmp_path / name).write_text("")
    with pytest.raises(DataError) as info:
        loader(tmp_path)
    assert str(info.value) == f"cannot read {layout} data file '{tmp_path / name}': the file is empty (no header row)"
    (tmp_path / name).write_bytes(b"Model,\xe9\n")
    with pytest.raises(DataError) as info:
        loader(tmp_path)
    assert str(info.value) == (f"cannot read {layout} data file '{tmp_path / name}': it is not UTF-8 text "
                               "(byte 0xe9 cannot be decoded); save it as UTF-8")
    (tmp_path / name).write_text("zzz,yyy\n1,2\n")
    with pytest.raises(DataError) as info:
        loader(tmp_path)
    assert str(info.value).startswith(f"data folder '{tmp_path}' is not in the {layout} layout: column '")


def test_observational_refuses_a_table_with_nothing_to_fit_before_sampling(tmp_path):
    models = load_obsscaling(_obs_folder(tmp_path / "obs"))
    with pytest.raises(DataError) as info:
        fit_observational(models, BENCH[1:], "MMLU", k=2, train=[False] * len(models))
    assert str(info.value) == "no model of the training rows has a 'MMLU' score: nothing to fit the link to"
    models.loc[2, "family"] = None
    with pytest.raises(DataError) as info:
        fit_observational(models, BENCH[1:], "MMLU", k=2)
    assert str(info.value) == "column 'family' in the models table has missing values: row 2"  # was a TypeError


def test_a_good_obsscaling_folder_loads(tmp_path):
    models = load_obsscaling(_obs_folder(tmp_path / "obs"))
    assert models["flops"].tolist() == [6e21 * (1 + i) for i in range(6)]


def _quant_folder(folder, snap_edit=None, pairs_edit=None):
    snap = pd.DataFrame({"Model": [f"m{i}" for i in range(4)], "Type": ["pretrained"] * 4,
                         "Precision": ["float16"] * 4, "#Params (B)": [1.0, 2.0, 3.0, 4.0],
                         "MMLU": [30.0, 35.0, 40.0, 45.0]})
    pairs = pd.DataFrame({"Model": [f"q{i}" for i in range(4)], "bits": [4, 8, 4, 8],
                          "params_B_16bit_row": [1.0, 2.0, 3.0, 4.0], "delta_MMLU_vs_16bit_mean": [-1.0] * 4})
    folder.mkdir()
    (snap_edit(snap) if snap_edit else snap).to_csv(folder / "open_llm_leaderboard_v1_snapshot.csv", index=False)
    (pairs_edit(pairs) if pairs_edit else pairs).to_csv(folder / "precision_pairs.csv", index=False)
    return folder


SNAP, PAIRS = "open_llm_leaderboard_v1_snapshot.csv of '{f}'", "precision_pairs.csv of '{f}'"


@pytest.mark.parametrize(("snap_edit", "pairs_edit", "benchmark", "message"), [
    (_cell("#Params (B)", 2, "big"), None, "MMLU", f"column '#Params (B)' in {SNAP} is not numeric: row 2 ('big')"),
    (_cell("MMLU", 1, "abc"), None, "MMLU", f"column 'MMLU' in {SNAP} is not numeric: row 1 ('abc')"),
    (None, _cell("bits", 3, "four"), "MMLU", f"column 'bits' in {PAIRS} is not numeric: row 3 ('four')"),
    (None, _cell("delta_MMLU_vs_16bit_mean", 0, float("inf")), "MMLU",
     f"column 'delta_MMLU_vs_16bit_mean' in {PAIRS} has infinite values: row 0"),
    (None, None, "NOPE", f"unknown benchmark 'NOPE': {SNAP} has no column 'NOPE'"),
    (lambda s: s.assign(Precision="int8"), None, "MMLU",
     f"{SNAP} has no 16-bit pretrained models with a size and a MMLU score"),
    (None, lambda p: p.iloc[:0], "MMLU",
     f"{PAIRS} has no 4- or 8-bit rows with a size and a 'delta_MMLU_vs_16bit_mean' value"),
    (lambda s: s.assign(MMLU=[0.30, 0.35, 0.40, 0.45]), None, "MMLU",
     f"column 'MMLU' in {SNAP} holds scores in percent, but every value lies in [0, 1]: they look like fractions "
     "(write 30 for 30%): rows 0 (0.3), 1 (0.35), 2 (0.4), 3 (0.45)"),
    (lambda s: s.assign(Precision=["int8", "float16", "float16", "float16"], MMLU=[30.0, 35.0, 40.0, 200.0]), None,
     "MMLU", f"column 'MMLU' in {SNAP} holds scores in percent and must lie in [0, 100]: row 3 (200)"),
    (None, _cell("delta_MMLU_vs_16bit_mean", 1, -150.0), "MMLU",
     f"column 'delta_MMLU_vs_16bit_mean' in {PAIRS} holds differences in percentage points and must lie in "
     "[-100, 100]: row 1 (-150)"),
], ids=["text-params", "text-score", "text-bits", "inf-delta", "unknown-benchmark", "no-16-bit", "no-pairs",
        "fractions", "score-200", "delta-150"])
def test_a_bad_quantization_folder_is_an_exact_error(snap_edit, pairs_edit, benchmark, message, tmp_path):
    """Text cells were TypeErrors, an unknown benchmark 'column "Label(s) ['NOPE'] do not exist" is
    missing', and a folder without 16-bit models or pairs went on to sample empty tables. Scores
    given as fractions (0.30 for 30%) were divided by 100 again and fitted far below chance with
    no word; a score of 200 was "column 'accuracy' ... rows 2 (2)", the fit's own column and value
    and the row after dropping the 8-bit row and regrouping by model."""
    folder = _quant_folder(tmp_path / "q", snap_edit, pairs_edit)
    with pytest.raises(DataError) as info:
        load_openllm(folder, benchmark)
    assert str(info.value) == message.format(f=folder)


def test_a_good_quantization_folder_loads(tmp_path):
    curve, pairs = load_openllm(_quant_folder(tmp_path / "q"))
    assert curve["accuracy"].tolist() == [0.30, 0.35, 0.40, 0.45]
    assert pairs["bits"].tolist() == [4, 8, 4, 8] and pairs["delta"].tolist() == [-0.01] * 4


def _njs_folder(folder, edit=None):
    table = pd.DataFrame({"id": ["a", "b", "c"], "is_instruction_tuned": [False, False, True],
                          "activation": ["silu", "gelu", "silu"], "dimension": [1024, 2048, 4096],
                          "ffn_dim": [4096, 8192, 11008], "total_params": [3e8, 1.2e9, 7e9],
                          "pretraining_summary_total_tokens_billions": [300, 1000, 2000],
                          "mmlu_hendrycksTest_5shot_mean57": [0.26, 0.3, 0.45]})
    folder.mkdir()
    (edit(table) if edit else table).to_csv(folder / "model_table.csv", index=False)
    return folder


@pytest.mark.parametrize(("edit", "target", "message"), [
    (_cell("dimension", 1, "big"), "mmlu_hendrycksTest_5shot_mean57",
     "column 'dimension' in model_table.csv of '{f}' is not numeric: row 1 ('big')"),
    (None, "nope", "unknown target: model_table.csv of '{f}' has no column 'nope'"),
    (lambda t: t.iloc[:0], "mmlu_hendrycksTest_5shot_mean57",
     "model_table.csv of '{f}' has no base model with every field given and positive"),
], ids=["text-cell", "unknown-target", "header-only"])
def test_a_bad_performance_law_folder_is_an_exact_error(edit, target, message, tmp_path):
    """A text cell was a TypeError in the layer estimate; an unknown target a bare KeyError."""
    folder = _njs_folder(tmp_path / "njs", edit)
    with pytest.raises(DataError) as info:
        load_not_just_scaling(folder, target)
    assert str(info.value) == message.format(f=folder)


def test_a_good_performance_law_folder_loads(tmp_path):
    models = load_not_just_scaling(_njs_folder(tmp_path / "njs"))
    assert models["model"].tolist() == ["a", "b"]


def test_fit_quantization_names_the_table_column_and_row_before_sampling():
    """Text in params_B was a TypeError comparing str and int; bits 3 said 'got 3' without the row."""
    curve = pd.DataFrame({"params_B": [1.0, 7.0, 13.0, 70.0], "accuracy": [0.3, 0.45, 0.55, 0.7]})
    pairs = pd.DataFrame({"params_B": [7.0, 13.0], "bits": [4, 3], "delta": [-0.02, -0.004]})
    with pytest.raises(DataError) as info:
        fit_quantization(curve, pairs)
    assert str(info.value) == "column 'bits' in the pairs table must be 4 or 8: row 1 (3)"
    pairs.loc[1, "bits"] = 8
    text = curve.astype({"params_B": object})
    text.loc[2, "params_B"] = "13B"
    with pytest.raises(DataError) as info:
        fit_quantization(text, pairs)
    assert str(info.value) == "column 'params_B' in the curve table is not numeric: row 2 ('13B')"
    with pytest.raises(DataError) as info:
        fit_quantization(curve, pairs.drop(columns=["delta"]))
    assert str(info.value) == ("column 'delta' is missing from the pairs table; needed: params_B, bits, delta "
                               "(present: params_B, bits)")
    sizes = curve.assign(params_B=[1.0, 0.0, 13.0, 70.0])
    with pytest.raises(DataError) as info:
        fit_quantization(sizes, pairs)
    assert str(info.value) == "column 'params_B' in the curve table must be positive: row 1 (0)"
    assert text.loc[2, "params_B"] == "13B" and pairs["bits"].dtype.kind == "i"  # the caller's tables untouched


def test_downstream_fits_refuse_impossible_settings_before_sampling():
    """chance 1 put the floor above every score, -1 or NaN sampled nonsense, an empty table ended
    in 'no starting point ... check the table', an int train array was read as a mask."""
    from bayeslaw.downstream.performance_law import fit_performance_law

    curve = pd.DataFrame({"params_B": [1.0, 7.0, 13.0, 70.0], "accuracy": [0.3, 0.45, 0.55, 0.7]})
    pairs = pd.DataFrame({"params_B": [7.0, 13.0], "bits": [4, 8], "delta": [-0.02, -0.004]})
    cases = [
        (lambda: fit_quantization(curve, pairs, chance=1.5), "chance must be a number in [0, 1), got 1.5"),
        (lambda: fit_quantization(curve.iloc[:1], pairs), "the curve table has 1 row; the fit needs at least 4"),
        (lambda: fit_quantization(curve, pairs.assign(delta=[-2.0, -0.4])),
         "column 'delta' in the pairs table is an accuracy difference in [-1, 1] (a fraction, not percent): row 0"),
        (lambda: fit_performance_law(pd.DataFrame(columns=["layers", "hidden", "ffn", "tokens_T", "params_B", "mmlu"])),
         "the models table has 0 rows; the fit needs at least 7"),
    ]
    obs = pd.DataFrame({"family": ["a", "b"] * 5, "flops": np.geomspace(1e20, 1e23, 10),
                        **{b: np.linspace(0.3, 0.7, 10) for b in ("b1", "b2", "b3", "t")}})
    cases += [
        (lambda: fit_observational(obs, ["b1", "b2", "b3"], "t", ceiling=2.0), "ceiling must be a number in (0, 1], got 2.0"),
        (lambda: fit_observational(obs, ["b1", "b2", "t"], "t"),
         "benchmarks must be distinct and leave out the target 't', got ['b1', 'b2', 't']"),
        (lambda: fit_observational(obs, ["b1", "b2", "b3"], "t", train=np.arange(10)),
         "train must be a true/false mask with one entry per model (10), got int64 values of shape (10,)"),
        (lambda: fit_observational(obs.assign(flops=-1.0), ["b1", "b2", "b3"], "t"),
         "column 'flops' in the models table must be positive where given: rows 0 (-1), 1 (-1), 2 (-1), 3 (-1), 4 (-1), ..."),
    ]
    for call, message in cases:
        with pytest.raises(DataError) as info:
            call()
        assert str(info.value).startswith(message), (str(info.value), message)


@pytest.mark.parametrize("name", ["ladder", "observational", "performance_law", "quantization"])
def test_predictive_draws_refuse_an_unknown_kind(name):
    """``kind="foo"`` was taken as 'observed' (or as the law without noise), as ``Fit.predict`` refuses it."""
    from bayeslaw.core.errors import PredictionError
    from bayeslaw.downstream.ladder import LadderFit
    from bayeslaw.downstream.observational import ObservationalFit
    from bayeslaw.downstream.performance_law import PerformanceLawFit
    from bayeslaw.downstream.quantization import QuantizationFit

    fit = {"ladder": LadderFit, "observational": ObservationalFit, "performance_law": PerformanceLawFit,
           "quantization": QuantizationFit}[name]({}, {}, {}, {})
    with pytest.raises(PredictionError) as info:
        fit.predictive_draws({"row": [0]}, kind="foo")
    assert str(info.value) == "kind must be one of: law, observed; got 'foo'"


@pytest.fixture
def _cli(monkeypatch, capsys):
    """Run ``bayeslaw downstream ...`` in-process: (exit status, stdout, stderr); XLA_FLAGS kept."""
    from bayeslaw.cli import main as cli

    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # cli.main sets it; undone after the test
    if not os.environ["XLA_FLAGS"]:
        monkeypatch.delenv("XLA_FLAGS")

    def run(*args):
        try:
            code = cli.main(["downstream", *args, "--chains", "1", "--draws", "30", "--warmup", "30", "--no-progress"])
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.mark.parametrize(("edit", "message"), [
    (None, "data folder '{f}' has no model at or above the holdout cutoff of 8.4e+22 FLOPs with a MMLU score: "
           "nothing to predict"),
    (lambda frame: frame.iloc[:1], "--factors 2 needs at least 2 models; data folder '{f}' has 1"),
    (lambda frame: frame.assign(**{"FLOPs (1E21)": frame["FLOPs (1E21)"] * 10.0 ** np.arange(6), "HumanEval": np.nan}),
     "column 'HumanEval' of base_llm_benchmark_eval.csv of '{f}' has no score: every benchmark needs at least one"),
], ids=["nothing-above", "one-model", "empty-benchmark"])
def test_observational_cli_refuses_before_sampling(edit, message, tmp_path, _cli):
    """Every model below the cutoff: a fit of about 50 s, then pandas' 'Empty DataFrame' and exit 0;
    one model: 'k must be between 1 and the number of benchmarks (7) and of models (1), got 2',
    the API's name for --factors; an empty benchmark column was in 'the models table', not the file."""
    folder = _obs_folder(tmp_path / "obs", edit)  # FLOPs 6e21 to 3.6e22: all below 8.4e22
    assert _cli("observational", str(folder)) == (2, "", f"bayeslaw: error: {message.format(f=folder)}\n")
