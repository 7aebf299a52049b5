"""Calibration on real public data: backtest catalogue laws, extrapolating to held-out larger runs.

For each data set in ../shared/data that maps onto a catalogue law, fit on the runs below a
compute or size cutoff and predict the larger ones. Writes benchmarks/results/calibration.json
and calibration.md (data set, law, cutoff, n held out, median ARE, coverage at 50/80/95%, and the
coverage pooled over the data sets).
Goal (issue 4): median ARE <= 4% and coverage within 5 points of nominal.

Each data set is backtested twice in the same run: with the posterior alone ("posterior") and
with the extrapolation error calibrated by nested leave-largest-out refits of the fitted runs
("+ extrapolation", :func:`bayeslaw.calibrate_extrapolation`), on the cutoff's own axis. The
second row scores the first row's fit (``backtest(..., fitted=...)``), so only the nested refits
are new. Each coverage comes with a 90% Jeffreys interval for k of n held-out runs inside; where
held-out rows are checkpoints of one training run (a ``run`` column), the run is the unit: each
run counts once, with the share of its checkpoints inside, since its rows share one run offset.
Beside each row stands the median ARE of the Huber (delta 1e-3) point fit on the same split
(``huber_median_are``; benchmarks/baseline_huber.py via peers.tools.huber_point).

The noise model is chosen per data set on the fitted runs alone: the law is fitted with one noise
scale and with a scale that follows a power of N (``noise_trend="N"``); the trend is backtested
only where its PSIS-LOO ELPD beats one scale's by more than two standard errors of the
difference, else the simpler model is; both are recorded in the JSON.

    python benchmarks/calibration_report.py [--chains 4 --draws 500 --warmup 500] [--only chinchilla]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta

import bayeslaw as bl
from bayeslaw.evaluate.backtest import backtest, split_key

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "results"


def chinchilla() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "chinchilla" / "points.csv")
    return frame[frame["epoch_excluded"] == 0]


def gadre() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "gadre_overtraining" / "runs.csv")
    return frame.rename(columns={"loss_openlm": "loss"})[["train_dataset", "N", "D", "loss", "C_6ND"]]


#: fitted IsoFLOP points: 2 <= D/N <= 30 tokens per parameter, the window the authors' own analysis
#: code fits in (formll/resolving-scaling-law-discrepancies, analysis.py); per-budget optima sit at 12-18
PORIAN_TOKENS_PER_PARAM = (2.0, 30.0)
PORIAN_CUTOFF = 3.2e18


def porian() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "porian_isoflop" / "isoflop_points.csv")
    # the corrected recipe (tuned hyperparameters, short warmup, constant lr, standard N), both data sets
    keep = frame["config_id"].isin(["rw|tuned|short|const|standard|val", "owt2|tuned|short|const|standard|val"])
    frame = frame[keep]
    # Far from each budget's optimum the small budgets' IsoFLOP points are early checkpoints of
    # large models (D/N down to 0.02, losses 5-9 nats, near initialisation) or tiny models whose N
    # is mostly the output layer: the Chinchilla form does not describe them, and fitting them
    # pushed E above the held-out losses (8% ARE). The window is applied to the fitted budgets
    # only (it uses N and D, never the loss); every held-out point is scored. See benchmarks/README.md.
    low, high = PORIAN_TOKENS_PER_PARAM
    tpp = frame["D"] / frame["N"]
    frame = frame[(frame["flops"] >= PORIAN_CUTOFF) | ((tpp >= low) & (tpp <= high))]
    # losses at several budgets are checkpoints of one run (PROVENANCE.md): a run effect per run
    run = frame["dataset"] + "-" + frame["N"].astype("int64").astype(str)
    return frame[["dataset", "flops", "N", "D", "loss"]].assign(run=run)


def datablations() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "hitchhiker_colpret" / "datablations_final_losses.csv")
    return frame[frame["epochs"] <= 1.0][["N", "D", "loss", "C_6ND"]]  # unique data: the Chinchilla regime


def olmo_ladder() -> pd.DataFrame:
    loss = "eval/c4_en-validation/CrossEntropyLoss"
    frame = pd.read_csv(DATA / "olmo_ladder" / "ladder_runs.csv",
                        usecols=["run", "_step", "N_non_embedding", "throughput/total_tokens", loss])
    final = frame.sort_values("_step").groupby("run").tail(1)  # end of each run's lr schedule
    return pd.DataFrame({"run": final["run"], "N": final["N_non_embedding"],
                         "D": final["throughput/total_tokens"], "loss": final[loss]})


def pythia() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "pythia" / "pythia_evals_long.csv")
    keep = ((frame["task"] == "lambada_openai") & (frame["metric"] == "ppl") & (frame["num_fewshot"] == 0)
            & frame["variant"].isin(["standard", "deduped"]) & (frame["tokens"] >= 10e9))
    rows = frame[keep]  # checkpoints after the first 10B tokens (Hitchhiker's Guide)
    return pd.DataFrame({"variant": rows["variant"], "N": rows["N_total"], "D": rows["tokens"],
                         "run": rows["variant"] + "-" + rows["N_total"].astype(str),
                         "loss": np.log(rows["value"])})  # LAMBADA cross-entropy (nats) = log ppl


#: name, loader, law, cutoff, by, group, note
CASES = [
    ("chinchilla", chinchilla, "chinchilla", 1e21, "C", None, "240 Epoch points; hold out C >= 1e21"),
    ("gadre_overtraining", gadre, "chinchilla", 1e9, "N", "train_dataset",
     "OpenLM val loss, 3 data sets as families; hold out the 1.4B and 6.9B runs"),
    ("porian_isoflop", porian, "chinchilla", PORIAN_CUTOFF, "flops", "dataset",
     ("tuned/const/standard-N IsoFLOP points, RW and OWT2 as families, a run effect per run; fitted "
      "points only with 2 <= D/N <= 30 (the authors' fitting window: far-off-optimum points at "
      "D/N down to 0.02 broke the form, 8% ARE); hold out every point at budgets >= 3.2e18")),
    ("datablations", datablations, "chinchilla", 1e20, "C", None,
     "Muennighoff et al. single-epoch runs; hold out C >= 1e20"),
    ("olmo_ladder", olmo_ladder, "chinchilla", 2e9, "N", None,
     "final checkpoint of each ladder run, C4 loss; hold out the 3B runs"),
    ("pythia", pythia, "chinchilla", 2e9, "N", "variant",
     ("LAMBADA log-ppl at checkpoints >= 10B tokens, standard+deduped, a run effect per training "
     "run; hold out 2.8B, 6.9B, 12B")),
]


#: the input a noise scale may follow (every data set here has N)
NOISE_INPUT = "N"


def choose_noise(fits: dict[str, bl.Fit], simpler: str) -> tuple[str, dict]:
    """The noise model to backtest: the richer one only where its PSIS-LOO ELPD on the fitted
    runs beats ``simpler``'s by more than two standard errors of the difference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bl.compare(fits, method="loo")
    best, other = str(table.index[0]), str(table.index[1])
    diff, dse = float(table.loc[other, "elpd_diff"]), float(table.loc[other, "dse"])
    chosen = best if best == simpler or diff > 2 * dse else simpler
    return chosen, {"chosen": chosen, "best_elpd": best, "elpd_diff": diff, "dse": dse}


