"""Tests for the Hoffmann/Epoch Huber point-fit baseline in benchmarks/baseline_huber.py."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline_huber.py"
_spec = importlib.util.spec_from_file_location("baseline_huber", _PATH)
bh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bh)

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
CHINCHILLA = Path(__file__).resolve().parents[3] / "shared" / "data" / "chinchilla" / "points.csv"
# PROVENANCE.md: L-BFGS on the summed Huber(1e-3) log-space loss, 240 rows with epoch_excluded == 0.
DOCUMENTED = {"A": 477.5, "B": 2142.0, "E": 1.817, "alpha": 0.3473, "beta": 0.3671}


def _design(n=80, seed=0):
    rng = np.random.default_rng(seed)
    return 10 ** rng.uniform(7, 10, n), 10 ** rng.uniform(8, 11, n)


def _noisy(sd=0.01, n=80, seed=0):
    N, D = _design(n, seed)
    noise = np.random.default_rng(seed + 1).normal(0.0, sd, N.size)
    return N, D, bh.predict_huber(TRUE, N, D) * np.exp(noise)


def _chinchilla():
    if not CHINCHILLA.exists():
        pytest.skip(f"Epoch's Chinchilla points not found at {CHINCHILLA}")
    df = pd.read_csv(CHINCHILLA)
    return df[df["epoch_excluded"] == 0]


@pytest.mark.parametrize("tau", [0.5, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("delta", [1e-3, 1.0])
def test_analytic_gradient_matches_finite_differences(delta, weighted, tau):
    N, D, loss = _noisy(sd=2e-3)
    log_n, log_d, log_y = np.log(N), np.log(D), np.log(loss)
    weights = np.random.default_rng(3).integers(0, 3, N.size).astype(float) if weighted else None
    args = (log_n, log_d, log_y, delta, weights, tau)
    theta = np.array([np.log(400.0), np.log(2000.0), np.log(1.8), 0.34, 0.36])
    # Off the optimum (where the gradient is ~0 and relative error means nothing), one point near
    # it and one far away.
    for shift in ([1e-2, -1e-2, 5e-3, 1e-3, -1e-3], [0.3, -0.5, 0.1, 0.05, -0.04]):
        x = theta + np.array(shift)
        a, b, e, alpha, beta = x
        r = np.log(np.exp(a - alpha * log_n) + np.exp(b - beta * log_d) + np.exp(e)) - log_y
        if delta == 1.0:
            assert (np.abs(r) < delta).all()  # quadratic branch only
        elif shift[0] == 1e-2:
            assert (np.abs(r) < delta).any() and (np.abs(r) > delta).any()  # both branches

        def f(t):
            return bh.huber_objective(t, *args)[0]

        def g(t):
            return bh.huber_objective(t, *args)[1]

        assert check_grad(f, g, x, epsilon=1e-9) <= 1e-5 * np.linalg.norm(g(x))


def test_tau_fits_a_quantile_of_log_loss():
    # the plain Huber fit halves the runs; tau = 0.1 puts ~10% of them below the law (its lower
    # envelope), tau = 0.9 ~90%; tau = 0.5 is the plain loss, value for value
    N, D, loss = _noisy(sd=0.02, n=200)
    theta = np.array([np.log(400.0), np.log(2000.0), np.log(1.8), 0.34, 0.36])
    args = (np.log(N), np.log(D), np.log(loss), 1e-3)
    assert bh.huber_objective(theta, *args, tau=0.5)[0] == bh.huber_objective(theta, *args)[0]
    for tau in (0.1, 0.5, 0.9):
        fit = bh.fit_huber(N, D, loss, grid="coarse", tau=tau)
        below = np.mean(loss < bh.predict_huber(fit, N, D))
        assert below == pytest.approx(tau, abs=0.04), (tau, below)


def test_recovers_known_parameters_from_noise_free_data():
    N, D = _design()
    fit = bh.fit_huber(N, D, bh.predict_huber(TRUE, N, D), grid="coarse")
    for k, v in TRUE.items():
        assert fit[k] == pytest.approx(v, rel=0.01), k
    assert fit["n_starts"] == 18
    assert fit["E"] == pytest.approx(np.exp(fit["e"]))


def test_reproduces_documented_chinchilla_fit():
    df = _chinchilla()
    assert len(df) == 240
    fit = bh.fit_huber(df["N"], df["D"], df["loss"], grid="coarse")
    for k, v in DOCUMENTED.items():
        assert fit[k] == pytest.approx(v, rel=0.01), k


@pytest.mark.slow
def test_full_grid_finds_the_same_chinchilla_optimum_as_coarse():
    df = _chinchilla()
    full = bh.fit_huber(df["N"], df["D"], df["loss"], grid="full")
    coarse = bh.fit_huber(df["N"], df["D"], df["loss"], grid="coarse")
    assert full["n_starts"] == 7350
    assert coarse["objective"] == pytest.approx(full["objective"], rel=1e-8)


@pytest.mark.heavy
def test_tiny_bootstrap_gives_finite_intervals_around_the_estimate():
    N, D, loss = _noisy()
    fit = bh.fit_huber(N, D, loss, grid="coarse")
    boot = bh.bootstrap_huber(N, D, loss, n_boot=10, seed=1, grid="coarse")
    assert list(boot["replicate"]) == list(range(10))
    assert (boot["n_starts"] == 18).all()
    ci = bh.bootstrap_intervals(boot, ci_prob=0.95)
    assert list(ci.index) == ["E", "A", "B", "alpha", "beta"]
    assert np.isfinite(ci.to_numpy()).all()
    for p in ci.index:
        assert ci.loc[p, "lower"] < fit[p] < ci.loc[p, "upper"], p
    # Replicates differ (the resampling is real) and the seed makes them reproducible.
    assert boot["alpha"].std() > 0
    again = bh.bootstrap_huber(N, D, loss, n_boot=2, seed=1, grid="coarse")
    np.testing.assert_allclose(again["alpha"], boot["alpha"][:2])

    # A warm start from the full-data optimum alone lands on the same refits here.
    warm = bh.bootstrap_huber(N, D, loss, n_boot=10, seed=1, grid=None, init=fit)
    assert (warm["n_starts"] == 1).all()
    np.testing.assert_allclose(warm["alpha"], boot["alpha"], rtol=1e-5)


def test_prediction_interval_for_a_planned_run():
    N, D, loss = _noisy()
    fit = bh.fit_huber(N, D, loss, grid="coarse")
    boot = bh.bootstrap_huber(N, D, loss, n_boot=50, seed=2, grid=None, init=fit)
    plan = bh.bootstrap_prediction_interval(boot, [1e10, 7e10], [2e11, 1.4e12])
    point = bh.predict_huber(fit, np.array([1e10, 7e10]), np.array([2e11, 1.4e12]))
    assert list(plan.columns) == ["N", "D", "median", "lower", "upper"]
    assert (plan["lower"] < point).all() and (point < plan["upper"]).all()
    resid = np.log(loss) - np.log(bh.predict_huber(fit, N, D))
    noisy = bh.bootstrap_prediction_interval(boot, 7e10, 1.4e12, residuals=resid)
    law_only = plan.iloc[1]
    assert noisy["upper"][0] - noisy["lower"][0] > law_only["upper"] - law_only["lower"]


def test_predict_huber_is_the_law():
    got = bh.predict_huber(TRUE, np.array([1e9]), np.array([2e10]))
    assert got[0] == pytest.approx(1.8 + 400 / 1e9**0.34 + 2000 / 2e10**0.36)


def test_fit_per_family():
    N, D = _design(60)
    shifted = {**TRUE, "E": 2.3}
    frame = pd.DataFrame(
        {
            "N": np.concatenate([N, N]),
            "D": np.concatenate([D, D]),
            "loss": np.concatenate([bh.predict_huber(TRUE, N, D), bh.predict_huber(shifted, N, D)]),
            "family": ["a"] * 60 + ["b"] * 60,
        }
    )
    out = bh.fit_huber_families(frame, "family")
    assert list(out["family"]) == ["a", "b"]
    assert list(out["n_runs"]) == [60, 60]
    assert out["E"].to_numpy() == pytest.approx([1.8, 2.3], rel=0.01)
    assert out["alpha"].to_numpy() == pytest.approx([0.34, 0.34], rel=0.01)
    msg = "column 'size' not in frame; columns are ['N', 'D', 'loss', 'family']"
    with pytest.raises(ValueError, match=re.escape(msg)):
        bh.fit_huber_families(frame, "family", n_col="size")


def test_grids_and_input_errors():
    assert bh.make_grid("full").shape == (7350, 5)
    assert bh.make_grid("coarse").shape == (18, 5)
    custom = bh.make_grid({"a": [1, 2], "b": 3, "e": 0, "alpha": 0.5, "beta": [0.5, 1]})
    assert custom.shape == (4, 5)
    msg = "grid must be 'full', 'coarse', a mapping or an array, got 'fine'"
    with pytest.raises(ValueError, match=re.escape(msg)):
        bh.make_grid("fine")
    with pytest.raises(
        ValueError, match=re.escape("no start points: give a grid, an init, or both")
    ):
        bh.fit_huber([1e8], [1e9], [3.0], grid=None)
    with pytest.raises(ValueError, match=re.escape("D must be finite and > 0 in every row")):
        bh.fit_huber([1e8, 1e9], [1e9, -1], [3.0, 2.5], grid="coarse")
