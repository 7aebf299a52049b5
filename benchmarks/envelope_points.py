"""Is the chinchilla package's point better because it fits the lower envelope of the runs?

kyo-takano's ``chinchilla`` fits ``E + A/N^alpha + B/D^beta`` by an asymmetric absolute error that
weighs a run below the law ten times one above it: a fit near the runs' 1/11 quantile, their lower
envelope. In the peer harness (``results/peer_harness_all.md``) its point is the best on many
splits. Hypothesis: held-out large runs sit near the envelope of the small ones (small runs carry
a one-sided inefficiency that large, better-tuned runs lack), so a fit of a lower quantile of
log loss extrapolates better than the median.

Test: on every split of the harness, the Huber baseline's multi-start L-BFGS fit (delta 1e-3 on
log loss, per family, the coarse grid) with the Huber terms of runs above the law weighted
``2 tau`` and of runs below ``2 (1 - tau)`` (``baseline_huber.fit_huber(..., tau=)``): a smoothed
quantile fit of log loss at ``tau`` (0.5 is the Huber fit). Median ARE on the held-out units, and its signed counterpart
(negative: under-predicted), beside the harness's bayeslaw and chinchilla-package rows.

    python benchmarks/envelope_points.py [--only chinchilla,datablations] [--taus 0.1,0.25,0.5]
        [--out envelope_points]

Writes ``results/NAME.json`` and ``results/NAME.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline_huber as bh
from peers import data as pdata
from peers.tools import _families

RESULTS = Path(__file__).resolve().parent / "results"
HARNESS = RESULTS / "peer_harness_all.json"


def harness_are() -> dict:
    """(data set, split, tool) -> median ARE (%) from the merged harness table, if present."""
    if not HARNESS.exists():
        return {}
    rows = json.loads(HARNESS.read_text())["results"]
    return {(r["dataset"], r["split"], r["tool"]): 100 * r["median_are"] for r in rows if "median_are" in r}


def quantile_points(train, test, group, tau: float) -> np.ndarray:
    """The tau-quantile Huber fit's law at the held-out rows, one fit per family (as the harness's
    Huber rows)."""
    point = np.empty(len(test))
    for sub, mask in _families(train, test, group):
        params = bh.fit_huber(sub["N"], sub["D"], sub["loss"], grid="coarse", tau=tau)
        held = test.loc[mask]
        point[mask] = bh.predict_huber(params, held["N"].astype(float), held["D"].astype(float))
    return point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated data sets (default: all)")
    parser.add_argument("--taus", default="0.1,0.25,0.5")
    parser.add_argument("--out", default="envelope_points")
    options = parser.parse_args()
    taus = [float(t) for t in options.taus.split(",")]
    known = harness_are()
    rows = []
    for name, data, split_name, _, split in pdata.scored_splits(options.only):
        observed = split.test["loss"].to_numpy(float)
        row = {"dataset": name, "split": split_name, "held_out": len(observed)}
        for tau in taus:
            error = quantile_points(split.train, split.test, data.group, tau) / observed - 1.0
            row[f"are_{tau:g}"] = float(100 * np.median(np.abs(error)))
            row[f"bias_{tau:g}"] = float(100 * np.median(error))
        for tool in ("bayeslaw", "chinchilla_pkg"):
            row[tool] = known.get((name, split_name, tool))
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {"command": " ".join(["python benchmarks/envelope_points.py", *sys.argv[1:]]), "taus": taus,
              "rows": rows}
    (RESULTS / f"{options.out}.json").write_text(json.dumps(record, indent=1))
    (RESULTS / f"{options.out}.md").write_text(markdown(record))


def markdown(record: dict) -> str:
    """Per-split table and a summary: splits where each quantile fit is best, median over splits."""
    taus, rows = record["taus"], record["rows"]
    cols = [f"q{t:g}" for t in taus]
    lines = [(f"# Lower-envelope point fits\n\nCommand: `{record['command']}`. Median ARE (%) on the "
              "held-out units; signed median error in brackets (negative: under-predicted).\n"),
             "| data set | split | " + " | ".join(cols) + " | bayeslaw (harness) | chinchilla_pkg (harness) |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    for r in rows:
        cells = [f"{r[f'are_{t:g}']:.2f} ({r[f'bias_{t:g}']:+.2f})" for t in taus]
        extra = ["" if r[t] is None else f"{r[t]:.2f}" for t in ("bayeslaw", "chinchilla_pkg")]
        lines.append(f"| {r['dataset']} | {r['split']} | " + " | ".join(cells + extra) + " |")
    ares = np.array([[r[f"are_{t:g}"] for t in taus] for r in rows])
    best = np.bincount(np.argmin(ares, axis=1), minlength=len(taus))
    lines += ["", "| fit | splits best among the quantile fits | median ARE over splits |", "|---|---|---|"]
    for j, col in enumerate(cols):
        lines.append(f"| {col} | {best[j]} of {len(rows)} | {np.median(ares[:, j]):.2f}% |")
    for tool in ("bayeslaw", "chinchilla_pkg"):
        values = [r[tool] for r in rows if r[tool] is not None]
        if values:
            lines.append(f"| {tool} (harness) | | {np.median(values):.2f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
