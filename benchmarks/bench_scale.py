"""Scale: many fits in one batch vs loops of the alternatives, and how one fit grows with its data.

(b) ``--fits`` single-family Chinchilla data sets (30 runs each) simulated from known truths:

* ``bl.fit_many`` on all of them (one compiled program, every local device);
* a Python loop of the scipy Huber/L-BFGS point fit (``baseline_huber.fit_huber``, coarse grid:
  the Hoffmann/Epoch method) on all of them;
* a Python loop of single ``bl.fit`` calls, timed on ``--loop-subset`` of them and extrapolated
  linearly to all (stated in the JSON).

Accuracy is recorded next to speed: the error of each method's alpha estimate against the truth,
and for fit_many the coverage of its 90% intervals and the share of converged fits.

(c) ``bl.fit`` on 5 -> 80 families of 30 runs (partial pooling) and on one family of 30 -> 3000
runs: wall, compile and sampling time, ESS per second, leapfrog steps per draw, max R-hat.

Usage::

    python benchmarks/bench_scale.py [--quick] [--skip-growth] [--fits 1000] [--out ...]

``--quick`` shrinks everything (50 fits, 2 chains x 300 + 300, 5/20 families, 30/300 runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # on CPU: several XLA host devices, so fit_many shards its fits over the cores and bl.fit runs
    # its chains in parallel (as the CLI and bench_core do); no effect on a GPU
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                               f"{max(os.cpu_count() or 1, 4)}").strip()

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import baseline_huber as hb

#: truths are drawn uniformly on these ranges (around the synthetic demo set's values)
TRUTH_RANGES = {"E": (1.5, 2.2), "alpha": (0.25, 0.42), "beta": (0.22, 0.38), "a": (5.5, 6.5), "b": (5.5, 6.5)}
SIGMA = 0.01


def draw_truth(rng) -> dict:
    return {k: float(rng.uniform(*v)) for k, v in TRUTH_RANGES.items()}


def simulate(rng, truth: dict, runs: int, family: str = "f0") -> pd.DataFrame:
    """Runs from the Chinchilla law with log-normal noise (plain NumPy, independent of bayeslaw)."""
    N = np.exp(rng.uniform(np.log(1e7), np.log(3e9), runs))
    D = np.exp(rng.uniform(np.log(2e8), np.log(6e10), runs))
    law = truth["E"] + np.exp(truth["a"] - truth["alpha"] * np.log(N)) + np.exp(truth["b"] - truth["beta"] * np.log(D))
    return pd.DataFrame({"family": family, "N": N, "D": D, "loss": law * np.exp(rng.normal(0, SIGMA, runs))})


def coverage_90(fits, truths) -> dict:
    """Share of fits whose central 90% interval contains the true alpha, beta and E."""
    cover = {}
    for name in ("alpha", "beta", "E"):
        lo, hi = np.array([np.quantile(f.flat(name), [0.05, 0.95]) for f in fits]).T
        truth = np.array([t[name] for t in truths])
        cover[name] = float(np.mean((lo <= truth) & (truth <= hi)))
    return cover


def many_fits(n_fits, runs, chains, warmup, draws, loop_subset, save, seed=0) -> dict:
    """Section (b); ``save(partial)`` is called after each method, so a run cut short keeps its results."""
    import bayeslaw as bl
    from bayeslaw.infer.batch import diagnose_many, fit_many

    rng = np.random.default_rng(seed)
    truths = [draw_truth(rng) for _ in range(n_fits)]
    tables = [simulate(rng, t, runs) for t in truths]
    true_alpha = np.array([t["alpha"] for t in truths])
    settings = {"chains": chains, "warmup": warmup, "draws": draws}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        start = time.perf_counter()
        fits = fit_many("chinchilla", tables, seed=seed, **settings)
        wall = time.perf_counter() - start
    t0 = time.perf_counter()
    diag = diagnose_many(fits)
    diag_s = time.perf_counter() - t0
    cover = coverage_90(fits, truths)
    post_alpha = np.array([np.median(f.flat("alpha")) for f in fits])
    batch = {
        "label": f"bl.fit_many, {n_fits} fits in one program", "sampler": fits[0].config["sampler"],
        "wall_s": wall,
        "compile_s": fits[0].timings["batch_compile_s"], "run_s": fits[0].timings["batch_run_s"],
        "devices": fits[0].config["devices"], "diagnose_many_s": diag_s,
        "fits_per_s": n_fits / wall, "converged_share_rhat_1.01": float((diag["max_r_hat"] < 1.01).mean()),
        "converged_share_rhat_1.05": float((diag["max_r_hat"] < 1.05).mean()),
        "median_min_ess_bulk": float(diag["min_ess_bulk"].median()),
        "fits_with_divergences": int((diag["divergences"] > 0).sum()),
        "coverage_90": cover, "alpha_median_abs_error": float(np.median(np.abs(post_alpha - true_alpha))),
    }
    out = {"fits": n_fits, "runs_per_fit": runs, **settings, "fit_many": batch}
    save(out)
    print(f"fit_many: {n_fits} fits in {wall:.1f} s (compile {batch['compile_s']:.1f}, run {batch['run_s']:.1f}); "
          f"R-hat<1.01 in {batch['converged_share_rhat_1.01']:.0%}; 90% coverage {cover}", flush=True)

    start = time.perf_counter()
    huber_alpha = []
    for table in tables:
        est = hb.fit_huber(table["N"].to_numpy(), table["D"].to_numpy(), table["loss"].to_numpy(), grid="coarse")
        huber_alpha.append(est["alpha"])
    huber_wall = time.perf_counter() - start
    huber = {"label": "loop of scipy Huber L-BFGS-B point fits (coarse grid, Hoffmann/Epoch method)",
             "wall_s": huber_wall, "fits_per_s": n_fits / huber_wall, "intervals": False,
             "alpha_median_abs_error": float(np.median(np.abs(np.array(huber_alpha) - true_alpha)))}
    out.update(huber_loop=huber, speedup_vs_huber_loop=huber_wall / wall)
    save(out)
    print(f"Huber loop: {n_fits} fits in {huber_wall:.1f} s", flush=True)

    per_fit, used = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        for table in tables[:loop_subset]:
            start = time.perf_counter()
            single = bl.fit("chinchilla", table, seed=seed, **settings)  # the default sampler
            per_fit.append(time.perf_counter() - start)
            used.append(single.config["sampler_used"])
            save({**out, "bl_fit_loop_partial_per_fit_s": per_fit})
    loop = {"label": f"loop of single bl.fit calls (timed on {loop_subset}, extrapolated to {n_fits})",
            "measured_fits": loop_subset, "per_fit_s": per_fit, "sampler_used": used, "extrapolated": True,
            "wall_s_extrapolated": float(np.mean(per_fit) * n_fits),
            "wall_s_extrapolated_warm": float(np.mean(per_fit[1:] or per_fit) * n_fits)}
    print(f"bl.fit loop: {np.mean(per_fit):.1f} s per fit -> ~{loop['wall_s_extrapolated']:.0f} s for {n_fits}", flush=True)
    out.update(bl_fit_loop=loop, speedup_vs_bl_fit_loop=loop["wall_s_extrapolated"] / wall)
    return out


def one_fit(frame, group, chains, warmup, draws) -> dict:
    import bayeslaw as bl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        start = time.perf_counter()
        fit = bl.fit("chinchilla", frame, group=group, chains=chains, warmup=warmup, draws=draws, seed=0,
                     sampler="nuts")
        wall = time.perf_counter() - start
    diag = fit.diagnostics()
    ess = float(diag["ess_bulk"].min())
    return {"runs": len(frame), "families": len(fit.families), "wall_s": wall, **fit.timings,
            "min_ess_bulk": ess, "ess_per_s_wall": ess / wall, "max_r_hat": float(diag["r_hat"].max()),
            "divergences": fit.divergences, "leapfrog_steps_per_draw": float(np.mean(fit.sample_stats["num_steps"])),
            "centered": fit.config["centered"], "dense_mass": fit.config["dense_mass"],
            "chain_method": fit.config["chain_method"]}


def growth(families, runs_sweep, chains, warmup, draws, save, seed=0) -> dict:
    """Section (c); ``save(partial)`` after each fit."""
    rng = np.random.default_rng(seed)
    shared = {"alpha": 0.34, "beta": 0.28}
    out = {"families": [], "runs": []}
    for F in families:
        frame = pd.concat([simulate(rng, {**draw_truth(rng), **shared}, 30, family=f"f{j}") for j in range(F)],
                          ignore_index=True)
        out["families"].append(one_fit(frame, "family", chains, warmup, draws))
        r = out["families"][-1]
        save(out)
        print(f"{F} families x 30 runs: {r['wall_s']:.1f} s, ESS/s {r['ess_per_s_wall']:.1f}, "
              f"max R-hat {r['max_r_hat']:.3f}, steps/draw {r['leapfrog_steps_per_draw']:.0f}", flush=True)
    for R in runs_sweep:
        out["runs"].append(one_fit(simulate(rng, draw_truth(rng), R), None, chains, warmup, draws))
        r = out["runs"][-1]
        save(out)
        print(f"1 family x {R} runs: {r['wall_s']:.1f} s, ESS/s {r['ess_per_s_wall']:.1f}, "
              f"max R-hat {r['max_r_hat']:.3f}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--fits", type=int, default=None, help="number of fits in (b) (default 1000)")
    parser.add_argument("--loop-subset", type=int, default=None, help="bl.fit calls timed in (b) (default 10)")
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--families", default=None, help="comma list for (c), default 5,10,20,40,80")
    parser.add_argument("--runs", default=None, help="comma list for (c), default 30,300,3000")
    parser.add_argument("--skip-many", action="store_true")
    parser.add_argument("--skip-growth", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "scale.json"))
    args = parser.parse_args(argv)
    quick = args.quick
    chains = args.chains or (2 if quick else 4)
    warmup = args.warmup or (300 if quick else 1000)
    draws = args.draws or (300 if quick else 1000)
    n_fits = args.fits or (50 if quick else 1000)
    subset = args.loop_subset or (2 if quick else 10)
    families = [int(v) for v in (args.families or ("5,20" if quick else "5,10,20,40,80")).split(",")]
    runs = [int(v) for v in (args.runs or ("30,300" if quick else "30,300,3000")).split(",")]
    import jax

    from bayeslaw.core import runtime

    runtime.configure()  # precision (BAYESLAW_X64) and the compilation cache, as a fit would
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
                           "backend": jax.default_backend(), "devices": jax.local_device_count(),
                           "device_kind": jax.devices()[0].device_kind,
                           "float64": bool(jax.config.jax_enable_x64)},
               "quick": quick}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)

    def saver(key):
        def save(part):
            results[key] = part
            Path(args.out).write_text(json.dumps(results, indent=2))
        return save

    if not args.skip_many:
        saver("many")(many_fits(n_fits, 30, chains, warmup, draws, subset, saver("many")))
    if not args.skip_growth:
        saver("growth")(growth(families, runs, chains, warmup, draws, saver("growth")))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
