"""Downstream plots: accuracy vs compute (ladder, observational), loadings, the CLI's --plot, errors."""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayeslaw.core.errors import ConvergenceWarning, PredictionError
from bayeslaw.downstream.ladder import fit_ladder
from bayeslaw.downstream.observational import FLOPS_CUTOFF, fit_observational
from bayeslaw.downstream.olmo_ladder import OLMO_TARGET_TOKENS
from bayeslaw.plot.downstream import plot_accuracy
from bayeslaw.plot.loadings import plot_loadings

TINY = {"chains": 1, "warmup": 150, "draws": 150, "seed": 0}
SIZES = {"190M": 2e8, "370M": 4e8, "760M": 8e8, "1B": 1.3e9}
OBS_BENCH = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval"]
BENCH = OBS_BENCH[1:]  # the inputs when MMLU is the target, as `bayeslaw downstream observational` does


def _ladder_acc(N, D, rng):
    loss = (0.6 + 60 / N ** 0.3 + 400 / D ** 0.28) * np.exp(rng.normal(0, 0.01, np.shape(N)))
    acc = 0.25 + 0.75 * 0.9 / (1 + np.exp(8 * (loss - 1.1)))
    return loss, np.clip(acc + rng.normal(0, 0.01, np.shape(N)), 0.01, 0.99)


