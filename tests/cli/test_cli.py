"""The ``bayeslaw`` command line, end to end in subprocesses (one real fit, reused)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayeslaw.cli import args as cli_args
from bayeslaw.cli import main as cli
from bayeslaw.cli import output as cli_output

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "synthetic_families.csv"
TINY = ["--chains", "2", "--warmup", "150", "--draws", "150", "--no-progress"]


@pytest.fixture(autouse=True)
def _keep_xla_flags(monkeypatch):
    """cli.main sets XLA_FLAGS; undo that after each in-process call."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    if not os.environ["XLA_FLAGS"]:
        monkeypatch.delenv("XLA_FLAGS")


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return subprocess.run(
        [sys.executable, "-m", "bayeslaw", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Run ``bayeslaw fit`` once; later tests read its outputs."""
    folder = tmp_path_factory.mktemp("cli_fit")
    result = run_cli(
        [
            "fit",
            "chinchilla",
            str(DATA),
            "--group",
            "family",
            *TINY,
            "--device",
            "cpu",
            "--out",
            "fit.nc",
            "--plot",
            "fit.png",
            "--predict",
            "N=7e10,D=1.4e12,family=dense",
            "--predict",
            "N=7e10,D=1.4e12",
        ],
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return folder, result


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.heavy
def test_fit_prints_report_and_writes_fit_and_plot(fitted):
    folder, result = fitted
    assert _files(folder) == {"fit.nc", "fit.png"}  # no temporary files left behind
    assert (folder / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = result.stdout
    assert out.startswith("chinchilla: 150 runs, 5 families, target 'loss'; 2 chains x 150 draws")
    header = out.splitlines()[0]  # which sampler's draws these are (auto: HMC, or NUTS after it)
    assert re.search(r"\(warmup \d+, (hmc, batched|nuts, (sequential|parallel))\)", header), header
    assert ("HMC's draws were set aside" in out) == ("nuts, " in header)
    assert "Posterior summary (90% intervals):" in out
    assert re.search(r"^alpha\s+\(shared\)\s+0\.\d+", out, re.MULTILINE)
    assert re.search(r"^\s+moe\s+\d", out, re.MULTILINE)  # per-family rows
    assert re.search(r"^where\n  E +irreducible loss \(nats\)$", out, re.MULTILINE)  # the legend
    assert re.search(r"^Timings: \d+\.\d s = compile \d+\.\d s \+ mode search \d+\.\d s \+ sampling "
                     r"\d+\.\d s \+ extrapolation error \d+\.\d s \+ other \d+\.\d s$", out, re.MULTILINE)
    assert re.search(r"^Extrapolation error beyond the largest run \(\d nested fits\): offset kappa .*; drift per "
                     r"family \(posterior mean, log loss\):$", out, re.MULTILINE)
    drift = out[out.index("drift per family") :].splitlines()
    assert drift[1].split() == ["offset", "slope", "change", "tilt"] and drift[2].split() == ["family"]
    assert [line.split()[0] for line in drift[3:8]] == ["deep", "dense", "long_ctx", "moe", "wide"]
    assert all(re.fullmatch(r"  \S+(\s+[+-]\S+){3}", line) for line in drift[3:8]), drift[3:8]
    assert "note: planned run 1 lies beyond the largest fitted run in N by 1.4 decades" in out
    assert re.search(r"^Diagnostics: ", out, re.MULTILINE)
    lines = out[out.index("Predictions (90% intervals") :].splitlines()
    assert lines[1].split() == [
        "N",
        "D",
        "family",
        "kind",
        "mean",
        "sd",
        "median",
        "lower",
        "upper",
        "tail_k",
        "beyond_N",
        "beyond_D",
        "beyond_C",
    ]
    assert [line.split()[2:4] for line in lines[2:6]] == [
        ["dense", "law"],
        ["dense", "observed"],
        ["(new)", "law"],
        ["(new)", "observed"],
    ]
    for line in lines[2:6]:
        median, lower, upper = (float(v) for v in line.split()[6:9])
        assert lower < median < upper
    assert "wrote fit.nc" in out and "wrote fit.png" in out


@pytest.mark.heavy
def test_predict_reads_the_fit_back(fitted):
    import bayeslaw as bl

    folder, _ = fitted
    result = run_cli(
        [
            "predict",
            "fit.nc",
            "--at",
            "N=7e10,D=1.4e12,family=dense",
            "--at",
            "N=1e9,D=2e10",
            "--kind",
            "law",
            "--ci-prob",
            "0.8",
            "--out",
            "pred.csv",
        ],
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("chinchilla: law predictions, 80% intervals")
    frame = pd.read_csv(folder / "pred.csv")
    assert list(frame.columns) == ["N", "D", "family", "mean", "sd", "median", "lower", "upper", "tail_k",
                                   "beyond_N", "beyond_D", "beyond_C"]
    assert frame["family"].tolist() == ["dense", "(new)"]
    assert (frame["lower"] < frame["median"]).all() and (frame["median"] < frame["upper"]).all()
    # the same numbers as the library gives for the saved fit (float32 vs float64 aside)
    expected = bl.load_fit(folder / "fit.nc").predict(
        pd.DataFrame({"N": [7e10, 1e9], "D": [1.4e12, 2e10], "family": ["dense", None]}),
        kind="law",
        ci_prob=0.8,
    )
    np.testing.assert_allclose(frame["median"], expected["median"], rtol=1e-5)
    np.testing.assert_allclose(frame["upper"], expected["upper"], rtol=1e-5)
    (folder / "pred.csv").unlink()


@pytest.mark.heavy
def test_predict_rows_from_csv(fitted):
    folder, _ = fitted
    rows = folder / "new.csv"
    rows.write_text("N,D,family\n1e9,2e10,moe\n4e9,8e10,\n")
    try:
        result = run_cli(["predict", "fit.nc", "--rows", "new.csv"], cwd=folder)
    finally:
        rows.unlink()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "chinchilla: observed predictions, 90% intervals"
    assert [line.split()[2] for line in lines[2:4]] == ["moe", "(new)"]
    # 4e9 parameters and 8e10 tokens lie beyond the largest fitted run: the CLI says so in words
    assert lines[4:] == ["note: planned run 2 lies beyond the largest fitted run in N by 0.13 decades, "
                         "D by 0.13 decades, C by 0.8 decades; its interval includes the extrapolation "
                         "error where one was measured"]


@pytest.mark.heavy
def test_plot_command_writes_svg(fitted):
    folder, _ = fitted
    result = run_cli(["plot", "fit.nc", "--out", "curve.svg", "--x", "D"], cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "<svg" in (folder / "curve.svg").read_text()[:2000]
    (folder / "curve.svg").unlink()


# Bad input of every kind (one-line errors, exit 2, nothing written) is checked in-process in
# test_cli_errors.py.


# -- in-process checks of the parser and helpers (no subprocess, no fit) ----------------------


@pytest.mark.parametrize("command", [[], ["laws"], ["fit"], ["predict"], ["plot"], ["plan"]])
def test_help_on_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {' '.join(['bayeslaw', *command])}")


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", "fit.nc"])
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "bayeslaw: error: one of the arguments --at --rows is required "
        "(see 'bayeslaw predict --help')\n"
    )


def test_bad_extrapolation_key_is_refused_before_fitting(capsys):
    demo = Path(__file__).resolve().parents[2] / "data" / "synthetic_families.csv"
    with pytest.raises(SystemExit) as info:
        cli.main(["fit", "chinchilla", str(demo), "--extrapolation", "T"])
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "bayeslaw: error: extrapolation key 'T' is not an input of law 'chinchilla'; "
        "use one of: N, D or 'C' (6 N D)\n"
    )


def test_laws_lists_the_catalogue(capsys):
    import bayeslaw as bl

    assert cli.main(["laws"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "inputs", "parameters", "description"]
    assert [line.split()[0] for line in lines[1:]] == bl.list_laws()
    chinchilla = next(line for line in lines if line.startswith("chinchilla "))
    assert "N, D" in chinchilla and "E, alpha, a, beta, b" in chinchilla


POINT_INPUTS = {"N": True, "D": True}


def test_parse_point_accepts_family_and_new_family():
    text = " N=7e10, D=1.4e12 ,family=dense"
    row = cli_args.parse_point(text, "--at", POINT_INPUTS, "fam", ["dense"])
    assert row == {"N": 7e10, "D": 1.4e12, "fam": "dense"}
    assert cli_args.parse_point("N=1,D=2,fam=", "--at", POINT_INPUTS, "fam", ["dense"])["fam"] == ""


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("N=1,D=nan", "'nan' is not a finite number"),
        ("N=1,D=0", "D must be positive, got '0'"),
        ("N=1,N=2,D=1", "'N' is given twice"),
        ("N=1;D=2", "'1;D=2' is not a number"),
        ("N=1,D", "'D' is not key=value"),
        (
            "N=1,D=2,family=x",
            "unknown key 'family'; valid: N, D (the fit has no --group, so no family)",
        ),
    ],
)
def test_parse_point_names_the_bad_token(text, why):
    with pytest.raises(cli_args.CliError, match=re.escape(f"bad --at value {text!r}: {why}")):
        cli_args.parse_point(text, "--at", POINT_INPUTS, None, None)


def test_parse_pooling_merges_repeated_options():
    params = ["E", "alpha", "sigma"]
    assert cli_args.parse_pooling(["alpha=partial", "E=none,sigma=shared"], params) == {
        "alpha": "partial",
        "E": "none",
        "sigma": "shared",
    }
    with pytest.raises(
        cli_args.CliError,
        match=re.escape(
            "bad --pooling value 'beta=none': 'beta' is not a parameter of the law; "
            "parameters: E, alpha, sigma"
        ),
    ):
        cli_args.parse_pooling(["beta=none"], params)


def test_cpu_cores_flag_added_once(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_foo=1")
    cli._use_cpu_cores()
    count = max(os.cpu_count() or 1, 4)
    assert (
        os.environ["XLA_FLAGS"] == f"--xla_cpu_foo=1 --xla_force_host_platform_device_count={count}"
    )
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    cli._use_cpu_cores()
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    def broken(path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(
        cli_args.CliError,
        match=re.escape(f"cannot write '{tmp_path / 'a.csv'}': No space left on device"),
    ):
        cli_output.atomic_write(tmp_path / "a.csv", broken)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.heavy
def test_quickstart_example_runs_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "quickstart.py"),
            "--quick",
            "--out",
            str(tmp_path),
        ],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    for label in ("dense family", "dense law", "new family"):
        match = re.search(
            rf"loss at N=70e9, D=1\.4e12, {label}: (\S+) \(90% interval (\S+) to (\S+)\)",
            result.stdout,
        )
        assert match, result.stdout
        median, lower, upper = (float(v) for v in match.groups())
        assert lower < median < upper
    assert (tmp_path / "quickstart_fit.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "quickstart_fit.nc").stat().st_size > 0


@pytest.mark.heavy
def test_device_cpu_is_selected_before_any_computation():
    code = (
        "import jax; from bayeslaw.cli.main import select_device; select_device('cpu'); "
        "print(jax.config.jax_platforms, jax.default_backend(), jax.numpy.ones(2).sum())"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("JAX_PLATFORMS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cpu", "cpu", "2.0"]


@pytest.mark.heavy
def test_unavailable_device_exits_2_naming_the_platforms(tmp_path):
    from jax.extend import backend

    present = {cli._PLATFORM_KIND.get(p, p) for p in backend.backends()}
    if "gpu" in present:
        pytest.skip("this machine has a GPU")
    result = run_cli(["fit", "chinchilla", str(DATA), "--device", "gpu", "--out", "x.nc"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "bayeslaw: error: --device gpu: JAX has no gpu platform on this machine; "
        f"platforms present: {', '.join(sorted(present))}\n"
    )
    assert result.stdout == "" and _files(tmp_path) == set()


@pytest.mark.parametrize("command", ["fit", "predict", "plot", "compare", "backtest", "laws"])
def test_device_flag_on_every_subcommand_that_computes(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    assert ("--device {cpu,gpu,tpu}" in capsys.readouterr().out) == (command != "laws")


def test_cli_pooling_modes_match_the_library():
    from bayeslaw.cli.args import _POOLINGS
    from bayeslaw.laws.law import POOLINGS

    assert _POOLINGS == POOLINGS


def test_compare_passes_by_as_the_size_key(monkeypatch, capsys):
    import pandas as pd

    import bayeslaw.cli.compare as cli_compare
    import bayeslaw.evaluate.compare as compare_module

    seen = {}

    def fake_compare(fits, **kwargs):
        seen.update(kwargs)
        table = pd.DataFrame({"elpd": [0.0, -1.0]}, index=["a", "b"])
        table.attrs.update(method=kwargs["method"], by=kwargs["by"])
        return table

    monkeypatch.setattr(cli_compare, "_load_fits", lambda args: {"a": None, "b": None})
    monkeypatch.setattr(compare_module, "compare", fake_compare)
    assert cli.main(["compare", "a.nc", "b.nc", "--method", "largest", "--by", "N", "--cutoff", "1e9"]) == 0
    assert (seen["method"], seen["by"], seen["cutoff"]) == ("largest", "N", 1e9)
    assert capsys.readouterr().out.splitlines()[0] == "method: largest, by N"


@pytest.mark.parametrize(("diff", "dse", "line"), [
    (9.0, 2.0, "best: a"),
    (3.0, 2.0, "best: a (not clearly: b is 3.0 behind, within two standard errors of the difference, 2.0)"),
    (3.0, float("nan"), "best: a"),
])
def test_compare_says_when_the_best_is_not_clearly_best(monkeypatch, capsys, diff, dse, line):
    from bayeslaw.cli import compare as cli_compare
    from bayeslaw.evaluate import compare as compare_module

    table = pd.DataFrame({"elpd": [0.0, -diff], "elpd_diff": [0.0, diff], "dse": [0.0, dse]}, index=["a", "b"])
    table.attrs.update(method="loo")
    monkeypatch.setattr(cli_compare, "_load_fits", lambda args: {"a": None, "b": None})
    monkeypatch.setattr(compare_module, "compare", lambda fits, **kwargs: table)
    assert cli.main(["compare", "a.nc", "b.nc"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == line


@pytest.mark.parametrize(("flags", "run"), [([], None), (["--run", "curve"], "curve"), (["--no-run"], False)])
def test_run_options_parse_to_the_run_argument_of_fit(flags, run):
    """None lets bl.fit take a repeating 'run' column; False refuses the run effect."""
    from bayeslaw.cli.main import build_parser

    args = build_parser().parse_args(["fit", "chinchilla", "runs.csv", *flags])
    assert args.run is run if run in (None, False) else args.run == run


def test_named_fit_names_a_fit_by_name_stem_or_law():
    named_fit = cli_args.named_fit
    assert named_fit("big=runs/chinchilla.nc") == ("big", "runs/chinchilla.nc")
    assert named_fit("runs/kaplan.nc") == ("kaplan", "runs/kaplan.nc")
    assert named_fit("chinchilla") == ("chinchilla", "chinchilla")  # a law to fit on --data


def test_a_fit_path_with_an_equals_sign_is_a_path_and_the_suffix_case_is_free(tmp_path, monkeypatch):
    """Sweep folders 'lr=0.1/' were read as NAME=FILE ('cannot load fit 0.1/fit.nc'); fit.NC was a law."""
    named_fit = cli_args.named_fit
    assert named_fit("sweep/lr=0.1/fit.nc") == ("fit", "sweep/lr=0.1/fit.nc")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lr=0.1.nc").write_text("")
    assert named_fit("lr=0.1.nc") == ("lr=0.1", "lr=0.1.nc")  # an existing file
    assert named_fit("lr=0.2.nc") == ("lr", "0.2.nc")  # none: NAME=FILE
    assert named_fit("big=FIT.NC") == ("big", "FIT.NC") and named_fit("FIT.NC") == ("FIT", "FIT.NC")
    assert cli_args.is_fit_file("a/FIT.NC") and not cli_args.is_fit_file("chinchilla.toml")
