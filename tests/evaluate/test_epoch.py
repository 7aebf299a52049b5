"""The chinchilla law on Epoch AI's 240 digitised Chinchilla points (their 5 exclusions).

Reference: Besiroglu et al. 2024 (arXiv:2404.10102), 95% bootstrap intervals in
../shared/data/chinchilla/reference_estimates.csv. Skipped when ../shared/data is absent.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import shared_csv

import bayeslaw as bl

pytestmark = pytest.mark.heavy  # real posteriors: run with -m heavy (CI does)


@pytest.fixture(scope="module")
def epoch_fit():
    points = pd.read_csv(shared_csv("chinchilla", "points.csv"))
    runs = points[points["epoch_excluded"] == 0]
    assert len(runs) == 240
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit("chinchilla", runs, chains=2, warmup=400, draws=400, seed=0)


def test_posterior_medians_inside_epoch_bootstrap_intervals(epoch_fit):
    reference = pd.read_csv(shared_csv("chinchilla", "reference_estimates.csv"))
    epoch = reference[reference["source"] == "besiroglu2024_epoch"].set_index("parameter")
    summary = epoch_fit.summary(ci_prob=0.95)
    for name in ("E", "alpha", "beta", "A", "B"):
        median = summary.loc[(name, "(shared)"), "median"]
        lo, hi = epoch.loc[name, "ci95_low"], epoch.loc[name, "ci95_high"]
        assert lo <= median <= hi, f"{name}: posterior median {median:.4g} outside Epoch's 95% CI {lo}-{hi}"


def test_hoffmann_published_fit_is_rejected(epoch_fit):
    """Epoch showed Hoffmann's published (E 1.69, beta 0.28) do not fit these points."""
    summary = epoch_fit.summary(ci_prob=0.99)
    for name, published in (("E", 1.69), ("beta", 0.28)):
        row = summary.loc[(name, "(shared)")]
        assert not row["lower"] <= published <= row["upper"], (name, row["lower"], row["upper"])
    assert np.all(summary["r_hat"] < 1.05)
