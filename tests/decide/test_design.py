"""Preposterior design of the next runs (bayeslaw.decide.design.suggest_runs, ``bayeslaw suggest``)."""

from __future__ import annotations

import itertools
import math
import os
import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.cli import main as cli
from bayeslaw.core.errors import PredictionError
from bayeslaw.decide.design_inputs import iso_cost_candidates

TARGET = {"N": 1e10, "D": 2e11}
NEAR = {"N": 5e9, "D": 1e11}  # a run close to the target: informative about it
FAR = {"N": 1e7, "D": 2e8}  # a small run far below it


@pytest.fixture(scope="module")
def small_fit(small_runs):
    """Chinchilla law on 16 runs of one simulated family (small NUTS fit, no extrapolation
    error, R-hat ~1.00): a target two decades beyond them that one more large run narrows a lot."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bl.fit("chinchilla", small_runs, chains=2, warmup=300, draws=600, seed=0,
                      extrapolation=False, progress=False)


@pytest.fixture(scope="module")
def kaplan_fit(small_runs):
    """The N-only Kaplan form on the same runs as ``small_fit``: a second law that disagrees
    about a target two decades out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bl.fit("kaplan", small_runs, chains=2, warmup=300, draws=600, seed=0,
                      extrapolation=False, progress=False)


@pytest.fixture(scope="module")
def small_runs(truth):
    from conftest import simulate

    runs = simulate(truth, 16, seed=11, n_range=(1e7, 1e9), d_range=(2e8, 2e10))
    return runs[runs["family"] == "dense"].drop(columns=["family", "law"]).reset_index(drop=True)


