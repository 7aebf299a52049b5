"""Performance Law: saturation clip, posterior weights recovery, discount, exact errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayeslaw.errors import DataError
from bayeslaw.performance_law import design, fit_performance_law

W = np.array([0.05, 0.02, 0.03, 0.08])


def _synthetic(seed=0, n=60):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"layers": rng.integers(12, 80, n).astype(float), "hidden": 2.0 ** rng.integers(10, 14, n),
                      "tokens_T": np.exp(rng.uniform(np.log(0.1), np.log(15), n)),
                      "params_B": np.exp(rng.uniform(np.log(0.5), np.log(70), n)),
                      "unstable": rng.random(n) < 0.25})
    f["ffn"] = f["hidden"] * rng.uniform(2.5, 4, n)
    u = design(f) @ W - 0.2
    f["mmlu"] = np.clip(u * np.where(f["unstable"], 0.8, 1.0) + rng.normal(0, 0.01, n), 0.01, 0.99)
    return f


def test_saturation_clip():
    f = pd.DataFrame({"layers": [32.0], "hidden": [4096.0], "ffn": [11008.0], "tokens_T": [15.0], "params_B": [7.0]})
    assert design(f)[0, 3] == pytest.approx(np.log(7.0))


@pytest.fixture(scope="module")
def fit():
    return fit_performance_law(_synthetic(), unstable="unstable", chains=2, warmup=300, draws=300, seed=0)


def test_weights_and_discount_recovered(fit):
    s = fit.summary(ci_prob=0.95)
    scale = fit.info["scale"]
    w = s.xs("w", level="parameter")
    for j, name in enumerate(["log_layers", "log_hidden", "log_ffn", "log_tokens_sat"]):
        assert w.loc[name, "lower"] < W[j] * scale[j] < w.loc[name, "upper"], name
    assert s.loc[("discount", "(shared)"), "lower"] < 0.8 < s.loc[("discount", "(shared)"), "upper"]


def test_predictions_clip_at_chance(fit):
    rows = pd.DataFrame({"layers": [4.0], "hidden": [256.0], "ffn": [512.0], "tokens_T": [0.01], "params_B": [0.01]})
    p = fit.predict(rows, kind="observed")
    assert p["lower"].iloc[0] >= 0.25


def test_errors():
    f = _synthetic(n=10)
    f.loc[3, "layers"] = -1
    with pytest.raises(DataError, match=re.escape("columns layers, hidden, ffn, tokens_T, params_B must be positive numbers: rows 3")):
        fit_performance_law(f)
    g = _synthetic(n=10).drop(columns="ffn")
    with pytest.raises(DataError, match=re.escape("table has no column 'ffn'")):
        fit_performance_law(g)
