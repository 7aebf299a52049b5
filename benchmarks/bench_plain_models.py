"""ESS per second on the hierarchical Chinchilla model: bayeslaw vs the same model written plainly.

Identical model and data (the 5-family x 30-run synthetic set; partial pooling of E, a, b across
families, shared alpha, beta, sigma, df; Student-t on log loss), measured in the same run:

* bayeslaw ``bl.fit`` (centred reference scales, centred/non-centred pooling chosen from the
  data, dense mass matrix, MAP start) with its default ``sampler="auto"`` (which sampler it
  used is recorded), with ``sampler="nuts"`` and with ``sampler="hmc"`` (all chains in one
  vectorised fixed-length HMC program); each is run twice and the second call
  recorded (JAX's persistent compilation cache, on by default, is then warm, and with
  ``sampler="hmc"`` the compiled MAP search and sampler are reused in-process, as when a user
  refits a law of the same shape); the first call's wall time is recorded too, and so is one
  call in a new process (imports not counted; the caches on disk warm, as in a user's next
  script: the HMC programs' traces are read back, NUTS is traced again), and the plain NumPyro
  model's sampling time without its compilation;
* the model written plainly in NumPyro as most users would: raw ``log N``/``log D`` in the
  formula (amplitudes not centred), non-centred family offsets, diagonal mass matrix, NumPyro's
  default initialisation. Its priors are bayeslaw's, rewritten for the raw amplitudes
  (``a ~ Normal(-1.3 + alpha log N_ref, 1)`` is exactly bayeslaw's ``a_ref ~ Normal(-1.3, 1)``),
  so both target the same posterior; the JSON records that their posterior means agree;
* the same plain model in PyMC and in Stan (pystan 3) when they import in ``--python-alt`` (a
  separate environment is fine: those scripts need only numpy, pandas, arviz and the package);
  otherwise the JSON records them as not measured, with the reason.

ESS per second = the smallest bulk ESS over alpha, beta, sigma, df and every family's E, a, b,
divided by wall time including compilation (what a user waits for); sampling-only rates too.
Usage::

    python benchmarks/bench_plain_models.py [--quick] [--out benchmarks/results/plain_models.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

CHAINS_DEFAULT = 4
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # one XLA host device per chain, as the CLI does, so both samplers can run chains in parallel
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                               f"{max(os.cpu_count() or 1, CHAINS_DEFAULT)}").strip()

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
QUANTITIES = ("alpha", "beta", "sigma", "df", "E_family", "a_family", "b_family")


def min_ess(samples: dict) -> tuple[float, float]:
    """Smallest bulk ESS and largest R-hat over the compared quantities (arrays chains x draws x ...)."""
    from bayeslaw.results.diagnostics import diagnose

    diag = diagnose({k: np.asarray(samples[k]) for k in QUANTITIES})
    return float(diag["ess_bulk"].min()), float(diag["r_hat"].max())


def record(label, samples, wall, compile_s, steps=None, divergences=None) -> dict:
    ess, rhat = min_ess(samples)
    return {"label": label, "wall_s": wall, "compile_s": compile_s, "sampling_s": wall - compile_s,
            "min_ess_bulk": ess, "max_r_hat": rhat, "ess_per_s_wall": ess / wall,
            "ess_per_s_sampling": ess / max(wall - compile_s, 1e-9),
            "leapfrog_steps_per_draw": steps, "divergences": divergences,
            "means": {k: float(np.mean(samples[k])) for k in ("alpha", "beta", "sigma")},
            "sds": {k: float(np.std(samples[k])) for k in ("alpha", "beta", "sigma")}}


def run_bayeslaw(frame, chains, warmup, draws, sampler) -> dict:
    """bl.fit twice in this process: the first call fills JAX's persistent compilation cache and
    bayeslaw's traced programs (both on disk by default), the second is a refit of a law of the
    same shape, the recorded figure; then once more in a new process."""
    import bayeslaw as bl
    from bayeslaw.core import runtime

    walls = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bl.ConvergenceWarning)
            with runtime.stopwatch() as clock:
                fit = bl.fit("chinchilla", frame, group="family", chains=chains, warmup=warmup,
                             draws=draws, seed=0, sampler=sampler)
        walls.append(clock["total"])
    out = record(f"bayeslaw bl.fit(sampler={sampler!r}), cache warm", fit.samples, clock["total"],
                 clock["compile"], float(np.mean(fit.sample_stats["num_steps"])), fit.divergences)
    out["chain_method"] = fit.config["chain_method"]
    out["sampler_used"] = fit.config["sampler_used"]
    out["first_call_wall_s"] = walls[0]
    out["ess_per_s_first_call"] = out["min_ess_bulk"] / walls[0]
    new = first_call_in_new_process(chains, warmup, draws, sampler)
    out["new_process_wall_s"] = new["wall_s"]
    out["ess_per_s_new_process"] = new["min_ess_bulk"] / new["wall_s"]
    return out


NEW_PROCESS_SCRIPT = """
import json, sys, warnings
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
import bayeslaw as bl
from bayeslaw.core import runtime
from bench_plain_models import min_ess
chains, warmup, draws = map(int, sys.argv[3:6])
frame = pd.read_csv(sys.argv[2])
warnings.simplefilter("ignore")
with runtime.stopwatch() as clock:
    fit = bl.fit("chinchilla", frame, group="family", chains=chains, warmup=warmup, draws=draws,
                 seed=0, sampler=sys.argv[6])