def _ladder_runs(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for label, N in SIZES.items():
        for mult in (1, 2, 5, 10):
            for frac in np.linspace(0.2, 1.0, 6):
                rows.append({"run": f"{label}-{mult}xC", "size_label": label, "N": N, "D": 20 * N * mult * frac,
                             "step": int(frac * 1000), "final": frac == 1.0})
    runs = pd.DataFrame(rows)
    runs["task_loss"], runs["accuracy"] = _ladder_acc(runs["N"].to_numpy(), runs["D"].to_numpy(), rng)
    return runs


def _obs_models(seed=0, per_family=12) -> pd.DataFrame:
    """Models in load_obsscaling's columns; one capability drives every benchmark and MMLU."""
    rng = np.random.default_rng(seed)
    rows = []
    for fam, offset in {"fa": -0.8, "fb": 0.0, "fc": 0.8, "fd": 0.3}.items():
        logc = rng.uniform(-1, 4, per_family)  # about a third above FLOPS_CUTOFF
        s = offset + 0.8 * (logc - 1.5) + rng.normal(0, 0.2, per_family)
        y = 0.5 + s[:, None] * np.linspace(0.12, 0.04, len(BENCH)) + rng.normal(0, 0.01, (per_family, len(BENCH)))
        mmlu = 0.25 + 0.7 / (1 + np.exp(-(1.5 * s - 0.5))) + rng.normal(0, 0.01, per_family)
        for i in range(per_family):
            rows.append({"model": f"{fam}-{i}", "family": fam, "flops": np.exp(logc[i]) * 1e22, "MMLU": mmlu[i],
                         **dict(zip(BENCH, np.clip(y[i], 0.01, 0.99)))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ladder():
    runs = _ladder_runs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_ladder(runs, chance=0.25, max_step2_rows=60, **TINY)
    rng = np.random.default_rng(1)
    N, D = np.array([7e9, 13e9]), np.array([4e12, 5e12])
    loss, acc = _ladder_acc(N, D, rng)
    return fit, runs, pd.DataFrame({"N": N, "D": D, "task_loss": loss, "accuracy": acc})


@pytest.fixture(scope="module")
def obs():
    models = _obs_models()
    train = (models["flops"] < FLOPS_CUTOFF).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_observational(models, BENCH, "MMLU", k=2, chance=0.25, train=train, **TINY)
    return fit, models, train


def _bands(ax, prefix):
    return [c for c in ax.collections if c.get_label().startswith(prefix)]


def _curves(ax, names):
    return [line for line in ax.lines if line.get_label() in names]


@pytest.mark.heavy
def test_ladder_accuracy_plot_has_one_curve_and_two_bands_per_size(ladder):
    fit, runs, targets = ladder
    ax = plot_accuracy(fit, runs, heldout=targets, group="size_label", ax=Figure().add_subplot())
    assert len(_curves(ax, SIZES)) == 4
    assert len(_bands(ax, "_band ")) == 4 and len(_bands(ax, "_law band ")) == 4
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_ylim()
    assert 0 <= lo < hi <= 1
    for line in _curves(ax, SIZES):
        y = line.get_ydata()
        assert np.all((y >= 0) & (y <= 1))
    for band in _bands(ax, "_band ") + _bands(ax, "_law band "):
        y = band.get_paths()[0].vertices[:, 1]
        assert np.all((y >= 0) & (y <= 1))
    # the curves reach the held-out targets' compute; each target gets a predictive interval
    c_target = 6 * targets["N"] * targets["D"]
    assert max(line.get_xdata().max() for line in _curves(ax, SIZES)) >= c_target.max()
    assert any(line.get_label() == "held-out prediction (90%)" for line in ax.containers)
    floor = [line for line in ax.lines if line.get_label().startswith("floor (posterior median")]
    assert len(floor) == 1 and abs(floor[0].get_ydata()[0] - 0.25) < 0.05


@pytest.mark.heavy
def test_ladder_law_band_lies_inside_the_predictive_band(ladder):
    fit, runs, _ = ladder
    ax = plot_accuracy(fit, runs, ax=Figure().add_subplot())  # default groups: one per distinct N
    assert sorted(line.get_label() for line in _curves(ax, ["N=200M", "N=400M", "N=800M", "N=1.3B"])) \
        == ["N=1.3B", "N=200M", "N=400M", "N=800M"]
    for wide, narrow in zip(_bands(ax, "_band "), _bands(ax, "_law band ")):
        w, n = wide.get_paths()[0].vertices[:, 1], narrow.get_paths()[0].vertices[:, 1]
        assert (n.max() - n.min()) <= (w.max() - w.min()) + 1e-9


@pytest.mark.heavy
def test_observational_accuracy_plot_follows_each_family(obs):
    fit, models, train = obs
    ax = plot_accuracy(fit, models[train], x="flops", heldout=models[~train], ax=Figure().add_subplot())
    assert len(_curves(ax, fit.info["families"])) == 4
    assert len(_bands(ax, "_band ")) == 4 and len(_bands(ax, "_law band ")) == 4
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_ylim()
    assert 0 <= lo < hi <= 1
    stars = [c for c in ax.collections if c.get_label() == "held out (actual)"]
    assert len(stars) == 1 and len(stars[0].get_offsets()) == (~train).sum()
    assert any(line.get_label() == "chance (0.25)" for line in ax.lines)
    # held-out targets: most inside their family's predictive band at their compute
    inside = []
    for band in _bands(ax, "_band "):
        v = band.get_paths()[0].vertices
        mine = models[~train & (models["family"] == band.get_label()[len("_band "):]).to_numpy()]
        for c, t in zip(mine["flops"], mine["MMLU"]):
            nearest = v[np.argmin(np.abs(np.log(v[:, 0]) - np.log(c))), 0]
            ys = v[v[:, 0] == nearest, 1]
            inside.append(ys.min() <= t <= ys.max())
    assert len(inside) == (~train).sum()
    assert np.mean(inside) >= 0.7


@pytest.mark.heavy
def test_loadings_plot_one_bar_per_benchmark_and_factor(obs):
    fit = obs[0]
    fig = plot_loadings(fit, ci_prob=0.9)
    assert len(fig.axes) == 2
    draws = fit.flat("loading")
    for i, ax in enumerate(fig.axes):
        bars = [c for c in ax.containers if c.get_label() == f"_loading PC{i + 1}"]
        intervals = [c for c in ax.containers if c.get_label() == f"_interval PC{i + 1}"]
        assert len(bars) == 1 and len(bars[0].patches) == len(BENCH)
        widths = np.array([p.get_width() for p in bars[0].patches])
        assert np.allclose(widths, np.median(draws[:, :, i], axis=0))
        segments = intervals[0].lines[2][0].get_segments()
        assert len(segments) == len(BENCH)
        for w, seg in zip(widths, segments):
            assert seg[0][0] - 1e-12 <= w <= seg[1][0] + 1e-12
        assert ax.get_title() == f"PC{i + 1} (sign: {BENCH[i]} > 0)"
    # lower-triangular loadings: b0 loads 0 on PC2 by construction
    assert widths[0] == 0.0


@pytest.mark.heavy
def test_plot_errors(ladder, obs):
    lfit, runs, _ = ladder
    ofit, models, _ = obs
    ax = Figure().add_subplot()
    with pytest.raises(PredictionError, match=re.escape(
            "the ladder is plotted against compute C = 6*N*D; x must be 'C', got 'N'")):
        plot_accuracy(lfit, runs, x="N", ax=ax)
    with pytest.raises(PredictionError, match=re.escape("rows have no column 'D'; needed: N, D, accuracy")):
        plot_accuracy(lfit, runs.drop(columns="D"), ax=ax)
    with pytest.raises(PredictionError, match=re.escape(
            "rows have no compute column 'C'; pass x='<column of training FLOPs>' (columns: model, family, flops")):
        plot_accuracy(ofit, models, ax=ax)
    bad = models.assign(family=models["family"].replace({"fa": "zz"}))
    with pytest.raises(PredictionError, match=re.escape(
            "unknown family 'zz' in column 'family'; families in the fit: fa, fb, fc, fd")):
        plot_accuracy(ofit, bad, x="flops", ax=ax)
    with pytest.raises(PredictionError, match=re.escape(
            "unknown family 'N=7B'; families with compute in rows: N=200M, N=400M, N=800M, N=1.3B")):
        plot_accuracy(lfit, runs, families=["N=7B"], ax=ax)
    with pytest.raises(PredictionError, match=re.escape("ci_prob must be a number in (0, 1), got 1.5")):
        plot_accuracy(lfit, runs, ci_prob=1.5, ax=ax)
    with pytest.raises(PredictionError, match=re.escape(
            "plot_loadings needs an ObservationalFit (from fit_observational), got LadderFit")):
        plot_loadings(lfit)
    with pytest.raises(PredictionError, match=re.escape("ax must hold 2 Axes (one per factor), got 1")):
        plot_loadings(ofit, ax=ax)
    with pytest.raises(PredictionError, match=re.escape(
            "plot_accuracy draws a LadderFit or an ObservationalFit, got str")):
        plot_accuracy("fit", runs, ax=ax)
    # raw numpy errors before: a text cell, a negative seed
    text = runs.astype({"N": object})
    text.loc[text.index[0], "N"] = "x"
    with pytest.raises(PredictionError, match=re.escape(
            f"column 'N' in the plotted rows is not numeric: row {text.index[0]} ('x')")):
        plot_accuracy(lfit, text, ax=ax)
    flops = models.astype({"flops": object})
    flops.loc[flops.index[1], "flops"] = "lots"
    with pytest.raises(PredictionError, match=re.escape(
            f"column 'flops' in the plotted rows is not numeric: row {flops.index[1]} ('lots')")):
        plot_accuracy(ofit, flops, x="flops", ax=ax)
    with pytest.raises(PredictionError, match=re.escape("seed must be a whole number from 0 to 4294967295, got -1")):
        plot_accuracy(lfit, runs, seed=-1, ax=ax)


# -- command line -------------------------------------------------------------------------------


def _olmo_folder(path):
    """A tiny folder in the olmo_ladder layout (hellaswag only), from the synthetic ladder."""
    runs = _ladder_runs()
    bpb, acc = "eval/downstream_bpb/hellaswag_val_rc_5shot_bpb", "eval/downstream/hellaswag_val_rc_5shot_len_norm"
    pd.DataFrame({"run": runs["run"], "size_label": runs["size_label"], "N_non_embedding": runs["N"],
                  "throughput/total_tokens": runs["D"], "_step": runs["step"], bpb: runs["task_loss"],
                  acc: runs["accuracy"]}).to_csv(path / "ladder_runs.csv", index=False)
    N = np.array([7e9, 13e9])
    D = np.array([OLMO_TARGET_TOKENS["peteish7_eval_anneal"], OLMO_TARGET_TOKENS["peteish13_eval_final"]])
    loss, accuracy = _ladder_acc(N, D, np.random.default_rng(2))
    pd.DataFrame({"run": list(OLMO_TARGET_TOKENS), "size_label": ["7B", "13B"], "N_non_embedding": N,
                  "_step": [1000, 1000], bpb: loss, acc: accuracy}).to_csv(path / "olmo2_targets.csv", index=False)
    return path


def _obsscaling_folder(path, no_flops=()):
    """A tiny folder in the obsscaling layout holding the `obs` fixture's models (those named in
    ``no_flops`` without a FLOPs figure)."""
    m = _obs_models()
    m.loc[m["model"].isin(no_flops), "flops"] = np.nan
    pd.DataFrame({"Model": m["model"], "Model Family": m["family"], "Model Size (B)": 1.0,
                  "Pretraining Data Size (T)": m["flops"] / 6e21, "FLOPs (1E21)": m["flops"] / 1e21,
                  **{b: m[b] for b in OBS_BENCH}}).to_csv(path / "base_llm_benchmark_eval.csv", index=False)
    return path


def _run(argv):
    from bayeslaw.cli.main import main

    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _reuse(monkeypatch, module, name, fit):
    """Stand in the fixture's fit (same data) for the CLI's own fit; record the call's arguments."""
    calls = []

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        return fit

    monkeypatch.setattr(module, name, fake)
    return calls


CLI_TINY = ["--chains", "1", "--warmup", "60", "--draws", "60"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.heavy
def test_cli_ladder_writes_accuracy_plot(ladder, tmp_path, capsys, monkeypatch):
    import bayeslaw.downstream.ladder

    calls = []

    def fake(*args, **kwargs):  # the fixture's fit, with the warning a short chain would give
        calls.append((args, kwargs))
        warnings.warn("R-hat 2.27 > 1.01 for b", ConvergenceWarning, stacklevel=2)
        return ladder[0]

    monkeypatch.setattr(bayeslaw.downstream.ladder, "fit_ladder", fake)
    out = tmp_path / "acc.png"
    argv = ["downstream", "ladder", str(_olmo_folder(tmp_path)), "--task", "hellaswag", "--plot", str(out)]
    assert _run(argv + CLI_TINY) == 0
    assert len(calls) == 1 and len(calls[0][0][0]) == len(_ladder_runs())  # every synthetic checkpoint
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert f"wrote {out}\n" in printed and "actual" in printed  # the targets' predictions
    assert re.search(r"hellaswag accuracy of the targets \(90% intervals from the ladder's posterior alone, no "
                     r"extrapolation error \(--extrapolation-folds 2 measures one\); the targets lie up to "
                     r"\d+\.\d decades of compute beyond the largest ladder run\):", printed)
    assert calls[0][1]["extrapolation_folds"] == 0
    assert "Diagnostics: 1 warning(s)\n  warning: ConvergenceWarning: R-hat 2.27 > 1.01 for b\n" in printed
    assert not (tmp_path / "acc_loadings.png").exists()


@pytest.mark.heavy
def test_cli_observational_writes_accuracy_and_loadings(obs, tmp_path, capsys, monkeypatch):
    import bayeslaw.downstream.observational

    calls = _reuse(monkeypatch, bayeslaw.downstream.observational, "fit_observational", obs[0])
    out = tmp_path / "obs.png"
    held = [f"fa-{i}" for i in np.flatnonzero(~obs[2][:12])]
    unknown = held[0]  # above the cutoff, but the folder does not say so: neither fitted nor scored
    folder = _obsscaling_folder(tmp_path, no_flops=[unknown])
    argv = ["downstream", "observational", str(folder), "--factors", "2", "--plot", str(out)]
    assert _run(argv + CLI_TINY) == 0
    (models, bench, target), kwargs = calls[0]
    assert len(models) == len(obs[1]) and bench == BENCH and target == "MMLU" and kwargs["k"] == 2
    assert np.array_equal(kwargs["train"], obs[2])
    loadings = tmp_path / "obs_loadings.png"
    for path in (out, loadings):
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert f"wrote {out} and {loadings}" in printed
    assert len(held) > 1 and set(held[1:]) == set(re.findall(r"\bfa-\d+\b", printed.split("actual")[-1]))
    n_held, n_fit = int((~obs[2]).sum()) - 1, int(obs[2].sum())
    assert (f"MMLU of the {n_held} models at or above 8.4e+22 FLOPs (the paper's holdout), fitted on the "
            f"{n_fit} below it; 1 model without a FLOPs figure is neither fitted nor scored (90% intervals):"
            in printed)
    assert "Diagnostics: no problems found (R-hat, ESS, divergences)" in printed


@pytest.mark.slow
def test_cli_fits_and_plots_end_to_end(tmp_path, capsys):
    ladder_out, obs_out = tmp_path / "ladder.png", tmp_path / "obs.png"
    assert _run(["downstream", "ladder", str(_olmo_folder(tmp_path)), "--task", "hellaswag",
                 "--plot", str(ladder_out), *CLI_TINY]) == 0
    assert _run(["downstream", "observational", str(_obsscaling_folder(tmp_path)), "--factors", "1",
                 "--plot", str(obs_out), *CLI_TINY]) == 0
    for path in (ladder_out, obs_out, tmp_path / "obs_loadings.png"):
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000


def test_cli_plot_errors_are_one_line_and_exit_2(tmp_path, capsys):
    data = _olmo_folder(tmp_path)
    nowhere = tmp_path / "nowhere"
    cases = [
        (["downstream", "ladder", str(data), "--plot", str(nowhere / "a.png")],
         f"bayeslaw: error: cannot write --plot '{nowhere / 'a.png'}': folder '{nowhere}' does not exist"),
        (["downstream", "ladder", str(data), "--plot", str(tmp_path / "a.xyz")],
         f"bayeslaw: error: cannot write --plot '{tmp_path / 'a.xyz'}': unknown image format 'xyz'"),
        (["downstream", "quantization", str(data), "--plot", str(tmp_path / "q.png")],
         "bayeslaw: error: --plot draws the ladder and observational models, not quantization"),
        (["downstream", "observational", str(data), "--task", "BoolQ"],
         "bayeslaw: error: unknown --task 'BoolQ' for the observational model; benchmarks: "
         + ", ".join(OBS_BENCH)),
    ]
    for argv, message in cases:
        assert _run(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, (argv, err)
    assert list(tmp_path.glob("*.png")) == []
