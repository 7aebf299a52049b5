"""Tests for the peer harness (benchmarks/peer_harness.py, benchmarks/peers/): metric functions
against hand-computed values, the fixed splits' rules, and the Huber tools on synthetic runs.
No MCMC and no peer interpreter here."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from peers import data as pdata  # noqa: E402
from peers import metrics as m  # noqa: E402
from peers import tools as pt  # noqa: E402

# -- metrics -----------------------------------------------------------------------------------------


def test_interval_score_hand_values():
    lower, upper = np.array([1.0, 1.0, 1.0]), np.array([2.0, 2.0, 2.0])
    y = np.array([1.5, 2.5, 0.5])
    # 80%: alpha 0.2, a miss costs 2 / 0.2 = 10 times its distance
    np.testing.assert_allclose(m.interval_score(lower, upper, y, 0.8), [1.0, 6.0, 6.0])
    # 95%: a miss costs 40 times its distance
    np.testing.assert_allclose(m.interval_score(lower, upper, y, 0.95), [1.0, 21.0, 21.0])
    # relative: mean of 100 * score / y
    expected = np.mean([100 * 1.0 / 1.5, 100 * 6.0 / 2.5, 100 * 6.0 / 0.5])
    assert m.relative_interval_score(lower, upper, y, 0.8) == pytest.approx(expected)


def test_coverage_counts_bounds_as_inside():
    assert m.coverage([1, 1, 1, 1], [2, 2, 2, 2], [1.0, 2.0, 2.0001, 0.5]) == 0.5


def test_median_are():
    assert m.median_are([1.1, 2.0, 2.7], [1.0, 2.0, 3.0]) == pytest.approx(0.1)


def test_crps_of_point_mass_is_absolute_error():
    draws = np.full((50, 2), 3.0)
    np.testing.assert_allclose(m.crps_draws(draws, np.array([2.5, 3.0])), [0.5, 0.0], atol=1e-12)


@pytest.mark.parametrize("mu, sigma, y", [(0.0, 1.0, 0.0), (2.0, 0.5, 3.1), (-1.0, 2.0, -4.0)])
def test_crps_from_draws_matches_normal_closed_form(mu, sigma, y):
    s = 4000  # evenly spaced quantiles of the normal: a deterministic sample
    draws = (mu + sigma * norm.ppf((np.arange(s) + 0.5) / s))[:, None]
    z = (y - mu) / sigma
    closed = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    assert m.crps_draws(draws, np.array([y]))[0] == pytest.approx(closed, rel=2e-3)


def test_score_without_intervals_or_draws_gives_none():
    out = m.score({"point": np.array([1.0, 2.0]), "intervals": None, "draws": None}, [1.0, 2.0])
    assert out["median_are"] == 0.0
    assert out["coverage"] == {"0.5": None, "0.8": None, "0.95": None}
    assert out["interval_score"] == {"0.8": None, "0.95": None}
    assert out["crps"] is None


# -- splits ------------------------------------------------------------------------------------------

def _grid_frame():
    n = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9, 3e9, 1e10], 4)
    d = np.tile([1e9, 3e9, 1e10, 3e10], 7)
    return pd.DataFrame({"N": n, "D": d, "loss": 2 + 1 / np.log(n * d), "C": 6 * n * d})


def _checkpoint_frame():
    rows = []
    for n in (1e8, 3e8, 1e9, 3e9):
        for d in (1e10, 3e10, 1e11, 3e11):
            rows.append({"run": f"r{n:g}", "N": n, "D": d, "loss": 2.0, "C": 6 * n * d})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", list(pdata.SPLITS))
def test_split_holds_out_top_levels_within_share_and_respects_gap(name):
    frame, definition = _grid_frame(), pdata.SPLITS[name]
    split = pdata.make_split(frame, definition)
    assert not set(split.train.index) & set(split.test.index)
    key = frame[definition.key]
    assert (split.test[definition.key] >= split.cutoff).all()
    assert (split.train[definition.key] < split.cutoff / definition.gap).all()
    assert split.n_dropped == int(((key < split.cutoff) & (key >= split.cutoff / definition.gap)).sum())
    assert len(split.test) / len(frame) <= definition.max_share
    # the next level down would have pushed the share past max_share
    below = key[key < split.cutoff].max()
    assert (key >= below).mean() > definition.max_share


def test_split_by_n_of_seven_sizes_holds_out_the_largest():
    split = pdata.make_split(_grid_frame(), pdata.SPLITS["N"])
    assert split.cutoff == 1e10 and len(split.test) == 4 and len(split.train) == 24
    gap = pdata.make_split(_grid_frame(), pdata.SPLITS["N-gap"])
    assert set(gap.train["N"]) == {1e7, 3e7, 1e8, 3e8} and gap.n_dropped == 8


def test_checkpoint_runs_are_scored_once_on_their_final_checkpoint():
    frame = _checkpoint_frame()
    split = pdata.make_split(frame, pdata.SPLITS["C"])
    assert split.test["run"].is_unique
    assert (split.test["D"] == 3e11).all()
    # earlier checkpoints of a held-out run below the cutoff stay in the fit
    held_runs = set(split.test["run"])
    assert held_runs & set(split.train["run"])
    assert (split.train["C"] < split.cutoff).all()


def test_too_small_fit_is_skipped_with_reason():
    frame = _grid_frame().iloc[16:]  # sizes 1e9, 3e9, 1e10 only
    split = pdata.make_split(frame, pdata.SPLITS["N-gap"])
    assert split.skip == "0 fitted rows (< 10)"


def test_real_splits_are_disjoint_and_keep_the_gap():
    try:
        catalogue = {name: pdata.load(ds) for name, ds in pdata.datasets().items()}
    except FileNotFoundError as error:
        pytest.skip(str(error))
    for name, frame in catalogue.items():
        for definition in pdata.SPLITS.values():
            split = pdata.make_split(frame, definition)
            assert not set(split.train.index) & set(split.test.index), (name, definition.name)
            assert (split.train[definition.key] < split.cutoff / definition.gap).all()
            if "run" in frame.columns:
                assert split.test["run"].is_unique


@pytest.mark.parametrize(("name", "runs"), [("gpt3_curves", 8), ("opt_curves", 6)])
def test_training_curves_are_runs_of_checkpoints_from_10b_tokens(name, runs):
    """GPT-3's digitised curves are thinned to one row per log-spaced bin of tokens; OPT's
    perplexities are read as losses (nats); both keep checkpoints from 10B tokens on."""
    try:
        frame = pdata.load(pdata.datasets()[name])
    except FileNotFoundError as error:
        pytest.skip(str(error))
    assert frame["run"].nunique() == runs
    assert frame.groupby("run").size().max() <= (pdata.CURVE_BINS if name == "gpt3_curves" else 40)
    assert (frame["D"] >= pdata.CURVE_MIN_TOKENS).all() and frame.groupby("run")["N"].nunique().eq(1).all()
    assert frame["loss"].between(1.5, 4.0).all()  # nats: GPT-3 1.79-2.9, OPT log-perplexity 2.28-3.6
    np.testing.assert_allclose(frame["C"], 6 * frame["N"] * frame["D"])


# -- tools (no MCMC) ---------------------------------------------------------------------------------

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def _synthetic(n=30, seed=0, families=1):
    rng = np.random.default_rng(seed)
    N, D = 10 ** rng.uniform(7, 9.5, n), 10 ** rng.uniform(9, 11, n)
    loss = pt.bh.predict_huber(TRUE, N, D) * np.exp(rng.normal(0, 0.005, n))
    frame = pd.DataFrame({"N": N, "D": D, "loss": loss, "fam": np.arange(n) % families})
    frame["C"] = 6 * frame["N"] * frame["D"]
    return frame


def test_families_fit_separately_only_when_each_has_enough_rows():
    frame = _synthetic(n=40, families=2)
    parts = pt._families(frame, frame, "fam")
    assert len(parts) == 2 and all(mask.sum() == 20 for _, mask in parts)
    small = frame.iloc[:30]  # 15 rows per family
    assert len(pt._families(small.iloc[:18], small, "fam")) == 1  # 9 rows per family: pooled


def test_huber_tools_share_one_bootstrap_and_the_residual_variant_scales_it_by_a_fitted_residual():
    frame = _synthetic()
    split = pdata.make_split(frame, pdata.SPLITS["N"])
    ctx = pt.Context(dataset="synthetic", n_boot=5)
    plain = pt.huber_bootstrap(split.train, split.test, ctx)
    resid = pt.huber_bootstrap_residual(split.train, split.test, ctx)
    np.testing.assert_array_equal(plain["point"], resid["point"])
    assert plain["draws"].shape == (5, len(split.test))
    truth = pt.bh.predict_huber(TRUE, split.test["N"], split.test["D"])
    assert m.median_are(plain["point"], truth) < 0.02
    (_, residuals), = ctx.cache["huber"]["residuals"]
    ratio = np.log(resid["draws"] / plain["draws"])
    assert np.isin(np.round(ratio, 12), np.round(residuals, 12)).all()
    lower, upper = plain["intervals"][0.8]
    np.testing.assert_allclose([lower, upper], np.quantile(plain["draws"], [0.1, 0.9], axis=0))


def test_failed_bootstrap_refits_are_dropped_and_counted(monkeypatch):
    # a bootstrap refit with no finite optimum predicts NaN; left in, every interval and CRPS of
    # the split is NaN (seen on gadre C-gap, porian N-gap, pythia N-gap)
    frame = _synthetic()
    split = pdata.make_split(frame, pdata.SPLITS["N"])
    real = pt.bh.bootstrap_huber

    def one_fails(*args, **kwargs):
        boot = real(*args, **kwargs)
        boot.loc[boot.index[1], "alpha"] = np.nan
        return boot

    monkeypatch.setattr(pt.bh, "bootstrap_huber", one_fails)
    ctx = pt.Context(dataset="synthetic", n_boot=5)
    plain = pt.huber_bootstrap(split.train, split.test, ctx)
    assert plain["draws"].shape == (4, len(split.test)) and np.isfinite(plain["draws"]).all()
    assert plain["info"]["n_boot_failed"] == 1
    assert all(np.isfinite(bound).all() for bounds in plain["intervals"].values() for bound in bounds)


def test_missing_peer_interpreter_is_a_skip(monkeypatch, tmp_path):
    monkeypatch.setenv(pt.PEER_PYTHON_ENV, str(tmp_path / "nope" / "python"))
    frame = _synthetic()
    out = pt.simple_scaling_laws(frame, frame, pt.Context(dataset="synthetic"))
    assert out == {"skip": f"no peer interpreter (set {pt.PEER_PYTHON_ENV} or make ../peervenv312)"}


def test_unknown_names_are_rejected():
    import peer_harness

    with pytest.raises(ValueError, match=r"unknown tool \['bogus'\]"):
        peer_harness.run_harness(datasets=["chinchilla"], tools=["bogus"], verbose=False)


def test_summary_pools_coverage_over_units_and_counts_best_scores():
    from peers.report import markdown, summary

    def row(tool, split, are, cov, is80, n):
        return {"dataset": "d", "split": split, "tool": tool, "median_are": are, "n_test": n, "crps": None,
                "key": "N", "cutoff": 1e9, "n_train": 10, "seconds": 1.0,
                "coverage": {"0.5": cov, "0.8": cov, "0.95": cov} if cov is not None else
                {"0.5": None, "0.8": None, "0.95": None},
                "interval_score": {"0.8": is80, "0.95": is80}}

    results = [row("a", "N", 0.010, 1.0, 5.0, 2), row("b", "N", 0.0095, 0.5, 4.0, 2),
               row("a", "C", 0.020, 0.0, 3.0, 6), row("b", "C", 0.010, 0.5, 6.0, 6),
               row("p", "C", 0.012, None, None, 6), {"dataset": "d", "split": "N-gap", "skip": "too few"}]
    out = summary(results)
    assert out["a"]["pooled_coverage"]["0.8"] == pytest.approx(2 / 8)
    assert out["b"]["pooled_coverage"]["0.8"] == pytest.approx(0.5)
    assert out["a"]["are_within_1.1x_best"] == 1 and out["b"]["are_within_1.1x_best"] == 2
    assert out["p"]["are_within_1.1x_best"] == 0 and out["p"]["pooled_coverage"] is None
    assert out["a"]["best_is"] == {"0.8": 1, "0.95": 1} and out["b"]["best_is"] == {"0.8": 1, "0.95": 1}
    report = {"config": {"quick": True, "seed": 0, "bayeslaw_kwargs": None, "command": "x"}, "results": results}
    text = markdown(report)
    assert "- d / N-gap: too few" in text
    assert "| a | 2 | 1.50% | 1 | 25% / 25% / 25% | 4.0 | 4.0 | 1 / 1 |  |" in text
