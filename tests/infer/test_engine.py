"""One NUTS runner: the downstream models sample through bayeslaw.infer.nuts like bl.fit."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from bayeslaw.downstream import base
from bayeslaw.infer import nuts

G = np.repeat(np.arange(3), 5)
Y = np.random.default_rng(0).normal(G * 0.5, 0.3)


def _model(data):
    mu = numpyro.sample("mu", dist.Normal(0, 1).expand([3]).to_event(1))
    s = numpyro.sample("s", dist.HalfNormal(1))
    numpyro.sample("y", dist.Normal(mu[data["g"]], s), obs=data["y"])


def _sample(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return base.sample(_model, {"g": G, "y": Y}, sites=["mu", "s"], chains=2, draws=30,
                           warmup=30, **kw)


def test_mass_matrix_limit_and_block():
    assert nuts.mass_matrix(None, 150, 150) is True
    assert nuts.mass_matrix(None, 151, 150) is False
    assert nuts.mass_matrix(None, nuts.DENSE_MAX_DIM) is True


@pytest.mark.heavy
def test_downstream_sample_runs_the_shared_runner(monkeypatch):
    calls = []
    real = nuts.sample_nuts

    def spy(*args, **kwargs):
        calls.append(args[4])  # the dense_mass argument
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "sample_nuts", spy)
    out = _sample()
    assert calls == [True] and out["config"]["dense_mass"] is True
    assert out["samples"]["mu"].shape == (2, 30, 3)
    assert out["sample_stats"]["diverging"].shape == (2, 30)
    assert set(out["timings"]) == {"compile_s", "init_s", "sampling_s", "total_s"}


@pytest.mark.heavy
@pytest.mark.parametrize("kw", [{"dense_max_dim": 3}, {"map_init": False}])
def test_downstream_sample_diagonal_above_its_limit_or_without_a_start(kw):
    # the model has 4 unconstrained dimensions (mu: 3, s: 1)
    out = _sample(**kw)
    assert out["config"]["dense_mass"] is False
    assert np.isfinite(out["samples"]["s"]).all()


@pytest.mark.heavy
def test_sample_nuts_one_chain_from_jittered_starts():
    from bayeslaw.infer.start import map_start

    data = {"g": jax.numpy.asarray(G), "y": jax.numpy.asarray(Y)}
    starts = map_start(_model, (data,), 1, jax.random.PRNGKey(0))
    samples, stats, method, _ = nuts.sample_nuts(_model, (data,), starts, jax.random.PRNGKey(1),
                                                 True, 1, 20, 10, 0.8, False)
    assert method == "sequential" and samples["mu"].shape == (1, 10, 3)
    assert stats["num_steps"].shape == (1, 10)