def run(chains: int, draws: int, warmup: int, only: list[str] | None) -> list[dict]:
    results = []
    for name, loader, law, cutoff, by, group, note in CASES:
        if only and name not in only:
            continue
        frame = loader()
        base = {"run": "run"} if "run" in frame.columns else {}
        kwargs = {"one sigma": base, f"sigma trend on {NOISE_INPUT}": {**base, "noise_trend": NOISE_INPUT}}
        rows = {label: _one(name, frame, law, cutoff, by, group, note, None, None, chains, draws, warmup, kw)
                for label, kw in kwargs.items()}
        label, noise = choose_noise({k: v[1] for k, v in rows.items()}, simpler="one sigma")
        summary, fitted = rows[label]
        summary["huber_median_are"] = huber_are(frame, cutoff, by, group)
        noise["alternative"] = {k: {"median_are": v[0]["median_are"], "coverage": v[0]["coverage"]}
                                for k, v in rows.items() if k != label}
        summary["noise"] = noise
        results.append(summary)
        key = by if by in ("N", "D") else "C"
        # the calibrated row scores the same posterior: only the nested refits are new
        calibrated = _one(name, frame, law, cutoff, by, group, note, key, fitted, chains, draws, warmup,
                          kwargs[label])[0]
        calibrated["noise"] = noise
        calibrated["huber_median_are"] = summary["huber_median_are"]
        results.append(calibrated)
    return results


def huber_are(frame: pd.DataFrame, cutoff: float, by: str, group: str | None) -> float:
    """Median ARE of the Huber (delta 1e-3) point fit on the same split and held-out rows as the
    backtest (per family where each family has enough fitted rows, see peers.tools)."""
    from peers.tools import huber_point

    key = split_key(frame, by)
    train, held = frame[key < cutoff], frame[key >= cutoff]
    point = huber_point(train, held, group)
    observed = held["loss"].to_numpy(float)
    return float(np.median(np.abs(point - observed) / observed))


