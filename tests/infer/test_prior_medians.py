"""Closed-form prior medians: the start of the damped Newton mode search (fit_many, and bl.fit
for law models), without compiling samplers."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy import stats

from bayeslaw.core import runtime
from bayeslaw.data.runs import read_runs, validate_runs
from bayeslaw.infer.prior_medians import median
from bayeslaw.infer.start import log_reference, model_args, prior_median
from bayeslaw.laws.law import load_law
from bayeslaw.laws.priors import DISTRIBUTIONS, parse_prior
from bayeslaw.modeling.build import build_model, make_plan

runtime.configure()  # float64 on CPU, as in fits

# every distribution a law file may name, its median from scipy (a dependency of jax), and the
# tolerance: exact formulas to rounding, the Gamma's and the Beta's approximations to their error
LAW_FILE_PRIORS = [
    ({"dist": "Normal", "loc": -1.3, "scale": 1.0}, stats.norm(-1.3, 1.0), 1e-9),
    ({"dist": "LogNormal", "loc": 0.5, "scale": 0.5}, stats.lognorm(0.5, scale=np.exp(0.5)), 1e-9),
    ({"dist": "HalfNormal", "scale": 0.05}, stats.halfnorm(scale=0.05), 1e-9),
    ({"dist": "HalfCauchy", "scale": 2.0}, stats.halfcauchy(scale=2.0), 1e-9),
    ({"dist": "TruncatedNormal", "loc": 0.3, "scale": 0.2, "low": 0.0},
     stats.truncnorm(-1.5, np.inf, 0.3, 0.2), 1e-6),
    ({"dist": "TruncatedNormal", "loc": 0.3, "scale": 0.2, "low": 0.0, "high": 0.5},
     stats.truncnorm(-1.5, 1.0, 0.3, 0.2), 1e-6),
    ({"dist": "Uniform", "low": 0.1, "high": 0.9}, stats.uniform(0.1, 0.8), 1e-9),
    ({"dist": "Gamma", "concentration": 2.0, "rate": 0.1, "shift": 1.0}, stats.gamma(2.0, 1.0, 10.0), 5e-3),
    ({"dist": "Gamma", "concentration": 0.5, "rate": 2.0}, stats.gamma(0.5, scale=0.5), 4e-2),
    ({"dist": "Exponential", "rate": 3.0}, stats.expon(scale=1 / 3), 1e-9),
    ({"dist": "Exponential", "rate": 3.0, "shift": 1.0}, stats.expon(1.0, 1 / 3), 1e-9),
    ({"dist": "Beta", "concentration1": 2.0, "concentration0": 6.0}, stats.beta(2.0, 6.0), 6e-3),
    ({"dist": "Beta", "concentration1": 6.0, "concentration0": 1.5}, stats.beta(6.0, 1.5), 3e-3),
    ({"dist": "Beta", "concentration1": 1.0, "concentration0": 3.0}, stats.beta(1.0, 3.0), 4e-2),
    ({"dist": "StudentT", "df": 3.0, "loc": 0.2, "scale": 1.0}, stats.t(3.0, 0.2, 1.0), 1e-9),
]


@pytest.mark.parametrize(("spec", "reference", "rtol"), LAW_FILE_PRIORS,
                         ids=[f"{spec['dist']}-{i}" for i, (spec, _, _) in enumerate(LAW_FILE_PRIORS)])
def test_median_of_every_law_file_prior(spec, reference, rtol):
    assert spec["dist"] in DISTRIBUTIONS
    np.testing.assert_allclose(float(median(parse_prior(spec, "test").build())), reference.median(), rtol=rtol)


def test_every_law_file_distribution_is_covered():
    assert {spec["dist"] for spec, _, _ in LAW_FILE_PRIORS} == set(DISTRIBUTIONS)


def test_batched_and_expanded_priors_keep_their_shape():
    value = median(dist.Normal(jnp.array([0.0, 1.0, 2.0]), 1.0).expand([2, 3]).to_event(1))
    np.testing.assert_allclose(value, np.broadcast_to([0.0, 1.0, 2.0], (2, 3)))


def test_uncovered_distribution_has_no_closed_form():
    assert median(dist.Dirichlet(jnp.ones(3))) is None
    assert median(dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2))) is None


@pytest.mark.heavy
@pytest.mark.parametrize(("law", "families"), [("chinchilla", 1), ("chinchilla", 5), ("accuracy_sigmoid", 1)])
def test_closed_form_start_matches_the_sampled_prior_median(law, families, demo_runs):
    """The closed-form start is the prior median the 15-draw start estimates: within the
    draws' own scatter (a sample median of 15 has sd ~0.32 prior sd) on every site."""
    spec = load_law(law)
    frame = demo_runs if families > 1 else demo_runs[demo_runs["family"] == "dense"]
    if law == "accuracy_sigmoid":
        frame = frame.assign(C=6.0 * frame["N"].astype(float) * frame["D"], accuracy=0.5)
        table = validate_runs(read_runs(frame.reset_index(drop=True)), {"C": True}, "accuracy", None)
    else:
        table = validate_runs(read_runs(frame.reset_index(drop=True)), {"N": True, "D": True}, "loss",
                              "family" if families > 1 else None)
    plan = make_plan(spec, table.n_families, {}, centered=False)
    model = build_model(plan)
    args = model_args(table, log_reference(plan, table.inputs))
    closed = jax.jit(partial(prior_median, model, closed_form=True))(jax.random.PRNGKey(0), args)
    sampled = jax.jit(partial(prior_median, model))
    many = [sampled(jax.random.PRNGKey(seed), args) for seed in range(40)]
    assert set(closed) == set(many[0])
    for site, value in closed.items():
        draws = np.stack([m[site] for m in many])
        centre = np.median(draws, axis=0)
        spread = np.std(draws, axis=0) + 1e-9
        assert np.all(np.abs(np.asarray(value) - centre) < 3 * spread), site
