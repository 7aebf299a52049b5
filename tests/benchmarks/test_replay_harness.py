"""Tests for the design replay's pure logic (benchmarks/replays/core.py and the fit-free
strategies): the split into target, pilot and pool, budget accounting, the orders of the
largest-first and random strategies, and the isoFLOP grid's mapping onto real runs. No MCMC."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from replays import core
from replays import strategies as st


def sweep() -> pd.DataFrame:
    """A 6 x 6 grid of runs, N 1e7..1e9 and D 1e8..1e11, with a loss column."""
    n, d = np.meshgrid(np.logspace(7, 9, 6), np.logspace(8, 11, 6))
    frame = pd.DataFrame({"N": n.ravel(), "D": d.ravel()})
    frame["loss"] = 1.7 + 400 / frame["N"] ** 0.34 + 1800 / frame["D"] ** 0.28
    return frame.sample(frac=1.0, random_state=1)  # order must not matter


def test_split_holds_out_the_costliest_and_pilots_the_cheapest():
    frame = sweep()
    p = core.split(frame, "grid")
    assert len(p.target) == round(0.12 * 36) and len(p.pilot) == max(8, round(0.25 * 32))
    assert len(p.target) + len(p.pilot) + len(p.pool) == 36
    assert set(p.target.index).isdisjoint(p.pilot.index) and set(p.pool.index).isdisjoint(p.pilot.index)
    assert p.target["cost"].min() >= p.pool["cost"].max() >= p.pool["cost"].min() >= p.pilot["cost"].max()
    np.testing.assert_allclose(p.pilot["cost"], 6 * p.pilot["N"] * p.pilot["D"])
    assert p.reference_compute == pytest.approx(p.target["cost"].median())


def test_pilot_grows_until_it_has_three_sizes():
    # the cheapest runs all share one N: the pilot must reach past them to a third size
    frame = pd.DataFrame({"N": [1e7] * 10 + [2e7, 3e7, 4e7, 5e7, 6e7, 7e7, 8e7],
                          "D": list(np.logspace(8, 8.5, 10)) + [1e10] * 7, "loss": 3.0})
    p = core.split(frame, "one-size", min_pilot=8)
    assert p.pilot["N"].nunique() == 3 and len(p.pilot) == 12
    assert list(p.pool["N"]) == [4e7, 5e7]


def test_split_rejects_too_few_runs():
    with pytest.raises(ValueError, match="tiny: 10 runs leave too few for a pilot of 8 and a pool"):
        core.split(sweep().iloc[:10], "tiny")


@pytest.mark.parametrize("seed", range(5))
def test_fill_budget_never_exceeds_the_budget(seed):
    rng = np.random.default_rng(seed)
    costs = pd.Series(10.0 ** rng.uniform(0, 3, 40), index=rng.permutation(1000)[:40])
    budget = float(rng.uniform(50, 2000))
    for order in (core.random_order(costs.to_frame("cost"), rng), list(costs.index) * 2):
        picked = core.fill_budget(order, costs, budget)
        assert costs.loc[picked].sum() <= budget
        assert len(set(picked)) == len(picked)
        left = budget - costs.loc[picked].sum()
        # every run passed over was too costly for what was left when it came up, so for none left now
        assert all(costs.loc[i] > left for i in costs.index if i not in picked)


def test_fill_budget_passes_over_a_run_that_does_not_fit():
    costs = pd.Series([5.0, 8.0, 3.0, 1.0], index=["a", "b", "c", "d"])
    assert core.fill_budget(["a", "b", "c", "d"], costs, 9.0) == ["a", "c", "d"]
    assert core.fill_budget(["b", "a"], costs, 4.0) == []


def test_largest_first_takes_the_costliest_affordable_runs():
    pool = core.split(sweep(), "grid").pool
    order = core.largest_first(pool)
    assert list(pool.loc[order, "cost"]) == sorted(pool["cost"], reverse=True)
    budget = core.batch_budget(pool, 0.2)
    picked = core.fill_budget(order, pool["cost"], budget)
    affordable = pool[pool["cost"] <= budget]
    assert picked[0] == affordable["cost"].idxmax()
    assert pool.loc[picked, "cost"].sum() <= budget == pytest.approx(0.2 * pool["cost"].sum())


def test_random_strategy_is_reproducible_by_seed():
    pool = core.split(sweep(), "grid").pool

    def batches(seed):
        rng = np.random.default_rng(seed)
        state = st.State(None, pool, None, None, 0.0, rng)
        return [st.random(state) for _ in range(2)]

    assert batches(3) == batches(3)
    assert batches(3) != batches(4)
    assert sorted(batches(3)[0]) == sorted(pool.index)


def test_local_isoflop_grid_sits_on_its_budget_around_20_tokens_per_param():
    grid = core.local_isoflop_grid([1e19, 1e20], points=5)
    np.testing.assert_allclose(6 * grid["N"] * grid["D"], grid["C"])
    middle = grid.iloc[[2, 7]]
    np.testing.assert_allclose(middle["D"] / middle["N"], 20.0)
    np.testing.assert_allclose(np.diff(np.log10(grid["N"].iloc[:5])), np.log10(4) / 2)
    np.testing.assert_allclose(grid["N"].iloc[4] / grid["N"].iloc[2], 4.0)


def test_nearest_runs_maps_each_grid_point_to_a_distinct_real_run():
    pool = core.split(sweep(), "grid").pool
    wanted = pd.DataFrame({"N": [pool["N"].iloc[0]] * 3, "D": [pool["D"].iloc[0]] * 3})
    picked = core.nearest_runs(wanted, pool)
    assert picked[0] == pool.index[0] and len(set(picked)) == 3
    assert set(picked) <= set(pool.index)


def test_grid_budget_is_a_share_of_the_batch_capped_by_the_costliest_run():
    pool = core.split(sweep(), "grid").pool
    assert core.grid_budget(pool, 10.0, 5) == 2.0
    assert core.grid_budget(pool, 1e40, 5) == pool["cost"].max()


# -- strategies that need bayeslaw, without MCMC ------------------------------------------------------

class FakeFit:
    """Stands in for a Fit: records the suggest_runs call and answers with a fixed plan."""

    def __init__(self, labels):
        self.labels, self.calls = labels, []

    def suggest_runs(self, target, candidates, **kwargs):
        self.calls.append((target, candidates, kwargs))
        return pd.DataFrame({"candidate": self.labels, "expected_sd": np.linspace(0.1, 0.05, len(self.labels))})


def state_for(fit, quick=True):
    p = core.split(sweep(), "grid")
    return p, st.State(p.pilot, p.pool, p.target, fit, core.batch_budget(p.pool, 0.2),
                       np.random.default_rng(0), quick=quick)


def test_bayeslaw_strategy_skips_without_suggest_runs(monkeypatch):
    import bayeslaw as bl

    monkeypatch.delattr(bl, "suggest_runs", raising=False)
    with pytest.raises(st.Skip, match="^bayeslaw.suggest_runs is not in this checkout$"):
        st.bayeslaw_suggest(state_for(None)[1])


def test_bayeslaw_strategy_asks_for_the_target_among_the_available_runs(monkeypatch):
    import bayeslaw as bl

    monkeypatch.setattr(bl, "suggest_runs", lambda fit, *args, **kwargs: fit.suggest_runs(*args, **kwargs))
    p, state = state_for(None)
    fake = FakeFit(list(p.pool.index[:3]))
    state.fit = fake
    assert st.bayeslaw_suggest(state) == list(p.pool.index[:3])
    target, candidates, kwargs = fake.calls[0]
    assert list(target.index) == list(p.target.index) and list(candidates.index) == list(p.pool.index)
    assert kwargs["budget"] == state.budget and kwargs["replicates"] is False
    assert kwargs["n"] == min(len(p.pool), st.MAX_RUNS[0])
    assert state.info["expected_sd"] == pytest.approx([0.1, 0.075, 0.05])


def test_isoflop_strategy_uses_the_local_grid_when_bayeslaw_has_none(monkeypatch):
    import bayeslaw as bl

    monkeypatch.delattr(bl, "isoflop_grid", raising=False)
    p, state = state_for(None)
    order = st.isoflop(state)
    assert state.info["grid"] == "local" and len(order) == 5 and len(set(order)) == 5
    assert p.pool.loc[order, "cost"].max() <= state.budget


def test_cli_names_an_unknown_data_set_and_exits_2(capsys):
    import replay

    with pytest.raises(SystemExit) as exc:
        replay.main(["--only", "chinchilla,nope", "--strategies", "random,best"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "replay: unknown data set or strategy: nope, best\n"


def test_report_averages_and_reach_over_the_batches():
    from replays import report

    def curve(scores, skip=None):
        steps = [{"interval_score_80": s, "added_share": 0.1 * i, "n_star_error_dec": 0.5 / (i + 1)}
                 for i, s in enumerate(scores)]
        return {"steps": steps, "skip": skip}

    curves = {"a": curve([10.0, 6.0, 4.0]), "b": curve([10.0, 8.0, 7.0], skip="pool ran out at batch 3"),
              "c": curve([10.0], skip="no peer")}
    means = report.averages(curves)
    assert set(means) == {"a", "b"}  # a strategy that never ran has no curve to average
    assert means["a"] == {"mean_is80": 5.0, "last_is80": 4.0, "last_n_star_error": pytest.approx(0.5 / 3),
                          "batches": 2}
    goal, hit = report.reach(curves)
    assert goal == 7.0 and hit == {"a": pytest.approx(10.0), "b": pytest.approx(20.0)}


def test_over_seeds_lines_up_each_seeds_scores_and_names_the_first(tmp_path, monkeypatch):
    import replay
    from replays import report

    def one(seed, a, b):
        def curve(scores):
            return {"steps": [{"interval_score_80": s, "added_share": 0.1 * i, "n_star_error_dec": 0.1}
                              for i, s in enumerate(scores)], "skip": None}
        return {"config": {"seed": seed, "command": f"replay --seed {seed}"},
                "results": [{"dataset": "toy", "strategies": {"a": curve(a), "b": curve(b)}}]}

    reports = [one(0, [9.0, 4.0, 3.0], [9.0, 6.0, 5.0]), one(1, [9.0, 7.0, 6.0], [9.0, 5.0, 4.0])]
    text = report.over_seeds(reports)
    assert "| a | 3.50 / 6.50 | 5.00 | 10.0 / 20.0 |" in text  # seed 1's goal is 6.0: a reaches it last
    assert "| b | 5.50 / 4.50 | 5.00 | 20.0 / 10.0 |" in text
    assert "First by area, per seed: a / b; first to reach (ties listed): a / b." in text

    monkeypatch.setattr(replay, "OUT", tmp_path)
    (tmp_path / "s0.json").write_text(json.dumps(reports[0]))
    (tmp_path / "s1.json").write_text(json.dumps(reports[1]))
    replay.main(["--combine", "s0,s1", "--out", "both"])
    assert (tmp_path / "both.md").read_text() == text
    with pytest.raises(SystemExit) as exc:
        replay.main(["--combine", "s0,s9", "--out", "both"])
    assert exc.value.code == 2


def test_reuse_checks_the_settings_and_merges_in_the_strategies_order(tmp_path, monkeypatch):
    import replay

    monkeypatch.setattr(replay, "OUT", tmp_path)
    config = {"seed": 1, "batches": 5, "batch_share": 0.06, "quick": False, "fit": {"law": "chinchilla"}}
    old = {"config": {**config, "command": "replay --seed 1"},
           "results": [{"dataset": "toy", "strategies": {"bayeslaw": "old", "random": "r", "largest": "l"}}]}
    (tmp_path / "base.json").write_text(json.dumps(old))
    reused = replay.reused_curves("base", config)
    merged = replay.merge_curves(reused["toy"], {"bayeslaw": "new"})
    assert merged == {"bayeslaw": "new", "random": "r", "largest": "l"}
    assert list(replay.merge_curves(reused["toy"], {"ssl": "s"})) == ["bayeslaw", "ssl", "random", "largest"]
    assert replay.reused_curves(None, config) == {}
    with pytest.raises(SystemExit, match=r"replay: --reuse base: its seed is 1, this run's 2"):
        replay.reused_curves("base", {**config, "seed": 2})


def test_law_inputs_keep_the_runs_labels_for_the_law_robust_design():
    # the law-robust design's candidates carry both laws' inputs; its picks are index labels of
    # real runs, so the labels must survive
    frame = sweep()
    both = st.with_law_inputs(frame)
    assert list(both.index) == list(frame.index) and list(both.columns) == ["N", "D", "C", "M"]
    np.testing.assert_allclose(both["C"], 6 * frame["N"] * frame["D"])
    np.testing.assert_allclose(both["M"], frame["D"] / frame["N"])
