"""compare(): LOO and held-out scores rank law forms; refusals of mismatched fits; averaging."""

import dataclasses
import re
import sys
import warnings

import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw.evaluate.compare import (
    ParetoKWarning,
    average_predict,
    compare,
    stacking_weights,
)
from bayeslaw.evaluate.heldout import refit

SETTINGS = {"chains": 2, "warmup": 200, "draws": 200, "seed": 1}


@pytest.fixture(scope="module")
def runs():
    # synthetic Chinchilla-law runs with a real data (D) effect: 3 families x 12 runs
    data = bl.load_dataset("synthetic_families")
    data = data[data.family.isin(["dense", "moe", "wide"])]
    return data.groupby("family").head(12).reset_index(drop=True)


@pytest.fixture(scope="module")
def fits(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny chains: convergence warnings are expected
        return {law: bl.fit(law, runs, group="family", **SETTINGS) for law in ("chinchilla", "kaplan")}


@pytest.fixture(scope="module")
def loo_table(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParetoKWarning)
        return compare(fits)


@pytest.mark.heavy
def test_loo_prefers_the_true_form(loo_table):
    assert list(loo_table.index) == ["chinchilla", "kaplan"]
    assert {"rank", "elpd", "se", "elpd_diff", "dse", "weight", "p_loo", "pareto_k_max", "n_high_k"} <= set(loo_table)
    kaplan = loo_table.loc["kaplan"]
    assert kaplan["elpd_diff"] > 4 * kaplan["dse"] > 0
    assert loo_table.loc["chinchilla", "elpd_diff"] == 0
    assert loo_table["weight"].sum() == pytest.approx(1.0)
    assert loo_table.loc["chinchilla", "weight"] > 0.9
    assert loo_table.attrs["method"] == "loo"


@pytest.mark.heavy
def test_leave_largest_out_prefers_the_true_form(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare(fits, method="largest")
    assert list(table.index) == ["chinchilla", "kaplan"]
    assert table.attrs["by"] == "C" and table.attrs["n_heldout"] == 8  # the largest 20% of 36 runs, rounded up
    assert table.loc["kaplan", "elpd_diff"] > 2 * table.loc["kaplan", "dse"]
    assert table.loc["chinchilla", "mare"] < table.loc["kaplan", "mare"]
    assert table["weight"].sum() == pytest.approx(1.0)


@pytest.mark.slow
def test_leave_one_family_out_prefers_the_true_form(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare(fits, method="family")
    assert list(table.index) == ["chinchilla", "kaplan"]
    assert table.attrs["n_families"] == 3 and (table["n_units"] == 3).all()


@pytest.mark.heavy
def test_pareto_k_warning_names_fit_and_rows(fits):
    bumped = {}
    for name, f in fits.items():
        target = f.table.target.copy()
        target[0] *= 3.0  # an outlier the posterior never saw: its importance weights explode
        bumped[name] = dataclasses.replace(f, table=dataclasses.replace(f.table, target=target))
    with pytest.warns(ParetoKWarning, match=r"fit 'chinchilla': PSIS-LOO is unreliable for \d+ run\(s\) .*rows 0"):
        compare(bumped)


def _with_target(fit, factor):
    target = fit.table.target.copy()
    target[3] *= factor
    return dataclasses.replace(fit, table=dataclasses.replace(fit.table, target=target))


@pytest.mark.heavy
def test_refuses_different_data(fits):
    other = _with_target(fits["kaplan"], 1.1)
    y = fits["chinchilla"].table.target[3]
    msg = f"cannot compare fits 'chinchilla' and 'kaplan': they are fitted to different data (target differs at run 3: {y:g} vs {y * 1.1:g})"
    with pytest.raises(bl.BayeslawError, match=re.escape(msg)):
        compare({"chinchilla": fits["chinchilla"], "kaplan": other})


@pytest.mark.heavy
def test_refuses_different_number_of_runs(fits):
    k = fits["kaplan"]
    short = dataclasses.replace(k.table, target=k.table.target[:-1])
    msg = "cannot compare fits 'chinchilla' and 'kaplan': they are fitted to different data (36 vs 35 runs)"
    with pytest.raises(bl.BayeslawError, match=re.escape(msg)):
        compare({"chinchilla": fits["chinchilla"], "kaplan": dataclasses.replace(k, table=short)})


@pytest.mark.heavy
def test_refuses_different_likelihood_spaces(fits):
    k = fits["kaplan"]
    law = dataclasses.replace(k.law, likelihood=dataclasses.replace(k.law.likelihood, space="linear"))
    linear = dataclasses.replace(k, plan=dataclasses.replace(k.plan, law=law))
    msg = ("cannot compare fits 'chinchilla' and 'kaplan': their likelihoods are in different spaces "
           "('log' vs 'linear'); scores are comparable only in the same space")
    with pytest.raises(bl.BayeslawError, match=re.escape(msg)):
        compare({"chinchilla": fits["chinchilla"], "kaplan": linear})


@pytest.mark.heavy
def test_refuses_bad_requests(fits):
    with pytest.raises(bl.BayeslawError, match=re.escape("compare needs a dict of at least two fits, got 1")):
        compare({"chinchilla": fits["chinchilla"]})
    with pytest.raises(bl.BayeslawError, match=re.escape("compare: 'x' is not a Fit (got str)")):
        compare({"chinchilla": fits["chinchilla"], "x": "fit.nc"})
    with pytest.raises(bl.BayeslawError, match=re.escape("method must be one of: loo, largest, family; got 'waic'")):
        compare(fits, method="waic")
    with pytest.raises(bl.BayeslawError, match=re.escape("cannot hold out the largest runs by 'steps': no such column")):
        compare(fits, method="largest", by="steps")
    with pytest.raises(bl.BayeslawError, match=r"^cutoff 1e\+30 on 'N' leaves 36 runs to fit and 0 to score"):
        compare(fits, method="largest", by="N", cutoff=1e30)


@pytest.mark.heavy
def test_refit_reuses_law_target_group_pooling_and_sampler(fits, runs, monkeypatch):
    seen = {}
    monkeypatch.setattr(sys.modules["bayeslaw.infer.fit"], "fit", lambda law, data, **kw: seen.update(law=law, n=len(data), **kw))
    original = fits["chinchilla"]
    refit(original, runs.head(20), seed=7)
    assert seen["law"] is original.law and seen["n"] == 20
    assert seen["target"] == "loss" and seen["group"] == "family"
    assert seen["pooling"] == original.plan.pooling_map
    assert (seen["chains"], seen["draws"], seen["warmup"], seen["seed"]) == (2, 200, 200, 7)
    assert seen["sampler"] == original.config["sampler"] == "auto"


def test_stacking_weights():
    rng = np.random.default_rng(0)
    lpd = rng.normal(size=(40, 2))
    lpd[:, 1] -= 5.0  # model 1 is always much worse
    assert stacking_weights(lpd)[0] == pytest.approx(1.0, abs=1e-3)
    half = np.zeros((40, 2))
    half[:20, 0] = half[20:, 1] = 3.0  # each model predicts half the units well
    np.testing.assert_allclose(stacking_weights(half), [0.5, 0.5], atol=1e-6)


@pytest.mark.heavy
def test_average_predict_mixes_in_proportion(fits, loo_table):
    rows = {"N": [3e8, 2e9], "D": [1e10, 5e10], "family": ["dense", "moe"]}
    alone = fits["kaplan"].predict(rows)
    only = average_predict(fits, {"chinchilla": 0.0, "kaplan": 1.0}, rows)
    np.testing.assert_allclose(only["median"], alone["median"])
    np.testing.assert_allclose(only["upper"], alone["upper"])
    chin = fits["chinchilla"].predict(rows)
    mixed = average_predict(fits, {"chinchilla": 0.5, "kaplan": 0.5}, rows)
    lo = np.minimum(chin["median"], alone["median"]) * 0.99
    hi = np.maximum(chin["median"], alone["median"]) * 1.01
    assert ((mixed["median"] >= lo) & (mixed["median"] <= hi)).all()
    best = average_predict(fits, loo_table, rows)  # the compare table's stacking weights
    assert best.attrs["weights"]["chinchilla"] > 0.9
    with pytest.raises(bl.BayeslawError, match=re.escape("weight given for unknown fit 'x'; fits: chinchilla, kaplan")):
        average_predict(fits, {"x": 1.0}, rows)
