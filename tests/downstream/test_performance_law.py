"""Performance Law: the paper's equation, censoring at chance, posterior recovery, exact errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

from bayeslaw.core.errors import DataError
from bayeslaw.downstream.performance_law import (
    censored_log_lik,
    design,
    fit_performance_law,
    instability,
    paper_law,
)

W = np.array([0.05, 0.02, 0.03, 0.08])
B, GAMMA, SIGMA, TAU = -0.2, 2.0, 0.02, 0.01
LLAMA3_8B = pd.DataFrame({"layers": [32.0], "hidden": [4096.0], "ffn": [14336.0], "tokens_T": [15.0],
                          "params_B": [8.0]})


def _synthetic(seed=0, n=60):
    """Models drawn from the law itself: discount inside the logs, t scatter, floor at chance, noise."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"layers": rng.integers(12, 80, n).astype(float), "hidden": 2.0 ** rng.integers(10, 14, n),
                      "tokens_T": np.exp(rng.uniform(np.log(0.1), np.log(15), n)),
                      "params_B": np.exp(rng.uniform(np.log(0.5), np.log(70), n)),
                      "unstable": rng.random(n) < 0.25})
    f["ffn"] = f["hidden"] * rng.uniform(2.5, 4, n)
    gamma = np.where(f["unstable"], GAMMA, 1.0)
    u = B + design(f) @ W - W.sum() * (gamma * instability(f)) ** 2
    latent = u + SIGMA * rng.standard_t(4, n)
    f["mmlu"] = np.clip(np.maximum(latent, 0.25) + rng.normal(0, TAU, n), 0, 1)
    f["latent"] = u
    return f


def test_saturation_clip():
    f = pd.DataFrame({"layers": [32.0], "hidden": [4096.0], "ffn": [11008.0], "tokens_T": [15.0], "params_B": [7.0]})
    assert design(f)[0, 3] == pytest.approx(np.log(7.0))


def test_paper_law_published_weights():
    # by hand: 13.95018192 ln 32 + 0.23072027 ln 4096 - 0.48523402 ln 14336 + 5.39801689 ln 8
    # + 9.195410648934768 - 19.09368506 * ((10/14336 + 20/4096) * 32)^2 = 65.434 points
    assert instability(LLAMA3_8B)[0] == pytest.approx((10 / 14336 + 20 / 4096) * 32)
    assert paper_law(LLAMA3_8B)[0] == pytest.approx(0.65434, abs=1e-5)
    # the discount multiplies every input inside the logs: gamma 1 -> 2 costs sum(w) * 3 k^2
    k = instability(LLAMA3_8B)[0]
    drop = paper_law(LLAMA3_8B)[0] - paper_law(LLAMA3_8B, gamma=2.0)[0]
    assert drop == pytest.approx(0.1909368506 * 3 * k ** 2, rel=1e-9)


def test_paper_law_bounds():
    tiny = pd.DataFrame({"layers": [6.0], "hidden": [512.0], "ffn": [2048.0], "tokens_T": [0.3], "params_B": [0.07]})
    assert paper_law(tiny)[0] == 0.25
    huge = LLAMA3_8B.assign(layers=120.0, hidden=16384.0, ffn=53248.0, tokens_T=100.0, params_B=1000.0)
    assert 0.9 < paper_law(huge)[0] < 1.0


@pytest.mark.heavy
def test_censored_likelihood_limits_and_normalisation():
    y = np.array([0.24, 0.26, 0.55])
    # latent far below chance: only the evaluation noise around chance is left
    np.testing.assert_allclose(censored_log_lik(y[:2], -5.0, SIGMA, TAU, 0.25), norm.logpdf(y[:2], 0.25, TAU),
                               rtol=1e-5)
    # latent far above chance: the Student t scatter about the law
    np.testing.assert_allclose(censored_log_lik(y[2:], 0.6, SIGMA, TAU, 0.25),
                               t.logpdf(0.55, 4, 0.6, SIGMA), rtol=1e-5)
    # latent at chance: a proper density in y (integrates to one, to the approximation's accuracy)
    grid = np.linspace(0.0, 1.0, 100001)
    for m in (0.2, 0.25, 0.26, 0.4):
        dens = np.exp(np.asarray(censored_log_lik(grid, m, 0.05, TAU, 0.25), dtype=float))
        assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=5e-3), m  # error O((tau / sigma)^2)


