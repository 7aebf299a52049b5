"""Plain-language summary, progress bars, timings that add up, and ``bayeslaw plan``."""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw.cli.main import main
from bayeslaw.cli.output import format_summary, format_timings
from bayeslaw.core import progress

READER = ["E", "alpha", "A", "beta", "B", "N_opt_exponent", "D_opt_exponent", "sigma"]


def test_summary_rows_are_the_laws_names_with_meanings(tiny_family_fit):
    s = tiny_family_fit.summary()
    assert list(s.index.get_level_values(0).unique()) == READER
    assert s.loc[("E", "(population)"), "meaning"] == "irreducible loss (nats)"
    assert s.loc[("alpha", "(shared)"), "meaning"] == "model-size exponent"
    assert s.loc[("A", "dense"), "meaning"] == "model-size amplitude A (loss units x parameters^alpha)"
    assert s.attrs["legend"]["sigma"] == "scatter of runs around the law (sd of the log target)"
    # A is exp of the family's log amplitude a
    a = tiny_family_fit.family_values()["a"][:, list(tiny_family_fit.families).index("dense")]
    assert s.loc[("A", "dense"), "median"] == pytest.approx(np.median(np.exp(a)))
    full = tiny_family_fit.summary(internal=True)
    assert set(full.index.get_level_values(0)) - set(READER) == {"a", "b", "df", "E_sd", "a_sd", "b_sd"}
    assert full.attrs["legend"]["E_sd"].startswith("between-family sd of E")


def test_printed_summary_has_a_legend(tiny_family_fit):
    text = format_summary(tiny_family_fit.summary())
    table, legend = text.split("\nwhere\n")
    assert "meaning" not in table and "E_sd" not in table
    lines = legend.splitlines()
    assert [line.split()[0] for line in lines] == READER
    assert lines[0] == "  E               irreducible loss (nats)"


def test_derived_table_form_is_checked():
    text = (bl.load_law("kaplan").source.split("[derived]")[0]
            + '[derived]\nA = { formula = "exp(a)", meaning = "x" }\n')
    with pytest.raises(bl.LawSpecError, match=re.escape(
            "unknown key 'meaning' in derived quantity 'A' of law 'kaplan'; valid: description, formula "
            "(derived.A.meaning in law file <string>)")):
        bl.parse_law(text)


