"""Benchmark: does compare() prefer the true law form, and how often does family_test() say
"differ" when families do and do not differ? Synthetic replicates with known truth.

Each replicate draws 3-6 families with 5-30 runs each (N log-uniform 1e7-1e10, D 2e8-6e10,
log-normal noise sd 0.015) from one of three truths:

* ``chinchilla_same``: Chinchilla law, alpha = 0.34 shared by all families;
* ``chinchilla_differ``: Chinchilla law, family alphas spread evenly over 0.34 +- 0.12;
* ``kaplan``: no data term (E + A/N^alpha); Chinchilla nests it, so this is the hard case.

Per replicate: fit ``chinchilla`` and ``kaplan`` and rank them by LOO (chosen = rank 0); on the
Chinchilla truths also run ``family_test(params=("alpha",))`` reusing the Chinchilla fit.
Goals (issue 3): true form preferred >= 90%; "differ" when they do not <= 10%.

Usage::

    python benchmarks/bench_compare.py --replicates 3     # JSON to benchmarks/results/compare.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayeslaw as bl
from bayeslaw.evaluate.compare import compare
from bayeslaw.evaluate.families import family_test

SCENARIOS = ("chinchilla_same", "chinchilla_differ", "kaplan")


def simulate(scenario: str, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """One synthetic runs table and its truth."""
    n_fam = int(rng.integers(3, 7))
    alphas = np.full(n_fam, 0.34)
    if scenario == "chinchilla_differ":
        alphas = 0.34 + np.linspace(-0.12, 0.12, n_fam)
    frames = []
    for j, alpha in enumerate(alphas):
        n = int(rng.integers(5, 31))
        N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
        D = np.exp(rng.uniform(np.log(2e8), np.log(6e10), n))
        E = rng.uniform(1.6, 2.0)
        law = E + 0.6 * (N / 3e8) ** -alpha
        if scenario != "kaplan":
            law = law + 0.5 * (D / 1e10) ** -0.28
        loss = law * np.exp(rng.normal(0, 0.015, n))
        frames.append(pd.DataFrame({"family": f"f{j}", "N": N, "D": D, "loss": loss}))
    runs = pd.concat(frames, ignore_index=True)
    return runs, {"families": n_fam, "runs": len(runs), "alphas": alphas.round(3).tolist()}


def replicate(scenario: str, seed: int, settings: dict) -> dict:
    rng = np.random.default_rng(seed)
    runs, truth = simulate(scenario, rng)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {law: bl.fit(law, runs, group="family", seed=seed, sampler="nuts", **settings)
                for law in ("chinchilla", "kaplan")}
        table = compare(fits)
        out = {"scenario": scenario, "seed": seed, **truth, "chosen": table.index[0],
               "elpd_diff": float(table["elpd_diff"].iloc[1]), "dse": float(table["dse"].iloc[1])}
        out["form_correct"] = out["chosen"] == ("kaplan" if scenario == "kaplan" else "chinchilla")
        if scenario != "kaplan":
            test = family_test(fits["chinchilla"], params=("alpha",))
            out.update(differ=bool(test.differ), verdict=test.verdict)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def summarise(rows: list[dict]) -> dict:
    frame = pd.DataFrame(rows)
    out = {"failed_replicates": int(frame["error"].notna().sum()) if "error" in frame else 0}
    if "error" in frame:
        frame = frame[frame["error"].isna()]
    for scenario, part in frame.groupby("scenario"):
        entry = {"replicates": len(part), "true_form_preferred": float(part["form_correct"].mean())}
        if "differ" in part and part["differ"].notna().any():
            entry["said_differ"] = float(part["differ"].astype(bool).mean())
        out[scenario] = entry
    out["overall_true_form_preferred"] = float(frame["form_correct"].mean())
    if "chinchilla_same" in out and "said_differ" in out["chinchilla_same"]:
        out["family_test_false_positive_rate"] = out["chinchilla_same"]["said_differ"]
    if "chinchilla_differ" in out and "said_differ" in out["chinchilla_differ"]:
        out["family_test_true_positive_rate"] = out["chinchilla_differ"]["said_differ"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=3, help="replicates per scenario (default: 3)")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "compare.json"))
    args = parser.parse_args(argv)
    settings = {"chains": args.chains, "warmup": args.warmup, "draws": args.draws}
    rows = []
    start = time.perf_counter()
    for r in range(args.replicates):
        for k, scenario in enumerate(SCENARIOS):
            seed = args.seed + 1000 * r + k
            try:
                row = replicate(scenario, seed, settings)
            except Exception as exc:
                row = {"scenario": scenario, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"settings": {**settings, "replicates": args.replicates, "seed": args.seed},
              "summary": summarise(rows), "replicates": rows,
              "total_seconds": round(time.perf_counter() - start, 1), "versions": _versions()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {out}")
    return 0


def _versions() -> dict:
    from bayeslaw.results.persist import versions

    return versions()


if __name__ == "__main__":
    raise SystemExit(main())
