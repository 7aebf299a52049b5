"""plot_frontier: the compute-optimal frontier with its band, the runs and the planned runs."""

from __future__ import annotations

import re
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

import bayeslaw as bl
from bayeslaw.plot import plot_frontier

PLANNED = [{"N": 7e10, "D": 1.4e12, "family": "dense"}]


def _ax():
    return Figure(layout="constrained").add_subplot()


def test_median_and_band_are_the_allocation_posterior(family_fit):
    ax = plot_frontier(family_fit, (1e20, 1e24), n=5, ax=_ax())
    (line,) = [a for a in ax.get_lines() if a.get_label() == "frontier"]
    c, median = line.get_data()
    np.testing.assert_allclose(c, np.geomspace(1e20, 1e24, 5))
    expected = bl.optimal_allocation(family_fit, c).xs("N_opt", level="quantity")
    np.testing.assert_allclose(median, expected["median"], rtol=1e-6)
    (band,) = [a for a in ax.collections if a.get_label() == "_band" and isinstance(a, PolyCollection)]
    y = band.get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(expected["lower"].min()) and y.max() == pytest.approx(expected["upper"].max())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "training compute C (FLOPs)"
    assert ax.get_ylabel() == "compute-optimal model size N* (parameters)"
    assert "a new family" in ax.get_title()


def test_default_range_covers_runs_and_planned_runs(family_fit):
    ax = plot_frontier(family_fit, quantity="tokens_per_param", family="dense", at=PLANNED, ax=_ax())
    c_runs = 6 * family_fit.table.inputs["N"] * family_fit.table.inputs["D"]
    lo, hi = ax.get_xlim()
    assert lo == pytest.approx(c_runs.min() / 2) and hi == pytest.approx(6 * 7e10 * 1.4e12 * 10)
    (runs,) = [a for a in ax.collections if a.get_label() == "_runs" and isinstance(a, PathCollection)]
    np.testing.assert_allclose(runs.get_offsets()[:, 1],
                               family_fit.table.inputs["D"] / family_fit.table.inputs["N"])
    (planned,) = [a for a in ax.get_lines() if a.get_label().startswith("_planned")]
    assert planned.get_label() == "_planned N=70B, D=1.4T (dense)"
    assert planned.get_data()[1][0] == pytest.approx(20.0)
    (span,) = [p for p in ax.patches if p.get_label() == "extrapolation"]
    assert span.get_x() == pytest.approx(c_runs.max())
    assert ax.get_ylabel() == "compute-optimal tokens per parameter D*/N*"
    assert "family dense" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == ["posterior median", "90% credible band", "fitted runs (as trained)", "planned runs"]
    assert re.fullmatch(r"at C = 5\.9e\+24: [\d.]+ \[[\d.]+, [\d.]+\]", legend[4])


@pytest.mark.parametrize("at", [
    [{"N": "7e10", "D": Decimal("1.4e12"), "family": "dense"}],  # as predict reads them
    pd.Series({"N": 7e10, "D": 1.4e12, "family": "dense"}),
], ids=["text-and-decimal", "series"])
def test_planned_runs_are_read_as_predict_reads_them(family_fit, at):
    ax = plot_frontier(family_fit, quantity="tokens_per_param", family="dense", at=at, ax=_ax())
    (planned,) = [a for a in ax.get_lines() if a.get_label().startswith("_planned")]
    assert planned.get_label() == "_planned N=70B, D=1.4T (dense)"
    assert planned.get_data()[1][0] == pytest.approx(20.0)


def test_bad_quantity(family_fit):
    with pytest.raises(bl.PredictionError, match=re.escape("quantity must be one of: N_opt, D_opt, "
                                                           "tokens_per_param, loss; got 'N'")):
        plot_frontier(family_fit, quantity="N", ax=_ax())
