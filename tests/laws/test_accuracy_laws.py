"""Accuracy laws (models/accuracy_*.toml): synthetic recovery, Beta vs Binomial, range errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.core.errors import DataError

TRUTH = {"floor": 0.25, "top": 0.8, "k": 0.6}
ITEMS = 1000


def _binomial_law():
    text = bl.load_law("accuracy_sigmoid").source
    text = text.replace('C = { unit = "FLOP" }', 'C = { unit = "FLOP" }\nitems = { unit = "items" }')
    start = text.index("[likelihood]")
    end = text.index("[derived]")
    return bl.parse_law(text[:start] + '[likelihood]\ndist = "Binomial"\ntrials = "items"\n\n' + text[end:])


def _synthetic(seed=0, n=40):
    rng = np.random.default_rng(seed)
    C = np.exp(rng.uniform(np.log(1e19), np.log(1e24), n))
    lnC_ref = np.log(C).mean()
    a = TRUTH["k"] * lnC_ref  # progress 50% at the data's geometric-mean compute
    p = TRUTH["floor"] + (1 - TRUTH["floor"]) * TRUTH["top"] / (1 + np.exp(a - TRUTH["k"] * np.log(C)))
    correct = rng.binomial(ITEMS, p)
    return pd.DataFrame({"C": C, "items": ITEMS, "accuracy": correct / ITEMS})


@pytest.fixture(scope="module")
def binomial_fit():
    return bl.fit(_binomial_law(), _synthetic(), target="accuracy", chains=2, warmup=300, draws=300, seed=1)


@pytest.mark.heavy
def test_sigmoid_floor_and_slope_recovered(binomial_fit):
    s = binomial_fit.summary(ci_prob=0.95)
    for name in ("floor", "k", "top"):
        row = s.loc[(name, "(shared)")]
        assert row["lower"] < TRUTH[name] < row["upper"], (name, row["lower"], row["upper"])
    assert s.loc[("k", "(shared)"), "sd"] < 0.2


@pytest.mark.heavy
def test_binomial_predictions_are_accuracies(binomial_fit):
    # kind="law": Binomial observed-kind simulation with float item counts is a core issue (reported)
    p = binomial_fit.predict({"C": [1e18, 1e26], "items": [ITEMS, ITEMS]}, kind="law")
    assert np.all((p["lower"] >= 0) & (p["upper"] <= 1))
    assert p["mean"].iloc[0] < 0.35 and p["mean"].iloc[1] > 0.7


def test_likelihood_selection_beta_vs_binomial():
    assert bl.load_law("accuracy_sigmoid").likelihood.dist == "Beta"
    assert bl.load_law("accuracy_exponential").likelihood.dist == "Beta"
    law = _binomial_law()
    assert law.likelihood.dist == "Binomial" and law.likelihood.trials == "items"


def test_accuracy_outside_unit_interval_is_rejected():
    runs = _synthetic(n=8)
    runs.loc[3, "accuracy"] = 1.2
    msg = "column 'accuracy' holds accuracies and must lie in [0, 1]: rows 3 (1.2)"
    with pytest.raises(DataError, match=re.escape(msg)):
        bl.fit(_binomial_law(), runs, target="accuracy", chains=1, warmup=5, draws=5)


def test_beta_rejects_exact_zero():
    runs = _synthetic(n=8)
    runs.loc[2, "accuracy"] = 0.0
    msg = "column 'accuracy' holds accuracies and must lie in (0, 1): rows 2 (0)"
    with pytest.raises(DataError, match=re.escape(msg)):
        bl.fit("accuracy_sigmoid", runs, target="accuracy", chains=1, warmup=5, draws=5)


def test_item_counts_below_correct_counts_are_rejected():
    from bayeslaw.downstream.inputs import check_items

    msg = "column 'items' has item counts below the observed correct counts: rows b"
    with pytest.raises(DataError, match=re.escape(msg)):
        check_items(np.array([10, 10]), np.array([5, 12]), "items", ["a", "b"])


def test_exponential_law_is_bounded_and_increasing():
    law = bl.load_law("accuracy_exponential")
    C = np.logspace(15, 27, 50)
    values = np.asarray(law.formula({"C": C, "floor": 0.25, "top": 0.9, "k": 0.5, "a": 25.0}))
    assert np.all(np.diff(values) >= 0)
    assert values[0] == pytest.approx(0.25, abs=1e-3) and values[-1] <= 0.25 + 0.75 * 0.9 + 1e-12
