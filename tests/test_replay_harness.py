"""Tests for the design replay's pure logic (benchmarks/replays/core.py and the fit-free
strategies): the split into target, pilot and pool, budget accounting, the orders of the
largest-first and random strategies, and the isoFLOP grid's mapping onto real runs. No MCMC."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from replays import core  # noqa: E402
from replays import strategies as st  # noqa: E402


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
    np.testing.assert_allclose(np.diff(np.log10(grid["N"].iloc[:5])), 0.25)


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
