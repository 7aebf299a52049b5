"""The extrapolation error's drift on the peer-harness splits, against the zero-mean error.

One default fit per split (``bl.fit``'s settings, extrapolation off), one set of nested residuals;
the extrapolation error is then built without the drift (``none``, the error before it) and with
it (``drift``, the default), and the same held-out runs are scored by the harness's metrics.

Usage: ``python benchmarks/drift_variants.py DATASETS [none,drift]`` (comma-separated data sets of
``peer_harness.py``); writes ``results/drift_variants.json``.
"""
import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from peers import data as pdata
from peers.metrics import score

import bayeslaw as bl
from bayeslaw.infer import extrapolation as ex
from bayeslaw.infer import extrapolation_posterior as post
from bayeslaw.results.extrapolation_error import ExtrapolationErrorModel, key_values, tilt_values

LEVELS = (0.5, 0.8, 0.95)
only = sys.argv[1].split(",")
variants = sys.argv[2].split(",") if len(sys.argv) > 2 else ["none", "drift"]
out = []
cat = pdata.datasets()
for name in only:
    d = cat[name]; frame = pdata.load(d)
    for sname, sdef in pdata.SPLITS.items():
        sp = pdata.make_split(frame, sdef)
        if sp.skip: continue
        group = d.group if d.group and sp.train[d.group].nunique() > 1 else None
        cols = ["N", "D"] + ([group] if group else [])
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bl.fit("chinchilla", sp.train, group=group, seed=0, extrapolation=False, progress=False)
            pts = ex.nested_residuals(fit, by="C")
        keys = key_values(fit.table.inputs, "C"); tilts = tilt_values(fit.table.inputs, "C")
        deff = post.effective_distances(pts, ex.span(keys))
        obs = sp.test["loss"].to_numpy(float)
        for v in variants:
            mode = {"none": False, "drift": True}[v]
            res = post.shared_error_posterior(pts["residual"].to_numpy(), pts["scale"].to_numpy(), deff,
                                              pts["tilt"].to_numpy(float), pts["cutoff"].to_numpy(),
                                              drift=mode)
            w, m, c = res if mode else (res, None, None)
            err = ExtrapolationErrorModel("C", float(np.log(keys.max())), w, len(pts), tuple(pts["cutoff"].unique()),
                                          float(np.median(tilts)), m, c)
            f2 = replace(fit, config={**fit.config, "extrapolation": err.to_dict()})
            rows = sp.test[cols]
            intervals = {}
            for level in LEVELS:
                p = f2.predict(rows, kind="observed", ci_prob=level, seed=0)
                intervals[level] = (p["lower"].to_numpy(), p["upper"].to_numpy()); point = p["median"].to_numpy()
            draws = f2.predictive_draws(rows, kind="observed", seed=0)
            sc = score({"point": point, "intervals": intervals, "draws": np.asarray(draws)}, obs)
            row = {"dataset": name, "split": sname, "variant": v, "drift": None if m is None else [float(x) for x in m],
                   **{k: sc[k] for k in ("median_are", "coverage", "interval_score", "crps")}}
            print(name, sname, v, "ARE %.2f" % (100 * row["median_are"]), "IS", {k: round(x, 2) for k, x in row["interval_score"].items()},
                  "cov", {k: round(x, 2) for k, x in row["coverage"].items()}, "drift", row["drift"], flush=True)
            out.append(row)
        print("  split seconds", round(time.time() - t0, 1), flush=True)
(Path(__file__).resolve().parent / "results" / "drift_variants.json").write_text(json.dumps(out, indent=1))
