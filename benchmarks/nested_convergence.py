"""Do the extrapolation error's nested fits converge? R-hat, bulk ESS and time by leapfrog steps.

For each data set and split of the peer harness, the training runs are fitted once by ``bl.fit``
(defaults, no extrapolation error), then the default nested fits
(:func:`bayeslaw.infer.nested_fits.nested_fits`, the cutoffs ``bl.fit`` uses) are run for each
seed given (two by default) at each number of mean leapfrog steps per iteration given. Per
nested fit: its runs, its largest R-hat over the sampled quantities (run effects of runs it does
not fit left out, as :func:`~bayeslaw.infer.nested_fits.max_r_hat` does), the smallest bulk ESS
over its quantities but the run effects, and its divergences; per call: the full fit's sampler
and the wall time (the first call of each setting includes compilation).

    python benchmarks/nested_convergence.py [--only chinchilla,olmo_ladder] [--splits C]
        [--steps 16,128] [--seeds 0,1] [--out nested_convergence]

Writes ``results/NAME.json``.
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

import bayeslaw as bl
from bayeslaw.infer import nested_fits as nf
from bayeslaw.infer.extrapolation import nested_cutoffs, snap_keys
from bayeslaw.results.diagnostics import diagnose
from bayeslaw.results.sizes import key_values


def nested_table(fit, steps: int, seed: int) -> dict:
    """One call of the nested fits at ``steps``: per nested fit runs, R-hat, ESS, divergences."""
    keys = snap_keys(key_values(fit.table.inputs, "C"))
    masks = np.stack([keys < c for c in nested_cutoffs(keys, 5)])
    nf.STEPS = steps
    start = time.perf_counter()
    fits = nf.nested_fits(fit, masks, seed=seed)
    seconds = time.perf_counter() - start
    rows = []
    for nested, mask in zip(fits, masks):
        ess = diagnose({k: v for k, v in nested.samples.items() if k != "run_z"})["ess_bulk"]
        rows.append({"runs": int(mask.sum()), "r_hat": nested.config["max_r_hat"],
                     "ess_bulk": float(ess.min()),
                     "divergences": int(nested.sample_stats["diverging"].sum())})
    return {"steps": steps, "seed": seed, "seconds": seconds, "nested": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated data sets (default: all)")
    parser.add_argument("--splits", default="C", help="comma-separated splits (default C)")
    parser.add_argument("--steps", default="16,128", help="comma-separated mean leapfrog steps")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds of the nested fits")
    parser.add_argument("--out", default="nested_convergence")
    options = parser.parse_args()
    warnings.simplefilter("ignore")
    catalogue = pdata.datasets()
    names = options.only.split(",") if options.only else list(catalogue)
    record = {"command": "python benchmarks/nested_convergence.py " + " ".join(sys.argv[1:]), "results": []}
    default_steps = nf.STEPS
    for name in names:
        data = catalogue[name]
        frame = pdata.load(data)
        for split_name in options.splits.split(","):
            split = pdata.make_split(frame, pdata.SPLITS[split_name])
            if split.skip:
                continue
            train = split.train
            group = data.group if data.group and train[data.group].nunique() > 1 else None
            fit = bl.fit("chinchilla", train, group=group, seed=0, extrapolation=False, progress=False)
            for steps in (int(s) for s in options.steps.split(",")):
                for seed in (int(s) for s in options.seeds.split(",")):
                    row = {"dataset": name, "split": split_name, "sampler_used": fit.config["sampler_used"],
                           **nested_table(fit, steps, seed)}
                    record["results"].append(row)
                    print(name, split_name, row["sampler_used"], steps, seed, f"{row['seconds']:.1f} s",
                          [(r["runs"], round(r["r_hat"], 3), int(r["ess_bulk"]), r["divergences"])
                           for r in row["nested"]], flush=True)
    nf.STEPS = default_steps
    path = Path(__file__).resolve().parent / "results" / f"{options.out}.json"
    path.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
