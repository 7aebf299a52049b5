"""pooling="auto" (opt-in): families fitted apart only when their nested refits extrapolate clearly better so."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.core.errors import PredictionError
from bayeslaw.infer import pooling_choice

SETTINGS = {"chains": 1, "warmup": 200, "draws": 200, "seed": 0, "progress": False}
#: two training sets whose runs scale differently: model-size exponents 0.2 and 0.5
APART_TRUTH = {"web": {"E": 1.8, "a": 4.2, "alpha": 0.2, "b": 6.0, "beta": 0.28},
               "code": {"E": 1.1, "a": 10.0, "alpha": 0.5, "b": 5.6, "beta": 0.26}}


def _runs(truth: dict, n: int, seed: int) -> pd.DataFrame:
    """Runs of each family on a grid of sizes, 1% log-normal scatter (plain NumPy oracle)."""
    rng = np.random.default_rng(seed)
    frames = []
    for family, p in truth.items():
        N = np.exp(rng.uniform(np.log(1e7), np.log(3e9), n))
        D = N * np.exp(rng.uniform(np.log(5), np.log(200), n))
        law = p["E"] + np.exp(p["a"] - p["alpha"] * np.log(N)) + np.exp(p["b"] - p["beta"] * np.log(D))
        frames.append(pd.DataFrame({"family": family, "N": N, "D": D, "loss": law * np.exp(rng.normal(0, 0.01, n))}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def apart_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit("chinchilla", _runs(APART_TRUTH, 40, seed=3), group="family", pooling="auto", **SETTINGS)


@pytest.mark.heavy  # the choice fits the law twice with its nested fits: 80 s of the default suite
def test_families_that_scale_differently_are_fitted_apart(apart_fit):
    choice = apart_fit.config["pooling_choice"]
    assert choice["chosen"] == "apart", choice
    assert choice["log_evidence"]["apart"] > choice["log_evidence"]["law"] + pooling_choice.MARGIN
    assert all(apart_fit.plan.pooling_map[p] == "none" for p in ("E", "a", "alpha", "b", "beta"))
    assert apart_fit.plan.pooling_map["sigma"] == "shared"  # the likelihood's parameters keep the law's
    # each family's exponent is recovered, where a shared one would sit between 0.2 and 0.5
    alpha = apart_fit.family_values()["alpha"]
    for j, family in enumerate(apart_fit.families):
        lo, hi = np.quantile(alpha[:, j], [0.01, 0.99])
        assert lo <= APART_TRUTH[family]["alpha"] <= hi, (family, lo, hi)
    # the fit's extrapolation error is the chosen model's (measured once, not again)
    assert apart_fit.extrapolation is not None and apart_fit.timings["extrapolation_s"] > 0
    with pytest.raises(PredictionError, match=re.escape("or pooling={} for the law's own pooling")):
        apart_fit.predict({"N": 1e10, "D": 2e11})


def test_the_default_keeps_the_laws_pooling_without_a_choice(family_fit):
    assert "pooling_choice" not in family_fit.config
    assert family_fit.plan.pooling_map["alpha"] == "shared" and family_fit.plan.pooling_map["E"] == "partial"


def test_auto_without_an_extrapolation_error_makes_no_choice(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the pooling was chosen without an extrapolation error to choose by")

    monkeypatch.setattr("bayeslaw.infer.fit.choose_pooling", refuse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fit = bl.fit("chinchilla", _runs(APART_TRUTH, 12, seed=4), group="family", pooling="auto",
                     extrapolation=False, **{**SETTINGS, "warmup": 50, "draws": 50})
    assert "pooling_choice" not in fit.config and fit.plan.pooling_map["alpha"] == "shared"


@pytest.mark.heavy
def test_the_report_of_families_apart_shows_each_family(apart_fit):
    # no population to draw a new family from: parameters and the allocation come per family
    html = bl.report.render_report(apart_fit, at=[{"N": 1e10, "D": 2e11, "family": "web"}])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    for family in ("code", "web"):
        assert re.search(rf"alpha \({family}\) 0\.\d+ \[0\.\d+, 0\.\d+\] fitted separately per family", text)
        assert re.search(rf"{family} \d\.\de\+\d\d \d", text), family  # an allocation row per family
    assert "for each fitted family (parameters fitted separately per family leave no population" in text
