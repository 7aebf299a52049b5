"""Coverage of Approach 2's intervals on simulated isoFLOP sweeps: each budget's noise learnt on
its own (the weak per-budget prior) against ``bl.isoflop``'s prior, where budgets of 3 or 4 runs
borrow the noise pooled over all budgets.

Sweeps of the Chinchilla law (Hoffmann et al.'s fit) at 4 budgets, 1e18-1e21 FLOPs, 3 to 9 runs
each (thinned from a 9-point ``bl.isoflop_grid``), multiplicative log-normal noise of 0.5% or 2%;
200 sweeps per setting. Per budget: the share of 90% intervals of N* that hold the true optimum,
their median width in decades and the median width of the loss-at-optimum interval; for the N*
exponent the same. Both priors run on the same sweeps in one process.

    python benchmarks/isoflop_noise.py [--sweeps 200] [--out isoflop_noise]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayeslaw as bl
import bayeslaw.decide.isoflop as isoflop_module

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
BUDGETS = [1e18, 1e19, 1e20, 1e21]
SIZES = [(9, 9, 9, 9), (5, 4, 4, 5), (4, 4, 4, 4), (9, 3, 3, 9), (3, 9, 3, 9)]
NOISE = [0.005, 0.02]
RESULTS = Path(__file__).resolve().parent / "results"


def true_n_opt(compute) -> np.ndarray:
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return g * (np.asarray(compute) / 6) ** (BETA / (ALPHA + BETA))


def sweep(sizes, noise: float, seed: int) -> pd.DataFrame:
    parts = []
    for c, k in zip(BUDGETS, sizes, strict=True):
        grid = bl.isoflop_grid([c], points=9)
        parts.append(grid.iloc[np.round(np.linspace(0, 8, k)).astype(int)])
    runs = pd.concat(parts, ignore_index=True)
    law = E + A * runs["N"] ** -ALPHA + B * runs["D"] ** -BETA
    return runs.assign(loss=law * np.exp(np.random.default_rng(seed).normal(0.0, noise, len(runs))))


def score(sizes, noise: float, sweeps: int, pooled: bool) -> dict:
    """Coverage and widths of one prior over ``sweeps`` simulated sweeps."""
    real = isoflop_module.pooled_noise
    if not pooled:
        isoflop_module.pooled_noise = lambda budgets: None
    hit, width, loss_width, e_hit, e_width = [], [], [], [], []
    try:
        for seed in range(sweeps):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bl.DataWarning)
                fit = bl.isoflop(sweep(sizes, noise, seed), draws=2000, seed=seed, ci_prob=0.9)
            table, truth = fit.budgets, true_n_opt(BUDGETS)
            hit.append(((table["N_opt_lower"] < truth) & (truth < table["N_opt_upper"])).to_numpy())
            width.append(np.log10(table["N_opt_upper"] / table["N_opt_lower"]).to_numpy())
            loss_width.append((table["loss_upper"] - table["loss_lower"]).to_numpy())
            exponent = fit.summary().loc["N_opt exponent"]
            e_hit.append(exponent["lower"] < BETA / (ALPHA + BETA) < exponent["upper"])
            e_width.append(exponent["upper"] - exponent["lower"])
    finally:
        isoflop_module.pooled_noise = real
    return {"coverage": np.mean(hit, axis=0).round(3).tolist(),
            "width_decades": np.median(width, axis=0).round(3).tolist(),
            "loss_width": [float(f"{v:.4g}") for v in np.median(loss_width, axis=0)],
            "exponent_coverage": round(float(np.mean(e_hit)), 3),
            "exponent_width": round(float(np.median(e_width)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--out", default="isoflop_noise")
    args = parser.parse_args()
    results = []
    for sizes in SIZES:
        for noise in NOISE:
            row = {"runs_per_budget": list(sizes), "noise": noise,
                   "per_budget": score(sizes, noise, args.sweeps, pooled=False),
                   "pooled": score(sizes, noise, args.sweeps, pooled=True)}
            results.append(row)
            print(json.dumps(row), flush=True)
    out = RESULTS / f"{args.out}.json"
    out.write_text(json.dumps({"command": f"python benchmarks/isoflop_noise.py --sweeps {args.sweeps}",
                               "sweeps": args.sweeps, "results": results}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