def jeffreys(k: float, n: int, level: float = 0.9) -> tuple[float, float]:
    """Jeffreys interval of a binomial share (Beta(k + 1/2, n - k + 1/2) quantiles); k may be a
    sum of per-cluster shares."""
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(tail, k + 0.5, n - k + 0.5))
    high = 1.0 if k == n else float(beta.ppf(1 - tail, k + 0.5, n - k + 0.5))
    return low, high


def _one(name, frame, law, cutoff, by, group, note, extrapolation, fitted, chains, draws, warmup,
         fit_kwargs) -> tuple[dict, bl.Fit]:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = backtest(law, frame, cutoff, by=by, group=group, chains=chains, draws=draws,
                          warmup=warmup, seed=0, extrapolation=extrapolation, fitted=fitted, **fit_kwargs)
    row = result.summary().iloc[0]
    summary = {k: v.item() if hasattr(v, "item") else v for k, v in row.items() if not k.startswith("coverage_")}
    summary["coverage"] = {f"{p:g}": float(row[f"coverage_{p:g}"]) for p in result.ci_probs}
    n = summary["n_heldout"]
    inside = {f"{p:g}": int(result.table[f"inside_{p:g}"].sum()) for p in result.ci_probs}
    if "run" in frame.columns:  # checkpoints of one run share its offset: the run is the unit
        runs = frame.loc[result.table.index, "run"].to_numpy()
        n = len(set(runs))
        shares = {p: result.table.groupby(runs)[f"inside_{p}"].mean().sum() for p in inside}
    else:
        shares = inside
    summary.update(dataset=name, note=note, seconds=round(time.perf_counter() - start, 1),
                   intervals="posterior" if extrapolation is None else f"+ extrapolation ({extrapolation})",
                   divergences=result.fit.divergences,
                   sampler=result.fit.config["sampler_used"],
                   hmc_fallback=result.fit.config.get("hmc_fallback"),
                   max_r_hat=float(result.fit.diagnostics()["r_hat"].max()),
                   mean_are=float(result.table["are"].mean()),
                   n_inside=inside, n_units=n, k_units={p: float(k) for p, k in shares.items()},
                   coverage_jeffreys90={p: jeffreys(k, n) for p, k in shares.items()},
                   warnings=sorted({str(w.message).splitlines()[0][:120] for w in caught
                                    if issubclass(w.category, (bl.ConvergenceWarning, bl.DataWarning))}))
    if "run_sd" in result.fit.samples:
        summary["run_sd_median"] = float(np.median(result.fit.flat("run_sd")))
    sigma = result.fit.flat("sigma")
    summary["sigma_median"] = float(np.median(sigma))
    if "sigma_trend" in result.fit.samples:
        summary["sigma_trend"] = [float(v) for v in np.quantile(result.fit.flat("sigma_trend"), [0.05, 0.5, 0.95])]
    print(f"{name} [{summary['intervals']}]: median ARE {summary['median_are']:.2%}, "
          f"coverage {summary['coverage']}, {summary['seconds']} s", flush=True)
    return summary, result.fit


def _huber_cell(r: dict) -> str:
    value = r.get("huber_median_are")
    return "" if value is None else f"{value:.2%}"


def _noise_cell(r: dict) -> str:
    noise = r.get("noise")
    if noise is None:
        return ""
    chosen = noise["chosen"]
    if "sigma_trend" in r:
        low, mid, high = r["sigma_trend"]
        chosen = f"sigma ~ N^t, t = {mid:.2f} ({low:.2f} to {high:.2f})"
    gain = noise["elpd_diff"] if noise["best_elpd"] != "one sigma" else -noise["elpd_diff"]
    return f"{chosen}; trend's ELPD gain {gain:+.1f} ± {noise['dse']:.1f}"


def pooled(results: list[dict]) -> dict:
    """Coverage over every data set's held-out units together, per kind of interval: the only
    scale at which "within 5 points of nominal" can be judged (a data set holds out 6 to 23)."""
    by_kind: dict[str, list[dict]] = {}
    for r in results:  # "+ extrapolation (C)" and "+ extrapolation (N)" are one kind
        by_kind.setdefault(r["intervals"].split(" (")[0], []).append(r)
    out = {}
    for kind, rows in by_kind.items():
        n = sum(r["n_units"] for r in rows)
        k = {p: sum(r["k_units"][p] for r in rows) for p in rows[0]["k_units"]}
        out[kind] = {"datasets": [r["dataset"] for r in rows], "n_units": n,
                     "coverage": {p: v / n for p, v in k.items()},
                     "coverage_jeffreys90": {p: jeffreys(v, n) for p, v in k.items()}}
    return out


