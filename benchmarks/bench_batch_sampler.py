"""fit_many's two samplers on the same batch: batched HMC (default for one family) vs vmapped NUTS.

``--fits`` single-family Chinchilla tables of 30 runs simulated from known truths (as
``bench_scale.py``), fitted twice in one process with 4 chains x 500 + 500: wall, compile and
sampling time, leapfrog steps paid per iteration (under ``vmap`` NUTS pays for the deepest tree of
the batch), convergence (R-hat, bulk ESS, divergences) and the 90% coverage of the truth.

    python benchmarks/bench_batch_sampler.py [--fits 100] [--out results/batch_sampler.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                               f"{os.cpu_count() or 1}").strip()

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_scale as bs

import bayeslaw as bl
from bayeslaw.infer.batch import diagnose_many


def measure(sampler: str, tables, truths, chains: int, warmup: int, draws: int, steps: int = 16) -> dict:
    """One fit_many of the batch: times, trajectory lengths, convergence and 90% coverage."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fits = bl.fit_many("chinchilla", tables, chains=chains, warmup=warmup, draws=draws, sampler=sampler,
                           steps=steps)
    wall = time.perf_counter() - start
    paid = np.stack([f.sample_stats["num_steps"] for f in fits]).reshape(-1, draws)
    diag = diagnose_many(fits)
    return {"sampler": sampler, "wall_s": wall, "compile_s": fits[0].timings["batch_compile_s"],
            "run_s": fits[0].timings["batch_run_s"], "mean_steps_per_draw": float(paid.mean()),
            "steps_paid_per_iteration": float(paid.max(axis=0).mean()),
            "share_rhat_above_1.01": float((diag["max_r_hat"] > 1.01).mean()),
            "share_rhat_above_1.05": float((diag["max_r_hat"] > 1.05).mean()),
            "fits_with_divergences": int((diag["divergences"] > 0).sum()),
            "median_min_ess_bulk": float(diag["min_ess_bulk"].median()),
            "p10_min_ess_bulk": float(diag["min_ess_bulk"].quantile(0.1)),
            "median_min_ess_tail": float(diag["min_ess_tail"].median()),
            "coverage_90": bs.coverage_90(fits, truths)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=100)
    parser.add_argument("--out", default=str(HERE / "results" / "batch_sampler.json"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    truths = [bs.draw_truth(rng) for _ in range(args.fits)]
    tables = [bs.simulate(rng, t, 30) for t in truths]
    results = {"fits": args.fits, "runs_per_fit": 30, "chains": 4, "warmup": 500, "draws": 500,
               "devices": len(__import__("jax").devices()), "cpus": os.cpu_count()}
    for sampler in ("hmc", "nuts"):
        results[sampler] = measure(sampler, tables, truths, 4, 500, 500)
        print(json.dumps(results[sampler]), flush=True)
    results["run_speedup_hmc_over_nuts"] = results["nuts"]["run_s"] / results["hmc"]["run_s"]
    results["wall_speedup_hmc_over_nuts"] = results["nuts"]["wall_s"] / results["hmc"]["wall_s"]
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if "speedup" in k}))


if __name__ == "__main__":
    main()
