"""plot_residuals: observed / fitted of every run against compute, with the noise band."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

import bayeslaw as bl
from bayeslaw.plot import plot_residuals


def test_points_are_observed_over_own_family_median(family_fit):
    ax = plot_residuals(family_fit, x="N", ci_prob=0.9, ax=Figure().add_subplot())
    (points,) = [c for c in ax.collections if c.get_label() == "_residuals"]
    table = family_fit.table
    rows = {**table.inputs, "family": [family_fit.families[i] for i in table.family_index]}
    expected = table.target / family_fit.predict(rows, kind="law")["median"].to_numpy()
    np.testing.assert_allclose(points.get_offsets()[:, 0], table.inputs["N"])
    np.testing.assert_allclose(points.get_offsets()[:, 1], expected, rtol=0.02)
    (band,) = [p for p in ax.patches if p.get_label() == "_predictive noise"]
    lo, hi = band.get_y(), band.get_y() + band.get_height()
    assert lo < 1 < hi and 0.75 < np.mean((expected > lo) & (expected < hi)) <= 1.0
    assert ax.get_xlabel() == "model size N (parameters)" and ax.get_ylabel() == "observed / fitted"
    assert ax.get_xscale() == "log" and ax.get_label() == "residuals"


def test_default_key_is_compute_and_bad_key_raises(family_fit):
    ax = plot_residuals(family_fit, ax=Figure().add_subplot())
    assert ax.get_xlabel() == "training compute C = 6ND (FLOPs)"
    with pytest.raises(bl.PredictionError, match=re.escape("x 'loss' is not a size key of law 'chinchilla'")):
        plot_residuals(family_fit, x="loss", ax=Figure().add_subplot())
