"""The replay's strategies: ``strategy(state) -> list of index labels``, an order of preference
over the available runs (the caller spends the batch's budget in that order, see
:func:`replays.core.fill_budget`). A strategy that cannot run raises :class:`Skip` with the reason.

(a) ``bayeslaw``: ``bl.suggest_runs`` on the current fit, the target being the held-out runs'
(N, D) and the candidates the available runs; (b) ``ssl``: simple-scaling-laws' ``suggest_runs``
(N* at the target's median budget, candidate iso-cost curves at the available runs' budgets), each
suggested point mapped to the nearest available run in (log N, log D); (c) ``isoflop``: an isoFLOP
grid of 5 sizes from 1/4x to 4x the size with 20 tokens per parameter, at the batch's per-run budget (``bl.isoflop_grid`` where it
exists, else :func:`replays.core.local_isoflop_grid`), mapped the same way; (d) ``random``;
(e) ``largest``: largest-affordable-first; (f) ``bayeslaw_laws``: ``bl.suggest_runs`` robust to the
law form, designing for the mixture of the Chinchilla law and the over-training law (Gadre et al.:
equal exponents, in C and D/N) fitted on the same runs, weighted by ``bl.compare``'s stacking
weights (the refits that are scored stay the Chinchilla law's); ``bayeslaw_laws_equal``: the same
with the two laws weighted one half each.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from replays import core

PEER_SCRIPT = Path(__file__).with_name("peer_suggest.py")
#: at most this many distinct candidate budgets are passed to the peer
PEER_BUDGETS = 8
#: runs a design strategy is asked for per batch (quick, full); the batch takes those that fit
MAX_RUNS = (12, 30)


class Skip(Exception):
    """The strategy cannot run here; the message says why."""


@dataclass
class State:
    """What a strategy sees before a batch: the runs chosen so far (with their losses), the runs
    still available, the target rows, the fit on the chosen runs, and the batch's budget."""

    chosen: pd.DataFrame
    available: pd.DataFrame
    target: pd.DataFrame
    fit: object
    budget: float
    rng: np.random.Generator
    seed: int = 0
    quick: bool = False
    settings: object = None
    info: dict = field(default_factory=dict)


