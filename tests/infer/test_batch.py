"""fit_many: a batch of fits equals the same fits one by one (within Monte Carlo error), sharding
over several devices changes nothing, and float32 agrees with float64."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.core._arviz import az
from bayeslaw.core.errors import FitError
from bayeslaw.infer.batch import diagnose_many, fit_many, summarize_many

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"chains": 2, "warmup": 150, "draws": 150}
FAMILIES = ["dense", "moe", "wide", "deep"]
COMPARED = ("E", "alpha", "beta", "a", "b", "sigma")


def moments(samples: dict) -> dict:
    """Mean and 5%/95% quantiles of each compared parameter, with their Monte Carlo errors."""
    return moments_of(samples, COMPARED)


def moments_of(samples: dict, names) -> dict:
    """:func:`moments` of the parameters ``names``."""
    out = {}
    for name in names:
        draws = np.asarray(samples[name], dtype=float)
        out[name] = {"mean": [float(draws.mean()), float(az.mcse(draws))]}
        for q in (0.05, 0.95):
            out[name][f"q{q}"] = [float(np.quantile(draws, q)),
                                  float(az.mcse(draws, method="quantile", prob=q))]
    return out


def assert_mc_equal(a: dict, b: dict, z: float = 4.5) -> None:
    """Every statistic of ``a`` within ``z`` combined Monte Carlo errors of ``b``."""
    for name, stats in a.items():
        for stat, (value, se) in stats.items():
            other, other_se = b[name][stat]
            tol = z * np.hypot(se, other_se)
            assert abs(value - other) <= tol, f"{name} {stat}: {value:.4g} vs {other:.4g} (tol {tol:.3g})"


@pytest.fixture(scope="module")
def tables(demo_runs):
    """Single-family tables; the second is cut to 18 runs, so the batch pads it (mask)."""
    out = [demo_runs[demo_runs.family == f].reset_index(drop=True) for f in FAMILIES]
    out[1] = out[1].iloc[:18]
    return out


@pytest.fixture(scope="module")
def batch(tables):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return fit_many("chinchilla", tables, seed=0, **SETTINGS)


def run_script(body: str, env: dict, tmp_path: Path, tables) -> dict:
    """Run a fit_many script in a fresh process (device count and precision are per process)."""
    for i, table in enumerate(tables):
        table.to_csv(tmp_path / f"t{i}.csv", index=False)
    script = textwrap.dedent(f"""
        import json, sys, warnings
        import jax
        import pandas as pd
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / "tests")!r}, {str(REPO / "tests" / "infer")!r}]
        import bayeslaw as bl
        from bayeslaw.infer.batch import fit_many
        from test_batch import SETTINGS, moments
        tables = [pd.read_csv({str(tmp_path)!r} + f"/t{{i}}.csv") for i in range({len(tables)})]
        warnings.simplefilter("ignore")
    """) + textwrap.dedent(body)
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.heavy
def test_batch_equals_fits_one_by_one(batch, tables):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        singles = [bl.fit("chinchilla", tables[i], seed=11, **SETTINGS) for i in (0, 1)]
    for fit, single in zip(batch[:2], singles):
        assert_mc_equal(moments(fit.samples), moments(single.samples))
    # the padded fit saw its 18 runs only: copies of row 0 in the likelihood would shift it
    assert len(batch[1].table.frame) == 18
    assert batch[1].log_likelihood().shape == (2, 150, 18)


@pytest.mark.heavy
def test_hierarchical_batch_equals_single_fit(demo_runs):
    # two halves of the 5-family set: 15 runs per family, so both fits pool centred (the MAP
    # start is searched non-centred and mapped back, as bl.fit does)
    halves = [demo_runs.iloc[i::2].reset_index(drop=True) for i in (0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fits = fit_many("chinchilla", halves, group="family", seed=0, **SETTINGS)
        single = bl.fit("chinchilla", halves[0], group="family", seed=3, **SETTINGS)
    assert fits[0].config["centered"] and fits[0].families == single.families
    assert fits[0].samples["E_u"].shape == (2, 150, 5)
    assert max(f.divergences for f in fits) <= 3
    assert_mc_equal(moments(fits[0].samples), moments(single.samples))


@pytest.mark.heavy
def test_fits_are_independent_and_complete(batch, tables):
    assert [f.config["batch_label"] for f in batch] == [0, 1, 2, 3]
    for fit, table in zip(batch, tables):
        assert fit.config["chain_method"] == "batched" and fit.config["batch_size"] == 4
        assert fit.samples["alpha"].shape == (2, 150) and fit.samples["a_family"].shape == (2, 150, 1)
        assert fit.sample_stats["step_size"].shape == (2, 150)
        np.testing.assert_array_equal(fit.table.target, table["loss"].to_numpy())
    # each chain adapted its own step size
    steps = np.array([f.sample_stats["step_size"][:, 0] for f in batch])
    assert len(np.unique(steps)) == steps.size
    diag = diagnose_many(batch)
    assert list(diag.columns) == ["max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences"]
    # 2 chains x 150 + 150 is short: over 20 seeds, 10-20% of these fits (BFGS or Newton
    # start alike) had an ESS below 30 or R-hat above 1.1, but the median fit's ESS was below 30
    # once; unadapted samplers give single digits in every fit
    assert diag["min_ess_bulk"].median() > 30 and (diag["max_r_hat"] < 1.1).sum() >= 3
    # well-posed tables, which one by one have no divergences: a step size left unadapted in
    # the batch gave 1-145 divergences per fit on these tables, and a mass matrix left
    # unadapted 200-285 leapfrog steps per draw
    assert (diag["divergences"] == 0).all()
    assert max(f.sample_stats["num_steps"].mean() for f in batch) < 120


@pytest.mark.heavy
def test_split_by_summary_predict_and_save(demo_runs, tmp_path):
    three = demo_runs[demo_runs.family.isin(["moe", "dense", "wide"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fits = fit_many("chinchilla", three, split_by="family", seed=2, **SETTINGS)
    assert [f.config["batch_label"] for f in fits] == ["dense", "moe", "wide"]
    summary = summarize_many(fits)
    assert summary.index.names == ["fit", "parameter", "family"]
    assert set(summary.index.get_level_values("fit")) == {"dense", "moe", "wide"}
    assert summary.loc[("moe", "alpha", "(shared)"), "mean"] == pytest.approx(fits[1].flat("alpha").mean())
    pred = fits[0].predict({"N": 1e10, "D": 2e11}, ci_prob=0.9)
    assert np.isfinite(pred[["mean", "lower", "upper"]].to_numpy()).all()
    fits[2].save(tmp_path / "wide.nc")
    loaded = bl.load_fit(tmp_path / "wide.nc")
    assert loaded.config["batch_label"] == "wide"
    np.testing.assert_allclose(loaded.flat("beta"), fits[2].flat("beta"))


def test_errors(demo_runs):
    one = demo_runs[demo_runs.family == "dense"]
    with pytest.raises(FitError, match=re.escape(
            "all tables in a batch need the same number of families; got [1, 2] (fit groups with "
            "different family counts in separate batches)")):
        fit_many("chinchilla", [one, demo_runs[demo_runs.family.isin(["dense", "moe"])]], group="family")
    with pytest.raises(FitError, match=re.escape("column 'size' to split by is missing; present: family, N, D, loss")):
        fit_many("chinchilla", demo_runs, split_by="size")
    with pytest.raises(FitError, match=re.escape(
            "tables must be a list of runs tables; to fit one table per group, pass split_by='<column>'")):
        fit_many("chinchilla", demo_runs)
    with pytest.raises(FitError, match=re.escape("tables is empty: nothing to fit")):
        fit_many("chinchilla", [])
    with pytest.raises(FitError, match=re.escape("chains must be a positive integer, got 0")):
        fit_many("chinchilla", [one], chains=0)
    with pytest.raises(bl.DataError, match=re.escape("column 'loss' is missing from the runs table 1")):
        fit_many("chinchilla", [one, one.drop(columns="loss")])


def training_curves(n_runs: int, seed: int):
    """``n_runs`` runs of 12 checkpoints each, every run ~3% off the law (a run effect's data)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(np.geomspace(2e7, 6e8, n_runs)):
        d = np.geomspace(1e9, 4e10, 12)
        law = 1.8 + np.exp(6.0 - 0.34 * np.log(n)) + np.exp(6.2 - 0.28 * np.log(d))
        frames.append(pd.DataFrame({"run": f"r{i}", "N": n, "D": d,
                                    "loss": law * np.exp(rng.normal(0, 0.03) + rng.normal(0, 0.003, d.size))}))
    return pd.concat(frames, ignore_index=True)


def test_a_batch_has_a_run_effect_in_every_table_or_in_none(demo_runs):
    """One model per batch: checkpoint tables (a repeating ``run`` column, bl.fit's run effect)
    and tables without one are refused together, naming both, before any fit."""
    one = demo_runs[demo_runs.family == "dense"].reset_index(drop=True)
    curves = one.assign(run=np.arange(len(one)) // 2)  # two checkpoints per run
    single = one.assign(run=np.arange(len(one)))  # one row per run: no run effect in bl.fit either
    with pytest.raises(FitError, match=re.escape(
            "a batch fits one model, but runs tables 1 have a run effect (their run column repeats "
            "a label: checkpoints of one run) and tables 0, 2 have none; batch them apart, or pass "
            "run=False to fit every table without one")):
        fit_many("chinchilla", [single, curves, one])
    with pytest.raises(bl.DataError, match=re.escape(
            "run column 'run' is missing from the runs table 1 (present: family, N, D, loss)")):
        fit_many("chinchilla", [curves, one], run="run")
    with pytest.raises(FitError, match=re.escape("run must be a column name (str), False or None, got 3")):
        fit_many("chinchilla", [curves], run=3)


@pytest.mark.heavy
def test_checkpoint_tables_batch_their_run_effects():
    """Tables of training curves with different numbers of runs (so the batch pads rows and
    runs) give, per table, bl.fit's run-effect posterior within Monte Carlo error; each fit gets
    back its own runs and predicts a new run like bl.fit's."""
    tables = [training_curves(6, seed=1), training_curves(4, seed=2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fits = fit_many("chinchilla", tables, seed=0, **SETTINGS)
        singles = [bl.fit("chinchilla", t, seed=7, extrapolation=False, **SETTINGS) for t in tables]
    for fit, single, table in zip(fits, singles, tables):
        n_runs = table["run"].nunique()
        assert fit.config["run"] == "run" and fit.plan.n_runs == n_runs == single.plan.n_runs
        assert fit.samples["run_z"].shape == (2, 150, n_runs)
        np.testing.assert_array_equal(fit.run_index, single.run_index)
        compared = {**moments(fit.samples), **moments_of(fit.samples, ("run_sd",))}
        assert_mc_equal(compared, {**moments(single.samples), **moments_of(single.samples, ("run_sd",))})
        assert fit.log_likelihood().shape == (2, 150, len(table))
        planned = {"N": 3e9, "D": 6e10}
        new, own = fit.predict(planned), single.predict(planned)
        assert abs(new["median"].iloc[0] / own["median"].iloc[0] - 1) < 0.03
        # a new run draws its own offset: wider than the law alone
        assert (new["upper"] - new["lower"]).iloc[0] > (fit.predict(planned, kind="law")["upper"]
                                                        - fit.predict(planned, kind="law")["lower"]).iloc[0]


@pytest.mark.heavy
def test_sharding_over_four_devices_matches_one(batch, tables, tmp_path):
    body = """
        fits = fit_many("chinchilla", tables, seed=0, **SETTINGS)
        print(json.dumps({"devices": jax.local_device_count(), "used": [f.config["devices"] for f in fits],
                          "moments": [moments(f.samples) for f in fits]}))
    """
    out = run_script(body, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, tmp_path, tables)
    assert out["devices"] == 4 and out["used"] == [4, 4, 4, 4]
    for fit, other in zip(batch, out["moments"]):
        assert_mc_equal(moments(fit.samples), other)


@pytest.mark.heavy
def test_float32_agrees_with_float64(batch, tables, tmp_path):
    body = """
        fits = fit_many("chinchilla", tables[:2], seed=5, **SETTINGS)
        print(json.dumps({"dtype": str(fits[0].samples["alpha"].dtype), "x64": jax.config.jax_enable_x64,
                          "moments": [moments(f.samples) for f in fits]}))
    """
    out = run_script(body, {"BAYESLAW_X64": "0"}, tmp_path, tables[:2])
    assert out["dtype"] == "float32" and out["x64"] is False
    assert batch[0].samples["alpha"].dtype == np.float64
    for fit, other in zip(batch[:2], out["moments"]):
        assert_mc_equal(moments(fit.samples), other)
