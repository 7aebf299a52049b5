"""Catalogue checks for the broken power law, data-constrained and over-training laws.

Each law: loads; prior draws give finite values and finite gradients of the log density; the
jitted formula equals the eager one; the prior predictive loss lies in a sane range; and the
formula agrees with an independent closed form from its paper.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

import bayeslaw as bl
from bayeslaw.modeling.build import build_model, make_plan

jax.config.update("jax_enable_x64", True)

GRID = 12
_C = np.logspace(17, 23, GRID)
_N = np.logspace(7, 10, GRID)
_D = np.logspace(8.5, 11.5, GRID)
INPUTS = {
    "broken_power_law": {"C": _C},
    "data_constrained": {"N": _N, "D": _D, "U": _D / np.tile([0.5, 1.0, 4.0, 40.0], GRID // 4)},
    "overtraining": {"C": _C, "M": np.tile([5.0, 20.0, 80.0, 320.0], GRID // 4)},
}
LAWS = sorted(INPUTS)


def _setup(name, families=2):
    law = bl.load_law(name)
    plan = make_plan(law, families)
    x = {k: jnp.asarray(v) for k, v in INPUTS[name].items()}
    family = jnp.asarray(np.arange(GRID) % families)
    names = {s.center.input for s in law.params.values() if s.center is not None}
    logref = {k: jnp.asarray(np.mean(np.log(INPUTS[name][k]))) for k in names}
    return law, plan, build_model(plan), (x, family, logref)


@pytest.fixture(scope="module", params=LAWS)
def prior(request):
    law, plan, model, args = _setup(request.param)
    draws = Predictive(model, num_samples=300)(jax.random.PRNGKey(0), *args)
    return request.param, law, plan, model, args, {k: np.asarray(v) for k, v in draws.items()}


def test_new_laws_are_in_the_catalogue():
    assert set(LAWS) <= set(bl.list_laws())
    for name in LAWS:
        law = bl.load_law(name)
        assert "arXiv:" in law.reference
        assert all(spec.prior is not None for spec in law.params.values())


@pytest.mark.heavy
def test_prior_draws_give_finite_values(prior):
    _, _, _, _, _, draws = prior
    assert np.isfinite(draws["obs"]).all()


def test_prior_predictive_loss_is_sane(prior):
    name, _, _, _, _, draws = prior
    loss = np.exp(draws["obs"])
    lo, med, hi = np.quantile(loss, [0.05, 0.5, 0.95])
    assert 1.0 < med < 10.0, (name, med)
    assert lo > 0.3 and hi < 100.0, (name, lo, hi)


@pytest.mark.heavy
def test_log_density_gradient_is_finite_at_prior_draws(prior):
    _, _, _, model, args, draws = prior
    sites = [k for k in draws if k != "obs" and not k.endswith("_family") and k in _sampled(model, args)]
    @jax.jit
    def value_and_grad(params, y):
        return jax.value_and_grad(lambda p: log_density(model, (*args, y), {}, p)[0])(params)

    for s in range(0, 300, 30):
        params = {k: jnp.asarray(draws[k][s]) for k in sites}
        value, grad = value_and_grad(params, jnp.exp(jnp.asarray(draws["obs"][s])))
        assert np.isfinite(value)
        assert all(np.isfinite(np.asarray(g)).all() for g in grad.values())


def _sampled(model, args):
    from numpyro import handlers

    tr = handlers.trace(handlers.seed(model, 0)).get_trace(*args)
    return {k for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}


def test_jit_equals_eager(prior):
    name, law, _, _, _, draws = prior
    rng = np.random.default_rng(1)
    for s in rng.choice(300, 5, replace=False):
        env = {k: jnp.asarray(v) for k, v in INPUTS[name].items()}
        env.update({p: jnp.asarray(draws[f"{p}_family"][s][0]) if f"{p}_family" in draws
                    else jnp.asarray(draws[p][s]) for p in law.params})
        eager = law.formula(env)
        jitted = jax.jit(law.formula)(env)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-10)


# -- the formulas against closed forms from the papers ----------------------------------------------

def test_overtraining_is_chinchilla_with_equal_exponents():
    law = bl.load_law("overtraining")
    E, eta, m, c = 1.7, 0.16, 3.0, 2.5
    N, D = np.array([1e8, 1e9, 7e9]), np.array([2e9, 1e11, 1e10])
    C, M = 6 * N * D, D / N
    a, b = np.exp(c - eta * m), np.exp(c + eta * m)
    paper = E + (a * M**eta + b * M**-eta) * C**-eta  # Gadre et al. eq. 4
    chinchilla = E + a * 6**-eta * N ** (-2 * eta) + b * 6**-eta * D ** (-2 * eta)
    got = np.asarray(law.formula({"E": E, "eta": eta, "m": m, "c": c, "C": C, "M": M}))
    np.testing.assert_allclose(got, paper, rtol=1e-10)
    np.testing.assert_allclose(got, chinchilla, rtol=1e-10)


def test_data_constrained_matches_effective_data_formula():
    law = bl.load_law("data_constrained")
    p = {"E": 1.8, "alpha": 0.34, "a": 6.0, "beta": 0.28, "b": 6.2, "R_star": 15.4}
    N = np.full(5, 1e9)
    D = np.array([1e10, 1e10, 4e10, 1e11, 1e14])
    U = np.array([2e10, 1e10, 1e10, 1e10, 1e10])
    UD = np.minimum(U, D)
    R = D / UD - 1  # repetitions: epochs - 1
    Dp = UD + UD * p["R_star"] * (1 - np.exp(-R / p["R_star"]))  # Muennighoff et al. eq. 5
    expect = p["E"] + np.exp(p["a"]) / N ** p["alpha"] + np.exp(p["b"]) / Dp ** p["beta"]
    got = np.asarray(law.formula({**p, "N": N, "D": D, "U": U}))
    np.testing.assert_allclose(got, expect, rtol=1e-10)
    # unique data (U >= D) is the Chinchilla law; endless repetition saturates at U (1 + R*)
    chin = bl.load_law("chinchilla").formula({k: p[k] for k in ("E", "alpha", "a", "beta", "b")} | {"N": N, "D": D})
    np.testing.assert_allclose(got[:2], np.asarray(chin)[:2], rtol=1e-12)
    sat = p["E"] + np.exp(p["a"]) / 1e9 ** p["alpha"] + np.exp(p["b"]) / (1e10 * (1 + p["R_star"])) ** p["beta"]
    np.testing.assert_allclose(got[-1], sat, rtol=1e-6)


def test_broken_power_law_matches_caballero_and_its_slopes():
    law = bl.load_law("broken_power_law")
    p = {"E": 1.5, "b": 9.0, "c0": 0.1, "c1": 0.25, "d": 46.0, "f": 0.5}
    C = np.logspace(14, 28, 50)
    got = np.asarray(law.formula({**p, "C": C}))
    d1 = np.exp(p["d"])
    paper = p["E"] + np.exp(p["b"]) * C ** -p["c0"] * (1 + (C / d1) ** (1 / p["f"])) ** (-p["c1"] * p["f"])
    np.testing.assert_allclose(got, paper, rtol=1e-9)
    slope = np.gradient(np.log(got - p["E"]), np.log(C))
    assert slope[0] == pytest.approx(-p["c0"], abs=1e-3)
    assert slope[-1] == pytest.approx(-(p["c0"] + p["c1"]), abs=1e-3)
