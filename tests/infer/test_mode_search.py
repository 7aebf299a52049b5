"""damped_newton: the batch mode search of fit_many."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import potential_energy

from bayeslaw.core import runtime
from bayeslaw.data.runs import read_runs, validate_runs
from bayeslaw.infer.mode_search import damped_newton
from bayeslaw.infer.start import log_reference, model_args, prior_median
from bayeslaw.laws.law import load_law
from bayeslaw.modeling.build import build_model, make_plan

runtime.configure()  # float64 on CPU, as in fits


def rosenbrock(v):
    return (1.0 - v[0]) ** 2 + 100.0 * (v[1] - v[0] ** 2) ** 2


def test_rosenbrock_from_the_classic_start():
    x = damped_newton(rosenbrock, jnp.array([-1.2, 1.0]))
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)


def test_indefinite_start_reaches_a_minimum_not_the_saddle():
    # (0, y) is a ridge (d2f/dx2 = -4 at x = 0): an undamped Newton step would climb to it
    f = lambda v: (v[0] ** 2 - 1.0) ** 2 + v[1] ** 2
    x = damped_newton(f, jnp.array([0.05, 1.0]))
    np.testing.assert_allclose(jnp.abs(x), [1.0, 0.0], atol=1e-6)


def test_never_steps_where_the_objective_is_not_finite():
    # minimum at x = 2, but the objective is infinite beyond 1.5 (a law that overflows): the
    # search presses against the boundary from the finite side and never crosses it
    f = lambda v: jnp.where(v[0] < 1.5, (v[0] - 2.0) ** 2 + v[1] ** 2, jnp.inf)
    x = damped_newton(f, jnp.array([0.0, 3.0]))
    assert np.isfinite(f(x)) and 1.4 < float(x[0]) < 1.5 and float(f(x)) < float(f(jnp.array([0.0, 3.0])))
    # nowhere finite but the start: the start comes back
    spike = lambda v: jnp.where(jnp.all(v == 0.5), 0.0, jnp.inf)
    np.testing.assert_array_equal(damped_newton(spike, jnp.array([0.5, 0.5])), [0.5, 0.5])


def test_lanes_of_a_batch_converge_independently():
    # quadratics whose curvatures differ by 1e8 and a Rosenbrock lane, one vmap
    # (convergence is in objective units, so the flat lane's point is within ~0.1 of 3)
    scales = jnp.array([1e-4, 1.0, 1e4])
    quad = lambda s, v: 0.5 * s * jnp.sum((v - 3.0) ** 2)
    xs = jax.vmap(lambda s: damped_newton(partial(quad, s), jnp.zeros(2)))(scales)
    assert (np.asarray(jax.vmap(quad)(scales, xs)) < 1e-6).all()
    np.testing.assert_allclose(xs[1:], 3.0, rtol=1e-6)
    both = jax.vmap(lambda k: damped_newton(
        lambda v: jnp.where(k == 0, rosenbrock(v), quad(1.0, v)), jnp.array([-1.2, 1.0])))(jnp.arange(2))
    np.testing.assert_allclose(both, [[1.0, 1.0], [3.0, 3.0]], atol=1e-6)


@pytest.mark.heavy
def test_posterior_modes_of_demo_families(demo_runs):
    """On real potentials (Chinchilla law, Student-t noise) the result is a minimum: zero
    gradient, positive definite Hessian, and below the prior median it started from."""
    law = load_law("chinchilla")
    plan = make_plan(law, 1, {}, centered=False)
    model = build_model(plan)
    args = []
    for family in ("dense", "moe", "wide", "deep"):
        table = validate_runs(read_runs(demo_runs[demo_runs.family == family].reset_index(drop=True)),
                              {"N": True, "D": True}, "loss", None, positive_target=True)
        args.append(model_args(table, log_reference(plan, table.inputs)))
    args = jax.tree.map(lambda *leaves: jnp.stack(leaves), *args)
    median = jax.jit(partial(prior_median, model, closed_form=True))(jax.random.PRNGKey(0), jax.tree.map(lambda v: v[0], args))
    flat0, unravel = ravel_pytree(median)

    def check(a):
        objective = lambda v: potential_energy(model, a, {}, unravel(v))
        x = damped_newton(objective, flat0)
        return objective(flat0), objective(x), jax.grad(objective)(x), jnp.linalg.eigvalsh(jax.hessian(objective)(x))

    start, end, grad, eig = jax.jit(jax.vmap(check))(args)
    assert (np.asarray(end) < np.asarray(start) - 10).all()
    assert np.abs(np.asarray(grad)).max() < 1e-4
    assert (np.asarray(eig) > 0).all()


@pytest.mark.heavy
def test_single_fit_map_search_reaches_the_mode(demo_runs):
    """bl.fit's law models search by damped Newton: on the demo's dense family the point is a
    minimum, no higher than where one BFGS run from the prior median stops."""
    from bayeslaw.infer.start import find_map

    law = load_law("chinchilla")
    plan = make_plan(law, 1, {}, centered=False)
    model = build_model(plan)
    table = validate_runs(read_runs(demo_runs[demo_runs.family == "dense"].reset_index(drop=True)),
                          {"N": True, "D": True}, "loss", None, positive_target=True)
    args = model_args(table, log_reference(plan, table.inputs))
    key = jax.random.PRNGKey(0)
    points = {newton: ravel_pytree(find_map(model, args, key, newton=newton)) for newton in (True, False)}
    unravel = points[True][1]
    objective = lambda v: potential_energy(model, args, {}, unravel(v))
    newton, bfgs = (float(objective(points[k][0])) for k in (True, False))
    assert newton <= bfgs + 1e-8
    assert np.abs(np.asarray(jax.grad(objective)(points[True][0]))).max() < 1e-4
