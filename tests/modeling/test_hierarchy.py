"""Correlated family effects (LKJ) and per-run effects for checkpoint data."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl


def _quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def correlated_runs():
    """12 families whose log-amplitude (at the reference N) and exponent are planted with corr +0.9."""
    rng = np.random.default_rng(7)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), (12, 12)))
    log_ref = np.log(N).mean()
    z1, z2 = rng.normal(size=(2, 12))
    alpha = 0.34 * np.exp(0.15 * z1)
    a_ref = -1.0 + 0.4 * (0.9 * z1 + np.sqrt(1 - 0.81) * z2)
    law = 1.8 + np.exp(a_ref[:, None] - alpha[:, None] * (np.log(N) - log_ref))
    loss = law * np.exp(rng.normal(0, 0.005, N.shape))
    return pd.DataFrame({"family": np.repeat([f"f{i:02d}" for i in range(12)], 12),
                         "N": N.ravel(), "loss": loss.ravel()})


@pytest.mark.heavy
def test_correlated_effects_recover_planted_sign(correlated_runs):
    fit = _quiet_fit("kaplan", correlated_runs, group="family", pooling={"alpha": "correlated", "a": "correlated"},
                     chains=2, warmup=400, draws=400, seed=3)
    summary = fit.summary(internal=True)
    row = summary.loc[("corr(alpha, a)", "(population)")]
    draws = fit.flat("corr")[:, 0, 1]
    assert row["median"] > 0.3 and np.mean(draws > 0) > 0.9, row.to_dict()
    pred = fit.predict({"N": [1e11, 1e11], "family": ["f00", None]})
    assert list(pred["family"]) == ["f00", "(new)"] and (pred["upper"] > pred["lower"]).all()


def test_correlated_needs_two_parameters(correlated_runs):
    with pytest.raises(bl.FitError, match=re.escape("pooling 'correlated' needs at least two parameters; only 'alpha' has it")):
        bl.fit("kaplan", correlated_runs, group="family", pooling={"alpha": "correlated"})


@pytest.fixture(scope="module")
def curves():
    """Six training curves (20 checkpoints each); each run sits ~3% off the law."""
    rng = np.random.default_rng(11)
    rows = []
    for i, N in enumerate(np.geomspace(2e7, 6e8, 6)):
        offset = rng.normal(0, 0.03)
        D = np.geomspace(1e9, 4e10, 20)
        law = 1.8 + np.exp(6.0 - 0.34 * np.log(N)) + np.exp(6.2 - 0.28 * np.log(D))
        loss = law * np.exp(offset + rng.normal(0, 0.003, D.size))
        rows.append(pd.DataFrame({"run": f"r{i}", "N": N, "D": D, "loss": loss}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def with_run(curves):
    # no extrapolation error: the tests here are about the run effect, and each fit's measured
    # error (its own nested refits) would otherwise decide which interval is wider
    return _quiet_fit("chinchilla", curves, run="run", chains=2, warmup=300, draws=300, seed=0,
                      extrapolation=False)


@pytest.mark.heavy
def test_run_effect_widens_intervals_for_a_new_run(curves, with_run):
    plain = _quiet_fit("chinchilla", curves.drop(columns="run"), chains=2, warmup=300, draws=300, seed=0,
                       extrapolation=False)
    planned = {"N": 3e9, "D": 6e10}

    def width(fit, kind):
        pred = fit.predict(planned, kind=kind).iloc[0]
        return float(pred["upper"] - pred["lower"]), float(pred["median"])

    plain_width, _ = width(plain, "observed")
    law_width, median = width(with_run, "law")
    run_width, _ = width(with_run, "observed")
    # a new run draws its own offset: its interval adds ~2 x 1.645 run_sd (in log space) to the law's
    run_sd = with_run.summary(internal=True).loc[("run_sd", "(population)"), "median"]
    assert run_width > plain_width, (run_width, plain_width)
    assert run_width**2 - law_width**2 > 0.5 * (2 * 1.645 * run_sd * median) ** 2, (run_width, law_width, run_sd)
    assert with_run.summary(internal=True).loc[("run_sd", "(population)"), "median"] > 0.01
    assert with_run.log_likelihood().shape == (2, 300, len(curves))


@pytest.mark.heavy
def test_run_offsets_leave_the_size_trend_to_the_law(curves, with_run):
    """Each run has one N: offsets free to follow log N would take over the law's N term, so
    every draw's offsets have zero mean and no slope along the runs' log N and log D."""
    from bayeslaw.modeling.run_effects import fitted_run_offsets

    offsets = np.asarray(fitted_run_offsets(with_run, with_run._flat_samples))
    final = curves.groupby("run").tail(1).index.to_numpy()  # no schedule excess at the end
    per_run = offsets[:, final]  # (draws, runs)
    log_d = np.log(curves["D"]).groupby(curves["run"]).transform("mean").to_numpy()[final]
    design = np.column_stack([np.ones(final.size), np.log(curves["N"].to_numpy()[final]), log_d])
    assert np.abs(per_run @ design).max() < 1e-6
    assert per_run.std() > 0.005  # the runs still sit off the law (planted at 3%)
    # earlier checkpoints add the same non-negative excess in every run (same token grid)
    first = curves.groupby("run").head(1).index.to_numpy()
    excess = offsets[:, first] - per_run
    assert (excess >= -1e-12).all() and np.allclose(excess, excess[:, :1])


@pytest.mark.heavy
def test_checkpoint_excess_learnt_and_left_out_of_the_final_prediction():
    """Checkpoints of a decaying schedule sit above the law (most at the start, none at the end).
    The fit learns that excess from the curves and predicts a larger run's final checkpoint on
    the law; the same rows fitted as independent runs pull the law up."""
    rng = np.random.default_rng(5)
    rows = []
    for i, N in enumerate(np.geomspace(2e7, 2e9, 7)):
        D = np.geomspace(4e9, 4e10, 10)
        law = 1.8 + np.exp(6.0 - 0.34 * np.log(N)) + np.exp(6.2 - 0.28 * np.log(D))
        excess = 0.08 * (1 - D / D[-1]) ** 1.5
        loss = law * np.exp(excess + rng.normal(0, 0.01) + rng.normal(0, 0.002, D.size))
        rows.append(pd.DataFrame({"run": f"r{i}", "N": N, "D": D, "loss": loss, "law": law}))
    curves = pd.concat(rows, ignore_index=True)
    fitted, held = curves[curves["N"] < 1e9], curves[curves["N"] >= 1e9].tail(1)
    kw = dict(chains=2, warmup=300, draws=300, seed=0, extrapolation=False)
    fit = _quiet_fit("chinchilla", fitted.drop(columns="law"), run="run", **kw)
    summary = fit.summary(internal=True)
    excess = summary.loc[("ckpt_excess", "(population)")]
    assert excess["lower"] < 0.08 < excess["upper"], excess.to_dict()
    pred = fit.predict(held[["N", "D"]], kind="law", ci_prob=0.9).iloc[0]
    truth = float(held["law"].iloc[0])
    assert pred["lower"] < truth < pred["upper"], (pred.to_dict(), truth)
    naive = _quiet_fit("chinchilla", fitted.drop(columns=["law", "run"]), **kw)
    naive_median = float(naive.predict(held[["N", "D"]], kind="law")["median"].iloc[0])
    assert abs(pred["median"] / truth - 1) < abs(naive_median / truth - 1)


@pytest.mark.heavy
def test_checkpoint_table_gets_its_run_column_by_default(curves):
    kw = dict(chains=1, warmup=20, draws=20, seed=0, extrapolation=False)
    fit = _quiet_fit("chinchilla", curves, **kw)
    assert fit.config["run"] == "run" and fit.plan.n_runs == curves["run"].nunique()
    off = _quiet_fit("chinchilla", curves, run=False, **kw)
    assert off.config["run"] is None and off.plan.n_runs == 0


@pytest.mark.heavy
def test_drop_early_checkpoints(curves):
    from bayeslaw.data.checkpoints import drop_early_checkpoints

    kept = drop_early_checkpoints(curves, tokens="D", min_tokens=1e10)
    assert (kept["D"] >= 1e10).all() and 0 < len(kept) < len(curves)


@pytest.mark.heavy
def test_many_centred_families_start_outside_the_funnel():
    """Regression: a MAP start searched in centred coordinates chases the sd -> 0 spike of the
    centred density; at 20 families every transition then diverged (1 leapfrog step per draw)."""
    rng = np.random.default_rng(0)
    frames = []
    for f in range(20):
        N = np.exp(rng.uniform(np.log(1e7), np.log(3e9), 12))
        D = np.exp(rng.uniform(np.log(2e8), np.log(6e10), 12))
        law = 1.8 + np.exp(6 + rng.normal(0, 0.2) - 0.34 * np.log(N)) + np.exp(6.2 + rng.normal(0, 0.2) - 0.28 * np.log(D))
        frames.append(pd.DataFrame({"family": f"f{f}", "N": N, "D": D, "loss": law * np.exp(rng.normal(0, 0.01, 12))}))
    fit = _quiet_fit("chinchilla", pd.concat(frames), group="family", chains=2, warmup=300, draws=200, seed=0)
    assert fit.config["centered"] is True
    # the regression made every draw divergent. A 20-family centred fit with 12 runs per family
    # and 300 warmup iterations is a hard geometry: across seeds and numerical noise (1 vs 2 CPU
    # threads) it shows 2-25% divergent draws, so the bound is loose; the step count and R-hat
    # below catch a chain that no longer moves
    assert fit.divergences < 0.25 * fit.num_draws
    assert np.mean(fit.sample_stats["num_steps"]) > 2
    # 2 chains x 200 draws of a hard posterior: R-hat itself is noisy here (1.01-1.06 seen);
    # the regression's stuck chains gave R-hat ~1e16
    assert fit.summary().loc[("alpha", "(shared)"), "r_hat"] < 1.1


@pytest.mark.heavy
def test_cli_header_counts_checkpoints_as_rows_of_runs(curves, tmp_path, capsys):
    from bayeslaw.cli.main import main

    path = tmp_path / "curves.csv"
    curves.to_csv(path, index=False)
    code = main(["fit", "chinchilla", str(path), "--chains", "1", "--warmup", "20", "--draws", "20",
                 "--no-extrapolation", "--no-progress"])
    assert code == 0
    assert capsys.readouterr().out.startswith("chinchilla: 120 rows of 6 runs, 1 family, target 'loss'")


@pytest.mark.heavy
def test_one_row_per_run_has_no_run_effect(curves):
    """Final checkpoints only: a run's offset is its row's noise, so the fit drops the run effect
    (with it, offsets equal to the residuals let sigma -> 0, where the density is unbounded)."""
    finals = curves.groupby("run").tail(1)
    with pytest.warns(bl.DataWarning, match=re.escape("every run in column 'run' has one row: a run effect cannot")):
        fit = _quiet_fit("chinchilla", finals, run="run", chains=1, warmup=20, draws=20, seed=0)
    assert fit.plan.n_runs == 0 and fit.run_index is None
    assert "run_sd" not in fit.samples


def _run_args(frame: pd.DataFrame):
    import jax.numpy as jnp

    codes, labels = pd.factorize(frame["run"], sort=True)
    x = {k: jnp.asarray(frame[k].to_numpy(float)) for k in ("N", "D")}
    return x, jnp.asarray(codes), jnp.zeros(len(frame), dtype=int), len(labels)


def test_masked_projection_is_the_projection_of_the_seen_runs_alone(curves):
    """Rows a fit does not see (a nested refit's runs above its cutoff, a batch's padding) must
    not enter the run design: the seen runs get the projection a fit of their rows alone would
    use, and a run with no seen row keeps its prior offset, coupled to no other run."""
    from bayeslaw.modeling.build import make_plan
    from bayeslaw.modeling.run_effects import run_projection

    law = bl.load_law("chinchilla")
    # runs r4, r5 unseen; run r2 seen up to 1e10 tokens only; two masked copies of row 0 (padding)
    padded = pd.concat([curves, curves.iloc[[0, 0]]], ignore_index=True)
    seen = (padded["run"] < "r4") & ~((padded["run"] == "r2") & (padded["D"] > 1e10))
    seen.iloc[-2:] = False
    x, run, family, n_runs = _run_args(padded)
    full = np.asarray(run_projection(make_plan(law, 1, n_runs=n_runs), x, run, family, seen.to_numpy()))
    xs, runs, families, n_seen = _run_args(padded[seen])
    alone = np.asarray(run_projection(make_plan(law, 1, n_runs=n_seen), xs, runs, families))
    assert n_seen == 4
    np.testing.assert_allclose(full[:4, :4], alone, atol=1e-5)  # float32 where x64 is off
    np.testing.assert_allclose(full[4:, 4:], np.eye(2), atol=1e-5)
    np.testing.assert_allclose(full[:4, 4:], 0.0, atol=1e-5)
    np.testing.assert_allclose(full[4:, :4], 0.0, atol=1e-5)
    # without a mask every row counts, as before
    everything = np.asarray(run_projection(make_plan(law, 1, n_runs=n_runs), x, run, family))
    assert np.abs(everything[:4, :4] - alone).max() > 1e-3


def _bare_fit(frame: pd.DataFrame):
    """A Fit without draws (a nested refit then takes its metric from the curvature at its
    mode) of a run table."""
    from bayeslaw.data.runs import validate_runs
    from bayeslaw.infer.start import log_reference
    from bayeslaw.modeling.build import make_plan
    from bayeslaw.results.fit import Fit

    table = validate_runs(frame.reset_index(drop=True), {"N": True, "D": True}, "loss", None)
    codes, labels = pd.factorize(table.frame["run"], sort=True)
    plan = make_plan(bl.load_law("chinchilla"), 1, n_runs=len(labels))
    return Fit(plan=plan, table=table, logref=log_reference(plan, table.inputs), samples={},
               sample_stats={}, timings={}, config={"seed": 0}, run_index=codes.astype(np.int32))


def test_a_masked_run_model_is_the_model_of_the_seen_rows(curves):
    """A nested refit keeps the full table and masks the runs above its cutoff: with a run
    effect, its log density must be the density of the rows below alone, times the prior of the
    unseen runs' offsets (which then decouple from the rest), at any parameter values."""
    import jax
    import jax.numpy as jnp
    from numpyro import handlers
    from numpyro.infer.util import log_density

    from bayeslaw.infer.start import model_args
    from bayeslaw.modeling.build import build_model

    below = (curves["run"] < "r4").to_numpy()
    full, alone = _bare_fit(curves), _bare_fit(curves[below])
    full_model, alone_model = build_model(full.plan), build_model(alone.plan)
    logref = alone.logref  # a nested fit centres on its own runs
    full_args = model_args(full.table, logref) + (jnp.asarray(below), jnp.asarray(full.run_index))
    alone_args = model_args(alone.table, logref) + (None, jnp.asarray(alone.run_index))
    for seed in range(3):
        trace = handlers.trace(handlers.seed(alone_model, seed)).get_trace(*alone_args)
        params = {k: v["value"] for k, v in trace.items() if v["type"] == "sample" and k != "obs"}
        extra = jax.random.normal(jax.random.PRNGKey(seed), (2,))
        with_unseen = {**params, "run_z": jnp.concatenate([params["run_z"], extra])}
        lp_full = log_density(full_model, full_args, {}, with_unseen)[0]
        lp_alone = log_density(alone_model, alone_args, {}, params)[0]
        prior = float(jnp.sum(-0.5 * extra**2 - 0.5 * np.log(2 * np.pi)))
        assert abs(float(lp_full) - float(lp_alone) - prior) < 1e-3 * max(1.0, abs(float(lp_alone)))


