"""Bad input to the ``bayeslaw`` command, in-process: each case exits 2 with its exact one-line
error, prints nothing on stdout and writes no file.

Classes covered: option values (seeds, chains, draws, warmup, probabilities, cutoffs, design
counts and budgets), output paths, runs tables, prediction rows, saved fits (missing, folder, not
netCDF, truncated, edited, bit-flipped, other format version), law and data arguments.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bayeslaw.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
DATA = str(ROOT / "data" / "synthetic_families.csv")
FAMILIES = "deep, dense, long_ctx, moe, wide"


@pytest.fixture(autouse=True)
def _keep_xla_flags(monkeypatch):
    """cli.main sets XLA_FLAGS; undo that after each in-process call."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    if not os.environ["XLA_FLAGS"]:
        monkeypatch.delenv("XLA_FLAGS")


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """``cli.main(args)``: its exit status, stdout and stderr."""
    try:
        code = cli.main(args)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_refused(args, message, folder: Path, capsys) -> None:
    before = sorted(p.name for p in folder.iterdir())
    code, out, err = run_main(args, capsys)
    assert (code, out, err) == (2, "", f"bayeslaw: error: {message}\n")
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, no temp file


def usage(command: str, option: str, why: str) -> str:
    return f"argument {option}: {why} (see 'bayeslaw {command} --help')"


# -- option values -----------------------------------------------------------------------------