def _design(state: State, target: pd.DataFrame, candidates: pd.DataFrame, **laws) -> list:
    """``bl.suggest_runs(state.fit, target, candidates, budget=..., **laws)`` without replicates,
    the candidates' labels in its order; the expected sd per step goes to ``state.info``."""
    import bayeslaw as bl

    if not hasattr(bl, "suggest_runs"):
        raise Skip("bayeslaw.suggest_runs is not in this checkout")
    n = min(len(candidates), MAX_RUNS[0] if state.quick else MAX_RUNS[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = bl.suggest_runs(state.fit, target, candidates, n=n, budget=state.budget, replicates=False,
                               seed=state.seed, outer=16 if state.quick else 64, **laws)
    state.info["expected_sd"] = [float(x) for x in plan.get("expected_sd", [])]
    return list(plan["candidate"])


def bayeslaw_suggest(state: State) -> list:
    """(a) ``bl.suggest_runs(fit, target rows, available runs, budget=...)``, in its order."""
    return _design(state, state.target[["N", "D"]], state.available[["N", "D"]])


def with_law_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """N and D with the over-training law's inputs beside them: C = 6 N D and M = D / N."""
    frame = frame[["N", "D"]]
    return frame.assign(C=6.0 * frame["N"] * frame["D"], M=frame["D"] / frame["N"])


#: the second law of the law-robust design, fitted on the same runs with the replay's fit settings
OTHER_LAW = "overtraining"


def bayeslaw_laws(state: State, equal: bool = False) -> list:
    """(f) ``bl.suggest_runs`` over the Chinchilla and over-training laws' posteriors, weighted by
    ``bl.compare``'s stacking weights (``equal``: one half each), in its order."""
    from dataclasses import replace

    import bayeslaw as bl
    from replays.scoring import FitSettings, fit_runs

    if not hasattr(bl, "suggest_runs"):
        raise Skip("bayeslaw.suggest_runs is not in this checkout")
    settings = replace(state.settings or FitSettings(), law=OTHER_LAW)
    runs = with_law_inputs(state.chosen).assign(loss=state.chosen["loss"])
    fits = {"chinchilla": state.fit, OTHER_LAW: fit_runs(runs, settings, state.seed)}
    weights = None  # suggest_runs' own default: equal weights
    if not equal:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weights = bl.compare(fits, seed=state.seed)
    state.info["weights"] = ({name: 1.0 / len(fits) for name in fits} if weights is None
                             else {k: float(v) for k, v in weights["weight"].items()})
    return _design(state, with_law_inputs(state.target), with_law_inputs(state.available), fits=fits,
                   weights=weights)


def peer_python() -> Path | None:
    """The peers' interpreter (as the peer harness finds it)."""
    from peers.tools import peer_python as find

    return find()


def peer_budgets(available: pd.DataFrame, budget: float) -> list[float]:
    """Up to :data:`PEER_BUDGETS` distinct budgets, log-spaced quantiles of the affordable runs' costs."""
    costs = np.sort(available.loc[available["cost"] <= budget, "cost"].to_numpy(float))
    if len(costs) == 0:
        return []
    picks = np.quantile(np.log10(costs), np.linspace(0, 1, min(PEER_BUDGETS, len(costs))))
    return sorted({float(10.0 ** p) for p in picks})


def ssl_suggest(state: State) -> list:
    """(b) simple-scaling-laws' ``suggest_runs`` in the peers' interpreter, mapped onto real runs."""
    python = peer_python()
    if python is None or not python.exists():
        raise Skip("no peer interpreter (set BAYESLAW_PEER_PYTHON or make ../peervenv312)")
    budgets = peer_budgets(state.available, state.budget)
    if not budgets:
        raise Skip("no available run fits in the batch's budget")
    n = min(len(state.available), MAX_RUNS[0] if state.quick else MAX_RUNS[1])
    request = {"seed": state.seed, "n_draws": 100 if state.quick else 400, "n": n,
               "train": {k: state.chosen[k].astype(float).tolist() for k in ("N", "D", "loss")},
               "target_budgets": [float(state.target["cost"].median())], "candidate_budgets": budgets}
    proc = subprocess.run([str(python), str(PEER_SCRIPT)], input=json.dumps(request), capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": ""}, timeout=900, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise Skip(f"simple-scaling-laws suggest_runs failed: {tail[:200]}")
    answer = json.loads(proc.stdout)
    state.info["ssl_version"] = answer["version"]
    state.info["remaining_variance"] = answer["remaining_variance"]
    wanted = pd.DataFrame({"N": answer["N"], "D": answer["D"]})
    affordable = state.available[state.available["cost"] <= state.budget]
    return core.nearest_runs(wanted, affordable)


def isoflop(state: State, points: int = 5) -> list:
    """(c) An isoFLOP grid of ``points`` sizes at the batch's per-run budget, mapped onto real runs."""
    import bayeslaw as bl

    c = core.grid_budget(state.available, state.budget, points)
    if hasattr(bl, "isoflop_grid"):
        grid = bl.isoflop_grid([c], points=points, tokens_per_param=core.TOKENS_PER_PARAM)
        state.info["grid"] = "bl.isoflop_grid"
    else:
        grid = core.local_isoflop_grid([c], points=points)
        state.info["grid"] = "local"
    affordable = state.available[state.available["cost"] <= state.budget]
    return core.nearest_runs(grid, affordable)


def random(state: State) -> list:
    """(d) The available runs in a seeded random order."""
    return core.random_order(state.available, state.rng)


def largest(state: State) -> list:
    """(e) Largest-affordable-first."""
    return core.largest_first(state.available)


STRATEGIES = {"bayeslaw": bayeslaw_suggest, "ssl": ssl_suggest, "isoflop": isoflop, "random": random,
              "largest": largest, "bayeslaw_laws": bayeslaw_laws,
              "bayeslaw_laws_equal": lambda state: bayeslaw_laws(state, equal=True)}
#: what a replay runs unless ``--strategies`` says otherwise: ``bayeslaw_laws`` (one more fit per
#: batch) only on request
DEFAULT = ("bayeslaw", "ssl", "isoflop", "random", "largest")
