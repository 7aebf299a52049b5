"""Bounded likelihoods for accuracy laws: Beta and Binomial, with their input checks."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl

LAW = """
name = "acc"
description = "toy accuracy law"
reference = "test"
formula = "0.25 + 0.75 * sigmoid(k * (log(C) - c))"
[inputs]
C = { unit = "FLOP" }
items = { unit = "items" }
[params.k]
prior = { dist = "LogNormal", loc = 0.0, scale = 0.5 }
[params.c]
prior = { dist = "Normal", loc = 50.0, scale = 3.0 }
[likelihood]
dist = "Binomial"
trials = "items"
"""


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(0)
    C = np.geomspace(1e19, 1e24, 40)
    p = 0.25 + 0.75 / (1 + np.exp(-1.2 * (np.log(C) - 51.0)))
    items = np.full(C.size, 1000.0)
    return pd.DataFrame({"C": C, "items": items, "acc": rng.binomial(items.astype(int), p) / items})


@pytest.mark.heavy
def test_binomial_fit_recovers_and_predicts_observed_accuracies(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fit = bl.fit(bl.parse_law(LAW), runs, target="acc", chains=2, warmup=300, draws=300)
    s = fit.summary()
    assert s.loc[("k", "(shared)"), "lower"] < 1.2 < s.loc[("k", "(shared)"), "upper"]
    pred = fit.predict({"C": [1e22, 1e25], "items": [1000, 1000]}, kind="observed")
    assert ((pred["lower"] >= 0) & (pred["upper"] <= 1)).all()
    law = fit.predict({"C": [1e22, 1e25], "items": [1000, 1000]}, kind="law")
    assert (pred["upper"] - pred["lower"] > law["upper"] - law["lower"]).all()


def test_accuracy_and_item_count_errors(runs):
    bad = runs.copy()
    bad.loc[3, "acc"] = 1.2
    with pytest.raises(bl.DataError, match=re.escape("column 'acc' holds accuracies and must lie in [0, 1]: rows 3 (1.2)")):
        bl.fit(bl.parse_law(LAW), bad, target="acc")
    bad = runs.copy()
    bad.loc[5, "items"] = 10.5
    with pytest.raises(bl.DataError, match=re.escape("column 'items' must hold whole item counts: rows 5")):
        bl.fit(bl.parse_law(LAW), bad, target="acc")
    beta = bl.parse_law(LAW.replace('dist = "Binomial"\ntrials = "items"', 'dist = "Beta"')
                        .replace('items = { unit = "items" }\n', ''))
    edge = runs.copy()
    edge.loc[0, "acc"] = 0.0
    with pytest.raises(bl.DataError, match=re.escape("column 'acc' holds accuracies and must lie in (0, 1): rows 0 (0)")):
        bl.fit(beta, edge, target="acc")


def test_likelihood_spec_errors():
    with pytest.raises(bl.LawSpecError, match=re.escape('Binomial likelihood of law \'acc\' needs trials = "<input>" naming the input with item counts')):
        bl.parse_law(LAW.replace('trials = "items"', 'trials = "n"'))
    with pytest.raises(bl.LawSpecError, match=re.escape("likelihood key 'sigma' of law 'acc' does not apply to Binomial")):
        bl.parse_law(LAW.replace('trials = "items"', 'trials = "items"\nsigma = { prior = { dist = "HalfNormal", scale = 1 } }'))


def test_student_t_with_shared_scale_equals_numpyro():
    """The Student-t that computes its normaliser once gives numpyro's density and gradient,
    for shared (scalar) and per-row df and sigma."""
    import jax
    import numpyro.distributions as dist

    from bayeslaw.core import runtime
    from bayeslaw.modeling.likelihood import StudentT

    runtime.configure()  # float64, as in a fit (alone, this test would otherwise run in float32)
    rng = np.random.default_rng(0)
    value, loc = rng.normal(0, 1, 7), rng.normal(0, 1, 7)
    for df, scale in ((3.5, 0.2), (rng.uniform(1, 30, 7), rng.uniform(0.01, 1, 7))):
        ours = StudentT(df, loc, scale).log_prob(value)
        theirs = dist.StudentT(df, loc, scale).log_prob(value)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    grad = lambda d: jax.grad(lambda p: d(p[0], loc, p[1]).log_prob(value).sum())(np.array([3.5, 0.2]))
    np.testing.assert_allclose(grad(StudentT), grad(dist.StudentT), rtol=1e-10)


@pytest.mark.parametrize(("law_name", "finite"), [
    ("chinchilla", [False, False, False]),
    ("accuracy_sigmoid", [True, True, False]),  # a Beta mean is clipped into (0, 1) first
])
def test_a_non_finite_law_value_is_zero_density_not_an_error(law_name, finite):
    """Far from the data (NumPyro's random initial points under partial pooling of the
    exponents, a rejected trajectory) the law's value can overflow; NumPyro validates
    distribution arguments eagerly by default, which raised 'StudentT distribution got invalid
    loc parameter' out of bl.fit. The density there is zero (or undefined), never an error."""
    from bayeslaw.laws.law import load_law
    from bayeslaw.modeling.likelihood import observation_distribution

    law = load_law(law_name)
    params = {"df": 3.0, "sigma": 0.1, "concentration": 20.0}
    mean = np.array([np.inf, -1.0, np.nan])
    density = observation_distribution(law, mean, params).log_prob(np.array([0.5, 0.5, 0.5]))
    assert np.isfinite(np.asarray(density)).tolist() == finite


