"""Simulation-based calibration: the rank test itself, a correct setting passes, a broken one fails."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayeslaw as bl
from bayeslaw.core.errors import FitError
from bayeslaw.evaluate.sbc import chi2_sf, rank_uniformity, sbc

#: design ranges by the start of an input's unit, drawn log-uniformly and independently
RANGES = {"parameters": (1e7, 1e10), "tokens per parameter": (1.0, 1e3), "tokens (unique)": (1e8, 1e10),
          "tokens": (1e8, 1e11), "FLOP": (1e16, 1e21)}


def design(law, runs: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trials = getattr(law.likelihood, "trials", None)
    out = {}
    for spec in law.inputs:
        if spec.name == trials:
            out[spec.name] = rng.integers(100, 1000, runs).astype(float)
            continue
        lo, hi = next((r for unit, r in RANGES.items() if spec.unit.startswith(unit)), (1.0, 16.0))
        out[spec.name] = np.exp(rng.uniform(np.log(lo), np.log(hi), runs))
    if "U" in out and "D" in out:  # data-constrained law: unique tokens are at most the total
        out["U"] = out["D"] / np.exp(rng.uniform(0.0, np.log(16.0), runs))
    return pd.DataFrame(out)


def test_chi2_survival_matches_scipy():
    x = np.array([0.1, 1.0, 4.2, 9.0, 30.0])
    for dof in (1, 5, 9, 19):
        np.testing.assert_allclose(chi2_sf(x, dof), stats.chi2.sf(x, dof), rtol=1e-6)


def test_rank_uniformity_detects_non_uniform_ranks():
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, 100, size=(400, 1))  # ranks 0..99: n_draws = 99
    piled = np.where(rng.random((400, 1)) < 0.5, 0, 99)  # a too-narrow posterior: U shape
    stat, p = rank_uniformity(np.hstack([uniform, piled]), n_draws=99, bins=10)
    assert p[0] > 0.001 and p[1] < 1e-10
    expected_stat = stats.chisquare(np.bincount(uniform[:, 0] // 10, minlength=10)).statistic
    assert stat[0] == pytest.approx(expected_stat)
    # 7 possible ranks in 3 bins (3, 2, 2 values): exact expected counts, so uniform ranks fit
    ranks = np.tile(np.arange(7), 50)[:, None]
    assert rank_uniformity(ranks, n_draws=6, bins=3)[0][0] == pytest.approx(0.0)


@pytest.fixture(scope="module")
def chinchilla():
    return bl.load_law("chinchilla")


@pytest.mark.heavy
def test_correct_model_and_sampler_pass(chinchilla):
    result = sbc(chinchilla, design(chinchilla), n=40, chains=2, warmup=150, draws=100, thin=2, seed=0)
    table = result.test()
    assert set(table.index) == {"E", "alpha", "a", "a_ref", "beta", "b", "b_ref", "sigma", "df"}
    assert result.ranks.shape == (40, 9) and result.n_draws == 100 and result.bins == 8
    assert result.ranks.to_numpy().min() >= 0 and result.ranks.to_numpy().max() <= 100
    assert result.passed(), table
    assert len(result.diagnostics) == 40 and result.dropped == 0
    axes = result.plot_ranks()
    assert len(axes) == 9 and axes[0].get_title().startswith("E  (p=")


@pytest.mark.heavy
def test_miscalibrated_sampler_fails(chinchilla):
    # NUTS with two warmup iterations: no step size or mass matrix to speak of, so the chains
    # barely leave their (MAP) starting points and posteriors are far too narrow: ranks pile at
    # 0 and L. (The default batched HMC starts from the curvature at the mode, which already
    # samples these posteriors passably without warmup.)
    result = sbc(chinchilla, design(chinchilla), n=40, chains=2, warmup=2, draws=20, thin=1, seed=1,
                 sampler="nuts")
    assert not result.passed()
    assert (result.test()["p_value"] < 1e-4).sum() >= 5


def test_sbc_errors(chinchilla):
    with pytest.raises(FitError, match=re.escape("n must be an integer >= 2, got 1")):
        sbc(chinchilla, design(chinchilla), n=1)
    with pytest.raises(FitError, match=re.escape("thin must be an integer in [1, chains * draws], got 0")):
        sbc(chinchilla, design(chinchilla), n=10, thin=0)
    with pytest.raises(bl.DataError, match=re.escape("column 'D' is missing from the design")):
        sbc(chinchilla, design(chinchilla).drop(columns="D"), n=10)


@pytest.mark.slow
@pytest.mark.parametrize("name", bl.list_laws())
def test_every_catalogue_law_is_calibrated(name):
    law = bl.load_law(name)
    result = sbc(law, design(law, runs=25), n=100, chains=2, warmup=300, draws=200, thin=4, seed=0)
    assert result.passed(), result.test()
