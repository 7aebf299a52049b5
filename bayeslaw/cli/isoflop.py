"""``bayeslaw isoflop``: isoFLOP profiles (Chinchilla's Approach 2) of a runs table.

Prints the per-budget optima and the fitted N* and D* exponents (:func:`bayeslaw.isoflop`);
``--compute`` adds N*, D* at new budgets, ``--approach3`` fits the Chinchilla law to the same runs
and prints both approaches side by side, ``--plot`` draws the profiles.

The main CLI hooks this in with ``cli_isoflop.add_parser(subparsers)``; the handler is stored as
``handler``. Bad input prints one line and exits with status 2, like every other command.
"""

from __future__ import annotations

import argparse
import math
import warnings

from bayeslaw.cli.args import CliError, check_plot_path, parse_budgets, read_data
from bayeslaw.cli.options import add_shared, finite

_EXAMPLE = """examples:
  bayeslaw isoflop runs.csv
  bayeslaw isoflop runs.csv --by flops --window 4 --compute 1e21,1e22 --plot profiles.png
  bayeslaw isoflop runs.csv --compute 1e22 --kind observed
  bayeslaw isoflop runs.csv --approach3
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``isoflop`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "isoflop", help="isoFLOP profiles (Approach 2): compute-optimal N*, D* per budget",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fit a parabola in log N to the loss of each FLOP budget's runs, with exact "
                    "posterior draws, and a power law through the budgets' optima N*(C), D*(C).")
    p.add_argument("data", metavar="RUNS.csv", help="runs: N, the target and D or the budget column "
                   "(or dataset:NAME)")
    p.add_argument("--by", default="C", help="budget column (default C; computed as k*N*D and "
                   "grouped within 0.05 decade when absent)")
    p.add_argument("--target", default="loss", help="loss column (default: loss)")
    add_shared(p, "--flops")
    p.add_argument("--window", type=finite, default=None, metavar="FACTOR",
                   help="fit each budget only to runs within FACTOR of its lowest-loss run's N")
    p.add_argument("--where", metavar="FILTER", help="use only the rows satisfying FILTER, "
                   'e.g. "decay == const" (see bayeslaw fit --help)')
    add_shared(p, "--compute", help="also predict N*, D* at these FLOP budgets")
    p.add_argument("--kind", choices=("law", "observed"), default=None,
                   help="with --compute: the power laws (default), or where a new budget's own "
                        "optimum lies (the power laws plus the budgets' scatter around them)")
    p.add_argument("--plot", metavar="OUT.png", help="draw the profiles to this image file")
    p.add_argument("--approach3", action="store_true",
                   help="also fit the chinchilla law (small NUTS run) and compare its allocation")
    add_shared(p, "--ci-prob")
    add_shared(p, "--seed", help="seed of the draws (default: 0)")
    p.set_defaults(handler=run_isoflop)
    return p


def _table(frame, columns) -> str:
    """Columns of ``frame`` as text, numbers with 4 significant digits."""
    text = frame[columns].astype(object).copy()
    for col in columns:
        if col not in ("n_runs", "quantity"):
            text[col] = [f"{float(v):.4g}" for v in frame[col]]
    return text.to_string(index=False)


def _approach3(result, runs, budgets, args) -> str:
    """Fit the chinchilla law to the same runs (a small NUTS run) and compare the allocations."""
    import bayeslaw as bl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        law_fit = bl.fit("chinchilla", runs, target=args.target, chains=2, warmup=300, draws=300,
                         seed=args.seed, progress=False)
    table = result.compare(law_fit, budgets, seed=args.seed)
    exponents = table.attrs["exponents"]
    table = table.reset_index()
    cols = ["compute", "quantity"] + [c for c in table.columns if c.startswith("approach")] + ["ratio"]
    lines = [f"Approach 2 (isoFLOP) vs Approach 3 (chinchilla law) ({args.ci_prob:.0%} intervals):",
             _table(table, cols)]
    for name, e in exponents.items():
        lines.append(f"{name} N* exponent: {e['median']:.4g} [{e['lower']:.4g}, {e['upper']:.4g}]")
    return "\n".join(lines)


def _budget_notes(result, budgets: list[float], kind: str) -> list[str]:
    """Notes on predicted budgets outside the fitted ones (the power laws extrapolated, in
    decades of compute) and on a scatter that two budgets cannot measure."""
    fitted = [float(c) for c in result.compute]
    notes = []
    for budget in budgets:
        if budget > max(fitted) or budget < min(fitted):
            side, edge = ("beyond the largest", max(fitted)) if budget > max(fitted) else ("below the smallest", min(fitted))
            notes.append(f"note: budget {budget:.3g} lies {abs(math.log10(budget / edge)):.2g} decades {side} "
                         f"fitted budget ({edge:.3g}): the power laws are extrapolated there")
    if kind == "observed" and len(fitted) < 3:
        notes.append(f"note: {len(fitted)} budgets cannot measure how a budget's optimum scatters around the "
                     "power laws (the scatter is 0 here): the intervals leave it out")
    return notes


def run_isoflop(args: argparse.Namespace) -> int:
    """Handler of ``bayeslaw isoflop``."""
    import bayeslaw as bl

    budgets = parse_budgets(args.compute) if args.compute is not None else None
    if args.kind is not None and budgets is None:
        raise CliError("--kind applies to the budgets of --compute; give --compute C,C,...")
    args.kind = args.kind or "law"
    target = check_plot_path(args.plot, "--plot", (args.data,)) if args.plot is not None else None
    if args.window is not None and not args.window > 1:
        raise CliError(f"bad --window value {args.window:g}: a factor greater than 1 is needed")
    runs = read_data(args.data)
    if args.where:
        runs = bl.filter_runs(runs, args.where)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bl.DataWarning)
        result = bl.isoflop(runs, by=args.by, target=args.target, flops=args.flops,
                            window=args.window, ci_prob=args.ci_prob, seed=args.seed)
    title = (f"isoFLOP profiles: {len(result.compute)} budgets ({args.ci_prob:.0%} intervals, "
             f"C = {args.flops}):")
    parts = [title,
             _table(result.budgets.rename(columns={"C": args.by}),
                    [args.by, "n_runs", "p_no_optimum", "N_opt_median", "N_opt_lower",
                     "N_opt_upper", "D_opt_median", "loss_median"]),
             "", "Power laws N* = G C^e, D* = C / (k N*) (N_opt scatter: sd of the budgets' ln N* around it):",
             _table(result.summary().reset_index(), ["quantity", "median", "lower", "upper"])]
    if budgets is not None:
        pred = result.predict(budgets, kind=args.kind, seed=args.seed).reset_index()
        what = "power laws" if args.kind == "law" else "a new budget's optimum: power laws plus the scatter"
        parts += ["", f"Predicted allocation ({what}):",
                  _table(pred, ["compute", "quantity", "median", "lower", "upper"]), *_budget_notes(result, budgets, args.kind)]
    if args.approach3:
        parts += ["", _approach3(result, runs, budgets, args)]
    print("\n".join(parts))
    for w in caught:
        print(f"warning: {w.message}")
    if target is not None:
        from matplotlib.figure import Figure

        from bayeslaw.cli.output import atomic_write
        from bayeslaw.plot.isoflop import plot_isoflop

        fig = Figure(figsize=(7, 5), layout="constrained")
        plot_isoflop(result, ax=fig.add_subplot())
        fmt = target.suffix.lstrip(".").lower() or "png"
        atomic_write(target, lambda tmp: fig.savefig(tmp, format=fmt, dpi=100))
        print(f"wrote {target}")
    return 0
