"""The N* exponent's interval on simulated isoFLOP sweeps whose budgets scatter around the power
law: ``bl.isoflop``'s line (the budgets' optima with their posteriors, and a scatter sd learnt
under a half-Cauchy prior) against the earlier least-squares line per joint draw, which carried
only the budgets' own uncertainty.

Sweeps of the Chinchilla law (Hoffmann et al.'s fit) at 3, 5 or 8 budgets from 1e18 to 1e21
FLOPs, 7 sizes each (``bl.isoflop_grid``), 0.5% log-normal noise; each budget's profile is moved
along log N by a draw of Normal(0, scatter), as when each budget is tuned apart, so its optimum
leaves the power law by that much. 150 sweeps per setting, both lines on the same profiles.
Coverage and median width of the exponent's 90% interval, and its mean interval score
(width + 20 x miss, lower is better).

    python benchmarks/isoflop_scatter.py [--sweeps 150] [--out isoflop_scatter]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

import bayeslaw as bl
import bayeslaw.decide.isoflop_fit as isoflop_module

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
EXPONENT = BETA / (ALPHA + BETA)
RESULTS = Path(__file__).resolve().parent / "results"


def per_draw_line(log_c, log_y, rng=None):
    """The earlier line: least squares through the budgets with an optimum, per joint draw."""
    w = np.isfinite(log_y).astype(float)
    ly = np.where(w > 0, log_y, 0.0)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * log_c).sum(axis=1) / n
        my = (w * ly).sum(axis=1) / n
        dx = log_c[None, :] - mx[:, None]
        slope = (w * dx * (ly - my[:, None])).sum(axis=1) / (w * dx * dx).sum(axis=1)
    slope[n < 2] = np.nan
    return my - slope * mx, slope, np.zeros_like(slope)


def sweep(budgets, scatter: float, seed: int):
    rng = np.random.default_rng(seed)
    grid = bl.isoflop_grid(budgets, points=7)
    shift = np.exp(grid["C"].map(dict(zip(budgets, rng.normal(0.0, scatter, len(budgets)), strict=True))))
    law = E + A * (grid["N"] / shift) ** -ALPHA + B * (grid["D"] * shift) ** -BETA
    return grid.assign(loss=law * np.exp(rng.normal(0.0, 0.005, len(grid))))


def score(budgets, scatter: float, sweeps: int, line) -> dict:
    real = isoflop_module.line_draws
    isoflop_module.line_draws = line
    hits, widths, scores = [], [], []
    try:
        for seed in range(sweeps):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bl.DataWarning)
                fit = bl.isoflop(sweep(budgets, scatter, seed), draws=2000, seed=seed, ci_prob=0.9)
            e = fit.summary().loc["N_opt exponent"]
            miss = max(e["lower"] - EXPONENT, 0.0) + max(EXPONENT - e["upper"], 0.0)
            hits.append(miss == 0)
            widths.append(e["upper"] - e["lower"])
            scores.append(e["upper"] - e["lower"] + 20 * miss)
    finally:
        isoflop_module.line_draws = real
    return {"coverage": round(float(np.mean(hits)), 3), "width": round(float(np.median(widths)), 4),
            "interval_score": round(float(np.mean(scores)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=150)
    parser.add_argument("--out", default="isoflop_scatter")
    args = parser.parse_args()
    results = []
    for count in (3, 5, 8):
        budgets = list(np.geomspace(1e18, 1e21, count))
        for scatter in (0.0, 0.1, 0.2):
            row = {"budgets": count, "scatter": scatter,
                   "per_draw_line": score(budgets, scatter, args.sweeps, per_draw_line),
                   "isoflop": score(budgets, scatter, args.sweeps, isoflop_module.line_draws)}
            results.append(row)
            print(json.dumps(row), flush=True)
    out = RESULTS / f"{args.out}.json"
    out.write_text(json.dumps({"command": f"python benchmarks/isoflop_scatter.py --sweeps {args.sweeps}",
                               "results": results}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
