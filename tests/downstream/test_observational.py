"""Observational scaling: PCA with missing values, Bayesian factor model recovery, exact errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.downstream.observational import BIAS_GRID, ObservationalFit, fit_observational
from bayeslaw.downstream.pca import capability_pca, leaders
from bayeslaw.infer.extrapolation_posterior import error_posterior
from bayeslaw.results.extrapolation_error import GRID

BENCH = [f"b{j}" for j in range(5)]
LOADINGS = np.array([0.12, 0.10, 0.08, 0.06, 0.04])
SLOPES = {"fa": 0.8, "fb": 0.8, "fc": 0.8, "fd": 0.8}
OFFSETS = {"fa": -0.8, "fb": 0.0, "fc": 0.8, "fd": 0.3}


def _synthetic(seed=0, per_family=15, missing=0.1):
    rng = np.random.default_rng(seed)
    rows = []
    for fam, slope in SLOPES.items():
        logc = rng.uniform(-2, 2, per_family)
        s = OFFSETS[fam] + slope * logc + rng.normal(0, 0.2, per_family)
        y = 0.5 + s[:, None] * LOADINGS[None, :] + rng.normal(0, 0.01, (per_family, len(BENCH)))
        y[rng.random(y.shape) < missing] = np.nan
        target = 0.25 + 0.7 / (1 + np.exp(-(1.5 * s - 0.5))) + rng.normal(0, 0.01, per_family)
        for i in range(per_family):
            rows.append({"family": fam, "flops": np.exp(logc[i]) * 1e22, "target": target[i], "s": s[i],
                         **dict(zip(BENCH, y[i]))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def models():
    return _synthetic()


@pytest.fixture(scope="module")
def fit(models):
    train = (models["flops"] < 2e22).to_numpy()
    return fit_observational(models, BENCH, "target", k=1, chance=0.25, train=train, chains=2, warmup=300,
                             draws=300, seed=0)


def test_pca_recovers_loadings_with_missing_values(models):
    scores, loadings, _, ratio = capability_pca(models[BENCH].to_numpy(), k=1)
    cos = abs(loadings[:, 0] @ LOADINGS) / np.linalg.norm(LOADINGS)
    assert cos > 0.99 and ratio[0] > 0.9
    assert abs(np.corrcoef(scores[:, 0], models["s"])[0, 1]) > 0.97


@pytest.mark.heavy
def test_factor_loadings_recovered_up_to_sign(fit):
    est = fit.loadings()["PC1"].to_numpy()
    cos = abs(est @ LOADINGS) / (np.linalg.norm(est) * np.linalg.norm(LOADINGS))
    assert cos > 0.99


@pytest.mark.heavy
def test_per_family_efficiency_recovered(fit):
    s = fit.summary(ci_prob=0.95)
    # capabilities are identified up to scale: compare family offsets' order, and the shared slope ratio
    alpha = fit.flat("alpha_family")[:, :, 0].mean(0)
    order = np.argsort(alpha)
    assert [sorted(OFFSETS, key=OFFSETS.get)[i] for i in range(4)] == [fit.info["families"][i] for i in order]
    beta = s.xs("beta_family", level="parameter")["mean"].to_numpy()
    assert np.all(beta > 0) and beta.std() / beta.mean() < 0.25


@pytest.mark.heavy
def test_heldout_targets_covered(fit, models):
    held = np.flatnonzero((models["flops"] >= 2e22).to_numpy())
    p = fit.predict({"row": held}, kind="observed", ci_prob=0.95)
    inside = (p["lower"] <= models["target"].to_numpy()[held]) & (models["target"].to_numpy()[held] <= p["upper"])
    assert inside.mean() >= 0.8
    assert np.mean(np.abs(p["median"] - models["target"].to_numpy()[held])) < 0.05


def test_errors(models):
    bad = models.copy()
    bad.loc[4, "b2"] = 1.3
    msg = "column 'b2' holds accuracies and must lie in [0, 1]: rows 4 (1.3)"
    with pytest.raises(DataError, match=re.escape(msg)):
        fit_observational(bad, BENCH, "target", chains=1, warmup=5, draws=5)
    with pytest.raises(DataError, match=re.escape("every benchmark column needs at least one observed value")):
        capability_pca(np.full((4, 2), np.nan), k=1)


@pytest.mark.heavy
def test_prediction_rows_are_positions(fit):
    with pytest.raises(PredictionError, match=re.escape("rows need a 'row' column")):
        fit.predict({"x": [1]})


def test_each_factor_is_led_by_the_benchmark_that_loads_most_on_it():
    """Lower-triangular loadings fix a factor's sign through its leader's positive diagonal entry;
    a leader that barely loads on its factor left the sign unidentified (mirror modes, R-hat 1.8)."""
    rng = np.random.default_rng(0)
    s = rng.normal(size=(200, 2))
    lam = np.array([[0.10, 0.00], [0.02, 0.01], [0.05, 0.12], [0.20, 0.02], [0.08, -0.03]])
    y = 0.5 + s @ lam.T + rng.normal(0, 0.003, (200, 5))
    order = leaders(y, 2)
    assert list(order[:2]) == [3, 2] and sorted(order) == list(range(5))


def _with_error(fit, kappa, tau, bias):
    weights = np.zeros((GRID.size, GRID.size, BIAS_GRID.size))
    weights[np.searchsorted(GRID, kappa), np.searchsorted(GRID, tau), np.argmin(np.abs(BIAS_GRID - bias))] = 1.0
    error = {**fit.info["link_error"], "weights": weights}
    return ObservationalFit(fit.samples, fit.sample_stats, fit.timings, fit.config,
                            info={**fit.info, "link_error": error})


@pytest.mark.heavy
def test_link_error_applies_to_unfitted_models_and_grows_beyond_the_fitted_range(fit, models):
    error = fit.info["link_error"]
    assert error is not None and error["n_points"] > 0
    rows = np.arange(len(models))
    fitted = np.asarray(fit.info["fitted_rows"])
    unfitted = np.setdiff1d(rows, fitted)
    eta = np.median(fit.linear_predictor(rows), axis=0)
    beyond = unfitted[eta[unfitted] > error["reference"] + 0.5]
    assert fitted.size and beyond.size
    bare = ObservationalFit(fit.samples, fit.sample_stats, fit.timings, fit.config,
                            info={**fit.info, "link_error": None})
    width = lambda f, r: np.ptp(np.quantile(f.predictive_draws({"row": r}, kind="observed"), [0.1, 0.9], axis=0), axis=0)
    # an offset only (kappa 0.1): every unfitted model widens, fitted ones stay exactly as they were
    offset = _with_error(fit, 0.1, 1e-4, 0.0)
    np.testing.assert_array_equal(width(offset, fitted), width(bare, fitted))
    assert np.all(width(offset, unfitted) > width(bare, unfitted) + 0.05)
    # a slope change (tau 1) widens only beyond the fitted models' largest linear predictor
    slope = _with_error(fit, 1e-4, 1.0, 0.0)
    assert np.all(width(slope, beyond) > width(bare, beyond) + 0.05)
    # a bias moves the unfitted medians by it, not the fitted ones
    shifted = _with_error(fit, 1e-4, 1e-4, 0.05)
    med = lambda f, r: np.median(f.predictive_draws({"row": r}, kind="law"), axis=0)
    np.testing.assert_array_equal(med(shifted, fitted), med(bare, fitted))
    inside = unfitted[np.median(bare.predictive_draws({"row": unfitted}, kind="law"), axis=0) < 0.9]
    np.testing.assert_allclose(med(shifted, inside) - med(bare, inside), 0.05, atol=0.005)


def test_bias_posterior_recovers_a_one_sided_extrapolation_error():
    rng = np.random.default_rng(1)
    scales = np.full(60, 0.01)
    residuals = 0.04 + rng.normal(0, np.hypot(0.01, 0.02), 60)
    weights = error_posterior(residuals, scales, np.zeros(60), biases=BIAS_GRID)
    assert weights.shape == (GRID.size, GRID.size, BIAS_GRID.size)
    bias = BIAS_GRID[np.argmax(weights.sum((0, 1)))]
    kappa = GRID[np.argmax(weights.sum((1, 2)))]
    assert abs(bias - 0.04) <= 0.01 and 0.01 < kappa < 0.04
    symmetric = error_posterior(residuals - residuals.mean(), scales, np.zeros(60), biases=BIAS_GRID)
    assert abs(BIAS_GRID[np.argmax(symmetric.sum((0, 1)))]) <= 0.005


def test_extrapolation_folds_are_checked(models):
    msg = "extrapolation_folds must be an integer from 0 to 2, got 3"
    with pytest.raises(DataError, match=re.escape(msg)):
        fit_observational(models, BENCH, "target", extrapolation_folds=3, chains=1, warmup=5, draws=5)
