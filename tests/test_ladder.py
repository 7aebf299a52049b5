"""Two-step ladder: synthetic recovery, chained intervals, likelihood selection, exact errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayeslaw.errors import DataError, PredictionError
from bayeslaw.ladder import fit_ladder

TRUTH = {"E": 0.6, "alpha": 0.3, "beta": 0.28, "A": 60.0, "B": 400.0, "floor": 0.25, "top": 0.9, "k": 8.0, "L0": 1.1}
ITEMS = 2000


def _law(N, D):
    return TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]


def _acc(L):
    return TRUTH["floor"] + (1 - TRUTH["floor"]) * TRUTH["top"] / (1 + np.exp(TRUTH["k"] * (L - TRUTH["L0"])))


def _synthetic(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for N in (2e8, 4e8, 8e8, 1.3e9):
        for mult in (1, 2, 5, 10):
            for frac in np.linspace(0.2, 1.0, 8):
                D = 20 * N * mult * frac
                L = _law(N, D) * np.exp(rng.normal(0, 0.01))
                rows.append({"N": N, "D": D, "task_loss": L, "accuracy": rng.binomial(ITEMS, _acc(L)) / ITEMS,
                             "items": ITEMS, "final": frac == 1.0})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def runs():
    return _synthetic()


@pytest.fixture(scope="module")
def beta_fit(runs):
    return fit_ladder(runs, step1="final", chains=2, warmup=300, draws=300, seed=0)


def test_step1_exponents_and_step2_floor_recovered(beta_fit):
    s = beta_fit.summary(ci_prob=0.95)
    for name in ("alpha", "beta", "floor"):
        row = s.loc[(name, "(shared)")]
        assert row["lower"] < TRUTH[name] < row["upper"], (name, row["lower"], row["upper"])


def test_chained_prediction_covers_a_larger_target(beta_fit):
    N, D = 7e9, 4e12
    truth = _acc(_law(N, D))
    p = beta_fit.predict({"N": [N], "D": [D]}, kind="observed", ci_prob=0.95).iloc[0]
    assert p["lower"] < truth < p["upper"]
    assert abs(p["median"] - truth) < 0.03
    law = beta_fit.predict({"N": [N], "D": [D]}, kind="law", ci_prob=0.95).iloc[0]
    assert law["upper"] - law["lower"] <= p["upper"] - p["lower"]
    loss = beta_fit.predictive_draws({"N": [N], "D": [D]}, kind="law", quantity="loss")
    assert np.quantile(loss, 0.025) < _law(N, D) < np.quantile(loss, 0.975)


def test_likelihood_selection(beta_fit, runs):
    assert not beta_fit.info["binomial"] and "concentration" in beta_fit.summary().index.get_level_values(0)
    binom = fit_ladder(runs, items="items", chains=1, warmup=100, draws=50, seed=0, max_step2_rows=60)
    assert binom.info["binomial"] and "concentration" not in binom.summary().index.get_level_values(0)


def test_accuracy_out_of_range_is_an_exact_error(runs):
    bad = runs.copy()
    bad.loc[5, "accuracy"] = 1.5
    msg = "column 'accuracy' holds accuracies and must lie in (0, 1): rows 5 (1.5)"
    with pytest.raises(DataError, match=re.escape(msg)):
        fit_ladder(bad, chains=1, warmup=5, draws=5)


def test_binomial_needs_items_and_valid_counts(runs):
    with pytest.raises(DataError, match=re.escape("the Binomial likelihood needs items='<column with item counts>'")):
        fit_ladder(runs, likelihood="Binomial")
    bad = runs.copy()
    bad["items"] = bad["items"].astype(float)
    bad.loc[7, "items"] = 2.5
    with pytest.raises(DataError, match=re.escape("column 'items' must hold whole positive item counts: rows 7")):
        fit_ladder(bad, items="items", max_step2_rows=None)


def test_prediction_errors(beta_fit):
    with pytest.raises(PredictionError, match=re.escape("rows need columns N and D; missing: D")):
        beta_fit.predict({"N": [1e9]})
    with pytest.raises(PredictionError, match=re.escape("kind must be one of: law, observed; got 'x'")):
        beta_fit.predict({"N": [1e9], "D": [1e10]}, kind="x")
