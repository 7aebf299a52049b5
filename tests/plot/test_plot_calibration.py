"""plot_calibration: nominal against empirical coverage of a backtest, with Jeffreys intervals."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayeslaw as bl
from bayeslaw.evaluate.backtest import Backtest
from bayeslaw.plot import plot_calibration
from bayeslaw.plot.calibration import coverage_table, jeffreys_interval


def test_jeffreys_interval_matches_the_beta_quantiles():
    stats = pytest.importorskip("scipy.stats")
    k, n = np.array([0, 3, 17, 20]), 20
    lower, upper = jeffreys_interval(k, n, 0.9)
    np.testing.assert_allclose(lower[1:], stats.beta.ppf(0.05, k[1:] + 0.5, n - k[1:] + 0.5), atol=1e-5)  # float32 where JAX runs without x64
    np.testing.assert_allclose(upper[:3], stats.beta.ppf(0.95, k[:3] + 0.5, n - k[:3] + 0.5), atol=1e-5)  # float32 where JAX runs without x64
    assert lower[0] == 0.0 and upper[3] == 1.0


def _backtest(fit, inside: dict[float, int], n: int = 20) -> Backtest:
    """A backtest result whose held-out runs fall inside the intervals ``inside[p]`` times."""
    table = pd.DataFrame({f"inside_{p:g}": np.arange(n) < k for p, k in inside.items()})
    return Backtest(fit=fit, table=table, cutoff=1e19, by="C", ci_probs=tuple(inside), n_train=80)


def test_points_and_intervals_read_back(family_fit):
    result = _backtest(family_fit, {0.5: 8, 0.8: 17, 0.95: 20})
    ax = plot_calibration({"posterior only": result}, ax=Figure().add_subplot())
    (bar,) = ax.containers
    assert bar.get_label() == "posterior only (20 held-out runs)"
    x, y = bar.lines[0].get_data()
    np.testing.assert_allclose(x, [0.5, 0.8, 0.95])
    np.testing.assert_allclose(y, [0.4, 0.85, 1.0])
    table = coverage_table(result)
    segments = bar.lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segments], table["lower"])
    np.testing.assert_allclose([s[1][1] for s in segments], table["upper"])
    assert table["upper"].iloc[2] == 1.0 and table["lower"].iloc[0] < 0.4 < table["upper"].iloc[0]
    (ideal,) = [ln for ln in ax.get_lines() if ln.get_label() == "_ideal"]
    assert list(ideal.get_xdata()) == [0, 1]
    assert ax.get_xlim() == (0, 1) and ax.get_ylim()[0] == 0
    assert ax.get_xlabel() == "nominal interval probability"
    assert ax.get_ylabel() == "share of held-out runs inside"
    assert "90% Jeffreys" in ax.get_title()


def test_several_backtests_side_by_side(family_fit):
    a, b = _backtest(family_fit, {0.5: 5, 0.9: 15}), _backtest(family_fit, {0.5: 10, 0.9: 18})
    ax = plot_calibration({"without": a, "with": b}, ax=Figure().add_subplot())
    xs = [c.lines[0].get_data()[0] for c in ax.containers]
    assert len(xs) == 2 and np.all(xs[0] < xs[1]) and np.allclose(xs[0] + xs[1], [1.0, 1.8])
    default = plot_calibration(a, ax=Figure().add_subplot())
    assert default.containers[0].get_label() == "chinchilla, cutoff 1e+19 on C (20 held-out runs)"


def test_not_a_backtest():
    with pytest.raises(bl.PredictionError, match=re.escape("backtests must be a Backtest (from "
                                                           "bayeslaw.evaluate.backtest) or a dict of them, got list")):
        plot_calibration([1, 2], ax=Figure().add_subplot())
