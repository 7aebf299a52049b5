"""Several families in one fit: the library's hierarchy against fitting them apart, same splits.

The peer harness's point-fit tools fit each family of a multi-family data set on its own, and on
gadre_overtraining they beat bayeslaw's joint fit. This asks which part of the joint fit costs
the accuracy, on the harness's splits and scores (``peer_harness.run_harness`` with extra
tools), each variant a plain ``bl.fit`` call:

* ``bayeslaw``: the default (the law's pooling: exponents shared, offsets partially pooled; one
  noise scale; one extrapolation error with a drift per family);
* ``bl_auto``: ``pooling="auto"`` (opt-in: every law parameter per family where the nested refits
  extrapolate clearly better so, see :mod:`bayeslaw.infer.pooling_choice`);
* ``bl_separate``: one default fit per family (each with its own noise and extrapolation error);
* ``bl_partial_exp``: exponents partially pooled too;
* ``bl_partial_all``: exponents and the noise scale partially pooled;
* ``bl_none``: every law parameter per family (no pooling) in one fit, one noise scale and one
  extrapolation error (what ``bl_auto`` chooses when it fits families apart);
* ``bl_none_sigma``: as ``bl_none`` with a noise scale per family;
* ``huber_resid``: the harness's Huber + residual bootstrap, per family.

    python benchmarks/family_variants.py gadre_overtraining N,C,C-gap \\
        bayeslaw,huber_resid,bl_separate,bl_partial_exp,bl_none,bl_none_sigma,bl_partial_all

Writes ``results/family_variants.json`` (the harness's report: results, config, summary).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_harness import run_harness
from peers.tools import bayeslaw_default

OUT = Path(__file__).resolve().parent / "results" / "family_variants.json"
LAW_PARAMS = ("E", "a", "b", "alpha", "beta")


def separate(train, test, ctx) -> dict:
    """One default bayeslaw fit per family; its held-out rows predicted by their family's fit."""
    point, intervals, draws, seconds, info = np.full(len(test), np.nan), {}, None, 0.0, {}
    for key, sub in train.groupby(ctx.group):
        mask = (test[ctx.group] == key).to_numpy()
        if not mask.any():
            continue
        out = bayeslaw_default(sub, test[mask], replace(ctx, group=None, cache={}))
        point[mask] = out["point"]
        for level, (lower, upper) in out["intervals"].items():
            both = intervals.setdefault(level, (np.full(len(test), np.nan), np.full(len(test), np.nan)))
            both[0][mask], both[1][mask] = lower, upper
        if draws is None:
            draws = np.full((out["draws"].shape[0], len(test)), np.nan)
        draws[:, mask] = out["draws"]
        seconds += out["seconds"]
        info[str(key)] = out["info"]
    return {"point": point, "intervals": intervals, "draws": draws, "seconds": seconds, "info": info}


def pooled(spec: dict | str):
    """The default tool with ``pooling=spec``."""
    def tool(train, test, ctx):
        return bayeslaw_default(train, test, replace(ctx, bayeslaw_kwargs={"pooling": spec}))
    return tool


NONE = {p: "none" for p in LAW_PARAMS}
VARIANTS = {"bl_auto": pooled("auto"),
            "bl_separate": separate,
            "bl_partial_exp": pooled({"alpha": "partial", "beta": "partial"}),
            "bl_partial_all": pooled({"alpha": "partial", "beta": "partial", "sigma": "partial"}),
            "bl_none": pooled(NONE),
            "bl_none_sigma": pooled({**NONE, "sigma": "none"})}


def main(argv: list[str]) -> dict:
    datasets, splits, tools = (a.split(",") for a in argv[:3])
    report = run_harness(datasets=datasets, splits=splits, tools=tools, extra_tools=VARIANTS)
    report["config"]["command"] = "python benchmarks/family_variants.py " + " ".join(argv)
    OUT.write_text(json.dumps(report, indent=1, default=str))
    for r in report["results"]:
        if "skip" not in r:
            print(f"{r['dataset']} / {r['split']} / {r['tool']}: ARE {r['median_are']:.2%}, IS80 "
                  f"{r['interval_score']['0.8']:.1f}, IS95 {r['interval_score']['0.95']:.1f}")
    return report


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
