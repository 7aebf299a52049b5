"""``bayeslaw plan``: the planning decisions of a saved fit, from the command line.

* ``--compute 1e23,1e24``: the compute-optimal model size, tokens, tokens per parameter and loss
  for each FLOP budget, with intervals (:func:`bayeslaw.optimal_allocation`).
* ``--better "N=7e10,D=1.4e12" "N=3.5e10,D=2.8e12"``: the probability that the first plan ends
  with a lower loss than the second, on paired posterior draws (:func:`bayeslaw.prob_better`),
  with each plan's prediction.

The main CLI hooks this in with ``cli_plan.add_parser(subparsers)``; the handler is stored as
``handler``. Bad input prints one line and exits with status 2, like every other command.
"""

from __future__ import annotations

import argparse

from bayeslaw.cli.args import (
    CliError,
    _rows_frame,
    check_family,
    parse_budgets,
    parse_point,
    with_family,
)
from bayeslaw.cli.options import add_shared
from bayeslaw.data.family_labels import NEW_FAMILY

_EXAMPLE = """examples:
  bayeslaw plan fit.nc --compute 1e22,1e23,1e24
  bayeslaw plan constrained.nc --compute 1e22 --inputs U=2.5e10
  bayeslaw plan fit.nc --better "N=7e10,D=1.4e12" "N=3.5e10,D=2.8e12" --family dense
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``plan`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "plan", help="compute-optimal allocation and plan comparisons from a saved fit",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Decide a training run from a saved fit: the compute-optimal model size and "
                    "tokens for FLOP budgets (--compute), or the probability that one plan beats "
                    "another (--better). Intervals carry the posterior's uncertainty.")
    add_shared(p, "fit")
    add_shared(p, "--compute", help="FLOP budgets, comma-separated, e.g. 1e23,1e24")
    p.add_argument("--inputs", metavar="NAME=VALUE,...",
                   help="with --compute, for a law with inputs besides N and D: their values, e.g. "
                        "U=2.5e10 (data_constrained's unique tokens) or P=16 (precision's bits)")
    p.add_argument("--better", nargs=2, metavar=("PLAN_A", "PLAN_B"),
                   help='two planned runs, e.g. "N=7e10,D=1.4e12" "N=3.5e10,D=2.8e12": prints '
                        "P(A ends with a lower loss than B)")
    p.add_argument("--family", default=None,
                   help="a fitted family (default: a new family drawn from the population)")
    add_shared(p, "--flops", default=None, help="for --compute: FLOP formula k*N*D (default: 6*N*D)")
    p.add_argument("--kind", choices=("observed", "law"), default=None,
                   help="for --better: observed (a new run, with run-to-run noise; default) or law")
    add_shared(p, "--ci-prob")
    add_shared(p, "--seed", help="seed of the new-family and noise draws")
    p.set_defaults(handler=run_plan)
    return p


def _allocation(fit, budgets: list[float], args) -> str:
    from bayeslaw.cli.output import _num, position_notes
    from bayeslaw.decide.allocation import optimal_allocation

    extra = {i.name: i.positive for i in fit.law.inputs if i.name not in ("N", "D")}
    if extra and args.inputs is None:
        example = ",".join(f"{name}=..." for name in extra)
        raise CliError(f"law {fit.law.name!r} has inputs besides N and D ({', '.join(extra)}): the "
                       f"optimum depends on their values; give them with --inputs {example}")
    if args.inputs is not None and not extra:
        raise CliError(f"bad --inputs value {args.inputs!r}: law {fit.law.name!r} has no inputs "
                       "besides N and D")
    fixed = parse_point(args.inputs, "--inputs", extra, None, None) if extra else None
    table = optimal_allocation(fit, budgets, family=args.family, flops=args.flops, inputs=fixed,
                               ci_prob=args.ci_prob, seed=args.seed).reset_index()
    text = table[["compute", "quantity"]].astype(object).copy()
    text["compute"] = [f"{v:.3g}" for v in table["compute"]]
    for col in ("median", "lower", "upper"):
        text[col] = [_num(v) for v in table[col]]
    family = table.attrs.get("family", args.family) or NEW_FAMILY
    notes = []
    for i, budget in enumerate(table.attrs["compute"]):  # the order of attrs["beyond"] and ["below"]
        notes += position_notes(f"the optimum at {budget:.3g} FLOPs",
                                {name[len("beyond_"):]: float(v[i]) for name, v in table.attrs["beyond"].items()},
                                {name: float(v[i]) for name, v in table.attrs["below"].items()}, "its loss interval")
    return (f"Compute-optimal allocation ({args.ci_prob:.0%} intervals, C = {args.flops}, family "
            f"{family}):\n" + text.to_string(index=False) + "".join(f"\n{n}" for n in notes))


def _better(fit, texts: list[str], args) -> str:
    from bayeslaw.cli.output import format_predictions

    inputs = {i.name: i.positive for i in fit.law.inputs}
    group, families = fit.table.group, list(fit.families)
    plans = with_family([parse_point(t, "--better", inputs, group, families) for t in texts], texts, "--better",
                        group, args.family)
    rows = _rows_frame(plans)
    from bayeslaw.decide.planning import prob_better

    prob = prob_better(fit, rows.iloc[[0]], rows.iloc[[1]], kind=args.kind, seed=args.seed)
    pred = fit.predict(rows, kind=args.kind, ci_prob=args.ci_prob, seed=args.seed)
    pred.insert(0, "plan", ["A", "B"])
    return (f"Predictions ({args.kind}, {args.ci_prob:.0%} intervals):\n"
            + format_predictions(pred, list(fit.law.input_names))
            + f"\nP(A ends with a lower {fit.table.target_name or 'target'} than B) = {prob:.3f}")


def run_plan(args: argparse.Namespace) -> int:
    """Handler of ``bayeslaw plan``."""
    import bayeslaw as bl

    if args.compute is None and args.better is None:
        raise CliError("plan needs --compute C,C,... and/or --better PLAN_A PLAN_B")
    budgets = parse_budgets(args.compute) if args.compute is not None else None
    if args.kind is not None and args.better is None:  # an option that changes nothing is a mistake
        raise CliError("--kind applies to --better (the two plans' predictions), not to --compute")
    if args.flops is not None and args.compute is None:
        raise CliError("--flops applies to --compute (the budgets' allocation), not to --better")
    args.kind, args.flops = args.kind or "observed", args.flops or "6*N*D"
    fit = bl.load_fit(args.fit)
    check_family(fit, args.family)
    parts = []
    if budgets is not None:
        parts.append(_allocation(fit, budgets, args))
    if args.better is not None:
        parts.append(_better(fit, args.better, args))
    print("\n\n".join(parts))
    return 0
