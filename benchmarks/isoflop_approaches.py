"""Approach 2 (isoFLOP profiles, ``bl.isoflop``) against Approach 3 (the fitted Chinchilla law).

For Porian et al.'s IsoFLOP sweeps (three configurations, with their published exponent
beside) and the Epoch AI Chinchilla points (budgets with at least 5 runs), prints the N* exponent
with its 90% interval from: Approach 2 on every run of each budget, Approach 2 within 4x of
each budget's best run (``window=4``), and Approach 3 (``bl.fit("chinchilla")``, 2 chains x 300
draws, through ``IsoflopFit.compare``).

    python benchmarks/isoflop_approaches.py
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayeslaw as bl
from bayeslaw.decide.isoflop_design import group_budgets

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PORIAN = ("rw|base|long|kaplan|kaplan|train", "owt2|tuned|short|const|standard|val",
          "rw|base|short|chinchilla|standard|val")


def interval(row) -> str:
    return f"{row['median']:.3f} [{row['lower']:.3f}, {row['upper']:.3f}]"


def line(name: str, runs: pd.DataFrame, by: str, all_runs: pd.DataFrame, published: str) -> str:
    iso = bl.isoflop(runs, by=by)
    law = bl.fit("chinchilla", all_runs, chains=2, warmup=300, draws=300, seed=0, progress=False)
    exponents = iso.compare(law).attrs["exponents"]
    window = bl.isoflop(runs, by=by, window=4).summary().loc["N_opt exponent"]
    return (f"| {name} | {interval(exponents['approach2'])} | {interval(window)} | "
            f"{interval(exponents['approach3'])} | {published} |")


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"no shared data at {DATA}: nothing to measure")
    warnings.simplefilter("ignore")
    print("| data | Approach 2, all runs | Approach 2, window=4 | Approach 3 | published |")
    print("|---|---|---|---|---|")
    points = pd.read_csv(DATA / "porian_isoflop" / "isoflop_points.csv")
    ref = pd.read_csv(DATA / "porian_isoflop" / "fit_summary.csv")
    ref = ref[ref["fit"] == "basic"].set_index("config_id")
    for config in PORIAN:
        runs = points[points["config_id"] == config]
        print(line(f"porian {config}", runs, "flops", runs, f"{ref.loc[config, 'n_exponent']:.3f}"), flush=True)
    chin = pd.read_csv(DATA / "chinchilla" / "points.csv")
    chin = chin[chin["epoch_excluded"] == 0]
    budget = group_budgets(chin["C"].to_numpy())
    counts = pd.Series(budget).value_counts()
    keep = np.isin(budget, counts[counts >= 5].index)
    print(line("chinchilla (budgets with 5+ runs)", chin[keep].assign(budget=budget[keep]), "budget", chin, "-"))


if __name__ == "__main__":
    main()
