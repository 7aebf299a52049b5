"""Pure logic of the design replay: the split into target, pilot and pool, the per-batch compute
budget, and the strategies that need no fit (random, largest-affordable-first, isoFLOP grid).

Every run is a real row of a data set; its cost is ``6 N D`` FLOPs. A strategy returns an order
of preference over the runs still available; :func:`fill_budget` then takes runs in that order
while they fit in what is left of the batch's budget (a run that does not fit is passed over, the
next one tried), so no strategy ever spends more than the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: share of a data set's runs (by cost) held out as the target
TARGET_SHARE = 0.12
MIN_TARGET = 3
#: the pilot: the cheapest share of the remaining runs, at least MIN_PILOT runs and MIN_PILOT_N sizes
PILOT_SHARE = 0.25
MIN_PILOT = 8
MIN_PILOT_N = 3
#: tokens per parameter at the centre of an isoFLOP grid, and the grid's half width in decades of N
#: (1/4x to 4x the centre size, as ``bl.isoflop_grid``'s default span)
TOKENS_PER_PARAM = 20.0
GRID_HALF_WIDTH = float(np.log10(4.0))


def cost(frame: pd.DataFrame) -> pd.Series:
    """Training FLOPs of each run, ``6 N D``."""
    return 6.0 * frame["N"].astype(float) * frame["D"].astype(float)


@dataclass
class Problem:
    """One data set's replay problem: ``target`` (the held-out largest runs), ``pilot`` (the runs
    every strategy starts from) and ``pool`` (the runs a strategy may choose), all with a ``cost``
    column and the data set's own index labels."""

    name: str
    target: pd.DataFrame
    pilot: pd.DataFrame
    pool: pd.DataFrame

    @property
    def reference_compute(self) -> float:
        """The budget at which N* is compared: the median cost of the target runs."""
        return float(self.target["cost"].median())


def split(frame: pd.DataFrame, name: str = "", *, target_share: float = TARGET_SHARE,
          pilot_share: float = PILOT_SHARE, min_pilot: int = MIN_PILOT) -> Problem:
    """Hold out the costliest ``target_share`` of the runs (at least :data:`MIN_TARGET`), take the
    cheapest ``pilot_share`` of the rest as the pilot, and leave the others as the pool.

    The pilot grows, cheapest first, until it has ``min_pilot`` runs and :data:`MIN_PILOT_N`
    distinct N, so the first fit can separate the N and D terms.
    """
    frame = frame.assign(cost=cost(frame)).sort_values("cost", kind="stable")
    n_target = max(MIN_TARGET, round(target_share * len(frame)))
    if len(frame) - n_target < min_pilot + 1:
        raise ValueError(f"{name}: {len(frame)} runs leave too few for a pilot of {min_pilot} and a pool")
    target, rest = frame.iloc[-n_target:], frame.iloc[:-n_target]
    k = max(min_pilot, round(pilot_share * len(rest)))
    while k < len(rest) - 1 and rest["N"].iloc[:k].nunique() < MIN_PILOT_N:
        k += 1
    return Problem(name, target, rest.iloc[:k], rest.iloc[k:])


def batch_budget(pool: pd.DataFrame, fraction: float) -> float:
    """The compute each strategy may spend per batch: ``fraction`` of the pool's total cost."""
    return float(fraction * pool["cost"].sum())


def fill_budget(order, costs: pd.Series, budget: float) -> list:
    """Runs taken from ``order`` (index labels of ``costs``), in order, while they fit in ``budget``;
    a run that does not fit in what is left is passed over. Duplicate labels count once."""
    chosen, left, seen = [], float(budget), set()
    for label in order:
        if label in seen:
            continue
        seen.add(label)
        c = float(costs.loc[label])
        if c <= left:
            chosen.append(label)
            left -= c
    return chosen


def random_order(available: pd.DataFrame, rng: np.random.Generator) -> list:
    """The available runs in a random order drawn from ``rng``."""
    return list(available.index[rng.permutation(len(available))])


def largest_first(available: pd.DataFrame) -> list:
    """The available runs, costliest first (ties broken by index order)."""
    return list(available.sort_values("cost", ascending=False, kind="stable").index)


def local_isoflop_grid(budgets, points: int = 5, tokens_per_param: float = TOKENS_PER_PARAM,
                       half_width: float = GRID_HALF_WIDTH) -> pd.DataFrame:
    """A classic isoFLOP layout: at each budget C, ``points`` sizes evenly spaced in log N over
    ``half_width`` decades either side of the size with ``tokens_per_param`` tokens per parameter,
    each with ``D = C / (6 N)``."""
    rows = []
    for c in np.atleast_1d(np.asarray(budgets, float)):
        centre = np.sqrt(c / (6.0 * tokens_per_param))
        for n in centre * 10.0 ** np.linspace(-half_width, half_width, points):
            rows.append({"C": c, "N": n, "D": c / (6.0 * n)})
    return pd.DataFrame(rows)


def nearest_runs(wanted: pd.DataFrame, available: pd.DataFrame) -> list:
    """For each wanted (N, D), in order, the closest available run in (log N, log D) not already
    taken by an earlier wanted point."""
    logs = np.log10(available[["N", "D"]].to_numpy(float))
    free = np.ones(len(available), bool)
    out = []
    for n, d in np.log10(wanted[["N", "D"]].to_numpy(float)):
        if not free.any():
            break
        dist = np.hypot(logs[:, 0] - n, logs[:, 1] - d)
        dist[~free] = np.inf
        i = int(np.argmin(dist))
        free[i] = False
        out.append(available.index[i])
    return out


def grid_budget(available: pd.DataFrame, budget: float, points: int) -> float:
    """The per-run compute of a batch's isoFLOP grid: the batch's budget shared by ``points`` runs,
    and no more than the costliest available run."""
    return float(min(budget / points, available["cost"].max()))
