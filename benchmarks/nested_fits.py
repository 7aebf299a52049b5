"""How well the extrapolation error's nested fits reproduce MCMC refits, and how much they move
with their seed.

Two tables: ``three`` (the backtest tests' three families, 30 runs each, shared exponents, the
runs below the 80% quantile of C; its fit is non-centred) and ``demo`` (the bundled five-family
set; its fit is centred). Each table is fitted once (4 chains x 500 + 500); its nested residuals
(:func:`bayeslaw.infer.extrapolation.nested_residuals`, default method) are computed for seeds
0-3, and with ``--gold`` once more for ``three`` by full ``bl.fit`` refits (4 chains x 1000 +
1000; kept in the JSON, ``--gold-from`` reads them back for a run at another commit). Scores:
the spread of each held-out run's residual across seeds in units of its predictive scale, the
distance of the default residuals from the refits' (same units), the ratio of the predictive
scales, and the extrapolation evidence per seed.

    python benchmarks/nested_fits.py [--gold | --gold-from results/nested_fits.json] [--out NAME]

Run at another commit with ``PYTHONPATH`` pointing at its tree to compare. Writes
``results/NAME.json`` (default ``nested_fits``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "evaluate"))
from test_backtest import simulate

import bayeslaw as bl
from bayeslaw.infer import extrapolation as ex

SEEDS = range(4)
FIT = {"chains": 4, "warmup": 500, "draws": 500, "seed": 0, "progress": False, "extrapolation": False}
GOLD = {"chains": 4, "warmup": 1000, "draws": 1000}


def tables() -> dict:
    three = simulate(30, 11)
    key = 6 * three["N"] * three["D"]
    return {"three": three[key < np.quantile(key, 0.8)],
            "demo": pd.read_csv(ROOT / "data" / "synthetic_families.csv")}


def spread(runs: list[pd.DataFrame]) -> dict:
    """Residual sd across seeds per held-out run, in units of its mean predictive scale."""
    residual = pd.concat([r.set_index(["cutoff", "row"])["residual"] for r in runs], axis=1)
    scale = pd.concat([r.set_index(["cutoff", "row"])["scale"] for r in runs], axis=1)
    units = residual.std(axis=1) / scale.mean(axis=1)
    return {"median": float(units.median()), "max": float(units.max()),
            "scale_cv": float((scale.std(axis=1) / scale.mean(axis=1)).median())}


def against(runs: list[pd.DataFrame], gold: pd.DataFrame) -> dict:
    """Distance from the refits' residuals (in the refits' scales) and scale ratios, per seed."""
    out = []
    for r in runs:
        j = gold.merge(r, on=["cutoff", "row"], suffixes=("", "_nested"))
        units = np.abs(j["residual_nested"] - j["residual"]) / j["scale"]
        out.append({"median": float(units.median()), "max": float(units.max()),
                    "scale_ratio": float(np.median(j["scale_nested"] / j["scale"]))})
    return {k: [o[k] for o in out] for k in out[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", action="store_true", help="also refit three's nested fits by bl.fit")
    parser.add_argument("--gold-from", type=Path, help="a JSON of this script holding those refits")
    parser.add_argument("--out", default="nested_fits")
    options = parser.parse_args()
    warnings.simplefilter("ignore")
    record = {"bayeslaw": bl.__file__}
    earlier = {} if options.gold_from is None else json.loads(options.gold_from.read_text())
    for name, runs in tables().items():
        fit = bl.fit("chinchilla", runs, group="family", **FIT)
        row = {"centered": bool(fit.plan.centered), "runs": len(runs)}
        points, seconds, evidence = [], [], []
        for seed in SEEDS:
            start = time.perf_counter()
            points.append(ex.nested_residuals(fit, seed=seed))
            seconds.append(time.perf_counter() - start)
            evidence.append(float(ex.measure(fit, seed=seed)[1]))
        row.update(seconds=seconds, evidence=evidence, spread=spread(points), held_out=len(points[0]))
        gold = None
        if "gold" in earlier.get(name, {}):
            gold = pd.DataFrame(earlier[name]["gold"])
        elif options.gold and name == "three":
            gold = ex.nested_residuals(fit, method="mcmc", refit=bl.fit, seed=0, **GOLD)
        if gold is not None:
            row["against_refits"] = against(points, gold)
            row["gold"] = gold.to_dict(orient="list")
        record[name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "gold"}))
    path = ROOT / "benchmarks" / "results" / f"{options.out}.json"
    path.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