print(json.dumps({"wall_s": clock["total"], "min_ess_bulk": min_ess(fit.samples)[0]}))
"""


def first_call_in_new_process(chains, warmup, draws, sampler) -> dict:
    """Wall time of one bl.fit in a new Python process (imports not counted), bayeslaw's caches on
    disk warm from this process's calls: a user's next session or script."""
    data = HERE.parent / "data" / "synthetic_families.csv"
    result = subprocess.run([sys.executable, "-c", NEW_PROCESS_SCRIPT, str(HERE), str(data), str(chains),
                             str(warmup), str(draws), sampler], capture_output=True, text=True,
                            timeout=3600, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def plain_numpyro_model(log_n, log_d, family, n_families, log_n_ref, log_d_ref, log_y=None):
    """The hierarchical Chinchilla model as a user would write it: raw inputs, non-centred offsets."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    alpha = numpyro.sample("alpha", dist.LogNormal(-1.2, 0.5))
    beta = numpyro.sample("beta", dist.LogNormal(-1.2, 0.5))
    E = numpyro.sample("E", dist.LogNormal(0.5, 0.5))
    a = numpyro.sample("a", dist.Normal(-1.3 + alpha * log_n_ref, 1.0))
    b = numpyro.sample("b", dist.Normal(-1.3 + beta * log_d_ref, 1.0))
    E_sd = numpyro.sample("E_sd", dist.HalfNormal(0.2))
    a_sd = numpyro.sample("a_sd", dist.HalfNormal(0.5))
    b_sd = numpyro.sample("b_sd", dist.HalfNormal(0.5))
    with numpyro.plate("family", n_families):
        E_f = numpyro.deterministic("E_family", jnp.exp(jnp.log(E) + E_sd * numpyro.sample("E_z", dist.Normal())))
        a_f = numpyro.deterministic("a_family", a + a_sd * numpyro.sample("a_z", dist.Normal()))
        b_f = numpyro.deterministic("b_family", b + b_sd * numpyro.sample("b_z", dist.Normal()))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.05))
    df = numpyro.sample("df", dist.Gamma(2.0, 0.1))
    law = E_f[family] + jnp.exp(a_f[family] - alpha * log_n) + jnp.exp(b_f[family] - beta * log_d)
    with numpyro.plate("runs", log_n.shape[0]):
        numpyro.sample("obs", dist.StudentT(df, jnp.log(law), sigma), obs=log_y)


