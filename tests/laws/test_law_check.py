"""The load-time check of a law's values: NumPy evaluation, the prior sampler and the design."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

import bayeslaw as bl
from bayeslaw.laws.check import N_DESIGN, design, input_range, prior_draws, sample_prior
from bayeslaw.laws.expr import FUNCTIONS, compile_formula
from bayeslaw.laws.priors import parse_prior

jax.config.update("jax_enable_x64", True)

X = np.array([0.05, 0.3, 0.7, 0.95])
Y = np.array([-2.0, 0.5, 1.5, 3.0])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_evaluation_equals_jax(name):
    arity = FUNCTIONS[name][0]
    text = f"{name}(x)" if arity == 1 else f"{name}(x, y)"
    for formula in (compile_formula(text, ["x", "y"]), compile_formula(f"-{text} ** 2 + x ** -1", ["x", "y"])):
        env = {"x": X, "y": Y}
        np.testing.assert_allclose(formula.numpy(env), np.asarray(formula(env)), rtol=1e-12)


def test_numpy_evaluation_is_silent_about_overflow_and_invalid_values():
    formula = compile_formula("exp(x) + log(y) + 1 / (x - x)", ["x", "y"])
    with np.errstate(all="raise"):
        value = formula.numpy({"x": np.array([1000.0, 1.0]), "y": np.array([1.0, -1.0])})
    assert np.isinf(value[0]) and np.isnan(value[1])


PRIORS = [
    ({"dist": "Normal", "loc": -1.3, "scale": 1.0}, stats.norm(-1.3, 1.0)),
    ({"dist": "LogNormal", "loc": 0.5, "scale": 0.5}, stats.lognorm(0.5, scale=np.exp(0.5))),
    ({"dist": "HalfNormal", "scale": 0.05}, stats.halfnorm(scale=0.05)),
    ({"dist": "HalfCauchy", "scale": 2.0}, stats.halfcauchy(scale=2.0)),
    ({"dist": "TruncatedNormal", "loc": 0.3, "scale": 0.2, "low": 0.0}, stats.truncnorm(-1.5, np.inf, 0.3, 0.2)),
    ({"dist": "TruncatedNormal", "loc": 0.0, "scale": 1.0, "low": 3.0, "high": 4.0},
     stats.truncnorm(3.0, 4.0, 0.0, 1.0)),
    ({"dist": "TruncatedNormal", "loc": 0.0, "scale": 1.0, "low": -9.0, "high": -8.0},
     stats.truncnorm(-9.0, -8.0, 0.0, 1.0)),
    ({"dist": "Uniform", "low": 0.1, "high": 0.9}, stats.uniform(0.1, 0.8)),
    ({"dist": "Gamma", "concentration": 2.0, "rate": 0.1, "shift": 1.0}, stats.gamma(2.0, 1.0, 10.0)),
    ({"dist": "Exponential", "rate": 3.0, "shift": 1.0}, stats.expon(1.0, 1 / 3)),
    ({"dist": "StudentT", "df": 3.0, "loc": 0.2, "scale": 1.0}, stats.t(3.0, 0.2, 1.0)),
    ({"dist": "Beta", "concentration1": 2.0, "concentration0": 6.0}, stats.beta(2.0, 6.0)),
]


@pytest.mark.parametrize(("spec", "reference"), PRIORS, ids=[f"{s['dist']}-{i}" for i, (s, _) in enumerate(PRIORS)])
def test_prior_sampler_matches_the_distribution(spec, reference):
    draws = sample_prior(parse_prior(spec, "test"), 20_000, np.random.default_rng(1))
    q = reference.ppf([0.1, 0.5, 0.9])
    # the empirical CDF at the reference quantiles, within 4 binomial standard errors
    assert np.all(np.abs(np.mean(draws[:, None] <= q, axis=0) - [0.1, 0.5, 0.9]) < 4 * np.sqrt(0.25 / 20_000))
    assert np.all((draws >= reference.support()[0]) & (draws <= reference.support()[1]))


def test_design_follows_the_units_and_centred_draws_are_uncentred():
    law = bl.load_law("overtraining")
    x = design(law)
    units = {s.name: s.unit for s in law.inputs}
    for name, values in x.items():
        assert values.shape == (N_DESIGN,)
        np.testing.assert_allclose(values[[0, -1]], input_range(units[name]), rtol=1e-12)
    assert input_range("FLOP (6ND)") == (1.2e14, 1.2e26) and input_range("epochs") == (1.0, 16.0)
    chinchilla = bl.load_law("chinchilla")
    draws = prior_draws(chinchilla, n=4000)
    # a = a_ref + alpha * log(N_ref): N_ref = 1e9, the geometric mean of 1e6..1e12
    a_ref = draws["a"] - draws["alpha"] * np.log(1e9)
    assert abs(np.mean(a_ref) - (-1.3)) < 0.1 and abs(np.std(a_ref) - 1.0) < 0.05


def test_every_catalogue_law_is_finite_at_its_prior_draws():
    for name in bl.list_laws():
        law = bl.load_law(name)
        env = {k: v[:, None] for k, v in prior_draws(law).items()} | {k: v[None, :] for k, v in design(law).items()}
        assert np.all(np.isfinite(law.formula.numpy(env))), name
