"""What ``pooling="auto"`` sees: each pooling candidate's extrapolation evidence on the harness's splits.

For every split of the multi-family data sets, the training runs are fitted under each pooling
candidate and scored as :mod:`bayeslaw.infer.pooling_choice` scores them: the log evidence of the
nested leave-largest-out refits' held-out runs (:func:`bayeslaw.infer.extrapolation.measure`).
The nested fits sit at the mode, so the fits here draw only a few MCMC samples (the evidence does
not use them). Candidates: ``law`` (the law's pooling: exponents shared, offsets partial),
``apart`` (every law parameter per family) and ``partial`` (exponents partially pooled too, not a
candidate of the library; for comparison). The held-out scores of the ``law`` and ``apart`` fits
come from the peer harness and ``family_variants.py`` (``bl_none``).

    python benchmarks/pooling_evidence.py gadre_overtraining,porian_isoflop,pythia N,C,N-gap,C-gap [OUT]

Writes ``results/OUT.json`` (default ``pooling_evidence``).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import data as pdata

import bayeslaw as bl
from bayeslaw.infer import pooling_choice
from bayeslaw.infer.extrapolation import measure

RESULTS = Path(__file__).resolve().parent / "results"
LAW_PARAMS = ("E", "a", "b", "alpha", "beta")
CANDIDATES = {"law": {}, "apart": {p: "none" for p in LAW_PARAMS},
              "partial": {"alpha": "partial", "beta": "partial"}}
#: the evidence needs the plan and the runs only: a few draws make the fit object
TINY = {"chains": 1, "warmup": 20, "draws": 20, "seed": 0, "progress": False, "extrapolation": False}


def evidence(train, group: str, pooling: dict) -> float:
    """Log evidence of the nested refits' held-out runs for one pooling (key C, as the default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bl.fit("chinchilla", train, group=group, pooling=pooling, **TINY)
        return float(measure(fit, by="C")[1])


def main(argv: list[str]) -> list[dict]:
    datasets, splits = (a.split(",") for a in argv[:2])
    catalogue, rows = pdata.datasets(), []
    for name in datasets:
        data = catalogue[name]
        frame = pdata.load(data)
        for split_name in splits:
            split = pdata.make_split(frame, pdata.SPLITS[split_name])
            if split.skip:
                continue
            ev = {label: evidence(split.train, data.group, pooling) for label, pooling in CANDIDATES.items()}
            chosen = "apart" if ev["apart"] > ev["law"] + pooling_choice.MARGIN else "law"
            rows.append({"dataset": name, "split": split_name, "log_evidence": ev, "auto_chooses": chosen})
            print(f"{name} / {split_name}: " + ", ".join(f"{k} {v:.1f}" for k, v in ev.items())
                  + f" -> {chosen}", flush=True)
    out = RESULTS / f"{argv[2] if len(argv) > 2 else 'pooling_evidence'}.json"
    out.write_text(json.dumps({"command": "python benchmarks/pooling_evidence.py " + " ".join(argv),
                               "margin": pooling_choice.MARGIN, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    main(sys.argv[1:])