@pytest.fixture(autouse=True)
def _keep_xla_flags(monkeypatch):
    """cli.main sets XLA_FLAGS; undo that after each in-process call."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.DesignWarning)
        return fn(*args, **kwargs)


@pytest.mark.heavy
def test_run_at_the_target_beats_a_far_small_run(small_fit):
    cands = pd.DataFrame([FAR, NEAR], index=["far", "near"])
    out = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=1, cost=[1.0, 1.0])
    assert list(out["candidate"]) == ["near"]
    assert out["expected_sd"].iloc[0] < 0.9 * out.attrs["sd_now"]


@pytest.mark.heavy
def test_greedy_steps_shrink_the_expected_sd(small_fit):
    grid = pd.DataFrame([(n, d) for n in np.geomspace(1e7, 3e9, 4) for d in np.geomspace(2e8, 1e11, 4)],
                        columns=["N", "D"])
    out = _quiet(bl.suggest_runs, small_fit, TARGET, grid, n=5, outer=32)
    assert list(out["step"]) == [1, 2, 3, 4, 5]
    sds = [out.attrs["sd_now"], *out["expected_sd"]]
    assert all(b < a for a, b in itertools.pairwise(sds))
    assert np.allclose(out["cumulative_cost"], np.cumsum(6 * out["N"] * out["D"]), rtol=1e-6)
    assert out["ess_fraction"].between(0, 1).all()


@pytest.mark.heavy
def test_real_runs_without_replicates_within_a_budget(small_fit):
    cands = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8], "D": [2e9, 4e9, 8e9, 1.6e10]},
                         index=["r1", "r2", "r3", "r4"])
    costs = 6 * cands["N"] * cands["D"]
    budget = float(costs.iloc[:3].sum())
    out = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=4, budget=budget, replicates=False)
    assert out["candidate"].is_unique and set(out["candidate"]) <= set(cands.index)
    assert out["cumulative_cost"].iloc[-1] <= budget * (1 + 1e-9)
    none = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=2, budget=1.0)
    assert len(none) == 0 and "expected_sd" in none.columns


@pytest.mark.heavy
def test_without_a_budget_cheap_runs_that_barely_help_are_called_out(small_fit):
    # the far run costs 1/1000 of the near one but tells little about the target: per cost it wins
    cands = pd.DataFrame([FAR, NEAR], index=["far", "near"])
    pattern = (r"^ranked by gain per cost without a budget, the 2 runs cut the expected sd from "
               r"(\S+) to (\S+) \(cost 0\.002\); the 2 most informative runs would cut it to (\S+) \(cost "
               r"2\): give a budget to weigh the cost$")
    with pytest.warns(bl.DesignWarning, match=pattern) as record:
        out = bl.suggest_runs(small_fit, TARGET, cands, n=2, cost=[0.001, 1.0], outer=32)
    assert list(out["candidate"]) == ["far", "far"]
    now, cheap, informative = map(float, re.match(pattern, str(record[0].message)).groups())
    assert now - informative > 2 * (now - cheap)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bl.DesignWarning)  # the same runs at equal cost: no trade-off
        assert list(bl.suggest_runs(small_fit, TARGET, cands, n=1, cost=[1.0, 1.0], outer=32)["candidate"]) == ["near"]


@pytest.mark.heavy
def test_compute_target_and_iso_cost_candidates(small_fit):
    out = _quiet(bl.suggest_runs, small_fit, {"compute": [1e21]}, {"compute": [1e17, 1e18], "points": 5},
                 n=3, outer=32)
    assert len(out) == 3 and out["expected_sd"].iloc[-1] < out.attrs["sd_now"]
    assert set(np.round(np.log10(6 * out["N"] * out["D"]), 6)) <= {17.0, 18.0}
    frame = iso_cost_candidates({"compute": [6e20], "points": 3}, 6.0)
    assert frame["N"].tolist() == pytest.approx([np.sqrt(6e20 / 120) * 10**s for s in (-0.75, 0, 0.75)])
    assert (frame["D"] / frame["N"]).iloc[1] == pytest.approx(20.0)


def _with_error(fit, runs, kappa, tau, drift_cov=None):
    """``fit`` carrying an extrapolation error with all its mass at (kappa, tau) on the grid
    (and a zero drift of covariance ``drift_cov`` if given)."""
    from bayeslaw.results.extrapolation_error import GRID, ExtrapolationErrorModel

    weights = np.zeros((GRID.size, GRID.size))
    ik, it = np.searchsorted(GRID, kappa), np.searchsorted(GRID, tau)
    weights[ik, it] = 1.0
    reference = float(np.log((6 * runs["N"] * runs["D"]).max()))
    drift = None if drift_cov is None else np.zeros(2)
    error = ExtrapolationErrorModel("C", reference, weights, 30, (1.0,), None, drift, drift_cov)
    return replace(fit, config={**fit.config, "extrapolation": error.to_dict()}), GRID[ik], GRID[it], reference


@pytest.mark.heavy
def test_the_extrapolation_error_shrinks_as_runs_come_closer(small_fit, small_runs):
    """With the scales known, the error's variance at the target is kappa^2 + tau^2 d^2, d the log
    distance beyond the largest run fitted or chosen: a run inside the data leaves it, a run near
    the target shrinks it to its own distance, and it counts in expected_sd; a fit without an
    error adds none."""
    fit, kappa, tau, reference = _with_error(small_fit, small_runs, 0.01, 0.02)
    target_key = np.log(6 * TARGET["N"] * TARGET["D"])
    cands = pd.DataFrame([FAR, NEAR], index=["far", "near"])
    far = _quiet(bl.suggest_runs, fit, TARGET, cands.loc[["far"]], n=1, outer=32)
    assert far["extrapolation_sd"].iloc[0] == pytest.approx(math.hypot(kappa, tau * (target_key - reference)))
    near = _quiet(bl.suggest_runs, fit, TARGET, cands, n=1, cost=[1.0, 1.0], outer=32)
    assert list(near["candidate"]) == ["near"]
    assert near["extrapolation_sd"].iloc[0] == pytest.approx(math.hypot(kappa, tau * np.log(4.0)))
    assert near["expected_sd"].iloc[0] > near["extrapolation_sd"].iloc[0]
    assert near.attrs["sd_now"] > math.hypot(kappa, tau * (target_key - reference))
    plain = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=1, cost=[1.0, 1.0], outer=32)
    assert plain["extrapolation_sd"].iloc[0] == 0.0
    # the drift's uncertainty adds c' Cov c, c = (1, d): the offset's and the slope's variances
    # and their covariance, shrunk the same way by a run near the target
    cov = np.array([[0.02**2, -0.5 * 0.02 * 0.01], [-0.5 * 0.02 * 0.01, 0.01**2]])
    drifting = _with_error(small_fit, small_runs, 0.01, 0.02, drift_cov=cov)[0]
    near = _quiet(bl.suggest_runs, drifting, TARGET, cands, n=1, cost=[1.0, 1.0], outer=32)
    c = np.array([1.0, np.log(4.0)])
    assert near["extrapolation_sd"].iloc[0] == pytest.approx(
        math.sqrt(kappa**2 + (tau * np.log(4.0)) ** 2 + c @ cov @ c))


@pytest.mark.heavy
def test_a_target_beyond_the_data_in_n_alone_is_brought_closer_along_n(small_fit, small_runs):
    """A 1e10-parameter target on few tokens lies inside the data in compute and a decade beyond
    it in N: its error is the one of that decade, and a run as large in N (cheap, few tokens)
    removes it, as the error's distance (the farthest size axis) says."""
    from bayeslaw.results.extrapolation_error import GRID, ExtrapolationErrorModel
    from bayeslaw.results.sizes import log_sizes

    weights = np.zeros((GRID.size, GRID.size))
    ik = it = np.searchsorted(GRID, 0.02)
    weights[ik, it] = 1.0
    fitted = {k: small_runs[k].to_numpy(float) for k in ("N", "D")}
    frontier = dict(zip(("C", "N", "D"), log_sizes(fitted, ("C", "N", "D")).max(axis=0)))
    error = ExtrapolationErrorModel("C", frontier["C"], weights, 30, (1.0,), frontier=frontier)
    fit = replace(small_fit, config={**small_fit.config, "extrapolation": error.to_dict()})
    target = {"N": 10 * small_runs["N"].max(), "D": small_runs["D"].min() / 4}
    assert 6 * target["N"] * target["D"] < (6 * small_runs["N"] * small_runs["D"]).max()
    d = np.log(10.0)
    cands = pd.DataFrame([FAR, {"N": target["N"], "D": target["D"] / 2}], index=["far", "wide"])
    far = _quiet(bl.suggest_runs, fit, target, cands.loc[["far"]], n=1, outer=32)
    assert far["extrapolation_sd"].iloc[0] == pytest.approx(math.hypot(GRID[ik], GRID[it] * d))
    wide = _quiet(bl.suggest_runs, fit, target, cands, n=1, cost=[1.0, 1.0], outer=32)
    assert list(wide["candidate"]) == ["wide"] and wide["extrapolation_sd"].iloc[0] == 0.0


