"""Convergence diagnostics: what cannot be computed is said, and quantities are named as the
summary names them."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.infer.settings import check_settings
from bayeslaw.modeling.build import make_plan
from bayeslaw.results.diagnostics import (
    diagnose,
    largest_r_hat,
    problems,
    quantity_labels,
    unjudged,
    warn_if_unreliable,
)

ONE_CHAIN = ("R-hat cannot be computed with 1 chain, so convergence is not checked; run at least 2 "
             "chains (e.g. chains=4)")


def _messages(draws: dict, divergences: int = 0, labels=None) -> list[str]:
    chains = next(iter(draws.values())).shape[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_unreliable(diagnose(draws), divergences, chains, 0.8, labels)
    assert all(w.category is bl.ConvergenceWarning for w in caught)
    return [str(w.message) for w in caught]


def test_one_chain_is_not_silence():
    rng = np.random.default_rng(0)
    assert _messages({"alpha": rng.normal(size=(1, 500))}) == [ONE_CHAIN]


def test_too_few_draws_is_not_silence():
    rng = np.random.default_rng(0)
    messages = _messages({"alpha": rng.normal(size=(4, 3))})
    assert messages == ["R-hat and ESS cannot be computed from fewer than 4 draws per chain; draw more"]


def test_a_stuck_quantity_is_named():
    rng = np.random.default_rng(0)
    draws = {"alpha": rng.normal(size=(4, 500)), "beta": np.ones((4, 500))}
    assert _messages(draws)[0] == ("R-hat cannot be computed for beta: its draws do not vary within a "
                                   "chain (a stuck chain); check the model and draw more")


def test_good_draws_give_no_warning():
    rng = np.random.default_rng(0)
    assert _messages({"alpha": rng.normal(size=(4, 500))}) == []
    assert unjudged(diagnose({"alpha": rng.normal(size=(4, 500))}), 4) == []


def test_warnings_use_the_summary_names():
    law = bl.load_law("chinchilla")
    plan = make_plan(law, 2, {"alpha": "partial", "beta": "none"}, centered=False)
    families = ("dense", "moe")
    rng = np.random.default_rng(0)
    draws = {"b_ref": rng.normal(size=(4, 200)) + np.arange(4)[:, None],  # chains apart
             "a_ref_sd": rng.normal(size=(4, 200)), "alpha_z": rng.normal(size=(4, 200, 2)),
             "beta_family": rng.normal(size=(4, 200, 2))}
    diag = diagnose(draws)
    labels = quantity_labels(plan, families, diag.index)
    assert labels == {"b_ref": "b (population)", "a_ref_sd": "a_sd (population)",
                      "alpha_z[0]": "alpha (dense)", "alpha_z[1]": "alpha (moe)",
                      "beta_family[0]": "beta (dense)", "beta_family[1]": "beta (moe)"}
    found = problems(diag, 0, 4, 0.8, labels)
    assert re.match(r"R-hat reaches \d\.\d{3} for b \(population\) \(limit 1\.01\)", found[0])
    assert not any("_ref" in message for message in _messages(draws, labels=labels))


@pytest.mark.parametrize(("target_accept", "advice"), [
    (0.8, "raise target_accept (now 0.8, try 0.95) or share"),
    (0.95, "raise target_accept (now 0.95, try 0.99) or share"),
    (0.99, "raise target_accept (now 0.99, try 0.999) or share"),
    (0.999, "target_accept is already 0.999: share"),
])
def test_divergence_advice_is_above_the_current_target(target_accept, advice):
    rng = np.random.default_rng(0)
    found = problems(diagnose({"alpha": rng.normal(size=(4, 500))}), 12, 4, target_accept)
    assert found == [f"12 divergent transitions after warmup: the sampler could not explore part of "
                     f"the posterior; {advice} parameters that few families inform"]


@pytest.mark.parametrize(("seed", "message"), [
    (2**32, "seed must be a whole number from 0 to 4294967295 (32 bits), got 4294967296"),
    (-1, "seed must be a whole number from 0 to 4294967295 (32 bits), got -1"),
    (2**70, f"seed must be a whole number from 0 to 4294967295 (32 bits), got {2**70}"),
    (1.5, "seed must be an int, got 1.5"),
])
def test_seed_range(seed, message):
    with pytest.raises(bl.FitError, match=re.escape(message)):
        check_settings(4, 100, 100, seed, 0.8)
    check_settings(1, 1, 1, 2**32 - 1, 0.8)


def test_target_accept_must_be_a_number():
    with pytest.raises(bl.FitError, match=re.escape("target_accept must be in [0.5, 1), got 'high'")):
        check_settings(4, 100, 100, 0, "high")


def test_largest_r_hat_is_not_hidden_by_a_quantity_without_one():
    rng = np.random.default_rng(0)
    apart = rng.normal(size=(2, 100)) + np.array([[0.0], [3.0]])  # two chains far apart
    diag = diagnose({"apart": apart, "constant": np.ones((2, 100))})
    assert np.isnan(diag.loc["constant", "r_hat"])
    assert largest_r_hat(diag) == diag.loc["apart", "r_hat"] > 1.5
    assert np.isnan(largest_r_hat(diagnose({"constant": np.ones((2, 100))})))


def test_noisy_interval_ends_are_named_even_when_the_bulk_is_fine():
    # ESS of the 5% and 95% quantiles below 100 per chain: the intervals' ends are noise
    diag = pd.DataFrame({"r_hat": [1.001, 1.002], "ess_bulk": [2000.0, 1500.0],
                         "ess_tail": [900.0, 150.0]}, index=pd.Index(["alpha", "E"], name="quantity"))
    assert problems(diag, 0, 4, 0.8) == [
        "tail ESS is only 150 for E (want >= 100 per chain): the interval ends (5% and 95% "
        "quantiles) are noisy; increase draws"]
    assert problems(diag.assign(ess_tail=400.0), 0, 4, 0.8) == []