@pytest.mark.heavy
def test_timings_add_up_to_the_wall_time_and_progress_shows_on_request(demo_runs, capsys):
    runs = demo_runs[demo_runs["family"] == "dense"]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fit = bl.fit("kaplan", runs, chains=1, warmup=50, draws=50, sampler="hmc", progress=True)
    wall = time.perf_counter() - started
    t = fit.timings
    assert format_timings(t).startswith(f"Timings: {t['total_s']:.1f} s = compile ")
    assert sum(v for k, v in t.items() if k != "total_s") == pytest.approx(t["total_s"])
    assert 0.9 * wall <= t["total_s"] <= wall
    err = capsys.readouterr().err
    assert "kaplan" in err and "2/2" in err
    post = fit.to_inference_data().posterior  # one family: every quantity is shared
    assert sorted(post.data_vars) == ["A", "E", "alpha", "df", "sigma"]
    assert all(post[name].dims == ("chain", "draw") for name in post.data_vars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        bl.fit("kaplan", runs, chains=1, warmup=50, draws=50, sampler="hmc", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_defaults(monkeypatch):
    monkeypatch.setenv("BAYESLAW_PROGRESS", "1")
    assert progress.enabled(None) and not progress.enabled(False)
    with progress.bar(1, "outer", False):
        assert not progress.enabled(None) and progress.enabled(True)  # nested work stays quiet
    monkeypatch.setenv("BAYESLAW_PROGRESS", "0")
    assert not progress.enabled(None) and progress.enabled(True)
    monkeypatch.delenv("BAYESLAW_PROGRESS")
    assert not progress.enabled(None)  # pytest's captured stderr is not a terminal


def test_cli_plan_allocation_and_better(tiny_family_fit, tmp_path, capsys):
    path = tmp_path / "fit.nc"
    tiny_family_fit.save(path)
    assert main(["plan", str(path), "--compute", "1e21,1e22"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Compute-optimal allocation (90% intervals, C = 6*N*D, family (new)):")
    lines = out.splitlines()[2:]
    rows = [line.split() for line in lines if not line.startswith("note: ")]
    assert [r[:2] for r in rows] == [[c, q] for c in ("1e+21", "1e+22")
                                     for q in ("N_opt", "D_opt", "tokens_per_param", "loss")]
    beyond = bl.optimal_allocation(tiny_family_fit, [1e21, 1e22]).attrs["beyond"]["beyond_C"]
    notes = [line for line in lines if line.startswith("note: ")]
    assert len(notes) == int((beyond > 0).sum()) == 2  # the demo's runs reach 8.9e18 FLOPs
    assert notes[1].startswith("note: the optimum at 1e+22 FLOPs lies beyond the largest fitted run in ")
    assert f"C by {beyond[1]:.2g} decades; its loss interval includes the extrapolation error" in notes[1]
    expected = bl.optimal_allocation(tiny_family_fit, [1e21]).loc[(1e21, "N_opt"), "median"]
    assert float(rows[0][2]) == pytest.approx(expected, rel=1e-3)
    plans = ["N=7e8,D=1.4e10,family=dense", "N=3.5e8,D=2.8e10,family=dense"]
    assert main(["plan", str(path), "--better", *plans]) == 0
    out = capsys.readouterr().out
    prob = float(re.search(r"P\(A ends with a lower loss than B\) = ([0-9.]+)", out).group(1))
    a, b = ({"N": 7e8, "D": 1.4e10, "family": "dense"}, {"N": 3.5e8, "D": 2.8e10, "family": "dense"})
    assert prob == pytest.approx(bl.prob_better(tiny_family_fit, a, b), abs=1e-3)


def test_cli_predict_notes_rows_below_the_data(tiny_family_fit, tmp_path, capsys):
    """A planned run smaller than every fitted one is an extrapolation too, downwards, where no
    nested fit measured the law's error: the CLI says so per row, by how far on each axis."""
    path = tmp_path / "fit.nc"
    tiny_family_fit.save(path)
    runs = tiny_family_fit.table.frame
    small_n, small_d = runs["N"].min(), runs["D"].min()
    assert main(["predict", str(path), "--at", f"N={small_n / 100:g},D={small_d * 2:g}",
                 "--at", f"N={small_n * 2:g},D={small_d * 2:g}"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    c = -np.log10(small_n / 100 * small_d * 2 / (runs["N"] * runs["D"]).min())  # decades below in 6ND
    assert notes == ["note: planned run 1 lies below the smallest fitted run in N by 2 decades"
                     + (f", C by {c:.2g} decades" if c > 0 else "")
                     + "; the law was not checked there and its interval carries no extrapolation error"]
    below = tiny_family_fit.predict({"N": [small_n / 100, small_n * 2], "D": [small_d * 2] * 2}).attrs["below"]
    assert below["N"] == pytest.approx([2.0, 0.0]) and list(below["D"]) == [0.0, 0.0]


def test_cli_plan_notes_an_optimum_below_the_data(tiny_family_fit, tmp_path, capsys):
    """plan --compute 1 printed N_opt 0.15 parameters and a loss of 935 without a word."""
    path = tmp_path / "fit.nc"
    tiny_family_fit.save(path)
    assert main(["plan", str(path), "--compute", "1"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    below = bl.optimal_allocation(tiny_family_fit, [1.0]).attrs["below"]
    assert below["C"][0] > 15 and below["N"][0] > 5
    assert notes == [f"note: the optimum at 1 FLOPs lies below the smallest fitted run in N by {below['N'][0]:.2g} "
                     f"decades, D by {below['D'][0]:.2g} decades, C by {below['C'][0]:.2g} decades; the law was "
                     "not checked there and its loss interval carries no extrapolation error"]


@pytest.mark.parametrize("args, message", [
    (["--compute", "1e21,lots"], "bad --compute value '1e21,lots': 'lots' is not a number"),
    (["--compute=1e21,-1e21"], "bad --compute value '1e21,-1e21': '-1e21' is not a positive FLOP budget"),
    ([], "plan needs --compute C,C,... and/or --better PLAN_A PLAN_B"),
    (["--compute", "1e21", "--family", "gpt"], "bad --family value 'gpt': not a family of the fit; known: "
                                               "deep, dense, long_ctx, moe, wide (leave --family out for a new family)"),
    (["--better", "N=1e9", "N=1e9,D=1e10"], "bad --better value 'N=1e9': missing D (needed: N, D)"),
    (["--compute", "1e21", "--kind", "law"], "--kind applies to --better (the two plans' predictions), not to --compute"),
    (["--better", "N=1e9,D=1e10", "N=2e9,D=1e10", "--flops", "2*N*D"],
     "--flops applies to --compute (the budgets' allocation), not to --better"),
    (["--compute", "1e21", "--inputs", "U=2e10"],
     "bad --inputs value 'U=2e10': law 'chinchilla' has no inputs besides N and D"),
])
def test_cli_plan_errors(tiny_family_fit, tmp_path, capsys, args, message):
    path = tmp_path / "fit.nc"
    tiny_family_fit.save(path)
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(path), *args])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"bayeslaw: error: {message}\n"


@pytest.mark.parametrize("command", [["fit", "chinchilla", "runs.csv"], ["backtest", "chinchilla", "runs.csv",
                                     "--cutoff", "1e20"], ["compare", "a.nc", "b.nc"], ["plan", "fit.nc"]])
def test_cli_progress_flags(command):
    from bayeslaw.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(command).progress is None  # auto: a bar when stderr is a terminal
    assert parser.parse_args([*command, "--progress"]).progress is True
    assert parser.parse_args([*command, "--no-progress"]).progress is False


def test_calibration_bar_counts_refits_and_timings_count_its_time(tiny_family_fit, monkeypatch, capsys):
    import sys

    calls = []

    def fake_fit(law, runs, **kwargs):  # a nested refit without the sampling: the fit itself
        calls.append(kwargs.get("progress"))
        time.sleep(0.1)
        return tiny_family_fit

    monkeypatch.setattr(sys.modules["bayeslaw.infer.fit"], "fit", fake_fit)
    started = time.perf_counter()
    calibrated = bl.calibrate_extrapolation(tiny_family_fit, by="C", folds=3, progress=True,
                                                         method="mcmc")
    wall = time.perf_counter() - started
    t, before = calibrated.timings, tiny_family_fit.timings
    assert 0.1 * len(calls) <= t["extrapolation_s"] <= wall
    assert t["total_s"] == pytest.approx(before["total_s"] - before.get("extrapolation_s", 0.0)
                                         + t["extrapolation_s"])
    assert sum(v for k, v in t.items() if k != "total_s") == pytest.approx(t["total_s"])
    assert calls == [None] * len(calls) and len(calls) == 3  # nested fits: no bar of their own
    assert "chinchilla: nested refits" in capsys.readouterr().err
