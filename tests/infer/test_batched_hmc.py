"""The batched HMC kernel of fit_many: correct stationary distribution, working adaptation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslaw.core._arviz import az
from bayeslaw.infer.batched_hmc import _schedule_flags, laplace_chol, make_chain, step_counts

MU = np.array([1.0, -2.0, 30.0])
CORR = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, -0.3], [0.0, -0.3, 1.0]])
#: scales spanning 1e4 (started from the curvature at the mode, as fit_many does) and 1e2
#: (started from the identity metric: adaptation alone must find the scales)
WIDE, NARROW = np.array([1.0, 0.01, 100.0]), np.array([1.0, 0.1, 10.0])


def run_gaussian(sd, dense: bool, laplace: bool, chains: int = 4, warmup: int = 400, draws: int = 600):
    jax.config.update("jax_enable_x64", True)  # as fits on CPU run (bayeslaw.core.runtime)
    precision = jnp.asarray(np.linalg.inv(CORR * np.outer(sd, sd)))
    mu = jnp.asarray(MU)

    def potential(args, x):
        d = x - mu
        return 0.5 * d @ precision @ d

    chain = make_chain(potential, 3, warmup, draws, 8, target_accept=0.8, dense=dense)
    starts = jnp.asarray(MU + sd * np.random.default_rng(0).normal(size=(chains, 3)))
    if laplace:
        chol = laplace_chol(lambda x: potential(None, x), mu, dense)
    else:
        chol = jnp.eye(3) if dense else jnp.ones(3)
    chol = jnp.broadcast_to(chol, (chains,) + chol.shape)
    keys = jax.random.split(jax.random.PRNGKey(1), chains)
    return jax.jit(jax.vmap(chain, in_axes=(None, 0, 0, 0)))(jnp.zeros(()), starts, keys, chol)


def check_moments(out, sd, rel: float = 0.12, corr: bool = True) -> np.ndarray:
    z = np.asarray(out.z)  # (chains, draws, 3)
    for i in range(3):
        mcse = float(az.mcse(z[..., i]))
        assert abs(z[..., i].mean() - MU[i]) < 5 * mcse, (i, z[..., i].mean(), mcse)
        assert abs(z[..., i].std() / sd[i] - 1) < rel, (i, z[..., i].std())
        assert float(az.rhat(z[..., i])) < 1.02, i
    if corr:
        np.testing.assert_allclose(np.corrcoef(z.reshape(-1, 3).T), CORR, atol=0.08)
    return z


@pytest.fixture(scope="module")
def dense_run():
    return run_gaussian(NARROW, dense=True, laplace=False)


def test_dense_chains_recover_a_badly_scaled_correlated_gaussian(dense_run):
    check_moments(dense_run, NARROW)
    assert not np.asarray(dense_run.diverging).any()


@pytest.mark.heavy
def test_curvature_start_handles_scales_spanning_four_orders():
    out = run_gaussian(WIDE, dense=True, laplace=True)
    check_moments(out, WIDE)
    assert np.asarray(out.step_size).min() > 0.3


def test_adaptation_reaches_target_acceptance_and_whitens(dense_run):
    accept = float(np.asarray(dense_run.accept_prob).mean())
    assert 0.65 < accept < 0.97
    # started from the identity, a stable step would be below 0.05 (conditional sd of the
    # 0.1-scale coordinate); after whitening, a 3-d standard Gaussian takes steps of order one
    assert np.asarray(dense_run.step_size).min() > 0.3


def test_diagonal_mass_matrix_still_samples_correctly(dense_run):
    out = run_gaussian(NARROW, dense=False, laplace=False)
    check_moments(out, NARROW, rel=0.15, corr=False)
    # a diagonal metric cannot follow the 0.9 correlation: smaller steps than the dense one
    assert np.asarray(out.step_size).max() < np.asarray(dense_run.step_size).min()


def test_step_counts_are_jittered_around_the_mean():
    counts = step_counts(16, 4000)
    assert counts.min() == 8 and counts.max() == 24
    assert abs(counts.mean() - 16) < 0.3
    assert step_counts(1, 10).tolist() == [1] * 10
    np.testing.assert_array_equal(step_counts(16, 50), counts[:50])  # fixed, state-independent


def test_schedule_collects_in_slow_windows_only():
    collect, closes = _schedule_flags(1000)
    assert not collect[:75].any() and not collect[-50:].any() and collect[75:950].all()
    assert np.flatnonzero(closes).tolist() == [99, 149, 249, 449, 949]


@pytest.mark.parametrize("dense", [True, False])
def test_starts_are_cut_to_the_posterior_scale(dense):
    """A fixed unconstrained jitter is many posterior sds where the posterior is narrow: each
    start's offset is cut to the Laplace sd there and left alone where the posterior is wider."""
    from bayeslaw.infer.batched_hmc import shrink_starts

    jax.config.update("jax_enable_x64", True)
    sd = np.array([0.001, 0.05, 3.0])  # narrower than, close to and wider than the jitter
    precision = jnp.asarray(np.linalg.inv(CORR * np.outer(sd, sd)))
    mu = jnp.asarray(MU)
    potential = lambda x: 0.5 * (x - mu) @ precision @ (x - mu)
    noise = jnp.asarray(np.random.default_rng(0).normal(size=(200, 3)))
    jitter = 0.1
    chol = laplace_chol(potential, mu, dense)
    starts = np.asarray(shrink_starts(mu + jitter * noise, mu, chol, dense, jitter))
    np.testing.assert_allclose(starts - MU, np.asarray(noise) * np.minimum(sd, jitter), rtol=1e-6)
    # the cut starts sit a few nats above the mode (independent noise ignores the 0.9
    # correlation: ~10 here against dim / 2 for posterior draws), not thousands
    assert np.mean([float(potential(s)) for s in starts]) < 20
    assert np.mean([float(potential(s)) for s in np.asarray(mu + jitter * noise)]) > 1000