@pytest.mark.heavy
def test_runs_beyond_the_nested_cutoffs_teach_the_error_scale(small_fit, small_runs):
    """The scales' posterior split between a small and a large error: a candidate beyond the
    nested cutoff adds a held-out residual that tells them apart, one below it adds none. The
    expected error variance stays (the posterior mean is a martingale), its expected sd shrinks,
    and the worlds whose true scales are small end with most of the mass on them."""
    from bayeslaw.decide.design_extrapolation import ExtrapolationTerm
    from bayeslaw.results.extrapolation_error import GRID, ExtrapolationErrorModel

    keys = 6 * small_runs["N"] * small_runs["D"]
    weights = np.zeros((GRID.size, GRID.size))
    small, large = np.searchsorted(GRID, [0.003, 0.1])
    weights[small, small] = weights[large, large] = 0.5
    error = ExtrapolationErrorModel("C", float(np.log(keys.max())), weights, 30, (float(np.quantile(keys, 0.25)),))
    fit = replace(small_fit, config={**small_fit.config, "extrapolation": error.to_dict()})
    # below the cutoff (the smallest run again), and beyond it but inside the data (the largest)
    cands = small_runs.loc[[keys.idxmin(), keys.idxmax()], ["N", "D"]]
    rng = np.random.default_rng(0)
    term = ExtrapolationTerm.of({"fit": fit}, {"fit": 1.0}, pd.DataFrame([TARGET]), cands).start(2000, rng, np.full(2, 0.01**2))
    now = term.now()
    after, residuals = term.after(rng)
    assert after[0] == pytest.approx(now)
    assert after[1].mean() == pytest.approx(now.mean(), rel=0.1)
    assert np.sqrt(after[1]).mean() < 0.9 * np.sqrt(now).mean()
    part = term.parts[0]
    term.choose(1, residuals)
    mass_small = np.exp(part.logw)[:, part.scales[:, 0] < 0.01].sum(axis=1) / np.exp(part.logw).sum(axis=1)
    truly_small = part.scales[part.truth, 0] < 0.01
    assert 0.4 < truly_small.mean() < 0.6
    assert mass_small[truly_small].mean() > 0.85 and mass_small[~truly_small].mean() < 0.1


