"""fit_many's batched HMC at several mean trajectory lengths (``steps``) on the same batch.

``--fits`` single-family Chinchilla tables of 30 runs simulated from known truths (as
``bench_scale.py``), fitted once per ``steps`` value with 4 chains x 500 + 500 in one process:
sampling time, bulk and tail ESS (median and 10% quantile over fits of each fit's smallest),
bulk ESS per second of sampling, the share of fits with R-hat above 1.01 / 1.05, fits with a
divergence, and the 90% coverage of the truth. The first value also pays the compilation the
others reuse only in part (``steps`` is part of the program), so compare sampling times.

    python benchmarks/bench_hmc_steps.py [--fits 300] [--steps 8,11,16,22,32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                               f"{max(os.cpu_count() or 1, 4)}").strip()

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_scale as bs

import bayeslaw as bl
from bayeslaw.batch import diagnose_many


def measure(steps: int, tables, truths, chains: int, warmup: int, draws: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fits = bl.fit_many("chinchilla", tables, chains=chains, warmup=warmup, draws=draws, steps=steps)
    diag = diagnose_many(fits)
    run = fits[0].timings["batch_run_s"]
    cover = {}
    for name in ("alpha", "beta", "E"):
        lo, hi = np.array([np.quantile(f.flat(name), [0.05, 0.95]) for f in fits]).T
        truth = np.array([t[name] for t in truths])
        cover[name] = float(np.mean((lo <= truth) & (truth <= hi)))
    bulk = diag["min_ess_bulk"]
    return {"steps": steps, "sampling_s": run, "compile_s": fits[0].timings["batch_compile_s"],
            "median_min_ess_bulk": float(bulk.median()), "q10_min_ess_bulk": float(bulk.quantile(0.1)),
            "median_min_ess_tail": float(diag["min_ess_tail"].median()),
            "ess_bulk_per_s": float(bulk.median() * len(fits) / run),
            "share_rhat_over_1.01": float((diag["max_r_hat"] > 1.01).mean()),
            "share_rhat_over_1.05": float((diag["max_r_hat"] > 1.05).mean()),
            "share_fits_with_divergences": float((diag["divergences"] > 0).mean()),
            "coverage_90": cover}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=300)
    parser.add_argument("--steps", default="8,11,16,22,32")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(HERE / "results" / "hmc_steps.json"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    truths = [bs.draw_truth(rng) for _ in range(args.fits)]
    tables = [bs.simulate(rng, t, 30) for t in truths]
    import jax
    out = {"fits": args.fits, "chains": args.chains, "warmup": args.warmup, "draws": args.draws,
           "float64": bool(jax.config.jax_enable_x64), "cpus": os.cpu_count(), "rows": []}
    for steps in (int(s) for s in args.steps.split(",")):
        row = measure(steps, tables, truths, args.chains, args.warmup, args.draws)
        out["rows"].append(row)
        print(f"steps {steps}: sampling {row['sampling_s']:.1f} s, bulk ESS median {row['median_min_ess_bulk']:.0f} "
              f"(10%: {row['q10_min_ess_bulk']:.0f}), {row['ess_bulk_per_s']:.0f} ESS/s, "
              f"R-hat > 1.01 in {row['share_rhat_over_1.01']:.1%}", flush=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