@pytest.mark.heavy
def test_a_nested_fit_reads_its_noise_bound_from_its_own_rows(curves):
    """The noise bound of a nested refit is the largest residual of the rows it was
    fitted on: a wild loss on a masked row changes nothing."""
    from bayeslaw.infer.nested_fits import nested_fits

    below = (curves["run"] < "r4").to_numpy()
    nested = nested_fits(_bare_fit(curves), below[None], seed=0)[0]
    wild = curves.copy()
    wild.loc[~below, "loss"] *= 5.0
    masked = nested_fits(_bare_fit(wild), below[None], seed=0)[0]
    np.testing.assert_allclose(masked._noise_bound, nested._noise_bound)
    assert np.all(np.isfinite(nested._noise_bound)) and nested.fitted_rows is not None


def test_a_run_cut_short_of_a_shared_schedule_ends_where_the_others_do():
    """A larger run whose last checkpoint stops short of a schedule smaller runs share (a compute
    cutoff, a run still training) was taken as finished: its unannealed last checkpoint sat on the
    law (GPT-3's 175B run at 17B tokens put E at 2.05, its final loss 1.79)."""
    from types import SimpleNamespace

    from bayeslaw.modeling.run_effects import run_fraction

    grid = np.geomspace(1e10, 3e11, 5)
    D = np.concatenate([grid, grid, grid, grid[:2]])  # three runs on one schedule, the last cut short
    run = np.repeat([0, 1, 2, 3], [5, 5, 5, 2])
    plan = SimpleNamespace(n_runs=4)
    N = np.repeat([1e8, 2e8, 4e8, 8e8], [5, 5, 5, 2])
    fraction = np.asarray(run_fraction(plan, {"D": D, "N": N}, run))
    np.testing.assert_allclose(fraction[-2:], grid[:2] / 3e11)
    np.testing.assert_allclose(fraction[4::5][:3], 1.0)
    # a compute cutoff on a shared schedule: one run complete of three, the larger two cut short
    D = np.concatenate([grid, grid[:3], grid[:2]])
    run, N = np.repeat([0, 1, 2], [5, 3, 2]), np.repeat([1e8, 2e8, 4e8], [5, 3, 2])
    fraction = np.asarray(run_fraction(SimpleNamespace(n_runs=3), {"D": D, "N": N}, run))
    np.testing.assert_allclose(fraction[5:], np.concatenate([grid[:3], grid[:2]]) / 3e11)
    # runs that end where their own budgets do: larger runs longer (runs of their own lengths) or
    # smaller runs longer (an isoFLOP grid read at its budgets); each ends at its last checkpoint
    counts = [2, 3, 4, 5]
    run = np.repeat([0, 1, 2, 3], counts)
    D = np.concatenate([grid[:c] for c in counts])
    for sizes in ([1e8, 2e8, 4e8, 8e8], [8e8, 4e8, 2e8, 1e8]):
        fraction = np.asarray(run_fraction(SimpleNamespace(n_runs=4), {"D": D, "N": np.repeat(sizes, counts)}, run))
        np.testing.assert_allclose(fraction[np.cumsum(counts) - 1], 1.0)
    # the rows of a larger run stopping short of smaller runs that share a schedule, but only one
    # run of four ends there: not a shared schedule
    D = np.concatenate([grid, grid[:4], grid[:3], grid[:2]])
    run, N = np.repeat([0, 1, 2, 3], [5, 4, 3, 2]), np.repeat([1e8, 2e8, 4e8, 8e8], [5, 4, 3, 2])
    fraction = np.asarray(run_fraction(SimpleNamespace(n_runs=4), {"D": D, "N": N}, run))
    np.testing.assert_allclose(fraction[[4, 8, 11, 13]], 1.0)