def test_new_run_noise_is_the_student_t_truncated_by_rejection():
    """Truncated draws stay within the bound, pile no mass on it (redrawn, not clipped), and keep
    the t's shape inside it; an infinite bound leaves the t as it is."""
    import jax

    from bayeslaw.modeling.likelihood import _student_t

    key, n, df = jax.random.PRNGKey(3), 200_000, 1.5
    free = np.asarray(_student_t(key, np.array(df), (n,)))
    bounded = np.asarray(_student_t(key, np.array(df), (n,), bound=np.array(10.0)))
    assert np.abs(bounded).max() <= 10.0
    assert np.mean(np.abs(bounded) > 9.99) < 1e-3  # the t's own density there, no atom
    inside = free[np.abs(free) <= 10.0]
    assert np.mean(np.abs(free) > 10.0) > 0.02  # heavy enough for the bound to matter
    assert np.mean(np.abs(bounded) < 1.0) == pytest.approx(np.mean(np.abs(inside) < 1.0), abs=0.01)
    same = np.asarray(_student_t(key, np.array(df), (n,), bound=np.array(np.inf)))
    np.testing.assert_array_equal(same, free)


def test_noise_bound_is_the_largest_fitted_residual_never_below_the_floor():
    from bayeslaw.modeling.likelihood import MIN_NOISE_BOUND, noise_bound

    law = bl.load_law("chinchilla")
    sigma = np.array([[0.01], [0.02]])
    mean = np.full((2, 3), 2.0)
    y = np.array([[2.0 * np.exp(0.3), 2.0, 2.0 * np.exp(-0.01)]])
    bound = noise_bound(law, mean, {"sigma": sigma, "df": 2.0}, y)
    np.testing.assert_allclose(bound[:, 0], [30.0, 15.0])
    close = noise_bound(law, mean, {"sigma": sigma, "df": 2.0}, np.full((1, 3), 2.0))
    np.testing.assert_allclose(close[:, 0], MIN_NOISE_BOUND)
    broken = noise_bound(law, np.full((2, 3), np.nan), {"sigma": sigma, "df": 2.0}, y)
    assert np.isinf(broken).all()
    text = (Path(bl.__file__).parents[1] / "models" / "chinchilla.toml").read_text()
    text = re.sub(r"\ndf = .*", "", text.replace('dist = "StudentT"', 'dist = "Normal"'))
    normal = bl.parse_law(text)
    assert noise_bound(normal, mean, {"sigma": sigma}, y) is None


def test_observed_draws_reach_no_farther_than_the_noise_bound(tiny_family_fit):
    """A new run's draw sits within the draw's bound (noise scales) of the law's value: the
    predictive has a finite mean wherever the t's df would leave it without one."""
    fit = tiny_family_fit
    rows = fit.table.frame.iloc[:20]
    law = np.asarray(fit.predictive_draws(rows, kind="law", seed=4))
    observed = np.asarray(fit.predictive_draws(rows, kind="observed", seed=4))
    noise = np.abs(np.log(observed / law)) / np.asarray(fit.flat("sigma"))[:, None]
    assert np.all(noise <= fit._noise_bound + 1e-9)
    assert np.all(np.isfinite(observed))