@pytest.fixture(scope="module")
def data():
    return _synthetic()


@pytest.fixture(scope="module")
def fit(data):
    return fit_performance_law(data, unstable="unstable", chains=2, warmup=300, draws=300, seed=0)


@pytest.mark.heavy
def test_weights_and_gamma_recovered_with_models_at_chance(data, fit):
    # a quarter of the models sit at chance; an unclipped likelihood (the old model) reads them
    # as exact scores of 0.25 and biases the slopes towards zero
    assert 10 <= (data["latent"] < 0.25).sum() <= 30
    s = fit.summary(ci_prob=0.95)
    scale = fit.info["scale"]
    w = s.xs("w", level="parameter")
    for j, name in enumerate(["log_layers", "log_hidden", "log_ffn", "log_tokens_sat"]):
        assert w.loc[name, "lower"] < W[j] * scale[j] < w.loc[name, "upper"], name
    assert s.loc[("gamma", "(shared)"), "lower"] < GAMMA < s.loc[("gamma", "(shared)"), "upper"]
    assert s.loc[("sigma", "(shared)"), "lower"] < SIGMA < s.loc[("sigma", "(shared)"), "upper"]


@pytest.mark.heavy
def test_law_prediction_matches_truth(data, fit):
    p = fit.predict(data, kind="law", ci_prob=0.95)
    truth = np.maximum(data["latent"], 0.25)
    assert np.mean((p["lower"] <= truth + 1e-9) & (truth <= p["upper"] + 1e-9)) >= 0.85


@pytest.mark.heavy
def test_predictions_clip_at_floor(fit):
    rows = pd.DataFrame({"layers": [4.0], "hidden": [256.0], "ffn": [512.0], "tokens_T": [0.01], "params_B": [0.01]})
    law = fit.predict(rows, kind="law", ci_prob=0.9)
    floor = fit.summary(ci_prob=0.9).loc[("floor", "(shared)")]
    assert law["lower"].iloc[0] == pytest.approx(floor["lower"], abs=1e-6)
    assert law["upper"].iloc[0] == pytest.approx(floor["upper"], abs=1e-6)
    assert 0.24 < floor["median"] < 0.26
    obs = fit.predict(rows, kind="observed", ci_prob=0.9)
    assert 0.2 < obs["lower"].iloc[0] < 0.25 < obs["upper"].iloc[0] < 0.3  # the floor plus evaluation noise


def test_errors():
    f = _synthetic(n=10)
    f.loc[3, "layers"] = -1
    with pytest.raises(DataError, match=re.escape("columns layers, hidden, ffn, tokens_T, params_B must be positive numbers: rows 3")):
        fit_performance_law(f)
    g = _synthetic(n=10).drop(columns="ffn")
    with pytest.raises(DataError, match=re.escape("table has no column 'ffn'")):
        fit_performance_law(g)


@pytest.mark.parametrize(("column", "row", "text"), [("hidden", 2, "abc"), ("mmlu", 4, "pending")])
def test_a_text_cell_names_the_column_and_row(column, row, text):
    """Text in an input or the target was a raw 'could not convert string to float: 'abc''."""
    f = _synthetic(n=10)
    f[column] = f[column].astype(object)
    f.loc[row, column] = text
    with pytest.raises(DataError) as info:
        fit_performance_law(f)
    assert str(info.value) == f"column '{column}' in the models table is not numeric: row {row} ('{text}')"


def test_a_missing_word_is_a_missing_value_as_a_csv_reads_it():
    """'n/a' is what pandas' CSV reader takes for a missing value; in a table of objects too."""
    f = _synthetic(n=10)
    f["mmlu"] = f["mmlu"].astype(object)
    f.loc[4, "mmlu"] = "n/a"
    with pytest.raises(DataError) as info:
        fit_performance_law(f)
    assert str(info.value) == "column 'mmlu' of the models table has missing values: row 4"