def plain_arrays(frame):
    families = sorted(frame["family"].unique())
    family = frame["family"].map({f: i for i, f in enumerate(families)}).to_numpy()
    log_n, log_d = np.log(frame["N"].to_numpy()), np.log(frame["D"].to_numpy())
    return log_n, log_d, family, len(families), float(log_n.mean()), float(log_d.mean()), np.log(frame["loss"].to_numpy())


def run_plain_numpyro(frame, chains, warmup, draws, chain_method) -> dict:
    import jax
    from numpyro.infer import MCMC, NUTS

    from bayeslaw.core import runtime

    args = plain_arrays(frame)
    mcmc = MCMC(NUTS(plain_numpyro_model), num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=chain_method, progress_bar=False)
    with runtime.stopwatch() as clock:
        mcmc.run(jax.random.PRNGKey(0), *args, extra_fields=("num_steps", "diverging"))
        samples = jax.tree.map(np.asarray, mcmc.get_samples(group_by_chain=True))
    extra = mcmc.get_extra_fields()
    out = record("plain NumPyro (raw inputs, non-centred, diagonal mass, default init)", samples,
                 clock["total"], clock["compile"], float(np.mean(extra["num_steps"])),
                 int(np.sum(extra["diverging"])))
    out["chain_method"] = chain_method
    return out


PYMC_SCRIPT = r'''
import json, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from bench_plain_models import plain_arrays, QUANTITIES
import arviz as az
import pymc as pm
frame = pd.read_csv(sys.argv[2]); chains, warmup, draws = map(int, sys.argv[3:6])
log_n, log_d, family, F, ln_ref, ld_ref, log_y = plain_arrays(frame)
start = time.perf_counter()
with pm.Model():
    alpha = pm.LogNormal("alpha", -1.2, 0.5); beta = pm.LogNormal("beta", -1.2, 0.5)
    E = pm.LogNormal("E", 0.5, 0.5)
    a = pm.Normal("a", -1.3 + alpha * ln_ref, 1.0); b = pm.Normal("b", -1.3 + beta * ld_ref, 1.0)
    E_sd = pm.HalfNormal("E_sd", 0.2); a_sd = pm.HalfNormal("a_sd", 0.5); b_sd = pm.HalfNormal("b_sd", 0.5)
    E_f = pm.Deterministic("E_family", pm.math.exp(pm.math.log(E) + E_sd * pm.Normal("E_z", 0, 1, shape=F)))
    a_f = pm.Deterministic("a_family", a + a_sd * pm.Normal("a_z", 0, 1, shape=F))
    b_f = pm.Deterministic("b_family", b + b_sd * pm.Normal("b_z", 0, 1, shape=F))
    sigma = pm.HalfNormal("sigma", 0.05); df = pm.Gamma("df", 2.0, 0.1)
    law = E_f[family] + pm.math.exp(a_f[family] - alpha * log_n) + pm.math.exp(b_f[family] - beta * log_d)
    pm.StudentT("obs", nu=df, mu=pm.math.log(law), sigma=sigma, observed=log_y)
    idata = pm.sample(draws=draws, tune=warmup, chains=chains, cores=chains, random_seed=0,
                      progressbar=False, compute_convergence_checks=False)
wall = time.perf_counter() - start
samples = {k: np.asarray(idata.posterior[k]) for k in QUANTITIES}
post = idata.posterior[list(QUANTITIES)]
ess = float(min(np.min(v) for v in az.ess(post, method="bulk").to_array().values.reshape(1, -1)))
rhat = float(max(np.max(v) for v in az.rhat(post).to_array().values.reshape(1, -1)))
print(json.dumps({"label": f"plain PyMC {pm.__version__} (default sampler)", "wall_s": wall, "min_ess_bulk": ess,
                  "max_r_hat": rhat, "ess_per_s_wall": ess / wall,
                  "divergences": int(idata.sample_stats["diverging"].sum()),
                  "means": {k: float(samples[k].mean()) for k in ("alpha", "beta", "sigma")}}))
'''


