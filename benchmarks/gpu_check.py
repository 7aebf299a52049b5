"""Precision and device check: the 5-family Chinchilla fit in float32 vs float64, GPU vs CPU.

Runs the same fit (4 chains x 1000 warmup + 1000 draws) on the default backend in float32 and in
float64, and, when the default backend is an accelerator, on the CPU of the same machine too.
Reports posterior medians, their Monte Carlo standard errors, the agreement of float32 with
float64 in MC standard errors, and compile/sampling times. Each configuration runs in a fresh
subprocess because JAX's precision and platform are fixed at start-up. Usage::

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARAMS = ("alpha", "beta", "sigma")

CHILD = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd, jax
import bayeslaw as bl
warnings.simplefilter("ignore")
runs = pd.read_csv(sys.argv[1])
out = {"backend": jax.default_backend(), "x64": bool(jax.config.jax_enable_x64)}
for attempt in ("cold", "warm"):
    start = time.perf_counter()
    fit = bl.fit("chinchilla", runs, group="family", chains=4, warmup=1000, draws=1000, seed=0,
                 sampler="nuts")
    out[attempt] = {"wall_s": time.perf_counter() - start, **fit.timings}
out["x64"] = bool(jax.config.jax_enable_x64)
out["chain_method"] = fit.config["chain_method"]
s = fit.summary()
out["medians"] = {k: float(s.loc[(k, "(shared)"), "median"]) for k in ("alpha", "beta", "sigma")}
out["sds"] = {k: float(s.loc[(k, "(shared)"), "sd"]) for k in ("alpha", "beta", "sigma")}
out["ess"] = {k: float(s.loc[(k, "(shared)"), "ess_bulk"]) for k in ("alpha", "beta", "sigma")}
out["max_r_hat"] = float(s["r_hat"].max())
out["divergences"] = fit.divergences
out["steps_per_draw"] = float(np.mean(fit.sample_stats["num_steps"]))
pred = fit.predict({"N": 7e10, "D": 1.4e12, "family": "dense"}, kind="law")
out["planned_run_median"] = float(pred["median"].iloc[0])
print("RESULT" + json.dumps(out))
"""


def run(env_extra: dict) -> dict:
    env = dict(os.environ, **env_extra)
    data = str(HERE.parent / "data" / "synthetic_families.csv")
    proc = subprocess.run([sys.executable, "-c", CHILD, data], env=env, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"child failed ({env_extra}):\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT"):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "results" / "gpu_check.json"))
    args = parser.parse_args(argv)
    results = {"float32": run({"BAYESLAW_X64": "0"}), "float64": run({"BAYESLAW_X64": "1"})}
    if results["float64"]["backend"] != "cpu":
        results["cpu_float64"] = run({"BAYESLAW_X64": "1", "JAX_PLATFORMS": "cpu"})
    f32, f64 = results["float32"], results["float64"]
    agreement = {}
    for k in PARAMS:
        mcse = f64["sds"][k] / max(f64["ess"][k], 1.0) ** 0.5 * 2 ** 0.5  # two independent chains sets
        agreement[k] = {"float32": f32["medians"][k], "float64": f64["medians"][k],
                        "diff_in_mcse": abs(f32["medians"][k] - f64["medians"][k]) / mcse}
    results["float32_vs_float64"] = agreement
    Path(args.out).write_text(json.dumps(results, indent=2))
    for name, r in results.items():
        if "warm" in r:
            print(f"{name:12s} backend={r['backend']} x64={r['x64']} {r['chain_method']}: warm wall {r['warm']['wall_s']:.1f} s "
                  f"(compile {r['warm']['compile_s']:.1f}, sampling {r['warm']['sampling_s']:.1f}); cold {r['cold']['wall_s']:.1f} s; "
                  f"{r['steps_per_draw']:.1f} steps/draw, div {r['divergences']}, max R-hat {r['max_r_hat']:.3f}")
    for k, v in agreement.items():
        print(f"{k}: float32 {v['float32']:.5g} vs float64 {v['float64']:.5g} ({v['diff_in_mcse']:.2f} MC s.e.)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
