"""Can the data say which side of the runs to fit? A skewed noise model and a nested choice of quantile.

``envelope_points.py`` found that no one quantile of log loss extrapolates best on every split:
the runs' lower envelope (tau 0.1, kyo-takano's ``chinchilla``) wins on porian and pythia, the
median (Huber) on gadre and the gap splits. Two ways a tool could learn the side from the fitted
runs alone, tested on every split of the peer harness with the Huber baseline's multi-start fit:

- **A skewed noise model**: log loss = law + Normal(0, s) + Exponential(K s), the law a frontier
  that runs reach up to Gaussian noise and exceed by a one-sided inefficiency (an exponentially
  modified Gaussian, fitted by maximum likelihood from the Huber optimum). If small runs carry an
  inefficiency the large ones lack, the frontier (``emg_front``) should extrapolate like the
  envelope where the training residuals are right-skewed and like the median where they are not;
  ``emg_median`` is the fitted distribution's median. ``skew``: Bowley's quantile skewness of the
  Huber fit's training residuals, (q90 + q10 - 2 q50) / (q90 - q10).
- **A nested choice of tau**: the split's own rule applied again to the fitted rows (hold out the
  top quarter by the same key), the tau of {0.1, 0.25, 0.5} with the lowest nested median ARE
  chosen (0.5 where the nested split is too small) and scored on the real held-out runs.

    python benchmarks/skewed_noise.py [--only chinchilla,porian_isoflop] [--out skewed_noise]

Writes ``results/NAME.json`` and ``results/NAME.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.stats import exponnorm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline_huber as bh
from envelope_points import harness_are, quantile_points
from peers import data as pdata
from peers.tools import _families

RESULTS = Path(__file__).resolve().parent / "results"
TAUS = (0.1, 0.25, 0.5)
COLUMNS = ("q0.1", "q0.25", "q0.5", "emg_front", "emg_median", "nested_tau")
#: the harness rows shown beside them (``results/peer_harness_all.json``), not rerun here
HARNESS_TOOLS = ("bayeslaw", "chinchilla_pkg")


def emg_fit(n, d, y, init: dict) -> tuple[dict, float, float]:
    """Maximum-likelihood frontier law, Gaussian sd ``s`` and exponential shape ``K`` (scale K s)."""
    log_n, log_d, log_y = np.log(n), np.log(d), np.log(y)
    scale0 = max(float(np.std(log_y - np.log(bh.predict_huber(init, n, d)))), 1e-3)

    def nll(x):
        a, b, e, alpha, beta = x[:5]
        law = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)
        value = -exponnorm.logpdf(log_y - law, np.exp(x[6]), loc=0.0, scale=np.exp(x[5])).sum()
        return value if np.isfinite(value) else 1e10

    best = None
    for log_k in (-3.0, 0.0, 1.0):
        x0 = np.r_[bh._params_to_theta(init), np.log(scale0), log_k]
        res = minimize(nll, x0, method="Nelder-Mead", options={"maxiter": 8000, "xatol": 1e-7, "fatol": 1e-9})
        res = minimize(nll, res.x, method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    return bh._theta_to_params(best.x[:5]), float(np.exp(best.x[5])), float(np.exp(best.x[6]))


def are(point, test) -> float:
    return float(100 * np.median(np.abs(point / test["loss"].to_numpy(float) - 1.0)))


def score_split(split, definition, group) -> dict:
    row = {f"q{t:g}": are(quantile_points(split.train, split.test, group, t), split.test) for t in TAUS}
    front, median, skews, shapes = np.empty(len(split.test)), np.empty(len(split.test)), [], []
    for sub, mask in _families(split.train, split.test, group):
        n, d, y = (sub[c].to_numpy(float) for c in ("N", "D", "loss"))
        start = bh.fit_huber(n, d, y, grid="coarse")
        q10, q50, q90 = np.quantile(np.log(y) - np.log(bh.predict_huber(start, n, d)), [0.1, 0.5, 0.9])
        skews.append((q90 + q10 - 2 * q50) / max(q90 - q10, 1e-12))
        params, scale, shape = emg_fit(n, d, y, start)
        shapes.append(shape)
        held = split.test.loc[mask]
        front[mask] = bh.predict_huber(params, held["N"].to_numpy(float), held["D"].to_numpy(float))
        median[mask] = front[mask] * np.exp(exponnorm.median(shape, loc=0.0, scale=scale))
    row.update(emg_front=are(front, split.test), emg_median=are(median, split.test),
               skew=float(np.mean(skews)), K=float(np.median(shapes)))
    inner = pdata.make_split(split.train.reset_index(drop=True), pdata.SplitDef("inner", definition.key))
    nested = {} if inner.skip else {t: are(quantile_points(inner.train, inner.test, group, t), inner.test)
                                    for t in TAUS}
    row["tau_chosen"] = min(nested, key=nested.get) if nested else 0.5
    row["nested_tau"] = row[f"q{row['tau_chosen']:g}"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated data sets (default: all)")
    parser.add_argument("--out", default="skewed_noise")
    options = parser.parse_args()
    known = harness_are()
    rows = []
    for name, data, split_name, definition, split in pdata.scored_splits(options.only):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflowing starts are discarded
            row = {"dataset": name, "split": split_name, **score_split(split, definition, data.group)}
        row.update({tool: known.get((name, split_name, tool)) for tool in HARNESS_TOOLS})
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {"command": " ".join(["python benchmarks/skewed_noise.py", *sys.argv[1:]]), "rows": rows}
    (RESULTS / f"{options.out}.json").write_text(json.dumps(record, indent=1))
    (RESULTS / f"{options.out}.md").write_text(markdown(record))


def markdown(record: dict) -> str:
    """Per-split median ARE (%) of each point, and a summary over the splits."""
    rows = record["rows"]
    lines = [f"# Skewed noise and a nested choice of quantile\n\nCommand: `{record['command']}`. Median ARE (%) "
             "on the held-out units.\n",
             "| data set | split | " + " | ".join(COLUMNS) + " | tau chosen | skew | K | "
             + " | ".join(f"{t} (harness)" for t in HARNESS_TOOLS) + " |",
             "|---|---|" + "---|" * (len(COLUMNS) + 3 + len(HARNESS_TOOLS))]
    for r in rows:
        cells = [f"{r[c]:.2f}" for c in COLUMNS] + [f"{r['tau_chosen']:g}", f"{r['skew']:+.2f}", f"{r['K']:.3g}"]
        cells += ["" if r.get(t) is None else f"{r[t]:.2f}" for t in HARNESS_TOOLS]
        lines.append(f"| {r['dataset']} | {r['split']} | " + " | ".join(cells) + " |")
    table = np.array([[r[c] for c in COLUMNS] for r in rows])
    best = table.min(axis=1, keepdims=True)
    lines += ["", "| point | median ARE over splits | within 1.1x of the best of these on |", "|---|---|---|"]
    for j, col in enumerate(COLUMNS):
        lines.append(f"| {col} | {np.median(table[:, j]):.2f}% | {int(np.sum(table[:, j] <= 1.1 * best[:, 0]))} "
                     f"of {len(rows)} |")
    for tool in HARNESS_TOOLS:
        values = [r[tool] for r in rows if r.get(tool) is not None]
        if values:
            lines.append(f"| {tool} (harness) | {np.median(values):.2f}% | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
