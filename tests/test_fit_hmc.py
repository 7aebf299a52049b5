"""bl.fit(..., sampler="hmc"): the vectorised fixed-length HMC gives the NUTS posterior."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_batch import assert_mc_equal, moments

import bayeslaw as bl
from bayeslaw.errors import FitError

SHARED = ("alpha", "beta", "sigma")


@pytest.fixture(scope="module")
def hmc_fit(demo_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit("chinchilla", demo_runs, group="family", chains=2, warmup=400, draws=500,
                      seed=2, sampler="hmc")


def test_hmc_posterior_equals_nuts(hmc_fit, family_fit):
    ours, nuts = moments(hmc_fit.samples), moments(family_fit.samples)
    assert_mc_equal({k: ours[k] for k in SHARED}, {k: nuts[k] for k in SHARED})
    # the per-family offsets too (centred partial pooling on the 5-family demo set)
    for name in ("E_family", "a_family", "b_family"):
        a, b = np.asarray(hmc_fit.samples[name]), np.asarray(family_fit.samples[name])
        assert a.shape == b.shape == (2, 500, 5)
        se = np.hypot(a.std(axis=(0, 1)), b.std(axis=(0, 1))) / np.sqrt(200)
        assert np.all(np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))) < 4.5 * se), name


def test_hmc_fit_records_its_sampler_and_converges(hmc_fit):
    cfg = hmc_fit.config
    assert (cfg["sampler"], cfg["steps"], cfg["chain_method"]) == ("hmc", 16, "batched")
    assert hmc_fit.divergences == 0
    diag = hmc_fit.diagnostics()
    assert diag["r_hat"].max() < 1.02 and diag["ess_bulk"].min() > 200
    steps = np.asarray(hmc_fit.sample_stats["num_steps"])
    assert steps.min() >= 8 and steps.max() <= 24  # the jitter around steps=16


def test_sampler_settings_are_checked(demo_runs):
    with pytest.raises(FitError, match=r"^sampler must be 'nuts' or 'hmc', got 'metropolis'$"):
        bl.fit("chinchilla", demo_runs, sampler="metropolis")
    with pytest.raises(FitError, match=r"^steps must be a positive integer, got 0$"):
        bl.fit("chinchilla", demo_runs, sampler="hmc", steps=0)
