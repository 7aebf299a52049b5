"""Why would bayeslaw's posterior median extrapolate worse than the Huber optimum? Test, don't assume.

For a few leave-largest-out splits of ../shared/data, fit in the same run: the Huber (delta 1e-3)
L-BFGS point fit from its 18-start coarse grid (baseline_huber.py), bayeslaw's default, and
bayeslaw with law variants: ``wide`` (benchmarks/variants/chinchilla_wide_priors.toml, priors that
leave room for E near 0 with small exponents, the degenerate optima a Huber fit finds) and
``normal`` (benchmarks/variants/chinchilla_normal.toml, Normal instead of Student-t noise) and
``df2`` (benchmarks/variants/chinchilla_df2.toml, Student-t with df held near 2). For
each bayeslaw fit three point predictions of the law are scored: the posterior median (what
``predict`` gives), the posterior mean, and the law at the posterior draw of highest likelihood
(a stand-in for the likelihood's optimum on the posterior's ridge, the point a Huber fit seeks).
Prints the median AREs on the held-out runs, the Huber optimum and posterior medians of E, alpha,
beta and the Student-t df, and writes results/<out>.json.

    python benchmarks/point_diagnosis.py [--splits steplaw_N,olmo_N,...] [--out point_diagnosis]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_huber as bh
import calibration_report as cr

import bayeslaw as bl

HERE = Path(__file__).resolve().parent
VARIANTS = {"default": "chinchilla",
            "wide": str(HERE / "variants" / "chinchilla_wide_priors.toml"),
            "normal": str(HERE / "variants" / "chinchilla_normal.toml"),
            "df2": str(HERE / "variants" / "chinchilla_df2.toml")}


def steplaw() -> pd.DataFrame:
    frame = pd.read_csv(cr.DATA / "steplaw" / "dense_frontier_min_over_hparams.csv")
    return pd.DataFrame({"N": frame["N"], "D": frame["D"], "loss": frame["min_smooth_loss"]})


def gadre_c4() -> pd.DataFrame:
    frame = cr.gadre()
    return frame[frame["train_dataset"] == frame["train_dataset"].unique()[0]]


def pythia_finals() -> pd.DataFrame:
    """Pythia's final checkpoints (LAMBADA log-ppl, standard and deduped): one D for every run."""
    frame = cr.pythia()
    return frame.sort_values("D").groupby("run").tail(1)[["N", "D", "loss"]]


def _c(frame: pd.DataFrame) -> pd.Series:
    return 6.0 * frame["N"] * frame["D"]


#: name -> (loader, fitted rows, held-out rows)
SPLITS = {
    "chinchilla_C": (cr.chinchilla, lambda f: _c(f) < 1e20, lambda f: _c(f) >= 1e21),
    "steplaw_N": (steplaw, lambda f: f["N"] < 1e9, lambda f: f["N"] >= 1e9),
    "olmo_N": (cr.olmo_ladder, lambda f: f["N"] < 2e9, lambda f: f["N"] >= 2e9),
    "gadre_c4_N": (gadre_c4, lambda f: f["N"] < 1e9, lambda f: f["N"] >= 1e9),
    "pythia_final_N": (pythia_finals, lambda f: f["N"] < 2e9, lambda f: f["N"] >= 2e9),
}


def _are(point: np.ndarray, y: np.ndarray) -> float:
    return float(np.median(np.abs(point / y - 1)))


def one(name: str) -> dict:
    load, fitted, held = SPLITS[name]
    frame = load().reset_index(drop=True)
    train, test = frame[fitted(frame)], frame[held(frame)]
    y = test["loss"].to_numpy()
    huber = bh.fit_huber(train["N"].to_numpy(), train["D"].to_numpy(), train["loss"].to_numpy(),
                         grid="coarse")
    out = {"split": name, "n_fit": len(train), "n_held": len(test),
           "huber": {"are": _are(bh.predict_huber(huber, test["N"], test["D"]), y),
                     **{k: float(huber[k]) for k in ("E", "alpha", "beta")}}}
    for label, law in VARIANTS.items():
        fit = bl.fit(law, train, extrapolation=False)
        draws = fit.predictive_draws(test[["N", "D"]], kind="law")  # (S, R), the law's value
        loglik = fit.log_likelihood()
        best = int(np.argmax(loglik.reshape(-1, loglik.shape[-1]).sum(axis=1)))
        summary = fit.summary().reset_index()
        medians = {p: float(summary.loc[summary["parameter"] == p, "median"].iloc[0])
                   for p in ("E", "alpha", "beta", "df") if (summary["parameter"] == p).any()}
        out[label] = {"are": _are(np.median(draws, axis=0), y), "are_mean": _are(draws.mean(axis=0), y),
                      "are_maxlik": _are(draws[best], y), **medians,
                      "r_hat": float(fit.diagnostics()["r_hat"].max())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--out", default="point_diagnosis", help="results/<out>.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    results = []
    for name in args.splits.split(","):
        r = one(name)
        results.append(r)
        cells = ", ".join(f"{k} {r[k]['are']:.2%} / {r[k]['are_mean']:.2%} / {r[k]['are_maxlik']:.2%} "
                          f"(E {r[k]['E']:.3g})" for k in VARIANTS)
        print(f"{name}: ARE huber {r['huber']['are']:.2%} (E {r['huber']['E']:.3g}, alpha "
              f"{r['huber']['alpha']:.3f}); median / mean / max-likelihood draw: {cells}", flush=True)
    out = HERE / "results" / f"{args.out}.json"
    out.write_text(json.dumps({"variants": VARIANTS, "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
