"""The HTML report: sections, plain-language content, self-containment, escaping, the CLI, and
rendering in headless Chromium (skipped where /usr/bin/chromium is absent)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.evaluate.backtest import Backtest
from bayeslaw.report import render_report, write_report
from bayeslaw.report.sections import SECTIONS
from bayeslaw.report.words import diagnostics_words, meaning, reader_quantity
from bayeslaw.results.extrapolation_error import GRID, ExtrapolationErrorModel

PLANNED = [{"N": 7e10, "D": 1.4e12, "family": "dense"}, {"N": 7e10, "D": 1.4e12}]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(family_fit, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    path = write_report(family_fit, folder / "report.html", at=PLANNED)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def plain_report(family_fit, tmp_path_factory):
    """The report of the same fit without its extrapolation error (``extrapolation=False``)."""
    plain = replace(family_fit, config={k: v for k, v in family_fit.config.items() if k != "extrapolation"})
    path = write_report(plain, tmp_path_factory.mktemp("plain") / "report.html", at=PLANNED)
    return path, path.read_text(encoding="utf-8")


def _text(html: str) -> str:
    """The page's visible text, tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_section_in_order(report):
    path, html = report
    ids = re.findall(r'<section id="([a-z]+)">', html)
    assert ids == list(SECTIONS) == ["law", "data", "fit", "parameters", "diagnostics", "predictions",
                                     "allocation", "calibration"]
    for title in SECTIONS.values():
        assert f"<h2>{title}</h2>" in html
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_law_and_data(report, family_fit):
    text = _text(report[1])
    assert "loss = E + exp(a - alpha * log(N)) + exp(b - beta * log(D))" in text
    assert "Inputs: N (parameters), D (tokens)." in text
    assert "150 runs grouped by family ; 5 families: deep (30), dense (30), long_ctx (30), moe (30), wide (30)." in text
    n = family_fit.table.inputs["N"]
    assert f"N (parameters) {bl.plot._common.human(n.min())} {bl.plot._common.human(n.max())}" in text
    assert re.search(r"C = 6ND \(FLOPs\) 3e\+16 3e\+20 4\.0", text)


def test_plain_parameter_table(report):
    html = report[1]
    table = html[html.index('<table class="params">'):]
    table = table[:table.index("</table>")]
    names = re.findall(r"<tr><td><b>([^<]+)</b>", table)
    assert names == ["E", "alpha", "A", "beta", "B", "sigma", "df", "N_opt_exponent", "D_opt_exponent"]
    text = _text(table)
    assert "Irreducible loss" in text and "The model-size amplitude" in text and "Data exponent" in text
    assert "Compute-optimal model size grows as C^N_opt_exponent" in text
    assert "varies by family (value: a typical family)" in text and "one value for all families" in text
    assert "a_ref" not in html and "prior on" not in text  # internal names and priors stay out


def test_diagnostics_in_words(report, family_fit):
    text = _text(report[1])
    ok, found, numbers = diagnostics_words(family_fit)
    assert ("Converged." in text) == ok and ("Not converged, or not reliably" in text) == (not ok)
    assert f"Largest R-hat {numbers['max_r_hat']:.3f} (limit 1.01)" in text
    assert f"{family_fit.divergences} divergent transitions" in text


def test_planned_runs_with_distance_beyond_the_data(report, plain_report, family_fit):
    html, text = report[1], _text(report[1])
    inputs = family_fit.table.inputs
    d_n = np.log10(7e10 / inputs["N"].max())
    d_c = np.log10(6 * 7e10 * 1.4e12 / (6 * inputs["N"] * inputs["D"]).max())
    law = family_fit.predict(pd.DataFrame(PLANNED), kind="law")
    section = _text(html[html.index('<section id="predictions">'):html.index('<section id="allocation">')])
    row = (f"N=70B, D=1.4T (dense) {law['median'].iloc[0]:.3g} [{law['lower'].iloc[0]:.3g}, "
           f"{law['upper'].iloc[0]:.3g}]")
    assert row in section
    assert f"+{d_n:.2f}" in section and f"+{d_c:.2f}" in section
    assert "more than 1 decade of compute beyond the data" in text
    assert "The intervals include the calibrated extrapolation error." in text  # on by default
    assert "no extrapolation error was calibrated" in _text(plain_report[1])
    assert "N=70B, D=1.4T (new family)" in section


def test_allocation_and_absent_calibration(report, plain_report, family_fit):
    html = report[1]
    section = _text(html[html.index('<section id="allocation">'):html.index('<section id="calibration">')])
    alloc = bl.optimal_allocation(family_fit, [5.88e23]).xs(5.88e23, level="compute")
    assert f"5.9e+23 {bl.plot._common.human(alloc.loc['N_opt', 'median'])} [" in section
    assert "Extrapolation error" in _text(html[html.index('<section id="calibration">'):])
    plain = plain_report[1]
    calibration = _text(plain[plain.index('<section id="calibration">'):])
    assert "Absent." in calibration and "--no-extrapolation" in calibration and "bl.backtest" in calibration