@pytest.mark.heavy
def test_a_budget_is_spent_by_gain_when_gain_per_cost_leaves_it_unspent(small_fit):
    """Cheap far runs win on gain per cost, one costly near run wins on gain: with a budget that
    affords the near run the better sequence (lower final expected variance) is returned."""
    cands = pd.DataFrame([FAR, NEAR], index=["far", "near"])
    per_cost = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=10, cost=[1.0, 200.0], seed=1)
    assert per_cost.attrs["criterion"] == "gain per cost"
    assert list(per_cost["candidate"][:2]) == ["far", "far"]
    spent = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=10, cost=[1.0, 200.0], budget=200.0, seed=1)
    assert spent.attrs["criterion"] == "gain"
    assert list(spent["candidate"]) == ["near"] and spent["cumulative_cost"].iloc[-1] == 200.0
    cheap_only = per_cost[per_cost["cumulative_cost"] <= 200.0]
    assert spent["expected_sd"].iloc[-1] < 0.5 * cheap_only["expected_sd"].iloc[-1]


@pytest.mark.slow
def test_expected_remaining_variance_matches_the_realised_one(small_fit):
    """Preposterior check: pool = every other draw, truths = the draws between (held out). For each
    truth, simulate the candidate's outcome (plain NumPy), reweight the pool by it and record the
    realised variance of the target; their mean must match suggest_runs' expectation within
    four combined Monte Carlo standard errors (both sides are means of independent worlds)."""
    half = {k: v[:, ::2] for k, v in small_fit.samples.items()}
    rest = {k: v[:, 1::2] for k, v in small_fit.samples.items()}
    pool, held = replace(small_fit, samples=half), replace(small_fit, samples=rest)
    outer = 400
    out = _quiet(bl.suggest_runs, pool, TARGET, pd.DataFrame([NEAR]), n=1, outer=outer, seed=3)
    by_world = out.attrs["variance_by_world"][0]
    # no extrapolation error: the expected sd is the worlds' mean sd of the reweighted posterior
    assert out["expected_sd"].iloc[0] == pytest.approx(np.sqrt(by_world).mean())
    expected = by_world.mean()
    se_expected = by_world.std(ddof=1) / math.sqrt(outer)

    def law(p, x):
        return p["E"] + np.exp(p["a"] - p["alpha"] * np.log(x["N"])) + np.exp(p["b"] - p["beta"] * np.log(x["D"]))

    p_pool = {k: v[:, 0] for k, v in pool.family_values().items()}
    p_true = {k: v[:, 0] for k, v in held.family_values().items()}
    q = np.log(law(p_pool, TARGET))
    loc = np.log(law(p_pool, NEAR))
    df, sigma = p_pool["df"], p_pool["sigma"]
    const = (np.vectorize(math.lgamma)((df + 1) / 2) - np.vectorize(math.lgamma)(df / 2)
             - 0.5 * np.log(df * np.pi) - np.log(sigma))
    rng = np.random.default_rng(7)
    realised = []
    for r in rng.choice(len(p_true["E"]), 300, replace=False):
        y = np.log(law({k: v[r] for k, v in p_true.items()}, NEAR)) + p_true["sigma"][r] * rng.standard_t(p_true["df"][r])
        ll = const - (df + 1) / 2 * np.log1p(((y - loc) / sigma) ** 2 / df)
        w = np.exp(ll - ll.max())
        w /= w.sum()
        realised.append(w @ (q - w @ q) ** 2)
    realised = np.array(realised)
    prior = q.var()
    assert expected < 0.8 * prior  # the check is about a run that really informs the target
    se_realised = realised.std(ddof=1) / math.sqrt(len(realised))
    assert abs(realised.mean() - expected) < 4 * math.hypot(se_expected, se_realised), \
        (realised.mean(), expected, se_expected, se_realised)


