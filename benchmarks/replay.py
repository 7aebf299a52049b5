"""Design replay on real sweeps: which next runs make the prediction of the largest runs surest?

On each data set, the costliest runs (by C = 6ND) are held out as the target; every strategy
starts from the same cheap pilot and then adds runs one batch at a time, choosing only among the
data set's real runs not yet chosen (a chosen run's real loss is revealed), each batch spending at
most the same compute (a share of the pool's total). After each batch bayeslaw's default law is
refitted on the chosen runs (``bl.fit``'s defaults, extrapolation error included) and scored on
the target: 80% interval score and coverage, median ARE, and N* at the target's median budget
against the estimate from all runs. Strategies: (a) bayeslaw's
``bl.suggest_runs``, (b) simple-scaling-laws' ``suggest_runs``, (c) an isoFLOP grid, (d) random,
(e) largest-affordable-first, (f) ``bl.suggest_runs`` robust to the law form (the Chinchilla and
over-training laws' posteriors mixed by their stacking weights, or equally as
``bayeslaw_laws_equal``; see :mod:`replays.strategies`).
Writes benchmarks/results/<out>.json, <out>.md and <out>_<dataset>.png.

    python benchmarks/replay.py [--only chinchilla,porian_isoflop] [--strategies bayeslaw,ssl,...]
        [--batches 5] [--batch-share 0.06] [--seed 0] [--chains 2 --warmup 300 --draws 300]
        [--no-extrapolation] [--quick] [--out replay]
    python benchmarks/replay.py --render replay_quick   # rewrite the .md and plots from the .json
    python benchmarks/replay.py --combine replay_drift,replay_drift_seed1 --out replay_seeds
        # one table of several seeds' replays (results/<out>.md)
    python benchmarks/replay.py --strategies bayeslaw --seed 1 --reuse replay_drift_seed1 --out X
        # rerun only bayeslaw's design; the other strategies' curves are copied from
        # results/replay_drift_seed1.json (same seed, batches and fit settings, checked)

``--quick``: chinchilla and datablations, 2 batches of 10% of the pool, refits of 2 chains x 150 + 150.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import data as pdata
from replays import core, report
from replays.scoring import FitSettings, score, timed_fit
from replays.strategies import DEFAULT, STRATEGIES, Skip, State

OUT = Path(__file__).resolve().parent / "results"
DATASETS = ("chinchilla", "porian_isoflop", "gadre_overtraining", "datablations")
QUICK_DATASETS = ("chinchilla", "datablations")
#: one family per multi-family data set: runs of different data sets are not one sweep
FAMILY = {"porian_isoflop": "rw", "gadre_overtraining": "rw_original"}
#: porian: the authors' fitting window of tokens per parameter, applied to every run here
PORIAN_TPP = (2.0, 30.0)


def runs_of(name: str) -> pd.DataFrame:
    """The data set's runs (N, D, loss), one family where it has several."""
    sets = pdata.datasets()
    frame = pdata.load(sets[name])
    group = sets[name].group
    if group:
        frame = frame[frame[group] == FAMILY[name]]
    if name == "porian_isoflop":
        tpp = frame["D"] / frame["N"]
        frame = frame[(tpp >= PORIAN_TPP[0]) & (tpp <= PORIAN_TPP[1])]
    return frame[["N", "D", "loss"]].astype(float)


