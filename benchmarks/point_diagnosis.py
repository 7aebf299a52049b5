"""Why would bayeslaw's posterior median extrapolate worse than the Huber optimum? Test, don't assume.

For a few leave-largest-out splits of ../shared/data, fit in the same run: the Huber (delta 1e-3)
L-BFGS point fit from its 18-start coarse grid (baseline_huber.py), bayeslaw's default, and
bayeslaw with a law variant (default: benchmarks/variants/chinchilla_wide_priors.toml, priors
that leave room for E near 0 with small exponents, the degenerate optima a Huber fit finds).
Prints each tool's median ARE on the held-out runs, the Huber optimum, the posterior medians of E,
alpha and beta, and writes results/point_diagnosis.json.

    python benchmarks/point_diagnosis.py [--splits steplaw_N,olmo_N,...] [--variant LAW.toml]
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

import baseline_huber as bh  # noqa: E402
import calibration_report as cr  # noqa: E402

import bayeslaw as bl  # noqa: E402

HERE = Path(__file__).resolve().parent
VARIANT = HERE / "variants" / "chinchilla_wide_priors.toml"


def steplaw() -> pd.DataFrame:
    frame = pd.read_csv(cr.DATA / "steplaw" / "dense_frontier_min_over_hparams.csv")
    return pd.DataFrame({"N": frame["N"], "D": frame["D"], "loss": frame["min_smooth_loss"]})


def gadre_c4() -> pd.DataFrame:
    frame = cr.gadre()
    return frame[frame["train_dataset"] == frame["train_dataset"].unique()[0]]


def _c(frame: pd.DataFrame) -> pd.Series:
    return 6.0 * frame["N"] * frame["D"]


#: name -> (loader, fitted rows, held-out rows)
SPLITS = {
    "chinchilla_C": (cr.chinchilla, lambda f: _c(f) < 1e20, lambda f: _c(f) >= 1e21),
    "steplaw_N": (steplaw, lambda f: f["N"] < 1e9, lambda f: f["N"] >= 1e9),
    "olmo_N": (cr.olmo_ladder, lambda f: f["N"] < 2e9, lambda f: f["N"] >= 2e9),
    "gadre_c4_N": (gadre_c4, lambda f: f["N"] < 1e9, lambda f: f["N"] >= 1e9),
}


def one(name: str, variant: Path) -> dict:
    load, fitted, held = SPLITS[name]
    frame = load().reset_index(drop=True)
    train, test = frame[fitted(frame)], frame[held(frame)]
    y = test["loss"].to_numpy()
    huber = bh.fit_huber(train["N"].to_numpy(), train["D"].to_numpy(), train["loss"].to_numpy(),
                         grid="coarse")
    out = {"split": name, "n_fit": len(train), "n_held": len(test),
           "huber": {"are": float(np.median(np.abs(bh.predict_huber(huber, test["N"], test["D"]) / y - 1))),
                     **{k: float(huber[k]) for k in ("E", "alpha", "beta")}}}
    for label, law in (("default", "chinchilla"), ("variant", str(variant))):
        fit = bl.fit(law, train, extrapolation=False)
        median = fit.predict(test[["N", "D"]])["median"].to_numpy()
        summary = fit.summary().reset_index()
        medians = {p: float(summary.loc[summary["parameter"] == p, "median"].iloc[0])
                   for p in ("E", "alpha", "beta")}
        out[label] = {"are": float(np.median(np.abs(median / y - 1))), **medians,
                      "r_hat": float(fit.diagnostics()["r_hat"].max())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--variant", default=str(VARIANT))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    results = []
    for name in args.splits.split(","):
        r = one(name, Path(args.variant))
        results.append(r)
        print(f"{name}: ARE huber {r['huber']['are']:.2%} (E {r['huber']['E']:.3g}, alpha "
              f"{r['huber']['alpha']:.3f}), default {r['default']['are']:.2%} (E {r['default']['E']:.3g}), "
              f"variant {r['variant']['are']:.2%} (E {r['variant']['E']:.3g})", flush=True)
    out = HERE / "results" / "point_diagnosis.json"
    out.write_text(json.dumps({"variant": args.variant, "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
