"""How often does ``pooling="auto"`` fit families apart, when they share their exponents and when not?

Tables are simulated from the Chinchilla law, three families of ``--runs`` runs each (N 1e7-3e9,
D 2e8-6e10 log-uniform, log-normal noise sd 0.01), the generator of tests/evaluate/test_backtest.py:

* ``null``: the families share alpha 0.34 and beta 0.28 and differ in E and the amplitudes, which
  is what the law's partial pooling assumes; a choice of families apart is a false alarm.
* ``differ``: the same, but alpha is 0.28 / 0.34 / 0.40 by family; families apart is the right
  choice wherever the data show it.

Each table is fitted by ``bl.fit("chinchilla", table, group="family", pooling="auto")``, whose
``config["pooling_choice"]`` records both candidates' extrapolation evidence and the choice.

    python benchmarks/pooling_null.py [--tables 6] [--runs 24] [--out pooling_null]

Writes ``results/NAME.json``.
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

import bayeslaw as bl

#: E, log A, log B per family (tests/evaluate/test_backtest.py's FAMILIES)
FAMILIES = {"x": (1.8, 6.0, 6.2), "y": (1.65, 5.75, 6.05), "z": (1.95, 6.25, 6.4)}
ALPHAS = {"null": (0.34, 0.34, 0.34), "differ": (0.28, 0.34, 0.40)}
BETA = 0.28


def simulate(n: int, seed: int, alphas: tuple, sigma: float = 0.01) -> pd.DataFrame:
    """Three families of ``n`` runs from the Chinchilla law with per-family ``alphas``."""
    rng = np.random.default_rng(seed)
    frames = []
    for (name, (E, a, b)), alpha in zip(FAMILIES.items(), alphas):
        N = np.exp(rng.uniform(np.log(1e7), np.log(3e9), n))
        D = np.exp(rng.uniform(np.log(2e8), np.log(6e10), n))
        # amplitudes re-anchored at N = 3e8 so the families' losses stay alike as alpha moves
        law = E + np.exp(a - 0.34 * np.log(3e8)) * (N / 3e8) ** -alpha + np.exp(b - BETA * np.log(D))
        frames.append(pd.DataFrame({"family": name, "N": N, "D": D,
                                    "loss": law * np.exp(rng.normal(0, sigma, n))}))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=6, help="tables per scenario")
    parser.add_argument("--runs", type=int, default=24, help="runs per family")
    parser.add_argument("--out", default="pooling_null")
    options = parser.parse_args()
    warnings.simplefilter("ignore")
    record = {"command": "python benchmarks/pooling_null.py " + " ".join(sys.argv[1:]), "results": []}
    for scenario, alphas in ALPHAS.items():
        for table_seed in range(100, 100 + options.tables):
            table = simulate(options.runs, table_seed, alphas)
            start = time.perf_counter()
            fit = bl.fit("chinchilla", table, group="family", pooling="auto", seed=0, progress=False)
            choice = fit.config.get("pooling_choice") or {}
            row = {"scenario": scenario, "table_seed": table_seed, "seconds": time.perf_counter() - start,
                   "chosen": choice.get("chosen"), "log_evidence": choice.get("log_evidence")}
            record["results"].append(row)
            print(scenario, table_seed, row["chosen"], row["log_evidence"], f"{row['seconds']:.0f} s", flush=True)
    for scenario in ALPHAS:
        chosen = [r["chosen"] for r in record["results"] if r["scenario"] == scenario]
        print(scenario, {c: chosen.count(c) for c in sorted(set(map(str, chosen)))})
    path = Path(__file__).resolve().parent / "results" / f"{options.out}.json"
    path.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
