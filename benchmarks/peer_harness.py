"""Peer comparison: bayeslaw's default fit-and-predict against the tools a user would pick instead.

On every data set of ../shared/data with a loss law (calibration_report's six, steplaw, and GPT-3's
and OPT's training curves), each fixed leave-largest-out split of :data:`peers.data.SPLITS` (by N
and by C, without and with a 10x gap) is fitted by each tool, and the held-out runs are scored:
median ARE of the point prediction, coverage at 50/80/95%, relative interval score at 80/95%,
CRPS where the tool gives draws, wall time. Writes benchmarks/results/<out>.json and <out>.md.

    python benchmarks/peer_harness.py [--only chinchilla,gadre_overtraining] [--splits N,C,N-gap,C-gap]
        [--tools bayeslaw,huber,huber_resid,ssl,chinchilla_pkg] [--quick] [--bayeslaw-kwargs JSON]

From Python (e.g. to score a model change on a subset)::

    from peer_harness import run_harness
    report = run_harness(datasets=["chinchilla"], splits=["N"], tools=["bayeslaw", "huber"],
                         bayeslaw_kwargs={"noise_trend": "N"}, quick=True)

simple-scaling-laws and chinchilla (PyPI) run in their own interpreter ($BAYESLAW_PEER_PYTHON, or a
``peervenv312`` virtual environment beside the repository: ``python3.12 -m venv peervenv312;
peervenv312/bin/pip install simple-scaling-laws==0.2 chinchilla==0.2``); without it they are
skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import data as pdata
from peers.metrics import score
from peers.report import markdown, summary
from peers.tools import TOOLS, Context

OUT = Path(__file__).resolve().parent / "results"


def run_harness(datasets: Iterable[str] | None = None, splits: Iterable[str] | None = None,
                tools: Iterable[str] | None = None, *, quick: bool = False, seed: int = 0,
                bayeslaw_kwargs: dict | Callable | None = None, extra_tools: dict | None = None,
                verbose: bool = True) -> dict:
    """Run the comparison and return ``{"config": ..., "results": [...]}``.

    Parameters
    ----------
    datasets, splits, tools : iterables of names, optional
        Subsets of :func:`peers.data.datasets`, :data:`peers.data.SPLITS` and :data:`peers.tools.TOOLS`
        (plus ``extra_tools``); None runs all.
    quick : bool
        20 bootstraps, smaller MCMC (:data:`peers.tools.QUICK_MCMC`), small peer settings.
    bayeslaw_kwargs : dict or callable
        Extra ``bl.fit`` arguments for the bayeslaw tool (see :class:`peers.tools.Context`).
    extra_tools : dict, optional
        More tools by name, each ``tool(train, test, ctx) -> dict`` (e.g. a bayeslaw variant).

    Returns
    -------
    dict
        One result per (data set, split, tool): the split's facts and the tool's scores, or
        ``skip`` with the reason.
    """
    catalogue = pdata.datasets()
    registry = {**TOOLS, **(extra_tools or {})}
    names = list(datasets or catalogue)
    split_names = list(splits or pdata.SPLITS)
    tool_names = list(tools or registry)
    for kind, chosen, known in (("data set", names, catalogue), ("split", split_names, pdata.SPLITS),
                                ("tool", tool_names, registry)):
        unknown = [n for n in chosen if n not in known]
        if unknown:
            raise ValueError(f"unknown {kind} {unknown}; known: {sorted(known)}")
    results = []
    for name in names:
        data = catalogue[name]
        frame = pdata.load(data)
        for split_name in split_names:
            definition = pdata.SPLITS[split_name]
            split = pdata.make_split(frame, definition)
            facts = {"dataset": name, "split": split_name, "key": definition.key, "gap": definition.gap,
                     "max_share": definition.max_share, "cutoff": split.cutoff, "n_train": len(split.train),
                     "n_test": len(split.test), "n_dropped_by_gap": split.n_dropped}
            if split.skip:
                results.append({**facts, "skip": split.skip})
                _log(verbose, f"{name} / {split_name}: skipped ({split.skip})")
                continue
            ctx = Context(dataset=name, group=data.group, quick=quick, seed=seed, bayeslaw_kwargs=bayeslaw_kwargs)
            observed = split.test["loss"].to_numpy(float)
            for tool in tool_names:
                start = time.perf_counter()
                try:
                    out = registry[tool](split.train, split.test, ctx)
                except Exception as error:  # a failing peer is a finding, not a crash of the harness
                    out = {"skip": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
                if out.get("skip"):
                    results.append({**facts, "tool": tool, "skip": out["skip"]})
                    _log(verbose, f"{name} / {split_name} / {tool}: skipped ({out['skip']})")
                    continue
                row = {**facts, "tool": tool, **score(out, observed), "seconds": float(out["seconds"]),
                       "harness_seconds": time.perf_counter() - start, "info": out.get("info", {}),
                       "heldout": {"N": split.test["N"].tolist(), "D": split.test["D"].tolist(),
                                   "loss": observed.tolist(), "point": np.asarray(out["point"], float).tolist()}}
                results.append(row)
                _log(verbose, f"{name} / {split_name} / {tool}: ARE {row['median_are']:.2%}, "
                              f"cov {row['coverage']}, IS {row['interval_score']}, {row['seconds']:.1f} s")
    config = {"quick": quick, "seed": seed, "datasets": names, "splits": split_names, "tools": tool_names,
              "bayeslaw_kwargs": None if callable(bayeslaw_kwargs) else bayeslaw_kwargs,
              "split_table": {k: vars(v) for k, v in pdata.SPLITS.items()},
              "min_train_rows": pdata.MIN_TRAIN_ROWS, "min_distinct": pdata.MIN_DISTINCT}
    return {"config": config, "results": results, "summary": summary(results)}


def _log(verbose: bool, message: str) -> None:
    if verbose:
        print(message, flush=True)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated data sets")
    parser.add_argument("--splits", help="comma-separated splits: " + ",".join(pdata.SPLITS))
    parser.add_argument("--tools", help="comma-separated tools: " + ",".join(TOOLS))
    parser.add_argument("--quick", action="store_true", help="fewer bootstraps and smaller MCMC")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bayeslaw-kwargs", type=json.loads, default=None,
                        help='extra bl.fit arguments as JSON, e.g. \'{"noise_trend": "N"}\'')
    parser.add_argument("--out", help="output stem in benchmarks/results (default peer_harness[_quick])")
    parser.add_argument("--render", metavar="STEM",
                        help="only rewrite results/STEM.md (and the JSON's summary) from results/STEM.json")
    args = parser.parse_args(argv)
    if args.render:
        path = OUT / f"{args.render}.json"
        report = json.loads(path.read_text())
        report["summary"] = summary(report["results"])
        path.write_text(json.dumps(report, indent=1))
        (OUT / f"{args.render}.md").write_text(markdown(report))
        return report
    try:
        report = run_harness(_names(args.only), _names(args.splits), _names(args.tools), quick=args.quick,
                             seed=args.seed, bayeslaw_kwargs=args.bayeslaw_kwargs)
    except ValueError as error:
        print(f"peer_harness: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    report["config"]["command"] = "python benchmarks/peer_harness.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    stem = args.out or ("peer_harness_quick" if args.quick else "peer_harness")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{stem}.json").write_text(json.dumps(report, indent=1, default=_plain))
    (OUT / f"{stem}.md").write_text(markdown(report))
    return report


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main()
