"""plot_fit: runs, one curve and one band per family, the values other inputs are held at."""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

import bayeslaw as bl
from bayeslaw.plot import EXTEND_DECADES, plot_fit


@pytest.fixture(scope="module")
def fit():
    runs = bl.load_dataset("synthetic_families")
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", bl.ConvergenceWarning
        )  # tiny run, diagnostics not the point
        return bl.fit("chinchilla", runs, group="family", chains=2, warmup=150, draws=150, seed=1)


def _bands(ax):
    return {
        c.get_label().removeprefix("_band "): c
        for c in ax.collections
        if isinstance(c, PolyCollection) and c.get_label().startswith("_band ")
    }


def _ax():
    return Figure().add_subplot()


def test_one_curve_and_band_per_family(fit):
    ax = plot_fit(fit, x="N", ax=_ax())
    assert set(_bands(ax)) == set(fit.families)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "N" and ax.get_ylabel() == "loss"
    # legend: one entry per family, naming the geometric mean of D in that family's runs
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == len(fit.families)
    mine = fit.table.family_index == fit.families.index("moe")
    d_moe = np.exp(np.mean(np.log(fit.table.inputs["D"][mine])))
    assert f"moe (D={d_moe:.3g})" in labels
    # the curve spans the data and half a decade beyond it
    n = fit.table.inputs["N"]
    curve = ax.get_lines()[0].get_xdata()
    np.testing.assert_allclose([curve.min(), curve.max()], [n.min(), n.max() * 10**EXTEND_DECADES])
    # every run is drawn, coloured by family
    points = sum(len(c.get_offsets()) for c in ax.collections if c.get_label().startswith("_runs "))
    assert points == len(fit.table.frame)


def test_curve_is_the_posterior_median_inside_its_band(fit):
    ax = plot_fit(fit, x="D", fixed={"N": 1e9}, families=["dense"], ax=_ax())
    (line,) = ax.get_lines()[:1]
    grid, median = line.get_xdata(), line.get_ydata()
    expected = fit.predict(
        {"N": np.full(3, 1e9), "D": grid[[0, 50, -1]], "family": ["dense"] * 3}, kind="law"
    )
    np.testing.assert_allclose(median[[0, 50, -1]], expected["median"], rtol=1e-6)
    band = _bands(ax)["dense"].get_paths()[0].vertices
    assert band[:, 1].min() <= median.min() and band[:, 1].max() >= median.max()
    assert "at N=1e+09" in ax.get_title()


def test_observed_band_is_wider_than_law_band(fit):
    def width(kind):
        path = _bands(plot_fit(fit, x="N", kind=kind, families=["wide"], ax=_ax()))[
            "wide"
        ].get_paths()[0]
        y = np.log(path.vertices[:, 1])
        return y.max() - y.min()

    assert width("observed") > width("law")


@pytest.mark.heavy
def test_one_input_law_fixes_nothing():
    runs = bl.load_dataset("synthetic_families")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        small = bl.fit("kaplan", runs, chains=1, warmup=100, draws=100)
    ax = plot_fit(small, x="N", ax=_ax())
    assert set(_bands(ax)) == {"all"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["law"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": "C"}, "x 'C' is not an input of law 'chinchilla'; inputs: N, D"),
        (
            {"x": "N", "fixed": {"N": 1e9}},
            "fixed names 'N', the plotted input; fix only the other inputs: D",
        ),
        (
            {"x": "N", "fixed": {"P": 8}},
            "fixed names 'P', not an input of law 'chinchilla'; inputs: N, D",
        ),
        ({"x": "N", "fixed": {"D": -1}}, "fixed value of 'D' must be a positive number, got -1"),
        (
            {"x": "N", "families": ["gpt"]},
            "unknown family 'gpt'; families in the fit: deep, dense, long_ctx, moe, wide",
        ),
        ({"x": "N", "kind": "curve"}, "kind must be one of: law, observed; got 'curve'"),
    ],
)
def test_bad_arguments_raise(fit, kwargs, message):
    ax = _ax()
    with pytest.raises(bl.PredictionError, match=re.escape(message)):
        plot_fit(fit, ax=ax, **kwargs)
    assert not ax.collections  # nothing drawn


def test_default_axes_come_from_pyplot(fit):
    import matplotlib.pyplot as plt

    ax = plot_fit(fit, families=["deep"])
    try:
        assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]
    finally:
        plt.close(ax.figure)
