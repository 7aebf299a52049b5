"""The catalogue harness: every law file in models/ gets the same checks (like emcee's move tests).

Adding a law is adding a file; this module picks it up and checks that its value and gradient are
finite at prior draws, that jit equals eager, and that its prior predictive is in a sane range.
The design of inputs (ranges by unit) is the one :mod:`bayeslaw.laws.check` uses when it checks a
law's formula at load time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

import bayeslaw as bl
from bayeslaw.laws.check import MAX_BAD_SHARE, N_DESIGN, design
from bayeslaw.modeling.build import build_model, make_plan

jax.config.update("jax_enable_x64", True)


def prior_draws(law, n=300, seed=0):
    plan = make_plan(law, 1)
    x = {k: jnp.asarray(v) for k, v in design(law).items()}
    logref = {s.center.input: jnp.mean(jnp.log(x[s.center.input])) for s in law.params.values() if s.center}
    model = build_model(plan)
    fam = jnp.zeros(N_DESIGN, dtype=jnp.int32)
    draws = Predictive(model, num_samples=n)(jax.random.PRNGKey(seed), x, fam, logref)
    return plan, model, (x, fam, logref), draws


@pytest.mark.heavy
@pytest.mark.parametrize("name", bl.list_laws())
def test_value_and_gradient_finite_at_prior_draws(name):
    law = bl.load_law(name)
    n = 16
    _, model, args, draws = prior_draws(law, n=n)
    y = jnp.exp(draws["obs"]) if law.likelihood.space == "log" else draws["obs"]
    # a heavy-tailed prior draw (Student-t df < 1) can simulate an overflowing observation; the
    # density is checked where the simulated data are finite, which must be nearly everywhere
    finite = np.all(np.isfinite(np.asarray(y)), axis=1)
    assert finite.mean() >= 1 - MAX_BAD_SHARE, f"{name}: {np.mean(~finite):.0%} of prior draws simulate non-finite data"
    draws = {k: v[finite] for k, v in draws.items()}
    y = y[finite]
    deterministic = {k for k in draws if k.endswith("_family")} | {k for k in law.params if k + "_ref" in draws}
    params = {k: v for k, v in draws.items() if k != "obs" and k not in deterministic}

    def logp(p, y_i):
        return log_density(model, (*args, y_i), {}, p)[0]

    values = jax.jit(jax.vmap(logp))(params, y)
    grads = jax.jit(jax.vmap(jax.grad(logp)))(params, y)
    assert np.all(np.isfinite(values)), f"{name}: log density not finite at prior draws"
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads)), f"{name}: gradient not finite"
    eager = logp({k: v[0] for k, v in params.items()}, y[0])
    assert np.isclose(values[0], eager, rtol=1e-9), f"{name}: jit differs from eager"


def _is_accuracy_law(law) -> bool:
    return law.likelihood.dist in ("Beta", "Binomial")


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in bl.list_laws() if not _is_accuracy_law(bl.load_law(n))])
def test_prior_predictive_covers_realistic_losses(name):
    law = bl.load_law(name)
    _, _, _, draws = prior_draws(law, n=400)
    loss = np.exp(draws["obs"]) if law.likelihood.space == "log" else draws["obs"]
    lo, med, hi = np.quantile(loss, [0.05, 0.5, 0.95], axis=0)
    assert np.all((med > 1.5) & (med < 8.0)), f"{name}: prior predictive medians {np.round(med, 2)}"
    assert np.all((lo < 3.0) & (hi > 3.0)), f"{name}: 90% prior intervals {np.round(lo, 2)}-{np.round(hi, 2)}"
    assert np.mean(np.isfinite(loss)) > 0.995


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in bl.list_laws() if _is_accuracy_law(bl.load_law(n))])
def test_prior_predictive_of_accuracy_laws_spans_the_unit_interval(name):
    law = bl.load_law(name)
    _, _, args, draws = prior_draws(law, n=400)
    acc = draws["obs"] / args[0][law.likelihood.trials] if law.likelihood.dist == "Binomial" else draws["obs"]
    assert np.all((acc >= 0) & (acc <= 1)), f"{name}: prior predictive accuracies outside [0, 1]"
    lo, hi = np.quantile(acc, [0.05, 0.95], axis=0)
    assert np.all(hi - lo > 0.3), f"{name}: prior predictive too narrow: {np.round(lo, 2)}-{np.round(hi, 2)}"


@pytest.mark.parametrize("name", bl.list_laws())
def test_law_documents_itself(name):
    law = bl.load_law(name)
    assert law.description and law.reference, f"{name}: description and reference are required"
    assert all(spec.unit for spec in law.inputs), f"{name}: every input needs a unit"
