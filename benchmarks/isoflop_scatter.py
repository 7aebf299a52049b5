"""The N* exponent's interval on simulated isoFLOP sweeps whose budgets scatter around the power
law: ``bl.isoflop``'s line (the budgets' optima with their posteriors, and a scatter sd learnt
under a half-Cauchy prior) against the earlier least-squares line per joint draw, which carried
only the budgets' own uncertainty.

Sweeps of the Chinchilla law (Hoffmann et al.'s fit) at 3, 5 or 8 budgets from 1e18 to 1e21
FLOPs, 7 sizes each (``bl.isoflop_grid``), 0.5% log-normal noise; each budget's profile is moved
along log N by a draw of Normal(0, scatter), as when each budget is tuned apart, so its optimum
leaves the power law by that much. 150 sweeps per setting, both lines on the same profiles.
Coverage and median width of the exponent's 90% interval, and its mean interval score
(width + 20 x miss, lower is better). ``new_budget``: the same for ln N* at a budget 2x beyond
the largest, whose optimum leaves the power law by its own draw of the scatter, predicted by
``IsoflopFit.predict`` as the law alone (``kind="law"``) and with the learnt scatter added
(``"observed"``, the default); the earlier line has no scatter, so its two kinds agree.

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
    intercept = my - slope * mx
    # draws with fewer than 2 optima have no line: it summarised the rest, as drawing them again does
    finite = np.flatnonzero(n >= 2)
    redraw = np.flatnonzero(n < 2)
    if len(finite) and len(redraw):
        pick = np.random.default_rng(0).choice(finite, size=len(redraw))
        slope[redraw], intercept[redraw] = slope[pick], intercept[pick]
    return intercept, slope, np.zeros_like(slope)


#: the new budget predicted: 2x beyond the sweeps' largest
NEW_BUDGET = 2e21


def true_log_n_opt(compute: float) -> float:
    """ln of the Chinchilla law's compute-optimal N at C = 6 N D."""
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return float(np.log(g * (compute / 6) ** EXPONENT))


def interval_score(lower: float, upper: float, truth: float) -> tuple[bool, float, float]:
    """Hit, width and interval score (width + 20 x miss) of a 90% interval."""
    miss = max(lower - truth, 0.0) + max(truth - upper, 0.0)
    return miss == 0, upper - lower, upper - lower + 20 * miss


def summarise(records: list[tuple[bool, float, float]]) -> dict:
    hits, widths, scores = zip(*records, strict=True)
    return {"coverage": round(float(np.mean(hits)), 3), "width": round(float(np.median(widths)), 4),
            "interval_score": round(float(np.mean(scores)), 4)}


def sweep(budgets, scatter: float, seed: int):
    rng = np.random.default_rng(seed)
    grid = bl.isoflop_grid(budgets, points=7)
    shift = np.exp(grid["C"].map(dict(zip(budgets, rng.normal(0.0, scatter, len(budgets)), strict=True))))
    law = E + A * (grid["N"] / shift) ** -ALPHA + B * (grid["D"] * shift) ** -BETA
    return grid.assign(loss=law * np.exp(rng.normal(0.0, 0.005, len(grid))))


def score(budgets, scatter: float, sweeps: int, line) -> dict:
    real = isoflop_module.line_draws
    isoflop_module.line_draws = line
    exponent, new = [], {"law": [], "observed": []}
    try:
        for seed in range(sweeps):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bl.DataWarning)
                fit = bl.isoflop(sweep(budgets, scatter, seed), draws=2000, seed=seed, ci_prob=0.9)
            e = fit.summary().loc["N_opt exponent"]
            exponent.append(interval_score(e["lower"], e["upper"], EXPONENT))
            truth = true_log_n_opt(NEW_BUDGET) + np.random.default_rng([seed, 1]).normal(0.0, scatter)
            for kind, records in new.items():
                row = fit.predict([NEW_BUDGET], kind=kind, seed=seed).loc[(NEW_BUDGET, "N_opt")]
                records.append(interval_score(np.log(row["lower"]), np.log(row["upper"]), truth))
    finally:
        isoflop_module.line_draws = real
    return {**summarise(exponent), "new_budget": {kind: summarise(r) for kind, r in new.items()}}


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