WHOLE = "is out of range: give a whole number from"
OPTIONS = [
    (["fit", "chinchilla", DATA, "--seed", "2**70"], usage("fit", "--seed", "'2**70' is not a whole number")),
    (["fit", "chinchilla", DATA, "--seed", str(2**70)],
     usage("fit", "--seed", f"'{2**70}' {WHOLE} 0 to 4294967295")),
    (["fit", "chinchilla", DATA, "--seed", "9" * 60],
     usage("fit", "--seed", f"'{'9' * 37}...' {WHOLE} 0 to 4294967295")),
    (["fit", "chinchilla", DATA, "--seed", "-1"], usage("fit", "--seed", f"'-1' {WHOLE} 0 to 4294967295")),
    (["fit", "chinchilla", DATA, "--chains", "0"], usage("fit", "--chains", f"'0' {WHOLE} 1 to 1024")),
    (["fit", "chinchilla", DATA, "--chains", "2.5"], usage("fit", "--chains", "'2.5' is not a whole number")),
    (["fit", "chinchilla", DATA, "--draws", "0"], usage("fit", "--draws", f"'0' {WHOLE} 1 to 10000000")),
    (["fit", "chinchilla", DATA, "--draws", "1e3"], usage("fit", "--draws", "'1e3' is not a whole number")),
    (["fit", "chinchilla", DATA, "--warmup", "-5"], usage("fit", "--warmup", f"'-5' {WHOLE} 1 to 10000000")),
    (["fit", "chinchilla", DATA, "--warmup", "100000000"],
     usage("fit", "--warmup", f"'100000000' {WHOLE} 1 to 10000000")),
    (["fit", "chinchilla", DATA, "--ci-prob", "1"], usage("fit", "--ci-prob", "'1' must be between 0 and 1 (e.g. 0.9)")),
    (["fit", "chinchilla", DATA, "--ci-prob", "0"], usage("fit", "--ci-prob", "'0' must be between 0 and 1 (e.g. 0.9)")),
    (["fit", "chinchilla", DATA, "--ci-prob", "nan"], usage("fit", "--ci-prob", "'nan' is not a finite number")),
    (["fit", "chinchilla", DATA, "--ci-prob", "90%"], usage("fit", "--ci-prob", "'90%' is not a number")),
    (["predict", "fit.nc", "--at", "N=1,D=1", "--ci-prob", "1.5"],
     usage("predict", "--ci-prob", "'1.5' must be between 0 and 1 (e.g. 0.9)")),
    (["predict", "fit.nc", "--at", "N=1,D=1", "--seed", "4294967296"],
     usage("predict", "--seed", f"'4294967296' {WHOLE} 0 to 4294967295")),
    (["plot", "fit.nc", "--out", "p.png", "--ci-prob", "-0.1"],
     usage("plot", "--ci-prob", "'-0.1' must be between 0 and 1 (e.g. 0.9)")),
    (["compare", "a.nc", "--chains", "0"], usage("compare", "--chains", f"'0' {WHOLE} 1 to 1024")),
    (["compare", "a.nc", "--cutoff", "inf"], usage("compare", "--cutoff", "'inf' is not a finite number")),
    (["compare", "a.nc", "--on", "N"], "unrecognized arguments: --on N (see 'bayeslaw --help')"),
    (["family-test", "chinchilla", DATA, "--ci-prob", "2"],
     usage("family-test", "--ci-prob", "'2' must be between 0 and 1 (e.g. 0.9)")),
    (["family-test", "chinchilla", DATA, "--seed", "2**70"],
     usage("family-test", "--seed", "'2**70' is not a whole number")),
    (["fit", "chinchilla", DATA, "--run", "run", "--no-run"],
     usage("fit", "--no-run", "not allowed with argument --run")),
    (["backtest", "chinchilla", DATA, "--cutoff", "nan"], usage("backtest", "--cutoff", "'nan' is not a finite number")),
    (["backtest", "chinchilla", DATA, "--cutoff", "1e20", "--draws", "0"],
     usage("backtest", "--draws", f"'0' {WHOLE} 1 to 10000000")),
    (["downstream", "ladder", "x", "--factors", "0"], usage("downstream", "--factors", f"'0' {WHOLE} 1 to 7")),
    (["downstream", "ladder", "x", "--warmup", "0"], usage("downstream", "--warmup", f"'0' {WHOLE} 1 to 10000000")),
    (["downstream", "ladder", "x", "--extrapolation-folds", "3"],
     usage("downstream", "--extrapolation-folds", f"'3' {WHOLE} 0 to 2")),
    (["downstream", "ladder", "x", "--ci-prob", "1"],
     usage("downstream", "--ci-prob", "'1' must be between 0 and 1 (e.g. 0.9)")),
    (["plan", "fit.nc", "--compute", "1e22", "--seed", "-1"], usage("plan", "--seed", f"'-1' {WHOLE} 0 to 4294967295")),
    (["plan", "fit.nc", "--compute", "1e22", "--ci-prob", "1.5"],
     usage("plan", "--ci-prob", "'1.5' must be between 0 and 1 (e.g. 0.9)")),
    (["report", "fit.nc", "--out", "r.html", "--seed", "4294967296"],
     usage("report", "--seed", f"'4294967296' {WHOLE} 0 to 4294967295")),
    (["report", "fit.nc", "--out", "r.html", "--ci-prob", "0"],
     usage("report", "--ci-prob", "'0' must be between 0 and 1 (e.g. 0.9)")),
    (["isoflop", DATA, "--ci-prob", "1"], usage("isoflop", "--ci-prob", "'1' must be between 0 and 1 (e.g. 0.9)")),
    (["isoflop", DATA, "--ci-prob", "nan"], usage("isoflop", "--ci-prob", "'nan' is not a finite number")),
    (["suggest", "fit.nc", "--iso", "1e18", "--seed", "-1"], usage("suggest", "--seed", f"'-1' {WHOLE} 0 to 4294967295")),
    (["suggest", "fit.nc", "--iso", "1e18", "--n", "0"], usage("suggest", "--n", f"'0' {WHOLE} 1 to 1000")),
    (["suggest", "fit.nc", "--iso", "1e18", "--n", "2.5"], usage("suggest", "--n", "'2.5' is not a whole number")),
    (["suggest", "fit.nc", "--iso", "1e18", "--points", "1001"],
     usage("suggest", "--points", f"'1001' {WHOLE} 1 to 1000")),
    (["suggest", "fit.nc", "--iso", "1e18", "--outer", "1"], usage("suggest", "--outer", f"'1' {WHOLE} 2 to 10000")),
    (["suggest", "fit.nc", "--iso", "1e18", "--budget", "0"], usage("suggest", "--budget", "'0' must be a positive number")),
    (["suggest", "fit.nc", "--iso", "1e18", "--budget", "-5"], usage("suggest", "--budget", "'-5' must be a positive number")),
    (["suggest", "fit.nc", "--iso", "1e18", "--budget", "inf"], usage("suggest", "--budget", "'inf' is not a finite number")),
    (["fit", "chinchilla", DATA, "--extrapolation", "Q", "--no-extrapolation"],
     "--extrapolation Q and --no-extrapolation contradict each other; give one"),
    (["isoflop", DATA, "--window", "1e400"], usage("isoflop", "--window", "'1e400' is not a finite number")),
    (["isoflop", DATA, "--window", "0.5"], "bad --window value 0.5: a factor greater than 1 is needed"),
    (["fit", "chinchilla", DATA, "--out", ""], "bad --out value '': it is empty (see 'bayeslaw fit --help')"),
    (["fit", "", DATA], "bad LAW value '': it is empty (see 'bayeslaw fit --help')"),
    (["predict", "", "--at", "N=1e9,D=1e10"], "bad FIT.nc value '': it is empty (see 'bayeslaw predict --help')"),
    # a report is HTML: it went into a .png without a word (checked before the fit is loaded)
    (["report", "fit.nc", "--out", "x.png"],
     "cannot write --out 'x.png': the report is an HTML page; give a .html or .htm file"),
    # --data was silently ignored when every FIT is a saved fit (checked before any fit is loaded)
    (["compare", "a.nc", "b=b.nc", "--data", DATA],
     (f"--data '{DATA}' is for laws to fit, but every FIT is a saved fit (.nc), which compares on its own "
      "runs; leave --data out")),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--compute", "1e21", "--iso", "1e18"],
     "suggest takes one target: --target K=V,... or --compute C,C,..., not both"),
    # an empty value was the default to handlers reading `args.x or default`: 6*N*D, every row, auto
    (["plan", "fit.nc", "--compute", "1e22", "--flops", ""], "bad --flops value '': it is empty (see 'bayeslaw plan --help')"),
    (["isoflop", DATA, "--where", " "], "bad --where value ' ': it is empty (see 'bayeslaw isoflop --help')"),
    (["fit", "chinchilla", DATA, "--extrapolation", ""],
     "bad --extrapolation value '': it is empty (see 'bayeslaw fit --help')"),
    (["downstream", "quantization", ""], "bad DATA value '': it is empty (see 'bayeslaw downstream --help')"),
    # argparse kept the last of a repeated option: --where A --where B filtered by B alone
    (["fit", "chinchilla", DATA, "--where", "N<1e9", "--where", "N>1e8"],
     "--where is given twice; give it once (see 'bayeslaw fit --help')"),
    (["plan", "fit.nc", "--compute", "1e22", "--compute", "1e23"],
     "--compute is given twice; give it once (see 'bayeslaw plan --help')"),
    # flags too (the README says a repeated option is refused)
    (["suggest", "fit.nc", "--no-replicates", "--no-replicates"],
     "--no-replicates is given twice; give it once (see 'bayeslaw suggest --help')"),
    (["backtest", "chinchilla", DATA, "--json", "--json"],
     "--json is given twice; give it once (see 'bayeslaw backtest --help')"),
    # options the command's mode does not read changed nothing, unsaid
    (["compare", "a.nc", "b.nc", "--chains", "7", "--group", "family"],
     "--group and --chains would set how laws are fitted to --data, but every FIT is a saved fit (.nc), "
     "refitted as it was made; leave them out"),
    (["compare", "a.nc", "b.nc", "--by", "C"], "--by and --cutoff choose the held-out runs of --method largest, "
                                               "not --method loo"),
    (["family-test", "fit.nc", "--group", "family"],
     "--group would name the columns of a law's fit, but a saved fit (.nc) has its own; leave it out"),
    (["downstream", "quantization", ".", "--factors", "3"],
     "--factors does not apply to the quantization model; leave it out"),
    (["fit", "chinchilla", DATA, "--x", "N"], "--x sets the x axis of --plot, which is not given; leave it out"),
    # a law input as isoflop's target fitted N against log N and printed losses of -1e9
    (["isoflop", DATA, "--target", "N"],
     "column 'N' of the runs table is given two roles: model size 'N' and target 'N'"),
]