STAN_CODE = """
data { int<lower=1> R; int<lower=1> F; array[R] int<lower=1, upper=F> fam;
       vector[R] log_n; vector[R] log_d; vector[R] log_y; real ln_ref; real ld_ref; }
parameters { real<lower=0> alpha; real<lower=0> beta; real<lower=0> E; real a; real b;
             real<lower=0> E_sd; real<lower=0> a_sd; real<lower=0> b_sd;
             vector[F] E_z; vector[F] a_z; vector[F] b_z; real<lower=0> sigma; real<lower=0> df; }
transformed parameters { vector[F] E_family = exp(log(E) + E_sd * E_z);
                         vector[F] a_family = a + a_sd * a_z; vector[F] b_family = b + b_sd * b_z; }
model {
  alpha ~ lognormal(-1.2, 0.5); beta ~ lognormal(-1.2, 0.5); E ~ lognormal(0.5, 0.5);
  a ~ normal(-1.3 + alpha * ln_ref, 1); b ~ normal(-1.3 + beta * ld_ref, 1);
  E_sd ~ normal(0, 0.2); a_sd ~ normal(0, 0.5); b_sd ~ normal(0, 0.5);
  E_z ~ std_normal(); a_z ~ std_normal(); b_z ~ std_normal();
  sigma ~ normal(0, 0.05); df ~ gamma(2, 0.1);
  log_y ~ student_t(df, log(E_family[fam] + exp(a_family[fam] - alpha * log_n)
                                          + exp(b_family[fam] - beta * log_d)), sigma);
}
"""

STAN_SCRIPT = r'''
import json, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from bench_plain_models import plain_arrays, QUANTITIES, STAN_CODE
import arviz as az
import stan
frame = pd.read_csv(sys.argv[2]); chains, warmup, draws = map(int, sys.argv[3:6])
log_n, log_d, family, F, ln_ref, ld_ref, log_y = plain_arrays(frame)
data = {"R": len(log_n), "F": F, "fam": (family + 1).tolist(), "log_n": log_n.tolist(), "log_d": log_d.tolist(),
        "log_y": log_y.tolist(), "ln_ref": ln_ref, "ld_ref": ld_ref}
start = time.perf_counter()
posterior = stan.build(STAN_CODE, data=data, random_seed=0)
built = time.perf_counter()
fit = posterior.sample(num_chains=chains, num_samples=draws, num_warmup=warmup)
wall = time.perf_counter() - start
idata = az.from_pystan(posterior=fit, posterior_model=posterior)
post = idata.posterior[list(QUANTITIES)]
ess = float(min(np.min(v) for v in az.ess(post, method="bulk").to_array().values.reshape(1, -1)))
rhat = float(max(np.max(v) for v in az.rhat(post).to_array().values.reshape(1, -1)))
samples = {k: np.asarray(idata.posterior[k]) for k in QUANTITIES}
print(json.dumps({"label": "plain Stan via pystan " + stan.__version__, "wall_s": wall, "build_s": built - start,
                  "sampling_s": wall - (built - start), "min_ess_bulk": ess, "max_r_hat": rhat,
                  "ess_per_s_wall": ess / wall, "ess_per_s_sampling": ess / (wall - (built - start)),
                  "divergences": int(idata.sample_stats["diverging"].sum()),
                  "means": {k: float(samples[k].mean()) for k in ("alpha", "beta", "sigma")}}))
'''


