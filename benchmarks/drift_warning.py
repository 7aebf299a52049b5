"""How far each data set's default fit drifts beyond its data, and whether ``bl.fit`` warns.

The extrapolation error's drift is the miss the nested fits share; one e-fold of the key beyond
the data it moves a prediction by ``offset + slope change``
(:func:`bayeslaw.infer.extrapolation_checks.drift_at_onset`). ``bl.fit`` warns where that shift
exceeds ``DRIFT_WARN`` and twice its sd. This script fits the Chinchilla law to every row of each
peer-harness data set (defaults everywhere: the false alarms a user would see) and, as the
positive control, the data-constrained law to datablations' runs at every epoch count (the law
a reviewer found drifting).

    python benchmarks/drift_warning.py [--only chinchilla,steplaw]

Writes ``results/drift_warning.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import data as pdata

import bayeslaw as bl
from bayeslaw.infer.extrapolation_checks import DRIFT_WARN, drift_at_onset

OUT = Path(__file__).resolve().parent / "results" / "drift_warning.json"
CONTROL = "datablations_data_constrained"


def _control() -> tuple[str, pd.DataFrame, None]:
    frame = pd.read_csv(pdata._data_dir() / "hitchhiker_colpret" / "datablations_final_losses.csv")
    runs = pd.DataFrame({"N": frame["N"], "D": frame["D"], "U": frame["U_unique_tokens"], "loss": frame["loss"]})
    return "data_constrained", runs, None


def cases(only: list[str] | None):
    """(name, law, runs, group) for each peer data set and the control."""
    for name, data in pdata.datasets().items():
        if only and name not in only:
            continue
        frame = pdata.load(data)
        columns = [c for c in ("N", "D", "loss", "run") if c in frame.columns] + ([data.group] if data.group else [])
        yield name, "chinchilla", frame[columns], data.group
    if not only or CONTROL in only:
        law, runs, group = _control()
        yield CONTROL, law, runs, group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated data set names")
    args = parser.parse_args()
    results = {}
    for name, law, runs, group in cases(args.only.split(",") if args.only else None):
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = bl.fit(law, runs, target="loss", group=group, seed=0, progress=False)
        error = fit.extrapolation
        if error is None or error.drift is None:
            results[name] = {"skipped": fit.config.get("extrapolation_skipped", "no drift")}
            continue
        shift, sd = drift_at_onset(error, len(fit.families))
        warned = [str(w.message) for w in caught if "misses its own larger runs" in str(w.message)]
        results[name] = {"law": law, "rows": len(runs), "families": list(fit.families),
                         "shift": shift.round(4).tolist(), "sd": sd.round(4).tolist(),
                         "warned": bool(warned), "seconds": round(time.perf_counter() - start, 1)}
        print(f"{name:32s} {law:17s} largest |shift| {np.abs(shift).max():.3f} "
              f"(sd {sd[np.abs(shift).argmax()]:.3f}) warned {bool(warned)}", flush=True)
    OUT.write_text(json.dumps({"drift_warn": DRIFT_WARN, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
