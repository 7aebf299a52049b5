"""fit_many's batched HMC at several mean trajectory lengths (``steps``) on the same batch.

``--fits`` single-family Chinchilla tables of 30 runs simulated from known truths (as
``bench_scale.py``), fitted once per ``steps`` value with 4 chains x 500 + 500 in one process,
each measured as ``bench_batch_sampler.measure`` measures a sampler, plus bulk ESS per second of
sampling (the median over fits of each fit's smallest bulk ESS, times the fits, over the
sampling time). ``steps`` is part of the compiled program, so compare sampling times (``run_s``).

    python benchmarks/bench_hmc_steps.py [--fits 300] [--steps 8,11,16,22,32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_batch_sampler as bsamp  # sets XLA_FLAGS before JAX is imported
import bench_scale as bs
import numpy as np


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
        row = {"steps": steps, **bsamp.measure("hmc", tables, truths, args.chains, args.warmup, args.draws, steps)}
        row["ess_bulk_per_s"] = row["median_min_ess_bulk"] * args.fits / row["run_s"]
        out["rows"].append(row)
        print(f"steps {steps}: sampling {row['run_s']:.1f} s, bulk ESS median {row['median_min_ess_bulk']:.0f} "
              f"(10%: {row['p10_min_ess_bulk']:.0f}), {row['ess_bulk_per_s']:.0f} ESS/s, "
              f"R-hat > 1.01 in {row['share_rhat_above_1.01']:.1%}", flush=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