def replay(problem: core.Problem, strategies: list[str], *, batches: int, batch_share: float,
           settings: FitSettings, seed: int, quick: bool, n_star_full: float, log=print) -> dict:
    """Every strategy's curve on one problem: the pilot's scores, then one step per batch."""
    compute = problem.reference_compute
    budget = core.batch_budget(problem.pool, batch_share)
    pool_total = float(problem.pool["cost"].sum())
    pilot_fit, seconds = timed_fit(problem.pilot, settings, seed)
    start = {"batch": 0, "n_runs": len(problem.pilot), "spent": 0.0, "added": 0.0, "added_share": 0.0,
             "fit_seconds": seconds, "picked": [],
             **score(pilot_fit, problem.target, compute, n_star_full, seed)}
    log(f"  pilot: {len(problem.pilot)} runs, IS80 {start['interval_score_80']:.2f}")
    curves = {}
    for name in strategies:
        chosen, available, fit = problem.pilot.copy(), problem.pool.copy(), pilot_fit
        rng = np.random.default_rng(seed)
        steps, skip, added = [dict(start)], None, 0.0
        for b in range(1, batches + 1):
            state = State(chosen, available, problem.target, fit, budget, rng, seed=seed, quick=quick,
                          settings=settings)
            t0 = time.perf_counter()
            try:
                order = STRATEGIES[name](state)
            except Skip as exc:
                skip = str(exc)
                break
            choose_seconds = time.perf_counter() - t0
            picked = core.fill_budget(order, available["cost"], budget)
            if not picked:
                skip = f"no available run fits the batch budget at batch {b}"
                break
            spent = float(available.loc[picked, "cost"].sum())
            added += spent
            chosen = pd.concat([chosen, available.loc[picked]])
            available = available.drop(index=picked)
            fit, seconds = timed_fit(chosen, settings, seed + b)
            step = {"batch": b, "n_runs": len(chosen), "spent": spent, "added": added,
                    "added_share": added / pool_total, "fit_seconds": seconds,
                    "choose_seconds": choose_seconds, "picked": [int(i) for i in picked],
                    "info": {k: v for k, v in state.info.items()},
                    **score(fit, problem.target, compute, n_star_full, seed)}
            steps.append(step)
            log(f"  {name} batch {b}: +{len(picked)} runs ({100 * spent / budget:.0f}% of budget), "
                f"IS80 {step['interval_score_80']:.2f}, N* err {step['n_star_error_dec']:.3f} dec")
        if skip:
            log(f"  {name}: {skip}")
        curves[name] = {"steps": steps, "skip": skip}
    return {"batch_budget": budget, "pool_compute": pool_total, "strategies": curves}


def reused_curves(stem: str | None, config: dict) -> dict:
    """Per data set, the curves of results/<stem>.json (None: nothing reused), after checking that
    it was made with the same seed, batches, batch share and fit settings as ``config``."""
    if stem is None:
        return {}
    old = json.loads((OUT / f"{stem}.json").read_text())
    for key in ("seed", "batches", "batch_share", "quick", "fit"):
        if old["config"][key] != config[key]:
            raise SystemExit(f"replay: --reuse {stem}: its {key} is {old['config'][key]!r}, this run's {config[key]!r}")
    return {ds["dataset"]: ds["strategies"] for ds in old["results"]}


def merge_curves(reused: dict, fresh: dict) -> dict:
    """``reused`` curves overridden by ``fresh`` ones, in :data:`STRATEGIES`' order."""
    curves = {**reused, **fresh}
    return {k: curves[k] for k in sorted(curves, key=list(STRATEGIES).index)}


