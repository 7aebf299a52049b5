"""Core benchmark: bayeslaw's full posterior vs the scipy Huber/L-BFGS + bootstrap baseline.

Measured in the same run on the same machine (ratios, not absolute times, are what transfer):

* Epoch AI's 240 Chinchilla points, one family: bayeslaw NUTS (4 chains x 1000 warmup + 1000
  draws) vs Huber(delta=1e-3) L-BFGS-B from a grid + bootstrap refits (Epoch's method).
* The 5-family synthetic demo set: bayeslaw with partial pooling vs per-family Huber fits +
  bootstrap.

bayeslaw is timed twice: cold (empty compilation cache) and warm (cache filled by the first run),
and reports compile and sampling time separately. Usage::

    python benchmarks/bench_core.py [--boot 200] [--out benchmarks/results/core.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # as the CLI does: one XLA host device per chain so chains run in parallel on the cores
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={max(os.cpu_count() or 1, 4)}").strip()

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import baseline_huber as hb

SHARED = HERE.parents[1] / "shared" / "data"
KEY = ("E", "alpha", "beta", "A", "B")


def bayeslaw_run(runs, group, label):
    import bayeslaw as bl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        start = time.perf_counter()
        fit = bl.fit("chinchilla", runs, group=group, chains=4, warmup=1000, draws=1000, seed=0,
                     sampler="nuts")
        wall = time.perf_counter() - start
    summary = fit.summary(ci_prob=0.95)
    shared = summary.xs("(shared)", level="family") if group is None else summary
    key_rows = [(k, "(shared)") for k in KEY if (k, "(shared)") in summary.index]
    ess = float(summary.loc[key_rows, "ess_bulk"].min()) if key_rows else float("nan")
    return {
        "label": label,
        "wall_s": wall,
        **fit.timings,
        "min_ess_bulk_key_params": ess,
        "ess_per_s_wall": ess / wall,
        "ess_per_s_sampling": ess / fit.timings["sampling_s"],
        "leapfrog_steps_per_draw": float(np.mean(fit.sample_stats["num_steps"])),
        "divergences": fit.divergences,
        "max_r_hat": float(summary["r_hat"].max()),
        "chain_method": fit.config["chain_method"],
        "estimates": {k: [float(shared.loc[k, c]) for c in ("median", "lower", "upper")]
                      for k in KEY if k in shared.index} if group is None else {},
    }


def baseline_run(frame, group, n_boot):
    start = time.perf_counter()
    if group is None:
        N, D, L = frame["N"].to_numpy(), frame["D"].to_numpy(), frame["loss"].to_numpy()
        point = hb.fit_huber(N, D, L, grid="coarse")
        boot = hb.bootstrap_huber(N, D, L, n_boot=n_boot, seed=0, grid="coarse")
        ci = hb.bootstrap_intervals(boot, ci_prob=0.95)
        estimates = {k: [float(point[k]), float(ci.loc[k, "lower"]), float(ci.loc[k, "upper"])] for k in KEY}
    else:
        estimates = {}
        for _, part in frame.groupby(group):
            N, D, L = part["N"].to_numpy(), part["D"].to_numpy(), part["loss"].to_numpy()
            hb.fit_huber(N, D, L, grid="coarse")
            hb.bootstrap_huber(N, D, L, n_boot=n_boot, seed=0, grid="coarse")
    wall = time.perf_counter() - start
    return {"label": f"scipy Huber L-BFGS-B (coarse grid) + {n_boot} bootstrap refits", "wall_s": wall,
            "estimates": estimates}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", type=int, default=200, help="bootstrap refits for the baseline")
    parser.add_argument("--out", default=str(HERE / "results" / "core.json"))
    args = parser.parse_args(argv)
    cache = Path(tempfile.mkdtemp(prefix="bayeslaw-bench-cache-"))
    os.environ["BAYESLAW_CACHE_DIR"] = str(cache)  # cold start guaranteed, warm on the second run
    import jax

    problems = [("synthetic_5_families", pd.read_csv(HERE.parent / "data" / "synthetic_families.csv"), "family")]
    points = SHARED / "chinchilla" / "points.csv"
    if points.is_file():
        frame = pd.read_csv(points)
        problems.insert(0, ("epoch_chinchilla_240", frame[frame["epoch_excluded"] == 0], None))
    else:
        print(f"skipping the Epoch problem: {points} not found")
    results = {"machine": {"cpus": os.cpu_count(), "jax_backend": jax.default_backend(),
                           "devices": jax.local_device_count()}, "problems": {}}
    for name, frame, group in problems:
        cold = bayeslaw_run(frame, group, "bayeslaw cold cache")
        warm = bayeslaw_run(frame, group, "bayeslaw warm cache")
        base = baseline_run(frame, group, args.boot)
        results["problems"][name] = {
            "rows": len(frame), "bayeslaw_cold": cold, "bayeslaw_warm": warm, "baseline": base,
            "baseline_over_bayeslaw_warm": base["wall_s"] / warm["wall_s"],
            "baseline_over_bayeslaw_cold": base["wall_s"] / cold["wall_s"],
        }
        print(f"{name}: bayeslaw warm {warm['wall_s']:.1f} s (compile {warm['compile_s']:.1f}, sampling "
              f"{warm['sampling_s']:.1f}), cold {cold['wall_s']:.1f} s; baseline {base['wall_s']:.1f} s; "
              f"baseline/bayeslaw(warm) = {base['wall_s'] / warm['wall_s']:.2f}; "
              f"{warm['leapfrog_steps_per_draw']:.1f} leapfrog steps/draw, ESS/s {warm['ess_per_s_wall']:.0f}")
    shutil.rmtree(cache, ignore_errors=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
