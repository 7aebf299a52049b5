"""plot_family_forest: one panel per family-varying parameter, under the names a reader knows."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

import bayeslaw as bl
from bayeslaw.plot import plot_family_forest


def _fig():
    return Figure(figsize=(9, 3), layout="constrained")


def test_one_panel_per_varying_parameter_with_reader_names(family_fit):
    fig = plot_family_forest(family_fit, fig=_fig())
    assert [ax.get_title() for ax in fig.axes] == ["E", "A", "B"]  # a, b sampled; A = exp(a) shown
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [*family_fit.families, "population"]
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[1].get_xscale() == "log"
    assert fig.axes[1].get_xlabel() == "A = exp(a)"
    assert "90% interval" in fig._suptitle.get_text()


def test_intervals_are_each_family_posterior(family_fit):
    fig = plot_family_forest(family_fit, ["a"], ci_prob=0.5, fig=_fig())
    (ax,) = fig.axes
    a = family_fit.family_values()["a"]
    lo, hi = np.quantile(np.exp(a), [0.25, 0.75], axis=0)
    for j, family in enumerate(family_fit.families):
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == f"_interval {family}"]
        np.testing.assert_allclose(line.get_xdata(), [lo[j], hi[j]])
        assert list(line.get_ydata()) == [j, j]
    (pop,) = [ln for ln in ax.get_lines() if ln.get_label() == "_median population"]
    assert pop.get_xdata()[0] == pytest.approx(np.median(np.exp(family_fit.population_values()["a"])))


def test_unknown_parameter(family_fit):
    with pytest.raises(bl.FitError, match=re.escape("unknown parameter 'A'; parameters: E, alpha, a, beta, b, "
                                                    "sigma, df")):
        plot_family_forest(family_fit, ["A"], fig=_fig())
