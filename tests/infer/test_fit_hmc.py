"""bl.fit's samplers: the vectorised fixed-length HMC gives the NUTS posterior, and the default
``sampler="auto"`` takes HMC's draws only where they pass the convergence checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_batch import assert_mc_equal, moments

import bayeslaw as bl
from bayeslaw.core.errors import FitError

SHARED = ("alpha", "beta", "sigma")


@pytest.fixture(scope="module")
def nuts_fit(demo_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit("chinchilla", demo_runs, group="family", chains=2, warmup=400, draws=500,
                      seed=2, sampler="nuts")


def test_hmc_posterior_equals_nuts(family_fit, nuts_fit):
    # family_fit is the default sampler="auto" on 5 families x 30 runs (centred): HMC's draws
    assert family_fit.config["sampler_used"] == "hmc"
    ours, nuts = moments(family_fit.samples), moments(nuts_fit.samples)
    assert_mc_equal({k: ours[k] for k in SHARED}, {k: nuts[k] for k in SHARED})
    for name in ("E_family", "a_family", "b_family"):
        a, b = np.asarray(family_fit.samples[name]), np.asarray(nuts_fit.samples[name])
        assert a.shape == b.shape == (2, 500, 5)
        se = np.hypot(a.std(axis=(0, 1)), b.std(axis=(0, 1))) / np.sqrt(200)
        assert np.all(np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))) < 4.5 * se), name


def test_hmc_fit_records_its_sampler_and_converges(family_fit, nuts_fit):
    cfg = family_fit.config
    assert (cfg["sampler"], cfg["sampler_used"], cfg["hmc_fallback"]) == ("auto", "hmc", None)
    assert (cfg["steps"], cfg["chain_method"]) == (16, "batched")
    assert family_fit.divergences == 0
    diag = family_fit.diagnostics()
    assert diag["r_hat"].max() < 1.02 and diag["ess_bulk"].min() > 200
    steps = np.asarray(family_fit.sample_stats["num_steps"])
    assert steps.min() >= 8 and steps.max() <= 24  # the jitter around steps=16
    assert (nuts_fit.config["sampler"], nuts_fit.config["sampler_used"]) == ("nuts", "nuts")
    assert "steps" not in nuts_fit.config


@pytest.mark.heavy
def test_auto_falls_back_to_nuts_from_the_same_start(demo_runs):
    """Draws too short for HMC to pass the checks: auto returns exactly the NUTS fit."""
    one = demo_runs[demo_runs["family"] == demo_runs["family"].iloc[0]]
    settings = {"chains": 2, "warmup": 100, "draws": 40, "seed": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        auto = bl.fit("chinchilla", one, **settings)
        # auto redraws diverging NUTS draws at a higher target acceptance: the same NUTS run
        nuts = bl.fit("chinchilla", one, sampler="nuts", target_accept=auto.config["target_accept"], **settings)
    assert auto.config["sampler_used"] == "nuts"
    reason = auto.config["hmc_fallback"]
    assert reason.startswith(("R-hat reaches", "bulk ESS is only", "divergent")), reason
    assert set(auto.samples) == set(nuts.samples)
    for name, value in nuts.samples.items():
        np.testing.assert_array_equal(auto.samples[name], value)


def _fake_nuts(diverge_below: float):
    """A stand-in for NUTS whose draws diverge at target acceptances below ``diverge_below``."""
    calls = []

    def nuts(accept):
        calls.append(accept)
        stats = {"diverging": np.array([[accept < diverge_below, False]])}
        return {"x": np.full((1, 2), accept)}, stats, "sequential", {"compile": 1.0, "run": 2.0, "total": 3.0}

    return nuts, calls


@pytest.mark.parametrize(("sampler", "target_accept", "diverge_below", "calls"), [
    ("auto", 0.8, 0.9, [0.8, 0.95]),  # diverged: redrawn at 0.95, which settles it
    ("auto", 0.8, 0.97, [0.8, 0.95, 0.99]),  # still diverging at 0.95: redrawn at 0.99
    ("auto", 0.8, 0.995, [0.8, 0.95, 0.99, 0.999]),  # still diverging at 0.99: redrawn at 0.999
    ("auto", 0.8, 0.9995, [0.8, 0.95, 0.99, 0.999]),  # diverging at the top rung: no further, the warning says so
    ("auto", 0.8, 0.5, [0.8]),  # no divergence: no second run
    ("auto", 0.95, 0.97, [0.95, 0.99]),  # from 0.95 the next rung is 0.99
    ("auto", 0.99, 0.995, [0.99, 0.999]),  # from 0.99 the next rung is 0.999
    ("auto", 0.999, 0.9995, [0.999]),  # already at the top rung
    ("auto", 0.9, 0.92, [0.9, 0.95]),  # a user's own target between rungs: the next one up
    ("nuts", 0.8, 0.9, [0.8]),  # NUTS asked for by name: the user's settings as given
])
def test_auto_redraws_diverging_nuts_draws_at_a_higher_target_acceptance(sampler, target_accept,
                                                                          diverge_below, calls):
    from types import SimpleNamespace

    from bayeslaw.infer.sampler import RETRY_ACCEPTS, run_sampler

    plan = SimpleNamespace(n_runs=3)  # a run effect: NUTS straight away
    nuts, seen = _fake_nuts(diverge_below)
    samples, stats, method, clock, used, fallback, accept = run_sampler(sampler, plan, None, nuts, 1, target_accept)
    assert seen == calls and accept == calls[-1] and samples["x"][0, 0] == calls[-1]
    assert (used, fallback, method) == ("nuts", None, "sequential")
    assert clock == {"compile": 1.0 * len(calls), "run": 2.0 * len(calls), "total": 3.0 * len(calls)}
    assert RETRY_ACCEPTS == (0.95, 0.99, 0.999)


@pytest.mark.parametrize(("families", "pooling", "n_runs", "expected"), [
    (1, {}, 0, True),  # one family
    (5, {}, 0, True),  # centred partial pooling
    (2, {}, 0, False),  # non-centred partial pooling: the funnel
    (2, {"E": "shared", "a": "shared", "b": "shared"}, 0, True),  # nothing pooled
    (1, {}, 12, False),  # a run effect (non-centred run offsets)
])
def test_auto_tries_hmc_first_only_without_a_non_centred_hierarchy(families, pooling, n_runs, expected):
    from bayeslaw.infer.sampler import hmc_first
    from bayeslaw.infer.settings import CENTRED_MIN_FAMILIES
    from bayeslaw.laws.law import load_law
    from bayeslaw.modeling.build import make_plan

    centred = families >= CENTRED_MIN_FAMILIES
    plan = make_plan(load_law("chinchilla"), families, pooling, centered=centred, n_runs=n_runs)
    assert hmc_first(plan) is expected


def test_sampler_settings_are_checked(demo_runs):
    with pytest.raises(FitError, match=r"^sampler must be 'auto', 'nuts' or 'hmc', got 'metropolis'$"):
        bl.fit("chinchilla", demo_runs, sampler="metropolis")
    with pytest.raises(FitError, match=r"^steps must be a positive integer, got 0$"):
        bl.fit("chinchilla", demo_runs, sampler="hmc", steps=0)
    nuts = (r"^steps=3 sets HMC's path length, which sampler='nuts' chooses itself; "
            r"drop steps or use sampler='hmc' or 'auto'$")
    with pytest.raises(FitError, match=nuts):
        bl.fit("chinchilla", demo_runs, sampler="nuts", steps=3)
    with pytest.raises(FitError, match=nuts):
        bl.fit_many("chinchilla", [demo_runs], sampler="nuts", steps=3)


def test_a_refit_with_nuts_leaves_the_fits_hmc_steps_behind(tiny_family_fit, monkeypatch):
    """refit passes the fit's settings on; steps (its HMC path) would now be refused beside NUTS."""
    from bayeslaw.evaluate import heldout

    seen = {}
    monkeypatch.setattr("bayeslaw.infer.fit.fit", lambda law, runs, **kw: seen.update(kw))
    heldout.refit(tiny_family_fit, tiny_family_fit.table.frame, sampler="nuts")
    assert seen["sampler"] == "nuts" and "steps" not in seen
    heldout.refit(tiny_family_fit, tiny_family_fit.table.frame)
    assert seen["steps"] == tiny_family_fit.config["steps"]