@pytest.mark.parametrize(("args", "message"), OPTIONS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in OPTIONS])
def test_bad_option_values(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    check_refused(args, message, tmp_path, capsys)


# -- output paths: refused before any work -----------------------------------------------------


def _read_only(path: Path, folder: bool = False) -> Path:
    if folder:
        path.mkdir()
        path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    else:
        path.write_text("keep me")
        path.chmod(stat.S_IRUSR | stat.S_IRGRP)
    return path


@pytest.mark.parametrize("case", ["nodir", "folder", "readonly-file", "readonly-dir", "parent-is-file",
                                  "input", "same-as-plot", "plot-format", "plot-readonly",
                                  "family-test-plot"])
def test_bad_output_paths(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fit = ["fit", "chinchilla", DATA]
    if case == "nodir":
        args, message = fit + ["--out", "nodir/x.nc"], "cannot write --out 'nodir/x.nc': folder 'nodir' does not exist"
    elif case == "folder":
        (tmp_path / "sub").mkdir()
        args, message = fit + ["--out", "sub"], "cannot write --out 'sub': it is a folder"
    elif case == "readonly-file":
        _read_only(tmp_path / "old.nc")
        args, message = fit + ["--out", "old.nc"], "cannot write --out 'old.nc': the file is read-only"
    elif case == "readonly-dir":
        _read_only(tmp_path / "ro", folder=True)
        args, message = fit + ["--out", "ro/x.nc"], "cannot write --out 'ro/x.nc': folder 'ro' is not writable"
    elif case == "parent-is-file":
        (tmp_path / "f").write_text("")
        args, message = fit + ["--out", "f/x.nc"], "cannot write --out 'f/x.nc': 'f' is not a folder"
    elif case == "input":
        args, message = fit + ["--out", DATA], f"cannot write --out '{DATA}': it is an input of this command"
    elif case == "same-as-plot":
        args, message = fit + ["--out", "a.png", "--plot", "./a.png"], "--out and --plot name the same file 'a.png'"
    elif case == "plot-format":
        args = fit + ["--plot", "fit.xyz"]
        message = "cannot write --plot 'fit.xyz': unknown image format 'xyz'; use one of: "
    elif case == "plot-readonly":
        _read_only(tmp_path / "ro", folder=True)
        args, message = ["plot", "fit.nc", "--out", "ro/p.png"], "cannot write --out 'ro/p.png': folder 'ro' is not writable"
    else:
        args = ["family-test", "chinchilla", DATA, "--group", "family", "--plot", "nodir/f.png"]
        message = "cannot write --plot 'nodir/f.png': folder 'nodir' does not exist"
    try:
        if case == "plot-format":
            code, out, err = run_main(args, capsys)
            assert code == 2 and out == "" and err.startswith(f"bayeslaw: error: {message}")
            assert err.count("\n") == 1 and "png" in err
        else:
            check_refused(args, message, tmp_path, capsys)
    finally:
        for path in tmp_path.iterdir():
            path.chmod(0o755)


# -- runs tables and prediction rows -----------------------------------------------------------


def test_duplicated_column_in_a_runs_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dup.csv").write_text("N,D,loss,loss\n1e8,1e9,3.1,3.2\n")
    check_refused(["fit", "chinchilla", "dup.csv"], "column 'loss' appears more than once in runs table 'dup.csv'",
                  tmp_path, capsys)


def test_empty_and_header_only_files_are_named(tmp_path, monkeypatch, capsys):
    """A 0-byte runs table said pandas' 'No columns to parse from file'; a header-only one 'the
    runs table has no rows', naming no file (three files may be read by one command)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("N,D,loss\n")
    check_refused(["fit", "chinchilla", "empty.csv"],
                  "cannot read runs table 'empty.csv': the file is empty (no header row)", tmp_path, capsys)
    check_refused(["fit", "chinchilla", "header.csv"], "runs table 'header.csv' has no rows (only a header)",
                  tmp_path, capsys)


@pytest.mark.parametrize(("args", "message"), [
    (["fit", "nolaw", DATA, "--out", "x.nc"], "unknown law 'nolaw'; catalogue: "),
    (["fit", "chinchilla", DATA, "--group", "nosuch", "--out", "x.nc"],
     "column 'nosuch' is missing from the runs table; needed: N, D, loss, nosuch (present: family, N, D, loss)"),
    (["fit", "chinchilla", DATA, "--predict", "N=abc,D=1e9", "--out", "x.nc"],
     "bad --predict value 'N=abc,D=1e9': 'abc' is not a number"),
    (["fit", "chinchilla", DATA, "--pooling", "alpha=full", "--out", "x.nc"],
     "bad --pooling value 'alpha=full': 'full' is not one of: shared, partial, none"),
    (["fit", "chinchilla", DATA, "--sampler", "metropolis", "--out", "x.nc"],
     "argument --sampler: invalid choice: 'metropolis'"),  # the choices' quoting varies by Python
    (["fit", "chinchilla", DATA, "--noise-trend", "C", "--out", "x.nc"],
     "bad --noise-trend value 'C': sigma_trend of law 'chinchilla' names 'C', not a positive input of the law"),
    (["fit", "chinchilla", "missing.csv"], "cannot read runs table 'missing.csv': no such file"),
    (["fit", "chinchilla", "."], "cannot read runs table '.': it is a folder"),
    (["fit", "chinchilla", DATA, "--group", "family", "--pooling", "alpha=partial", "--pooling", "alpha=none"],
     "bad --pooling value 'alpha=none': 'alpha' is given twice (partial, none)"),
    (["fit", "chinchilla", DATA, "--pooling", "alpha=partial"],
     "pooling {'alpha': 'partial'} applies across families: give group (the family column)"),
    (["compare", "chinchilla", "--data", DATA, "--group", "family"],
     "compare ranks two or more FITs (laws or .nc files), got one: 'chinchilla'"),
    (["compare", "chinchilla", "kaplan", "--data", DATA, "--by", "C"],
     "--by and --cutoff choose the held-out runs of --method largest, not --method loo"),
], ids=["law", "column", "predict", "pooling", "sampler", "noise-trend", "no-data", "data-folder", "pooling-twice",
        "pooling-no-group", "compare-one", "compare-by-loo"])
def test_bad_fit_input(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(args, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"bayeslaw: error: {message}")
    assert list(tmp_path.iterdir()) == []


# -- saved fits: missing, damaged, edited, other versions --------------------------------------


@pytest.fixture(scope="module")
def saved(family_fit, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "fit.nc"
    family_fit.save(path)
    return path


def _rewrite(source: Path, target: Path, edit) -> None:
    """Write the saved fit to ``target`` with ``edit`` applied to its contents."""
    from bayeslaw.core._arviz import az

    with az.rc_context({"data.load": "eager"}):
        idata = az.from_netcdf(str(source))
    edit(idata)
    idata.to_netcdf(str(target))


def _edit_attribute(source: Path, target: Path, key: str, value: str) -> None:
    _rewrite(source, target, lambda idata: idata.posterior.attrs.__setitem__(key, value))


def _damage(kind: str, saved: Path, folder: Path) -> tuple[str, str]:
    """Write a damaged copy of the saved fit; return its name and the expected reason."""
    data = saved.read_bytes()
    name = f"{kind}.nc"
    target = folder / name
    unreadable = "not a netCDF file, or a damaged one"
    changed = "the file is damaged or was edited (its checksum does not match its contents)"
    if kind == "truncated":
        target.write_bytes(data[: len(data) // 2])
        return name, unreadable
    if kind == "empty":
        target.write_bytes(b"")
        return name, unreadable
    if kind == "text":
        target.write_text("N,D,loss\n1,2,3\n")
        return name, unreadable
    if kind == "flipped-attribute":  # one bit of the law's text, stored in the file's header
        at = data.index(b"Hoffmann et al")
        target.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
        return name, changed
    if kind == "edited-attribute":
        _edit_attribute(saved, target, "families", '["deep", "dense", "long_ctx", "moe", "tall"]')
        return name, changed
    if kind == "edited-law":
        import bayeslaw as bl

        text = bl.load_fit(saved).law.source.replace("Hoffmann et al", "Hofmann et al")
        _edit_attribute(saved, target, "law_text", text)
        return name, changed
    if kind == "old-format":
        _edit_attribute(saved, target, "format", "bayeslaw-fit/1")
        return name, "written in format 'bayeslaw-fit/1', this bayeslaw reads 'bayeslaw-fit/3'; fit again and save"
    if kind == "foreign":
        _edit_attribute(saved, target, "format", "something-else")
        return name, "not a bayeslaw fit (format 'something-else')"
    raise AssertionError(kind)


DAMAGE = ["truncated", "empty", "text", "flipped-attribute", "edited-attribute", "edited-law", "old-format",
          "foreign"]


@pytest.mark.heavy
@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("command", ["predict", "plot"])
def test_damaged_fit_files_are_one_clear_error(kind, command, saved, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    name, reason = _damage(kind, saved, tmp_path)
    args = ["predict", name, "--at", "N=1e9,D=1e10"] if command == "predict" else ["plot", name, "--out", "p.png"]
    try:
        code = cli.main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capfd.readouterr()  # file descriptors: the HDF5 library's own output counts too
    assert (code, out, err) == (2, "", f"bayeslaw: error: cannot load fit '{name}': {reason}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def _rewrite_with_checksum(source: Path, target: Path, edit) -> None:
    """Apply ``edit`` to the saved fit's contents and write it with its checksum recomputed,
    as a hand edit or another tool would: the checksum then matches the wrong contents."""
    from bayeslaw.results.persist import checksum

    def edit_and_sign(idata):
        edit(idata)
        idata.posterior.attrs["checksum"] = checksum(idata)

    _rewrite(source, target, edit_and_sign)


def _family_past_the_last(idata):
    idata.constant_data["family_index"][3] = 5


def _nan_draw(idata):
    idata["bayeslaw_sites"]["E_family"][0, 0, 1] = float("nan")


def _infinite_input(idata):
    idata.constant_data["N"][0] = float("inf")


@pytest.mark.parametrize("edit, reason", [
    (_family_past_the_last, "'family_index' holds values outside 0..4"),
    (_nan_draw, "site 'E_family' holds draws that are not finite numbers"),
    (_infinite_input, "'N' holds values that are not finite numbers"),
])
def test_a_fit_file_rewritten_with_its_checksum_is_checked_for_consistency(edit, reason, saved, tmp_path,
                                                                           monkeypatch, capfd):
    """A checksum recomputed over wrong contents passes the checksum: the contents are checked
    themselves, by name, before a prediction fails on them with a message about something else."""
    import bayeslaw as bl

    monkeypatch.chdir(tmp_path)
    _rewrite_with_checksum(saved, tmp_path / "edited.nc", edit)
    with pytest.raises(bl.BayeslawError) as info:
        bl.load_fit("edited.nc")
    assert str(info.value) == f"cannot load fit 'edited.nc': its contents are inconsistent: {reason}"
    with pytest.raises(SystemExit) as stop:
        cli.main(["predict", "edited.nc", "--at", "N=1e9,D=1e10"])
    out, err = capfd.readouterr()
    assert (stop.value.code, out, err) == (2, "", f"bayeslaw: error: {info.value}\n")
    _rewrite_with_checksum(saved, tmp_path / "same.nc", lambda idata: None)  # the helper itself
    assert bl.load_fit("same.nc").families == bl.load_fit(saved).families


@pytest.mark.heavy
def test_bit_flips_anywhere_give_one_of_the_two_damage_errors(saved, tmp_path, capfd):
    import numpy as np

    import bayeslaw as bl

    data = saved.read_bytes()
    rng = np.random.default_rng(0)
    path = tmp_path / "flipped.nc"
    reasons = set()
    for at in rng.integers(0, len(data), 12):
        path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
        try:
            bl.load_fit(path)
        except bl.BayeslawError as exc:
            reasons.add(str(exc).removeprefix(f"cannot load fit '{path}': "))
            continue
        # a flip in unused padding leaves the contents, and the checksum, as they were
    assert capfd.readouterr() == ("", "")
    assert reasons <= {"not a netCDF file, or a damaged one",
                       "the file is damaged or was edited (its checksum does not match its contents)"}


@pytest.mark.parametrize(("args", "message"), [
    (["predict", "missing.nc", "--at", "N=1e9,D=1e10"], "cannot load fit 'missing.nc': no such file"),
    (["predict", ".", "--at", "N=1e9,D=1e10"], "cannot load fit '.': it is a folder"),
    (["predict", "fit.nc", "--at", "N=1e9,D=1e10,family=moe2", "--out", "p.csv"],
     f"bad --at value 'N=1e9,D=1e10,family=moe2': unknown family 'moe2'; known: {FAMILIES} "
     "(leave it empty for a new family)"),
    (["predict", "fit.nc", "--at", "N=1e9,D=1e10", "--out", "nodir/p.csv"],
     "cannot write --out 'nodir/p.csv': folder 'nodir' does not exist"),
    (["predict", "fit.nc", "--at", "N=1e9,D=1e10", "--out", "fit.nc"],
     "cannot write --out 'fit.nc': it is an input of this command"),
    (["predict", "fit.nc", "--rows", "dup.csv"], "column 'N' appears more than once in prediction rows file 'dup.csv'"),
    (["plot", "fit.nc", "--out", "p.png", "--x", "P"], "x 'P' is not a size key of law 'chinchilla'; use one of: C, N, D"),
    (["report", "fit.nc", "--out", "fit.nc"], "cannot write --out 'fit.nc': it is an input of this command"),
    (["predict", "fit.nc", "--at", "N=1e9,D=1e10", "--out", ""],
     "bad --out value '': it is empty (see 'bayeslaw predict --help')"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:100000000,D=1e8:1e10:3"],
     "bad --grid value 'N=1e7:1e9:100000000,D=1e8:1e10:3': N needs 0 < FROM <= TO and 1 <= COUNT <= 1000"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:1,D=1e8:1e10:3"],
     "bad --grid value 'N=1e7:1e9:1,D=1e8:1e10:3': N has one value (COUNT 1) but FROM 1e+07 and TO 1e+09 differ; "
     "give N=1e+07:1e+07:1 or a COUNT of 2 or more"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:1000,D=1e8:1e10:1000"],
     "bad --grid value 'N=1e7:1e9:1000,D=1e8:1e10:1000': 1000000 candidates, more than 20000; use fewer values per axis"),
    (["compare", "=fit.nc", "b=fit.nc"], "bad fit '=fit.nc': give NAME=FILE.nc with a name and a file, or FILE.nc alone"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:3,N=1e8:1e10:3"],
     "bad --grid value 'N=1e7:1e9:3,N=1e8:1e10:3': 'N' is given twice"),
    (["suggest", "fit.nc", "--target", "N=7e10,D=1.4e12", "--grid", "N=1e7:1e9:3,D=1e8:1e10:3", "--outer", "4",
      "--budget", "1"], "--budget 1 is below the cheapest candidate's cost 6e+15: no run fits it"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:3"],
     "bad --grid value 'N=1e7:1e9:3': no axis for D; every candidate needs N and D, e.g. --grid "
     "\"N=1e7:1e9:7,D=1e8:1e10:7\""),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:3,D=1e8:1e10:3", "--family", "nosuch"],
     f"bad --family value 'nosuch': not a family of the fit; known: {FAMILIES} (leave --family out for a new family)"),
    (["plan", "fit.nc", "--compute", "-1e23"],  # a value, not an option argparse does not know
     "bad --compute value '-1e23': '-1e23' is not a positive FLOP budget"),
    (["plan", "fit.nc", "--compute", "-1e23,1e24"],
     "bad --compute value '-1e23,1e24': '-1e23' is not a positive FLOP budget"),
    (["plan", "fit.nc", "--compute", "1e-320"],
     "compute 9.99989e-321 is outside the range of a 32-bit float (1.2e-38 to 3.4e+38 in magnitude, or 0), in which "
     "fits on a GPU run"),
    (["predict", "fit.nc", "--rows", "empty.csv"],
     "cannot read prediction rows file 'empty.csv': the file is empty (no header row)"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--candidates", "header.csv"],
     "candidates file 'header.csv' has no rows (only a header)"),
    (["suggest", "fit.nc", "--target", "N=1e10,D=1e11", "--grid", "N=1e7:1e9:3,D=1e8:1e10:3", "--points", "5"],
     "--points sets the runs per iso-cost curve of --iso; leave it out"),
], ids=["missing", "folder", "family", "out", "out-is-input", "dup-rows", "x", "report-over-fit", "out-empty",
        "grid-count", "grid-one", "grid-size", "empty-name", "grid-twice", "budget", "grid-axis", "suggest-family", "negative-compute",
        "negative-list", "tiny-compute", "empty-rows",
        "header-candidates", "points-without-iso"])
def test_bad_predict_or_plot_input(args, message, saved, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fit.nc").write_bytes(saved.read_bytes())
    (tmp_path / "dup.csv").write_text("N,N,D\n1,2,3\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("N,D\n")
    check_refused(args, message, tmp_path, capsys)


# -- downstream data folders -------------------------------------------------------------------


def test_downstream_data_folder_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "ladder_runs.csv").write_text("a,b\n1,2\n")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "ladder_runs.csv").write_bytes(b"\x88\x00\xff" * 100)
    cases = [
        ("nodir", "cannot read data folder 'nodir' (ladder layout): no such folder"),
        ("foreign", "data folder 'foreign' is not in the ladder layout: column 'run' is missing"),
        ("binary", "cannot read ladder data file 'binary/ladder_runs.csv': it is not UTF-8 text (byte 0x88 "
                   "cannot be decoded); save it as UTF-8"),
    ]
    for folder, message in cases:
        check_refused(["downstream", "ladder", folder], message, tmp_path, capsys)


def _obsscaling(folder: Path, flops: str = "6", drop: str | None = None) -> None:
    """A tiny base_llm_benchmark_eval.csv: three models, every benchmark 0.5 (``drop``: a column left out)."""
    bench = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval"]
    head = ["Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)", *bench]
    keep = [i for i, name in enumerate(head) if name != drop]
    rows = [[f"m{i}", "f", "1", "1", flops, *["0.5"] * len(bench)] for i in range(3)]
    folder.mkdir()
    (folder / "base_llm_benchmark_eval.csv").write_text(
        "\n".join(",".join(row[i] for i in keep) for row in [head, *rows]) + "\n")


def test_downstream_observational_and_quantization_folder_errors(tmp_path, monkeypatch, capsys):
    """A missing benchmark column said 'models table has no column 'GSM8K'' (no folder); a folder
    with every model at or above the holdout cutoff, or none with a FLOPs figure, was sampled with
    nothing to fit; an unknown quantization --task said 'column "Label(s) ['NOPE'] do not exist"
    is missing'."""
    monkeypatch.chdir(tmp_path)
    _obsscaling(tmp_path / "nogsm", drop="GSM8K")
    _obsscaling(tmp_path / "large", flops="1e9")
    _obsscaling(tmp_path / "textflops", flops="big")
    (tmp_path / "quant").mkdir()
    (tmp_path / "quant" / "open_llm_leaderboard_v1_snapshot.csv").write_text(
        "Model,Type,Precision,#Params (B),MMLU\nm,pretrained,float16,1,30\n")
    cases = [
        (["observational", "nogsm"], "data folder 'nogsm' is not in the observational layout: column 'GSM8K' is missing"),
        (["observational", "large"],
         "data folder 'large' has no model below the holdout cutoff of 8.4e+22 FLOPs with a MMLU score: nothing to fit"),
        (["observational", "textflops"],
         ("column 'FLOPs (1E21)' in base_llm_benchmark_eval.csv of 'textflops' is not numeric: rows 0, 1, 2 "
          "('big', 'big', 'big')")),
        (["quantization", "quant", "--task", "NOPE"],
         "unknown benchmark 'NOPE': open_llm_leaderboard_v1_snapshot.csv of 'quant' has no column 'NOPE'"),
    ]
    for args, message in cases:
        check_refused(["downstream", *args], message, tmp_path, capsys)


def test_compare_checks_every_law_before_the_first_fit(tmp_path, monkeypatch, capsys):
    """The second law's input C is negative: the error comes before the first law is fitted
    (it came after the kaplan fit, minutes on a real table)."""
    import bayeslaw as bl

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs.csv").write_text("N,D,loss,C,M\n1e7,1e9,4.0,-1,100\n3e7,1e9,3.6,1,33\n"
                                       "1e8,1e9,3.3,1,10\n3e8,1e9,3.1,1,3\n1e9,1e9,2.95,1,1\n")

    def no_fit(*args, **kwargs):
        raise AssertionError("a law was fitted before every law was checked")

    monkeypatch.setattr(bl, "fit", no_fit)
    check_refused(["compare", "kaplan", "overtraining", "--data", "runs.csv"],
                  "column 'C' in the runs table must be positive: row 0 (-1)", tmp_path, capsys)


@pytest.mark.parametrize(("options", "message"), [
    (["--method", "largest", "--by", "Q"],
     ("cannot hold out the largest runs by 'Q': no such column (columns: family, N, D, loss; 'C' is computed as "
      "6*N*D when N and D are present)")),
    (["--method", "largest", "--cutoff", "1e30"],
     "cutoff 1e+30 on 'C' leaves 150 runs to fit and 0 to score; choose a cutoff between 2.99711e+16 and 3.02124e+20"),
    (["--method", "family"], "--method family needs --group (the column naming each run's family)"),
], ids=["by", "cutoff", "family"])
def test_compare_checks_the_held_out_settings_before_the_first_fit(options, message, tmp_path, monkeypatch, capsys):
    """A bad --by, --cutoff or a table without families was refused only after every law was
    fitted (minutes); --data also takes a registered data set (it was read as a file name)."""
    import bayeslaw as bl

    monkeypatch.chdir(tmp_path)

    def no_fit(*args, **kwargs):
        raise AssertionError("a law was fitted before the held-out settings were checked")

    monkeypatch.setattr(bl, "fit", no_fit)
    check_refused(["compare", "chinchilla", "kaplan", "--data", "dataset:synthetic_families", *options],
                  message, tmp_path, capsys)


@pytest.mark.parametrize(("args", "message"), [
    (["backtest", "chinchilla", "dataset:synthetic_families", "--cutoff", "1e30"],
     "no runs at or above the cutoff 1e+30 on 'C' (range 2.99711e+16 to 3.02124e+20)"),
    (["family-test", "chinchilla", "dataset:synthetic_families", "--group", "nosuch"],
     "column 'nosuch' is missing from the runs table; needed: N, D, loss, nosuch (present: family, N, D, loss)"),
    (["backtest", "chinchilla", "dataset:nosuch", "--cutoff", "1e20"],
     "unknown dataset 'nosuch'; known datasets: synthetic_families, chinchilla_epoch"),
], ids=["backtest", "family-test", "unknown"])
def test_backtest_and_family_test_read_registered_data_sets(args, message, tmp_path, monkeypatch, capsys):
    """DATA may be dataset:NAME, as for fit and isoflop (it was read as a file name: 'no such file')."""
    monkeypatch.chdir(tmp_path)
    check_refused(args, message, tmp_path, capsys)


@pytest.mark.parametrize("formula, where", [
    ("E + exp(a - alpha * log(N)) + * exp(b - beta * log(D))",
     "syntax error in formula of law 'mylaw' (law file 'mylaw.toml') at column 31: '*'"),
    ("E + exp(a - alpha * log(N)) + exp(b - beta * log(D)).real",
     ("attribute access is not allowed in formula of law 'mylaw' (law file 'mylaw.toml') at column 53: "
      "'.real'")),
    ("E + exp(a - alpha * log(N)) +",
     "syntax error in formula of law 'mylaw' (law file 'mylaw.toml') at column 30 (the end)"),
])
def test_a_law_files_formula_error_says_where_in_one_line(formula, where, tmp_path, monkeypatch, capsys):
    """The Python error shows the formula with a caret under the fault; the command line keeps
    one line, so it says the column and the text there (it said only 'syntax error')."""
    from pathlib import Path

    import bayeslaw

    monkeypatch.chdir(tmp_path)
    law = (Path(bayeslaw.__file__).resolve().parents[1] / "models" / "chinchilla.toml").read_text()
    lines = [f'formula = "{formula}"' if line.startswith("formula = ") else
             'name = "mylaw"' if line.startswith("name = ") else line for line in law.splitlines()]
    (tmp_path / "mylaw.toml").write_text("\n".join(lines) + "\n")
    check_refused(["fit", "mylaw.toml", DATA], where, tmp_path, capsys)


def test_predictions_written_to_a_gz_name_are_gzip(saved, tmp_path, capsys):
    """The CSV went through a temporary name, so pandas compressed nothing: 'pred.csv.gz' held
    plain text, which bayeslaw itself then could not read back."""
    import gzip

    out = tmp_path / "pred.csv.gz"
    assert cli.main(["predict", str(saved), "--at", "N=1e9,D=1e10", "--out", str(out)]) == 0
    assert gzip.decompress(out.read_bytes()).decode().startswith("N,D,family,")
    capsys.readouterr()
    assert cli.main(["predict", str(saved), "--rows", str(out)]) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "fit.nc", "--better", "N=7e10,D=1.4e12,family=dense", "N=3.5e10,D=2.8e12", "--family", "wide"],
     "bad --better value 'N=7e10,D=1.4e12,family=dense': it names family 'dense' and --family names 'wide'; "
     "give the family once"),
    (["suggest", "fit.nc", "--target", "N=7e10,D=1.4e12,family=wide", "--grid", "N=1e7:1e9:3,D=1e8:1e10:3",
      "--family", "dense"],
     "bad --target value 'N=7e10,D=1.4e12,family=wide': it names family 'wide' and --family names 'dense'; "
     "give the family once"),
])
def test_a_family_named_twice_differently_is_refused(saved, tmp_path, monkeypatch, capsys, args, message):
    """One of the two silently won (the plan's for that plan, --family for the rest)."""
    import shutil

    shutil.copy(saved, tmp_path / "fit.nc")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"bayeslaw: error: {message}\n"