def markdown(results: list[dict], config: dict) -> str:
    lines = ["# Calibration backtests on real data", "",
             (f"Settings: chains={config['chains']}, draws={config['draws']}, warmup={config['warmup']}, seed 0. "
              "Goal: median ARE <= 4%, coverage within 5 points of nominal."), "",
             ("Coverage cells: empirical coverage (90% Jeffreys interval for k of n held-out runs inside). "
              "'nominal in interval' says, per level 50/80/95, whether the nominal level lies in that "
              "interval: with few held-out runs 'within 5 points' cannot be judged from the point figure. "
              "Where the held-out rows are checkpoints of training runs (pythia, porian_isoflop), the "
              "interval counts each run once (n held out gives rows and runs): its checkpoints share one "
              "run offset, so they are not independent checks. Runs of one size or one budget still "
              "share their error, so the interval is, if anything, too narrow."), "",
             ("Huber ARE: median ARE of the Huber (delta 1e-3) L-BFGS point fit (benchmarks/"
              "baseline_huber.py, coarse grid; per family where each family has >= 10 fitted rows) on "
              "the same fitted and held-out rows, for comparison with bayeslaw's predictive median."), "",
             ("Noise: the law is fitted with one noise scale and with one that follows a power of N "
              "(sigma * (N / N_ref)^t); the trend is backtested only where its PSIS-LOO ELPD on the "
              "fitted runs alone beats one scale's by more than two standard errors, else one scale is "
              "(the other model's scores are in calibration.json)."), "",
             "| data set | intervals | law | cutoff | n fit | n held out | median ARE | Huber ARE | cov 50% | cov 80% | cov 95% | nominal in interval | kappa / tau / eta | sigma | noise | divergences | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        cov, ci = r["coverage"], r["coverage_jeffreys90"]
        eta = r.get("extrapolation_eta")
        tau = "" if r["extrapolation_tau"] is None else \
            f"{r['extrapolation_kappa']:.3g} / {r['extrapolation_tau']:.3g}" + \
            ("" if eta is None else f" / {eta:.3g}")
        cells = [f"{cov[p]:.0%} ({ci[p][0]:.0%}-{ci[p][1]:.0%})" for p in ("0.5", "0.8", "0.95")]
        verdict = "/".join("yes" if ci[p][0] <= float(p) <= ci[p][1] else "no" for p in ("0.5", "0.8", "0.95"))
        held = str(r["n_heldout"]) + ("" if r["n_units"] == r["n_heldout"] else f" ({r['n_units']} runs)")
        lines.append(f"| {r['dataset']} | {r['intervals']} | {r['law']} | {r['by']} >= {r['cutoff']:g} | {r['n_train']} | "
                     f"{held} | {r['median_are']:.2%} | {_huber_cell(r)} | {' | '.join(cells)} | {verdict} | "
                     f"{tau} | {r['sigma_median']:.3g} | {_noise_cell(r)} | {r['divergences']} | {r['note']} |")
    lines += ["", ("Pooled over the data sets (each held-out unit once; units of one data set share its "
                   "fit, so the interval is, if anything, too narrow):"), "",
              "| intervals | data sets | held-out units | cov 50% | cov 80% | cov 95% | nominal in interval |",
              "|---|---|---|---|---|---|---|"]
    for kind, r in pooled(results).items():
        cov, ci = r["coverage"], r["coverage_jeffreys90"]
        cells = [f"{cov[p]:.0%} ({ci[p][0]:.0%}-{ci[p][1]:.0%})" for p in ("0.5", "0.8", "0.95")]
        verdict = "/".join("yes" if ci[p][0] <= float(p) <= ci[p][1] else "no" for p in ("0.5", "0.8", "0.95"))
        lines.append(f"| {kind} | {len(r['datasets'])} | {r['n_units']} | {' | '.join(cells)} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    config = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup}
    results = run(args.chains, args.draws, args.warmup, args.only)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = "" if not args.only else "_" + "_".join(args.only)
    report = {"config": config, "results": results, "pooled": pooled(results)}
    (OUT / f"calibration{suffix}.json").write_text(json.dumps(report, indent=2))
    (OUT / f"calibration{suffix}.md").write_text(markdown(results, config))


if __name__ == "__main__":
    main()
