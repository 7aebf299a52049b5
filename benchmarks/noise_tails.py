"""A new run's Student-t noise, untruncated or truncated at the fitted runs' largest residual.

One default fit per peer-harness split (``bl.fit``'s settings, extrapolation error included);
the held-out runs' observed-kind draws are taken twice from the same posterior: with the noise
the library draws (the t truncated at the largest standardized residual of the fitted runs,
at least ``MIN_NOISE_BOUND`` scales) and with the t's whole tail (the bound set to none), each
under three seeds, since the untruncated tail makes single draws wild. Scores are the harness's
(``peers.metrics.score``); the largest draw over the observed loss shows the tail.

    python benchmarks/noise_tails.py chinchilla,olmo_ladder,steplaw,gadre_overtraining,datablations

Writes ``results/noise_tails.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import data as pdata
from peers.metrics import LEVELS, score

import bayeslaw as bl

OUT = Path(__file__).resolve().parent / "results" / "noise_tails.json"
SEEDS = (0, 1, 2)
VARIANTS = ("truncated", "untruncated")


def draws_of(fit, rows, variant: str, seed: int) -> np.ndarray:
    """Observed-kind draws of ``rows``; ``untruncated`` overrides the fit's cached noise bound."""
    saved = fit.__dict__.pop("_noise_bound", None)
    if variant == "untruncated":
        fit.__dict__["_noise_bound"] = None
    try:
        return np.asarray(fit.predictive_draws(rows, kind="observed", seed=seed))
    finally:
        fit.__dict__.pop("_noise_bound", None)
        if saved is not None:
            fit.__dict__["_noise_bound"] = saved


def run_split(name: str, split: str) -> list[dict]:
    data = pdata.datasets()[name]
    sp = pdata.make_split(pdata.load(data), pdata.SPLITS[split])
    if sp.skip:
        return []
    group = data.group if data.group and sp.train[data.group].nunique() > 1 else None
    rows = sp.test[["N", "D"] + ([group] if group else [])]
    observed = sp.test["loss"].to_numpy(float)
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bl.fit("chinchilla", sp.train, group=group, seed=0, progress=False)
    seconds = time.time() - started
    df = np.asarray(fit.flat("df")) if "df" in fit.samples else np.array([np.nan])
    out = []
    for variant in VARIANTS:
        for seed in SEEDS:
            draws = draws_of(fit, rows, variant, seed)
            intervals = {lv: tuple(np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2], axis=0)) for lv in LEVELS}
            sc = score({"point": np.median(draws, axis=0), "intervals": intervals, "draws": draws}, observed)
            out.append({"dataset": name, "split": split, "variant": variant, "seed": seed,
                        "units": len(observed), "df_median": float(np.median(df)), "fit_seconds": seconds,
                        "max_draw_over_loss": float(np.max(draws / observed)),
                        **{k: sc[k] for k in ("median_are", "coverage", "interval_score", "crps")}})
            r = out[-1]
            print(f"{name} {split} {variant} seed {seed}: ARE {100 * r['median_are']:.2f}% IS80 "
                  f"{r['interval_score']['0.8']:.2f} IS95 {r['interval_score']['0.95']:.2f} CRPS "
                  f"{r['crps']:.3g} max/loss {r['max_draw_over_loss']:.3g} (df {r['df_median']:.1f})", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", help="comma-separated data sets of peer_harness.py")
    args = parser.parse_args(argv)
    rows = [r for name in args.datasets.split(",") for split in pdata.SPLITS for r in run_split(name, split)]
    OUT.write_text(json.dumps({"config": {"datasets": args.datasets, "seeds": list(SEEDS)}, "results": rows},
                              indent=1))


if __name__ == "__main__":
    main()
