"""The replay's markdown table and its plot of score against compute."""

from __future__ import annotations

from pathlib import Path


def _fmt(x, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def reach(curves: dict) -> tuple[float | None, dict]:
    """The interval score every strategy that added runs reached by its last batch (the worst
    final score), and for each the added compute (% of the pool) at which it first got there. A
    strategy that stopped early (the pool ran out of affordable runs) counts with the batches it
    made."""
    finals = [c["steps"][-1]["interval_score_80"] for c in curves.values() if len(c["steps"]) > 1]
    if not finals:
        return None, {}
    goal = max(finals)
    out = {}
    for name, curve in curves.items():
        if len(curve["steps"]) <= 1:
            continue
        hit = [s["added_share"] for s in curve["steps"][1:] if s["interval_score_80"] <= goal]
        out[name] = 100.0 * hit[0] if hit else None
    return goal, out


def averages(curves: dict) -> dict:
    """Per strategy that added runs: its mean IS80 over the batches after the pilot (the area under
    its curve at equal compute per batch, lower is better), its last IS80 and its last N* error."""
    out = {}
    for name, curve in curves.items():
        steps = curve["steps"][1:]
        if not steps:
            continue
        out[name] = {"mean_is80": sum(s["interval_score_80"] for s in steps) / len(steps),
                     "last_is80": steps[-1]["interval_score_80"], "last_n_star_error": steps[-1]["n_star_error_dec"],
                     "batches": len(steps)}
    return out


def markdown(report: dict) -> str:
    """One table per data set: each strategy's score after each batch, then the compute to reach
    the common interval score."""
    cfg = report["config"]
    lines = ["# Design replay", "", f"`{cfg['command']}`", "",
             (f"Refits: `bl.fit(\"{cfg['fit']['law']}\", chains={cfg['fit']['chains']}, "
              f"warmup={cfg['fit']['warmup']}, draws={cfg['fit']['draws']}, "
              f"extrapolation={cfg['fit']['extrapolation']})`; per-batch budget {100 * cfg['batch_share']:g}% "
              f"of the pool's compute; seed {cfg['seed']}."), ""]
    for ds in report["results"]:
        lines += [f"## {ds['dataset']}", "",
                  (f"{ds['n_target']} held-out runs (C >= {ds['target_min_cost']:.3g}), pilot {ds['n_pilot']} runs "
                   f"(C <= {ds['pilot_max_cost']:.3g}), pool {ds['n_pool']} runs; N* at C = {ds['reference_compute']:.3g}, "
                   f"full-data N* {ds['n_star_full']:.3g}."), "",
                  "| strategy | batch | runs | added compute (% pool) | IS80 (%) | cov80 | median ARE (%) | N* error (dec) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, curve in ds["strategies"].items():
            if curve.get("skip") and len(curve["steps"]) <= 1:
                lines.append(f"| {name} | skipped: {curve['skip']} | | | | | | |")
                continue
            for step in curve["steps"]:
                lines.append(f"| {name} | {step['batch']} | {step['n_runs']} | {100 * step['added_share']:.1f} | "
                             f"{step['interval_score_80']:.2f} | {step['coverage_80']:.2f} | "
                             f"{step['median_are']:.2f} | {_fmt(step['n_star_error_dec'], '.3f')} |")
            if curve.get("skip"):
                lines.append(f"| {name} | stopped: {curve['skip']} | | | | | | |")
        goal, hit = reach(ds["strategies"])
        if goal is not None:
            lines += ["", f"Added compute (% of pool) to first reach IS80 <= {goal:.2f}: "
                      + ", ".join(f"{k} {_fmt(v, '.1f')}" for k, v in hit.items()) + "."]
        means = averages(ds["strategies"])
        if means:
            lines += ["", "Mean IS80 over the batches (last IS80, last N* error in decades): "
                      + ", ".join(f"{k} {v['mean_is80']:.2f} ({v['last_is80']:.2f}, {_fmt(v['last_n_star_error'], '.3f')})"
                                  for k, v in means.items()) + "."]
        lines.append("")
    return "\n".join(lines)


def plot(ds: dict, path: Path) -> None:
    """IS80 and N* error against added compute, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, curve in ds["strategies"].items():
        steps = curve["steps"]
        if len(steps) <= 1:
            continue
        x = [100 * s["added_share"] for s in steps]
        axes[0].plot(x, [s["interval_score_80"] for s in steps], marker="o", label=name)
        axes[1].plot(x, [s["n_star_error_dec"] for s in steps], marker="o", label=name)
    axes[0].set_ylabel("80% interval score on held-out runs (% of loss)")
    axes[1].set_ylabel(f"|log10 N* / full-data N*| at C = {ds['reference_compute']:.2g}")
    for ax in axes:
        ax.set_xlabel("compute added beyond the pilot (% of pool)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Design replay: {ds['dataset']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def over_seeds(reports: list[dict]) -> str:
    """Replays of the same data sets under several seeds, side by side: per data set and strategy
    the mean IS80 over the batches (each seed's, and their mean) and the compute to reach the
    common interval score (each seed's own goal); which strategy is first by each measure, per
    seed. One seed's refits swing by 1-2 points of IS80 between batches, so a strategy's lead
    counts where it holds across seeds."""
    seeds = [r["config"]["seed"] for r in reports]
    lines = ["# Design replay over seeds", "", *(f"- seed {s}: `{r['config']['command']}`" for s, r in zip(seeds, reports)),
             ""]
    names = [ds["dataset"] for ds in reports[0]["results"]]
    for name in names:
        per_seed = [next(ds for ds in r["results"] if ds["dataset"] == name) for r in reports]
        means = [averages(ds["strategies"]) for ds in per_seed]
        reached = [reach(ds["strategies"]) for ds in per_seed]
        strategies = [s for s in per_seed[0]["strategies"] if all(s in m for m in means)]
        lines += [f"## {name}", "",
                  "| strategy | mean IS80, " + " / ".join(f"seed {s}" for s in seeds) + " | mean over seeds | "
                  "compute to reach (% pool), " + " / ".join(f"seed {s}" for s in seeds) + " |",
                  "|---|---|---|---|"]
        for strategy in strategies:
            values = [m[strategy]["mean_is80"] for m in means]
            hits = [hit.get(strategy) for _, hit in reached]
            lines.append(f"| {strategy} | " + " / ".join(f"{v:.2f}" for v in values)
                         + f" | {sum(values) / len(values):.2f} | " + " / ".join(_fmt(h, ".1f") for h in hits) + " |")
        first_area = [min(strategies, key=lambda s, m=m: m[s]["mean_is80"]) for m in means]
        first_reach = []
        for _, hit in reached:
            got = {s: hit[s] for s in strategies if hit.get(s) is not None}
            low = min(got.values()) if got else None
            first_reach.append("—" if low is None else ", ".join(s for s, v in got.items() if v == low))
        lines += ["", "First by area, per seed: " + " / ".join(first_area)
                  + "; first to reach (ties listed): " + " / ".join(first_reach) + ".", ""]
    return "\n".join(lines)
