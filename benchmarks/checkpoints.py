"""Do intermediate checkpoints help or hurt? Final checkpoints of the largest runs held out.

For each data set with training curves in ../shared/data (Pythia LAMBADA log-perplexity, Porian
et al. IsoFLOP points), the runs below a size cutoff are fitted three ways and the final
checkpoint of every larger run is predicted:

* ``final only``: one row per run, its last checkpoint;
* ``checkpoints + run effect``: every checkpoint from 10B tokens on (Pythia; the Hitchhiker's
  Guide cut) or every point (Porian), with ``run=`` so one curve does not count as many runs;
* ``checkpoints, no run effect``: the same rows as independent runs.

Beside them the Huber (delta 1e-3) fit with a bootstrap on the final checkpoints and on all
checkpoints. Scores: median ARE, 80/95% coverage and relative interval score (lower is better).

Run from the repository root::

    python benchmarks/checkpoints.py [--quick] [--out benchmarks/results/checkpoints.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_report import DATA, porian, pythia
from peers.metrics import score
from peers.tools import Context, bayeslaw_default, huber_bootstrap_residual

#: data set -> (loader, family column, size cutoff on N: runs at or above it are held out)
CASES = {"pythia": (pythia, "variant", 2e9), "porian_isoflop": (porian, "dataset", 3e8)}


def finals(frame: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint (largest D) of every run."""
    return frame.sort_values("D").groupby("run").tail(1).sort_index()


def evaluate(name: str, quick: bool, seed: int) -> list[dict]:
    loader, group, cutoff = CASES[name]
    frame = loader().reset_index(drop=True)
    fitted, held = frame[frame["N"] < cutoff], frame[frame["N"] >= cutoff]
    test = finals(held)
    variants = {
        "final only": (finals(fitted), {}),
        "checkpoints + run effect": (fitted, {"run": "run"}),
        "checkpoints, no run effect": (fitted.drop(columns="run"), {}),
    }
    rows = []
    for label, (train, extra) in variants.items():
        ctx = Context(dataset=name, group=group, quick=quick, seed=seed, bayeslaw_kwargs=extra)
        for tool, run in (("bayeslaw", bayeslaw_default), ("huber+residual", huber_bootstrap_residual)):
            if tool == "huber+residual" and extra:
                continue  # the same rows as "no run effect"
            result = run(train, test, ctx)
            rows.append({"dataset": name, "train": label, "tool": tool, "n_train": len(train),
                         "n_test": len(test), "seconds": round(result["seconds"], 1),
                         **score(result, test["loss"].to_numpy()), "info": result.get("info")})
            print(json.dumps({k: rows[-1][k] for k in ("dataset", "train", "tool", "median_are",
                                                         "coverage", "interval_score")}), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| data set | fitted rows | tool | ARE % | cov 80/95 | IS 80 / 95 |", "|---|---|---|---|---|---|"]
    for r in rows:
        cov, score_ = r["coverage"], r["interval_score"]
        lines.append(f"| {r['dataset']} | {r['train']} ({r['n_train']}) | {r['tool']} | "
                     f"{100 * r['median_are']:.2f} | {100 * cov['0.8']:.0f} / {100 * cov['0.95']:.0f} | "
                     f"{score_['0.8']:.1f} / {score_['0.95']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 draws, 20 bootstraps")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated data sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/checkpoints.json"))
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"no shared data at {DATA}: nothing to measure")
    rows = []
    for name in args.only.split(","):
        rows += evaluate(name, args.quick, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1, default=str))
    args.out.with_suffix(".md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
