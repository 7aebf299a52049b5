"""plot_decision: the planning figure, read back from its artists, limits and labels."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

import bayeslaw as bl
from bayeslaw.plot.decision import default_ratios, plot_decision

PLANNED = [{"N": 7e10, "D": 1.4e12, "family": "dense"}, {"N": 7e10, "D": 1.4e12}]


def _fig():
    return Figure(figsize=(8.5, 6.8), layout="constrained")


def _axes(fig, label):
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    return ax


def _by_label(ax, prefix, kind=None):
    artists = [*ax.collections, *ax.lines, *ax.patches]
    return {a.get_label().removeprefix(prefix).strip(): a for a in artists
            if a.get_label().startswith(prefix) and (kind is None or isinstance(a, kind))}


@pytest.fixture(scope="module")
def drawn(family_fit):
    fig = plot_decision(family_fit, PLANNED, fig=_fig())
    fig.canvas.draw()  # layout and legend placement run, as when saved
    return fig


def test_axes_units_and_scales(drawn):
    main, resid = _axes(drawn, "decision"), _axes(drawn, "residuals")
    assert main.get_xscale() == "log" and main.get_yscale() == "log"
    assert resid.get_xlabel() == "training compute C = 6ND (FLOPs)"
    assert main.get_ylabel() == "loss (nats)"
    assert resid.get_ylabel() == "observed / fitted"
    assert "family dense" in main.get_title() and "90% bands" in main.get_title()
    bar = _axes(drawn, "colorbar")
    assert bar.get_ylabel() == "tokens per parameter D/N" and bar.get_yscale() == "log"


def test_runs_coloured_by_tokens_per_parameter(drawn, family_fit):
    main = _axes(drawn, "decision")
    runs = _by_label(main, "_runs", PathCollection)
    assert set(runs) == {"dense", "other families"}
    n = len(family_fit.table.frame)
    assert sum(len(c.get_offsets()) for c in runs.values()) == n
    dense = runs["dense"].get_offsets()
    mine = family_fit.table.family_index == family_fit.families.index("dense")
    c = 6 * family_fit.table.inputs["N"][mine] * family_fit.table.inputs["D"][mine]
    np.testing.assert_allclose(np.sort(dense[:, 0]), np.sort(c))
    # filled markers for dense, open (edge-coloured) markers for the other families, colours vary
    assert len(np.unique(runs["dense"].get_facecolors(), axis=0)) > 5
    assert len(runs["other families"].get_facecolors()) == 0


def test_iso_lines_at_ratios_spanning_the_data(drawn, family_fit):
    main = _axes(drawn, "decision")
    ratios = default_ratios(family_fit)
    dn = family_fit.table.inputs["D"] / family_fit.table.inputs["N"]
    assert len(ratios) == 3 and dn.min() < ratios[0] < ratios[1] < ratios[2] < dn.max()
    lines = {a.get_label(): a for a in main.get_lines() if a.get_label().startswith("D/N = ")}
    assert list(lines) == [f"D/N = {r:g}" for r in ratios]
    # the curve at D/N = r is the posterior median of the dense family's law there
    r = ratios[1]
    x, y = lines[f"D/N = {r:g}"].get_data()
    n = np.sqrt(x[[0, 70, -1]] / (6 * r))
    expected = family_fit.predict({"N": n, "D": r * n, "family": ["dense"] * 3}, kind="law")
    np.testing.assert_allclose(y[[0, 70, -1]], expected["median"], rtol=0.02)
    # each iso-line has a credible band; the middle one a predictive band that is wider
    credible = _by_label(main, "_credible", PolyCollection)
    predictive = _by_label(main, "_predictive", PolyCollection)
    assert set(credible) == set(lines) and list(predictive) == [f"D/N = {r:g}"]

    def width(band):
        v = band.get_paths()[0].vertices[:, 1]
        return np.log(v.max() / v.min())

    assert width(predictive[f"D/N = {r:g}"]) > width(credible[f"D/N = {r:g}"])
    # the curves run from the data into the extrapolation region, past the planned runs
    assert x.min() < 6 * (family_fit.table.inputs["N"] * family_fit.table.inputs["D"]).min()
    assert x.max() > 6 * 7e10 * 1.4e12


def test_planned_runs_drawn_with_intervals_inside_the_limits(drawn, family_fit):
    main = _axes(drawn, "decision")
    bars = {c.get_label().removeprefix("_planned "): c for c in main.containers}
    assert list(bars) == ["N=70B, D=1.4T (dense)", "N=70B, D=1.4T (new family)"]
    obs = family_fit.predict(pd.DataFrame(PLANNED), kind="observed")
    (x_lo, x_hi), (y_lo, y_hi) = main.get_xlim(), main.get_ylim()
    for i, bar in enumerate(bars.values()):
        line, _, (segments,) = bar.lines
        x, y = line.get_data()
        assert x[0] == pytest.approx(6 * 7e10 * 1.4e12, rel=0.15)  # dodged by at most 12%
        assert y[0] == pytest.approx(obs["median"].iloc[i])
        (_, lo), (_, hi) = segments.get_segments()[0]
        assert (lo, hi) == (pytest.approx(obs["lower"].iloc[i]), pytest.approx(obs["upper"].iloc[i]))
        assert x_lo < x[0] < x_hi and y_lo < lo and hi < y_hi
    # the thick credible interval of each planned run lies inside its predictive interval
    law_bars = [a for a in main.get_lines() if a.get_label().startswith("_planned law ")]
    assert len(law_bars) == 2
    texts = [t.get_text() for t in main.texts]
    assert any(t.startswith("N=70B, D=1.4T (new family)\n") for t in texts)


def test_a_planned_run_below_the_data_is_inside_the_limits(family_fit):
    """A run far below the fitted ones was listed in the legend but drawn off the x axis."""
    fig = plot_decision(family_fit, [{"N": 1e3, "D": 1e3}], fig=_fig())
    main = _axes(fig, "decision")
    (bar,) = main.containers
    x, _ = bar.lines[0].get_data()
    assert x[0] == pytest.approx(6e6, rel=0.15) and main.get_xlim()[0] < x[0]


def test_extrapolation_region_starts_at_the_largest_fitted_run(drawn, family_fit):
    main = _axes(drawn, "decision")
    c_max = 6 * (family_fit.table.inputs["N"] * family_fit.table.inputs["D"]).max()
    (span,) = [p for p in main.patches if p.get_label() == "extrapolation"]
    assert span.get_x() == pytest.approx(c_max)
    (edge,) = [a for a in main.get_lines() if a.get_label() == "_largest fitted run"]
    assert edge.get_xdata()[0] == pytest.approx(c_max)
    texts = {t.get_text() for t in main.texts}
    calibrated = " (calibrated error included)" if family_fit.extrapolation is not None else ""
    assert {"fitted runs  ", f"  extrapolation{calibrated} \u2192"} <= texts
    legend = [t.get_text() for t in main.get_legend().get_texts()]
    assert "90% credible band (law)" in legend and "90% predictive band (new run)" in legend
    assert any(t.startswith("planned run: median") for t in legend)


def test_residual_panel_is_observed_over_own_family_fit(drawn, family_fit):
    resid = _axes(drawn, "residuals")
    (points,) = _by_label(resid, "_residuals", PathCollection).values()
    table = family_fit.table
    rows = {**table.inputs, "family": [family_fit.families[i] for i in table.family_index]}
    ratio = table.target / family_fit.predict(rows, kind="law")["median"].to_numpy()
    np.testing.assert_allclose(points.get_offsets()[:, 1], ratio, rtol=0.02)
    assert resid.get_ylim()[0] < ratio.min() and ratio.max() < resid.get_ylim()[1]
    assert np.median(np.abs(np.log(ratio))) < 0.03  # the demo's noise is 1%: the fit follows the data


def test_x_as_model_size_and_chosen_ratios(family_fit):
    fig = plot_decision(family_fit, PLANNED[:1], x="N", ratios=[20, 1], family="moe", residuals=False, fig=_fig())
    main = _axes(fig, "decision")
    assert main.get_xlabel() == "model size N (parameters)"
    assert [a.get_label() for a in main.get_lines() if a.get_label().startswith("D/N")] == ["D/N = 1", "D/N = 20"]
    assert "family moe" in main.get_title()
    assert not [a for a in fig.axes if a.get_label() == "residuals"]
    (bar,) = main.containers
    assert bar.lines[0].get_data()[0][0] == pytest.approx(7e10)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"x": "P"}, bl.PredictionError, "x 'P' is not a size key of law 'chinchilla'; use one of: C, N, D"),
    ({"family": "gpt"}, bl.PredictionError, "unknown family 'gpt'; families in the fit: deep, dense, long_ctx, "
                                            "moe, wide (or '(new)' for a family not in the fit)"),
    ({"at": [{"N": 1e9}]}, bl.DataError, "column 'D' is missing from prediction rows; needed: N, D (present: N)"),
    ({"at": "N=1e9"}, bl.PredictionError, "at must be a dict, a list of dicts or a DataFrame, got str"),
    ({"ci_prob": 1.5}, bl.PredictionError, "ci_prob must be a number in (0, 1), got 1.5"),
    ({"ci_prob": np.float32(1.5)}, bl.PredictionError, "ci_prob must be a number in (0, 1), got np.float32(1.5)"),
])
def test_bad_arguments_raise_before_drawing(family_fit, kwargs, error, message):
    fig = _fig()
    with pytest.raises(error, match=re.escape(message)):
        plot_decision(family_fit, fig=fig, **kwargs)
    assert not fig.axes


def test_a_law_in_compute_draws_and_reports_on_its_own_c(demo_runs, tmp_path):
    """A law whose input is C itself: its key is that column, not 6 N D of inputs it lacks."""
    from bayeslaw.plot import plot_fit, plot_residuals
    from bayeslaw.report import write_report

    runs = demo_runs.assign(C=6.0 * demo_runs["N"] * demo_runs["D"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bl.fit("compute", runs, chains=1, warmup=100, draws=100, extrapolation=False, progress=False)
    fig = plot_decision(fit, {"C": 1e23}, fig=_fig())
    (bar,) = _axes(fig, "decision").containers
    assert bar.lines[0].get_data()[0][0] == pytest.approx(1e23)
    keys = plot_residuals(fit, ax=_fig().add_subplot()).collections[0].get_offsets()[:, 0]
    np.testing.assert_allclose(np.sort(keys), np.sort(runs["C"]))
    assert "C" in plot_fit(fit, ax=_fig().add_subplot()).get_xlabel()  # the law's own input by default
    write_report(fit, tmp_path / "report.html")
    assert (tmp_path / "report.html").stat().st_size > 0


def test_one_input_law_draws_one_curve(demo_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = bl.fit("kaplan", demo_runs, chains=1, warmup=100, draws=100)
    fig = plot_decision(small, {"N": 1e10}, fig=_fig())
    main = _axes(fig, "decision")
    assert main.get_xlabel() == "" and _axes(fig, "residuals").get_xlabel() == "model size N (parameters)"
    assert [a.get_label() for a in main.get_lines() if not a.get_label().startswith("_")] == ["law"]
    assert not [a for a in fig.axes if a.get_label() == "colorbar"]
    assert main.get_xlim()[1] > 1e10


def test_cli_plot_is_the_decision_plot_with_planned_runs(family_fit, tmp_path):
    from bayeslaw.cli.output import save_plot

    target = tmp_path / "demo.png"
    save_plot(family_fit, target, None, 0.9, PLANNED)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.png"]


def test_plot_and_report_modules_import_matplotlib_lazily():
    """`import bayeslaw` must not pay for matplotlib: no module-level matplotlib import here."""
    root = Path(bl.__file__).parent
    for path in [*sorted((root / "plot").glob("*.py")), *sorted((root / "report").glob("*.py")),
                 root / "cli" / "report.py"]:
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "matplotlib" for n in names), f"{path.name}: {names}"