@pytest.mark.heavy
def test_law_averaged_design_with_one_law_matches_the_single_law_design(small_fit):
    cands = pd.DataFrame([FAR, NEAR, {"N": 1e9, "D": 2e10}], index=["far", "near", "mid"])
    single = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=2, cost=[1.0, 1.0, 1.0], outer=128)
    both = _quiet(bl.suggest_runs, None, TARGET, cands, n=2, cost=[1.0, 1.0, 1.0], outer=128,
                  fits={"a": small_fit, "b": small_fit}, weights={"a": 0.5, "b": 0.5})
    assert list(both["candidate"]) == list(single["candidate"])
    assert both["expected_sd"].to_numpy() == pytest.approx(single["expected_sd"].to_numpy(), rel=0.05)
    assert single.attrs["law_weight_if_true"] == {"fit": pytest.approx(1.0)}
    # two copies of one law cannot be told apart: the true one keeps about half the mass
    assert both.attrs["law_weight_if_true"]["a"] == pytest.approx(0.5, abs=0.1)


def _with_law_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """N and D with the over-training law's inputs beside them: C = 6 N D and M = D / N."""
    return frame.assign(C=6.0 * frame["N"] * frame["D"], M=frame["D"] / frame["N"])


@pytest.mark.heavy
def test_law_averaged_design_loses_little_when_the_first_law_is_right(small_fit, small_runs):
    """The runs are the Chinchilla law's; a design averaged (equal weights) over it and the
    over-training law, a plausible alternative, must not cost more than a few percent of the
    target's expected sd under the true law, against the design for that law alone. The chosen
    runs of each design are scored by the true law's preposterior (the same set, whichever
    order, gives the same sd up to ~1% of Monte Carlo); on four simulated tables the ratio was
    0.98-1.03 for 2, 4 and 6 runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = bl.fit("overtraining", _with_law_inputs(small_runs), chains=2, warmup=300, draws=600,
                       seed=0, extrapolation=False, progress=False)
    target = _with_law_inputs(pd.DataFrame([TARGET]))
    grid = _with_law_inputs(pd.DataFrame(list(itertools.product(np.geomspace(1e7, 3e9, 4),
                                                                np.geomspace(2e8, 1e11, 4))),
                                         columns=["N", "D"]))
    fits = {"chinchilla": small_fit, "overtraining": other}
    equal = {"cost": [1.0] * len(grid), "replicates": False}

    def true_sd(plan: pd.DataFrame) -> float:
        picks = grid.loc[list(plan["candidate"])]
        again = _quiet(bl.suggest_runs, small_fit, target, picks, n=len(picks), replicates=False,
                       cost=[1.0] * len(picks))
        return float(again["expected_sd"].iloc[-1])

    for n in (2, 4, 6):
        single = _quiet(bl.suggest_runs, small_fit, target, grid, n=n, **equal)
        both = _quiet(bl.suggest_runs, None, target, grid, n=n, fits=fits, **equal)
        assert set(both.attrs["law_weight_if_true"]) == set(fits)  # both laws in the design
        assert true_sd(both) <= 1.05 * true_sd(single), n


@pytest.mark.slow
def test_law_averaged_design_tells_disagreeing_laws_apart(small_fit, kaplan_fit):
    """Chinchilla and the N-only Kaplan form disagree about a run two decades out: the mixture
    is wider than either law, and the chosen runs leave most of the mass on the true law."""
    grid = pd.DataFrame([(n, d) for n in np.geomspace(1e7, 3e9, 4) for d in np.geomspace(2e8, 1e11, 4)],
                        columns=["N", "D"])
    fits = {"chinchilla": small_fit, "kaplan": kaplan_fit}
    both = _quiet(bl.suggest_runs, None, TARGET, grid, n=3, fits=fits)
    singles = [_quiet(bl.suggest_runs, f, TARGET, grid, n=3).attrs["sd_now"] for f in fits.values()]
    assert both.attrs["sd_now"] > max(singles)
    assert both["expected_sd"].iloc[-1] < 0.6 * both.attrs["sd_now"]
    assert min(both.attrs["law_weight_if_true"].values()) > 0.6


@pytest.mark.heavy
@pytest.mark.parametrize("kwargs, message", [
    ({"candidates": pd.DataFrame({"D": [1e9]})},
     "candidates has no column 'N'; give the model size N and tokens D of each run"),
    ({"target": {"N": 1e10}}, "target has no column 'D'; give the model size N and tokens D of each run"),
    ({"candidates": pd.DataFrame(columns=["N", "D"])},
     "candidates is empty: give at least one run (N, D) that could be trained"),
    ({"cost": [1.0, 0.0]}, "cost of candidate 1 is 0 (cost); every cost must be a positive number"),
    ({"cost": "N - 1e8"}, "cost of candidate 0 is -9e+07 (cost formula 'N - 1e8'); every cost must be a positive number"),
    ({"n": 0}, "n must be a whole number of runs from 1 to 1000, got 0"),
    ({"budget": -1.0}, "budget must be a positive number, got -1.0"),
    ({"replicates": "no"}, "replicates must be True or False, got 'no'"),
    ({"target": {"compute": [1e21], "budget": 3}},
     "target has unknown key 'budget'; a compute-optimal target takes: compute, family, flops"),
    ({"fits": "own", "weights": {"b": 1.0}}, "weights name fit 'b' that is not in fits; fits: a"),
    ({"fits": "own", "weights": {}}, "weights give no weight for fit 'a'; weights: "),
])
def test_bad_input_messages(small_fit, kwargs, message):
    args = {"target": TARGET, "candidates": pd.DataFrame([FAR, NEAR]), **kwargs}
    if args.get("fits") == "own":
        args["fits"] = {"a": small_fit}
    with pytest.raises(PredictionError, match="^" + re.escape(message) + "$"):
        bl.suggest_runs(small_fit, args.pop("target"), args.pop("candidates"), **args)


@pytest.mark.heavy
def test_degenerate_weights_warn(small_fit):
    cands = pd.DataFrame([NEAR, {"N": 1e7, "D": 1e11}])
    with pytest.warns(bl.DesignWarning, match=r"^the reweighted posterior rests on \d+\.\d% of the draws "
                      r"on average \(below 5%\): the expected sd is unreliable"):
        out = bl.suggest_runs(small_fit, TARGET, cands, n=8, outer=32, cost=[1.0, 1.0])
    assert out["ess_fraction"].iloc[-1] < 0.05 < out["ess_fraction"].iloc[0]


@pytest.mark.heavy
def test_cost_formula_ignores_columns_it_cannot_name(small_fit):
    cands = pd.DataFrame({"N": [1e8, 2e8], "D": [2e9, 4e9], "log": [1.0, 2.0], "loss": [3.0, 2.9]},
                         index=["a", "b"])
    out = _quiet(bl.suggest_runs, small_fit, TARGET, cands, n=1, cost="6*N*D", outer=16)
    assert out["cost"].iloc[0] == pytest.approx(6 * out["N"].iloc[0] * out["D"].iloc[0])


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["suggest", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: bayeslaw suggest")


@pytest.mark.heavy
def test_cli_suggest(small_fit, tmp_path, capsys):
    path = tmp_path / "fit.nc"
    small_fit.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bl.DesignWarning)  # the CLI prints its design warnings as lines
        code = cli.main(["suggest", str(path), "--target", "N=1e10,D=2e11", "--grid", "N=1e7:1e9:3,D=2e8:2e10:3",
                         "--n", "2", "--outer", "16"])
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("Next runs (target: log law value; expected sd now ")
    assert len([line for line in lines if not line.startswith("warning: ")]) == 4  # title, header, two runs
    assert "DesignWarning" not in captured.err
    with pytest.raises(SystemExit) as info:
        cli.main(["suggest", str(path), "--target", "N=1e10,D=2e11", "--grid", "N=1e7:1e9"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("bayeslaw: error: bad --grid value 'N=1e7:1e9': 'N=1e7:1e9' is not "
                                       "KEY=FROM:TO:COUNT\n")


@pytest.mark.heavy
def test_cli_suggest_designs_over_several_laws(small_fit, kaplan_fit, tmp_path, capsys):
    small_fit.save(tmp_path / "chinchilla.nc")
    kaplan_fit.save(tmp_path / "kaplan.nc")
    args = ["suggest", str(tmp_path / "chinchilla.nc"), "--with", str(tmp_path / "kaplan.nc"),
            "--target", "N=1e10,D=2e11", "--grid", "N=1e7:1e9:3,D=2e8:2e10:3", "--n", "2", "--outer", "16"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.DesignWarning)
        assert cli.main(args) == 0
        fits = {"chinchilla": small_fit, "kaplan": kaplan_fit}
        weights = bl.compare(fits)
        grid = pd.DataFrame(list(itertools.product(np.geomspace(1e7, 1e9, 3), np.geomspace(2e8, 2e10, 3))),
                            columns=["N", "D"])
        library = bl.suggest_runs(None, TARGET, grid, n=2, outer=16, seed=0, fits=fits, weights=weights)
    out = capsys.readouterr().out.strip().splitlines()
    lines = [line for line in out if not line.startswith("warning: ")]
    assert len(lines) == 5  # title, header, two runs, the laws' line; then compare's and the design's warnings
    assert all(line.startswith(("warning: fit '", "warning: ranked by gain per cost")) for line in out[5:])
    # the same runs as the library's law-averaged design with compare's stacking weights
    for line, (n, d) in zip(lines[2:4], library[["N", "D"]].itertuples(index=False)):
        assert line.split()[2:4] == [f"{n:.3g}", f"{d:.3g}"]
    match = re.fullmatch(r"Laws mixed by stacking weight: chinchilla (\d\.\d\d), kaplan (\d\.\d\d)\. Mass the true "
                         r"law would hold after these runs: chinchilla (\d\.\d\d|n/a \(in no simulated world\)), "
                         r"kaplan (\d\.\d\d|n/a \(in no simulated world\))\.", lines[4])
    assert match and float(match[1]) + float(match[2]) == pytest.approx(1.0, abs=0.011)
    assert float(match[1]) == pytest.approx(weights.loc["chinchilla", "weight"], abs=0.01)
    with pytest.raises(SystemExit) as info:
        cli.main([*args[:3], str(tmp_path / "chinchilla.nc"), *args[4:]])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("bayeslaw: error: --with: fit name 'chinchilla' is given twice; "
                                       "use NAME=FILE.nc\n")


def test_cli_grid_takes_the_inputs_of_every_law():
    # with --with an over-training fit beside a Chinchilla one, the grid may span C and M
    from types import SimpleNamespace

    from bayeslaw.cli.args import CliError
    from bayeslaw.cli.suggest import _candidates

    args = SimpleNamespace(candidates=None, iso=None, family=None, grid="N=1e7:1e9:2,D=1e8:1e10:2,M=10:100:2")
    inputs = {"N": True, "D": True, "C": True, "M": True}
    fit = SimpleNamespace(table=SimpleNamespace(group=None))
    grid = _candidates(fit, args, inputs)
    assert list(grid.columns) == ["N", "D", "M"] and len(grid) == 8
    assert sorted(set(grid["M"])) == pytest.approx([10.0, 100.0])
    # a candidate is a run of N parameters on D tokens (its cost): a grid without them is refused
    with pytest.raises(CliError, match=re.escape("bad --grid value 'C=1e18:1e20:2,M=10:100:2': no axis for N and D; "
                                                 "every candidate needs N and D")):
        _candidates(fit, SimpleNamespace(**{**vars(args), "grid": "C=1e18:1e20:2,M=10:100:2"}), inputs)


@pytest.mark.parametrize("call, message", [
    (lambda: bl.suggest_runs(5, TARGET, pd.DataFrame([FAR])), "fit must be a bayeslaw Fit"),
    (lambda: bl.suggest_runs(None, TARGET, pd.DataFrame([FAR]), fits={"a": 5, "b": 6}), "fits['a'] must be a bayeslaw Fit"),
    (lambda: bl.optimal_allocation(5, 1e21), "fit must be a bayeslaw Fit"),
    (lambda: bl.prob_better(5, FAR, NEAR), "fit must be a bayeslaw Fit"),
    (lambda: bl.calibrate_extrapolation(5), "fit must be a bayeslaw Fit"),
])
def test_what_is_not_a_fit_is_named(call, message):
    with pytest.raises(TypeError, match="^" + re.escape(message + " (from bayeslaw.fit or bayeslaw.load_fit), got int") + "$"):
        call()


def test_rows_of_candidates_and_target_are_named_by_their_own_labels(tiny_family_fit):
    cands = pd.DataFrame({"N": [1e8, 2e8, 3e8], "D": [2e9] * 3, "family": ["dense", "xx", "dense"]},
                         index=["a", "b", "c"])
    with pytest.raises(bl.DataError, match=r"^unknown family 'xx' in candidates: row b; known families: "):
        bl.suggest_runs(tiny_family_fit, {**TARGET, "family": "dense"}, cands)
    with pytest.raises(bl.DataError, match=r"^unknown family 'yy' in the target: row 0; known families: "):
        bl.suggest_runs(tiny_family_fit, {**TARGET, "family": "yy"}, cands.drop(index="b"))
    message = "column 'N' in candidates is not numeric: row b ('big')"
    with pytest.raises(PredictionError, match="^" + re.escape(message) + "$"):
        bl.suggest_runs(tiny_family_fit, TARGET, cands.assign(N=[1e8, "big", 3e8]))
    message = "budget 0.5 is below the cheapest candidate's cost 1: no run fits it, the table is empty"
    with pytest.warns(bl.DesignWarning, match="^" + re.escape(message) + "$"):
        none = bl.suggest_runs(tiny_family_fit, TARGET, cands.drop(index="b"), cost=[1.0, 2.0], budget=0.5, outer=4)
    assert len(none) == 0


def test_candidates_that_share_an_index_label_are_refused(tiny_family_fit):
    """The result names each pick by its label: two candidates under one label could not be told apart."""
    cands = pd.DataFrame({"N": [1e8, 2e8, 3e8], "D": [2e9] * 3}, index=[4, 9, 4])
    message = ("candidates has the index label 4 on 2 rows (positions 0, 2): each candidate needs its own "
               "label to be named in the result (e.g. candidates.reset_index(drop=True))")
    with pytest.raises(PredictionError, match="^" + re.escape(message) + "$"):
        bl.suggest_runs(tiny_family_fit, TARGET, cands)
    message = message.replace("label 4", "label nan")  # missing labels are one label too
    with pytest.raises(PredictionError, match="^" + re.escape(message) + "$"):
        bl.suggest_runs(tiny_family_fit, TARGET, cands.set_axis([np.nan, 9, np.nan]))


@pytest.mark.parametrize(("candidates", "kwargs", "message"), [
    (pd.DataFrame([NEAR] * 3), {"replicates": False},  # each copy was chosen once: the same run thrice
     "candidates 0, 1, 2 are the same run; with replicates=False give each run once (or allow replicates)"),
    ({"compute": [1e18, 1e18]}, {}, "candidates 'compute': 1e+18 given more than once; give each once"),
    ({"compute": [1e18], "span": [0.5, 1]}, {},  # the list's first value was used
     "candidates 'span' must be one positive number of decades, got [0.5, 1]"),
    ({"compute": [1e18], "points": 10**9}, {},  # the process was killed for memory
     "candidates 'points' must be a whole number from 1 to 1000, got 1000000000"),
    (pd.DataFrame([NEAR, FAR]), {"n": 10**6}, "n must be a whole number of runs from 1 to 1000, got 1000000"),
    (pd.DataFrame([NEAR, FAR]), {"cost": pd.Series([1.0, 2.0], index=[5, 6])},
     "cost is a Series whose index is not the candidates' index; give one cost per candidate label (or a list "
     "in the candidates' order)"),
    (pd.DataFrame([NEAR, FAR]), {"cost": None},
     "cost must be a formula such as '6*N*D' or one number per candidate, got None"),
])
def test_design_inputs_are_refused_before_any_work(tiny_family_fit, candidates, kwargs, message):
    with pytest.raises(PredictionError) as info:
        bl.suggest_runs(tiny_family_fit, TARGET, candidates, outer=4, **kwargs)
    assert str(info.value) == message


def test_costs_follow_labels_and_far_runs_are_warned_about(tiny_family_fit):
    """A cost Series was applied by position while the result names labels; a run 10 decades
    below the data (less than one parameter) was chosen without a word."""
    cands = pd.DataFrame([NEAR, FAR], index=[7, 3])
    out = _quiet(bl.suggest_runs, tiny_family_fit, TARGET, cands, cost=pd.Series({3: 5.0, 7: 9.0}), n=2,
                 replicates=False, outer=4)
    assert dict(zip(out["candidate"], out["cost"])) == {7: 9.0, 3: 5.0}
    tiny = pd.DataFrame({"N": [1e-3], "D": [1e-1]})
    with pytest.warns(bl.DesignWarning) as record:
        bl.suggest_runs(tiny_family_fit, TARGET, tiny, n=1, outer=4)
    assert any(str(w.message).startswith("chosen runs lie far below the fitted runs, where the law was never "
                                         "checked: step 1 (N ") for w in record)
