"""family_test(): 'differ' on families with different exponents, 'same' on shared ones."""

import importlib
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl

ft_module = importlib.import_module("bayeslaw.evaluate.families")  # the package attribute is the function
from bayeslaw.evaluate.families import contrasts, decide, family_test, plot_forest

SETTINGS = {"chains": 2, "warmup": 200, "draws": 200, "seed": 0}
FAMILIES = ("f0", "f1", "f2")


def simulate(alphas, runs_per_family=20, seed=0):
    """Chinchilla-law runs; each family's size term is 0.6 nats at N = 3e8 whatever its alpha."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, alpha, E in zip(FAMILIES, alphas, (1.7, 1.8, 1.9)):
        N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), runs_per_family))
        D = np.exp(rng.uniform(np.log(2e8), np.log(6e10), runs_per_family))
        a = np.log(0.6) + alpha * np.log(3e8)
        b = np.log(0.5) + 0.28 * np.log(1e10)
        law = E + np.exp(a - alpha * np.log(N)) + np.exp(b - 0.28 * np.log(D))
        loss = law * np.exp(rng.normal(0, 0.01, runs_per_family))
        rows.append(pd.DataFrame({"family": family, "N": N, "D": D, "loss": loss}))
    return pd.concat(rows, ignore_index=True)


def _run(alphas):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny chains; Pareto-k notes are expected
        return family_test("chinchilla", simulate(alphas), params=("alpha",), group="family", **SETTINGS)


@pytest.fixture(scope="module")
def differ():
    return _run((0.2, 0.35, 0.55))


@pytest.fixture(scope="module")
def same():
    return _run((0.34, 0.34, 0.34))


@pytest.mark.heavy
def test_says_differ_on_different_exponents(differ):
    assert differ.differ
    assert differ.verdict.startswith("families differ in alpha: elpd difference ")
    assert differ.verdict.endswith(" favours per-family alpha")
    assert list(differ.table.index) == ["per_family", "shared"]
    row = differ.table.loc["shared"]
    assert row["elpd_diff"] > 2 * row["dse"]
    assert f"{row['elpd_diff']:.1f} (SE {row['dse']:.1f})" in differ.verdict


@pytest.mark.heavy
def test_says_same_on_shared_exponents(same):
    assert not same.differ
    assert same.verdict.startswith(("no evidence that families differ in alpha",
                                    "no clear evidence that families differ in alpha"))


@pytest.mark.heavy
def test_contrasts_recover_the_ordering(differ):
    c = differ.contrasts
    assert list(c.columns) == ["parameter", "family_a", "family_b", "median", "lower", "upper", "p_positive"]
    assert len(c) == 3 and set(c["parameter"]) == {"alpha"}
    row = c[(c.family_a == "f0") & (c.family_b == "f2")].iloc[0]  # 0.2 - 0.55
    assert row["upper"] < 0 and row["p_positive"] < 0.05
    assert abs(row["median"] + 0.35) < 0.15


@pytest.mark.heavy
def test_forest_plot_has_a_row_per_family_and_population(differ):
    ax = differ.plot_forest()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["alpha · f0", "alpha · f1", "alpha · f2", "alpha · (population)"]
    ax2 = plot_forest(differ.fits["per_family"], ["alpha", "E"])
    assert len(ax2.get_yticklabels()) == 8


@pytest.mark.heavy
def test_reuses_a_fit_that_already_shares_the_parameter(differ, monkeypatch):
    shared = differ.fits["shared"]
    seen = {}

    def fake_refit(fit, runs, **kw):
        seen.update(kw)
        return differ.fits["per_family"]

    monkeypatch.setattr(ft_module, "refit", fake_refit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = family_test(shared, params="alpha")
    assert result.fits["shared"] is shared
    assert seen["pooling"]["alpha"] == "partial" and seen["pooling"]["beta"] == "shared"
    assert result.differ == differ.differ


def test_decision_rule_needs_two_standard_errors():
    table = pd.DataFrame({"elpd_diff": [0.0, 3.0], "dse": [0.0, 2.0]}, index=["per_family", "shared"])
    differ, verdict = decide(table, ["alpha", "beta"])
    assert not differ
    assert verdict == ("no clear evidence that families differ in alpha and beta: elpd difference 3.0 (SE 2.0) "
                       "favours per-family alpha and beta by less than 2 SE; keep alpha and beta shared")
    table["dse"] = [0.0, 1.4]
    assert decide(table, ["alpha"]) == (True, "families differ in alpha: elpd difference 3.0 (SE 1.4) favours per-family alpha")
    table.index = ["shared", "per_family"]
    assert decide(table, ["alpha"])[1] == "no evidence that families differ in alpha: elpd difference 3.0 (SE 1.4) favours shared alpha"


@pytest.mark.heavy
def test_refuses_bad_requests(differ):
    runs = simulate((0.3, 0.3, 0.3), runs_per_family=4)
    with pytest.raises(bl.FitError, match=re.escape("family_test: unknown parameter 'gamma' of law 'chinchilla'; parameters: E, alpha, a, beta, b, sigma, df")):
        family_test("chinchilla", runs, params=("gamma",), group="family")
    with pytest.raises(bl.FitError, match=re.escape("alternative must be one of: partial, none; got 'free'")):
        family_test("chinchilla", runs, alternative="free", group="family")
    with pytest.raises(bl.FitError, match=re.escape("family_test with a law needs runs and group (the family column)")):
        family_test("chinchilla", runs)
    with pytest.raises(bl.FitError, match=re.escape("leave_family_out needs alternative='partial'")):
        family_test(differ.fits["shared"], alternative="none", leave_family_out=True)
    with pytest.raises(bl.PredictionError, match=re.escape("ci_prob must be a number in (0, 1), got 2")):
        contrasts(differ.fits["per_family"], ["alpha"], ci_prob=2)


def test_params_must_be_names(tiny_family_fit):
    with pytest.raises(bl.FitError, match=re.escape("family_test: params must be a parameter name or a list of "
                                                    "names, got None")):
        family_test(tiny_family_fit, params=None)


@pytest.mark.heavy
def test_a_run_effect_is_kept_with_sampler_settings_and_after_loading(tmp_path):
    """The refits are of the fit's own run column: with sampler settings given (they refit the
    base) and for a loaded fit, whose table is rebuilt from the file."""
    runs = simulate((0.3, 0.3, 0.3), runs_per_family=12)
    runs["curve"] = [f"{f}-{i // 3}" for f, i in zip(runs["family"], range(len(runs)), strict=True)]
    tiny = {"chains": 1, "warmup": 100, "draws": 100, "extrapolation": False, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = bl.fit("chinchilla", runs, group="family", run="curve", **tiny)
        result = family_test(base, params=["alpha", "alpha"], **tiny)
        assert result.params == ("alpha",)
        assert {f.config["run"] for f in result.fits.values()} == {"curve"}
        assert {f.config["n_runs"] for f in result.fits.values()} == {12}
        base.save(tmp_path / "fit.nc")
        loaded = bl.load_fit(tmp_path / "fit.nc")
        again = family_test(loaded, params=["alpha"], **tiny)
    assert {f.config["n_runs"] for f in again.fits.values()} == {12}