def test_self_contained(report):
    html = report[1]
    assert not re.search(r"https?://", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 3  # the planning plot, the family forest, the frontier
    assert all(s.startswith("data:image/png;base64,") for s in sources)


def test_user_text_is_escaped(family_fit, tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    families = tuple(evil if f == "moe" else f for f in family_fit.families)
    odd = replace(family_fit, table=replace(family_fit.table, families=families))
    path = bl.write_report(odd, tmp_path / "r.html", title="<script>alert(2)</script>")
    html = path.read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; (30)" in html
    assert "<h1>&lt;script&gt;alert(2)&lt;/script&gt;</h1>" in html


def test_calibration_evidence_when_present(family_fit):
    weights = np.zeros((GRID.size, GRID.size))
    weights[40, 40] = 1.0
    c_max = (6 * family_fit.table.inputs["N"] * family_fit.table.inputs["D"]).max()
    error = ExtrapolationErrorModel("C", float(np.log(c_max)), weights, 12, (1e19, 3e19))
    calibrated = replace(family_fit, config={**family_fit.config, "extrapolation": error.to_dict()})
    table = pd.DataFrame({f"inside_{p:g}": np.arange(20) < k for p, k in ((0.5, 9), (0.8, 19))})
    table["are"] = 0.01
    backtest = Backtest(fit=family_fit, table=table, cutoff=1e19, by="C", ci_probs=(0.5, 0.8), n_train=80)
    html = render_report(calibrated, PLANNED[:1], backtest=backtest)
    text = _text(html[html.index('<section id="calibration">'):])
    assert "Extrapolation error : measured by 2 nested leave-largest-out refits on C" in text
    assert "from 12 held-out predictions" in text and "Absent" not in text
    assert "Backtest : fitted on the 80 runs with C below 1e+19, 20 larger runs held out" in text
    assert re.search(r"50% 9/20 45% \[\d+%, \d+%\] consistent", text)
    assert re.search(r"80% 19/20 95% \[8\d%, 99%\] too wide", text)
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 4
    assert "The intervals include the calibrated extrapolation error." in _text(html)


def test_reader_words(family_fit):
    law = family_fit.law
    assert meaning(law, "a") == "The model-size amplitude"
    assert meaning(law, "E") == "Irreducible loss"
    assert meaning(law, "sigma").startswith("Run-to-run noise: the typical scatter of a run's loss")
    assert meaning(law, "D_opt_exponent") == "Compute-optimal tokens grow as C^D_opt_exponent (C = 6ND)"
    moe = family_fit.families.index("moe")
    assert reader_quantity(family_fit, f"a_ref_u[{moe}]") == "A of family moe"
    assert reader_quantity(family_fit, "b_ref_sd") == "the between-family spread of B"
    assert reader_quantity(family_fit, "alpha") == "alpha"
    assert reader_quantity(family_fit, "corr_z[0]") == "corr_z[0]"


def test_missing_folder(family_fit, tmp_path):
    with pytest.raises(bl.BayeslawError, match=re.escape(f"cannot write report '{tmp_path}/no/r.html': "
                                                         f"folder '{tmp_path}/no' does not exist")):
        write_report(family_fit, tmp_path / "no" / "r.html")


@pytest.mark.parametrize("name", ["r.png", "r.pdf", "report"])
def test_a_report_not_named_html_is_refused_before_rendering(family_fit, tmp_path, name):
    """Python wrote the HTML page into report.png (the command line alone refused it)."""
    with pytest.raises(bl.BayeslawError) as info:
        write_report(family_fit, tmp_path / name)
    assert str(info.value) == (f"cannot write report '{tmp_path / name}': the report is an HTML page; "
                               "give a .html or .htm file")
    assert list(tmp_path.iterdir()) == []


def test_a_planned_run_beyond_float32_is_named_before_any_figure(family_fit, tmp_path):
    """The allocation's message said "compute 1.2e+41 is outside ..." after every figure was
    drawn, naming neither the planned run nor at (--at), which predict and plot accept."""
    with pytest.raises(bl.PredictionError) as info:
        write_report(family_fit, tmp_path / "r.html", at=[{"N": 7e10, "D": 1.4e12}, {"N": 1e30, "D": 2e10}])
    assert str(info.value) == ("planned run 1 of at (N=1e+30, D=2e+10) needs compute 1.2e+41, which is "
                               "outside the range of a 32-bit float (1.2e-38 to 3.4e+38 in magnitude, or 0), "
                               "in which fits on a GPU run: the report's compute-optimal allocation cannot "
                               "be solved at it")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.heavy
def test_cli_report(family_fit, tmp_path, capsys):
    from bayeslaw.cli.main import main

    family_fit.save(tmp_path / "fit.nc")
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "fit.nc"), "--out", str(out), "--at", "N=7e10,D=1.4e12"]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert "N=70B, D=1.4T (new family)" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path / "fit.nc"), "--out", str(tmp_path / "x.html"), "--at", "N=7e10"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("bayeslaw: error: ") and err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


def _chromium(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="bayeslaw-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", *args],
            capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="headless check needs Debian's chromium "
                    "(/usr/bin/chromium is absent; apt-get install chromium)")
def test_renders_in_headless_chromium(report, tmp_path):
    path, _ = report
    url = path.resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no console errors (a failed load or a script error would show here)
    for key, title in SECTIONS.items():
        assert f'<section id="{key}">' in dom.stdout and f"<h2>{title}</h2>" in dom.stdout
    shot = tmp_path / "page.png"
    result = _chromium("--hide-scrollbars", "--window-size=1100,1400", f"--screenshot={shot}", url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