def run_alternative(name, module, script, python, frame_path, chains, warmup, draws) -> dict:
    """Run the PyMC or Stan script in ``python`` (a separate environment may hold those packages)."""
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return {"measured": False, "reason": f"{module} does not import in {python}: "
                + (probe.stderr.strip().splitlines() or ["?"])[-1]}
    result = subprocess.run([python, "-c", script, str(HERE), str(frame_path), str(chains), str(warmup),
                             str(draws)], capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        return {"measured": False, "reason": f"{name} run failed: " + result.stderr.strip()[-500:]}
    return {"measured": True, **json.loads(result.stdout.strip().splitlines()[-1])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 + 300 (smoke run)")
    parser.add_argument("--python-alt", default=sys.executable,
                        help="a Python with pymc and/or pystan installed (they need not share bayeslaw's env)")
    parser.add_argument("--out", default=str(HERE / "results" / "plain_models.json"))
    args = parser.parse_args(argv)
    chains, warmup, draws = (2, 300, 300) if args.quick else (CHAINS_DEFAULT, 1000, 1000)
    import jax

    from bayeslaw.infer.nuts import chain_method

    data = HERE.parent / "data" / "synthetic_families.csv"
    frame = pd.read_csv(data)
    method = chain_method(chains)
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
                           "backend": jax.default_backend(), "devices": jax.local_device_count()},
               "problem": {"data": "data/synthetic_families.csv", "families": 5, "runs": len(frame),
                           "chains": chains, "warmup": warmup, "draws": draws},
               "bayeslaw": run_bayeslaw(frame, chains, warmup, draws, "auto"),
               "bayeslaw_nuts": run_bayeslaw(frame, chains, warmup, draws, "nuts"),
               "bayeslaw_hmc": run_bayeslaw(frame, chains, warmup, draws, "hmc"),
               "plain_numpyro": run_plain_numpyro(frame, chains, warmup, draws, method),
               "plain_pymc": run_alternative("PyMC", "pymc", PYMC_SCRIPT, args.python_alt, data, chains, warmup,
                                             draws),
               "plain_stan": run_alternative("Stan", "stan", STAN_SCRIPT, args.python_alt, data, chains, warmup,
                                             draws)}
    np_ = results["plain_numpyro"]
    ours_keys = ("bayeslaw", "bayeslaw_nuts", "bayeslaw_hmc")
    for ours in ours_keys:
        bl_ = results[ours]
        results[f"ratio_ess_per_s_wall_{ours}_over_plain_numpyro"] = bl_["ess_per_s_wall"] / np_["ess_per_s_wall"]
        results[f"ratio_ess_per_s_sampling_{ours}_over_plain_numpyro"] = (
            bl_["ess_per_s_sampling"] / np_["ess_per_s_sampling"])
        for key in ("plain_pymc", "plain_stan"):
            if results[key].get("measured"):
                results[f"ratio_ess_per_s_wall_{ours}_over_{key}"] = (
                    bl_["ess_per_s_wall"] / results[key]["ess_per_s_wall"])
    ratio = results["ratio_ess_per_s_wall_bayeslaw_over_plain_numpyro"]
    # same posterior? alpha/beta means within 4 combined posterior sds / sqrt(ESS), both samplers
    se = lambda r, k: r["sds"][k] / np.sqrt(max(r["min_ess_bulk"], 1.0))
    results["same_posterior"] = all(
        abs(results[ours]["means"][k] - np_["means"][k]) < 4 * np.hypot(se(results[ours], k), se(np_, k))
        for k in ("alpha", "beta") for ours in ours_keys)
    for key in ours_keys + ("plain_numpyro", "plain_pymc", "plain_stan"):
        r = results[key]
        if r.get("measured", True):
            print(f"{r['label']}: {r['wall_s']:.1f} s, min bulk ESS {r['min_ess_bulk']:.0f}, "
                  f"ESS/s {r['ess_per_s_wall']:.1f}, max R-hat {r['max_r_hat']:.3f}, divergences {r['divergences']}")
        else:
            print(f"{key}: not measured ({r['reason']})")
    print(f"bayeslaw / plain NumPyro ESS per second (wall): default ({results['bayeslaw']['sampler_used']}) "
          f"{ratio:.1f}x, NUTS {results['ratio_ess_per_s_wall_bayeslaw_nuts_over_plain_numpyro']:.1f}x, HMC "
          f"{results['ratio_ess_per_s_wall_bayeslaw_hmc_over_plain_numpyro']:.1f}x; same posterior: "
          f"{results['same_posterior']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