def run(datasets, strategies, *, batches: int, batch_share: float, settings: FitSettings, seed: int,
        quick: bool, out: str, command: str, reuse: str | None = None) -> dict:
    """Replay every data set, write <out>.json, <out>.md and a plot per data set; return the report.
    With ``reuse``, the strategies not in ``strategies`` are copied from results/<reuse>.json."""
    config = {"command": command, "datasets": list(datasets), "strategies": list(strategies),
              "batches": batches, "batch_share": batch_share, "seed": seed, "quick": quick,
              "fit": settings.__dict__, "reuse": reuse}
    reused = reused_curves(reuse, json.loads(json.dumps(config, default=float)))
    results = []
    for name in datasets:
        print(f"{name}:", flush=True)
        frame = runs_of(name)
        problem = core.split(frame, name)
        full_fit, _ = timed_fit(frame, settings, seed)
        n_star_full = float(score(full_fit, problem.target, problem.reference_compute, None, seed)["n_star"])
        ds = {"dataset": name, "family": FAMILY.get(name), "n_runs": len(frame), "n_target": len(problem.target),
              "n_pilot": len(problem.pilot), "n_pool": len(problem.pool),
              "target_min_cost": float(problem.target["cost"].min()),
              "pilot_max_cost": float(problem.pilot["cost"].max()),
              "reference_compute": problem.reference_compute, "n_star_full": n_star_full,
              **replay(problem, strategies, batches=batches, batch_share=batch_share, settings=settings,
                       seed=seed, quick=quick, n_star_full=n_star_full)}
        if reuse:
            ds["strategies"] = merge_curves(reused[name], ds["strategies"])
        results.append(ds)
        report.plot(ds, OUT / f"{out}_{name}.png")
    full = {"config": config, "results": results}
    OUT.mkdir(exist_ok=True)
    (OUT / f"{out}.json").write_text(json.dumps(full, indent=1, default=float))
    (OUT / f"{out}.md").write_text(report.markdown(full))
    return full


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated data sets (default: {','.join(DATASETS)})")
    parser.add_argument("--strategies", default=",".join(DEFAULT),
                        help=f"comma-separated, of: {', '.join(STRATEGIES)} (default: {','.join(DEFAULT)})")
    parser.add_argument("--batches", type=int)
    parser.add_argument("--batch-share", type=float, help="per-batch budget as a share of the pool's compute")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--draws", type=int)
    parser.add_argument("--no-extrapolation", action="store_true",
                        help="refit without bl.fit's default extrapolation error (the posterior's own intervals)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--reuse", metavar="STEM",
                        help="copy the curves of the strategies not rerun from results/STEM.json")
    parser.add_argument("--render", metavar="STEM",
                        help="only rewrite results/STEM.md and its plots from results/STEM.json (no fits)")
    parser.add_argument("--combine", metavar="STEMS",
                        help="comma-separated results/STEM.json of replays under different seeds: write "
                             "results/<out>.md comparing them (no fits)")
    args = parser.parse_args(argv)
    if args.combine:
        paths = [OUT / f"{stem}.json" for stem in args.combine.split(",")]
        missing = [str(p) for p in paths if not p.exists()]
        if missing or not args.out:
            parser.exit(2, f"replay: no {', '.join(missing)}\n" if missing else "replay: --combine needs --out\n")
        text = report.over_seeds([json.loads(p.read_text()) for p in paths])
        (OUT / f"{args.out}.md").write_text(text)
        return
    if args.render:
        path = OUT / f"{args.render}.json"
        if not path.exists():
            parser.exit(2, f"replay: no {path}\n")
        full = json.loads(path.read_text())
        (OUT / f"{args.render}.md").write_text(report.markdown(full))
        for ds in full["results"]:
            report.plot(ds, OUT / f"{args.render}_{ds['dataset']}.png")
        return
    datasets = args.only.split(",") if args.only else list(QUICK_DATASETS if args.quick else DATASETS)
    unknown = [d for d in datasets if d not in DATASETS]
    strategies = args.strategies.split(",")
    unknown += [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.exit(2, f"replay: unknown data set or strategy: {', '.join(unknown)}\n")
    size = 150 if args.quick else 300
    settings = FitSettings(chains=args.chains, warmup=args.warmup or size, draws=args.draws or size,
                           extrapolation=False if args.no_extrapolation else "auto")
    command = "python benchmarks/replay.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    run(datasets, strategies, batches=args.batches or (2 if args.quick else 5),
        batch_share=args.batch_share or (0.10 if args.quick else 0.06), settings=settings, seed=args.seed,
        quick=args.quick, out=args.out or ("replay_quick" if args.quick else "replay"), command=command,
        reuse=args.reuse)


if __name__ == "__main__":
    main()
