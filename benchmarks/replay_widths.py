"""What narrows a refit's intervals after a replay batch: closeness to the target or runs scored.

For one data set of a design replay (results/<stem>.json), refit the pilot plus each strategy's
first batch (as the replay did) and report the 80% intervals' median width on the held-out target
(% of the predicted loss), their coverage and interval score, the extrapolation error's posterior
sds of kappa, tau (and eta), and the log distance the batch moved the frontier. Writes
results/<out>.json.

    python benchmarks/replay_widths.py gadre_overtraining --replay replay_drift_seed1 --out replay_widths
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replay
from replays import core
from replays.scoring import LEVEL, FitSettings, score, timed_fit


def widths(name: str, stem: str) -> list[dict]:
    """One row per strategy of results/<stem>.json: its first batch refitted and scored."""
    full = json.loads((replay.OUT / f"{stem}.json").read_text())
    seed = full["config"]["seed"]
    result = next(r for r in full["results"] if r["dataset"] == name)
    problem = core.split(replay.runs_of(name), name)
    rows = []
    for strategy, curve in result["strategies"].items():
        if len(curve["steps"]) < 2:
            continue
        picked = curve["steps"][1]["picked"]
        chosen = pd.concat([problem.pilot, problem.pool.loc[picked]])
        fit, _ = timed_fit(chosen, FitSettings(**full["config"]["fit"]), seed + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = fit.predict(problem.target[["N", "D"]].reset_index(drop=True), kind="observed", ci_prob=LEVEL)
        scored = score(fit, problem.target, problem.reference_compute, None, seed)
        error = fit.extrapolation
        rows.append({"strategy": strategy, "runs_added": len(picked),
                     "median_width_pct": float(100 * np.median((pred["upper"] - pred["lower"]) / pred["median"])),
                     "coverage_80": scored["coverage_80"], "interval_score_80": scored["interval_score_80"],
                     "error_scale_sd": None if error is None else [float(x) for x in np.sqrt(error.scale_moments())],
                     "frontier_moved": float(np.log(chosen["cost"].max() / problem.pilot["cost"].max()))})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", help="comma-separated data sets of the replay")
    parser.add_argument("--replay", required=True, metavar="STEM", help="results/STEM.json of a replay")
    parser.add_argument("--out", default="replay_widths")
    args = parser.parse_args(argv)
    out = {"command": "python benchmarks/replay_widths.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "results": {}}
    for name in args.datasets.split(","):
        out["results"][name] = widths(name, args.replay)
        for row in out["results"][name]:
            print(name, row, flush=True)
    (replay.OUT / f"{args.out}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
