"""``bayeslaw backtest LAW DATA --cutoff X``: the command-line face of :func:`bayeslaw.backtest`.

The main CLI hooks this in with ``cli_backtest.add_parser(subparsers)``; the handler is stored as
the sub-parser's ``handler`` default and returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from bayeslaw.cli.args import one_line, read_data
from bayeslaw.cli.options import add_law_options, add_sampler_options, extrapolation_choice, finite
from bayeslaw.cli.output import format_extrapolation
from bayeslaw.core.errors import BayeslawError

_SHOWN = ["family", "observed", "median", "are"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``backtest`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "backtest", help="fit on runs below a cutoff, score predictions of the larger runs",
        description="Fit LAW on the runs of DATA below --cutoff, predict the held-out runs at or above "
                    "it, and print the absolute relative error (ARE) and interval coverage.")
    p.add_argument("law", help="catalogue name (see `bayeslaw laws`) or path to a .toml law file")
    p.add_argument("data", help="runs table (CSV), or dataset:NAME for a registered data set")
    p.add_argument("--cutoff", type=finite, required=True, help="runs with BY < CUTOFF are fitted")
    p.add_argument("--by", default="C", help="column the cutoff applies to (default C; 6ND if no C column)")
    p.add_argument("--target", default="loss", help="target column (default loss)")
    p.add_argument("--group", default=None, help="family column")
    add_law_options(p)
    p.add_argument("--where", metavar="FILTER", help='use only the rows satisfying FILTER (before the '
                   'split): conditions COLUMN OP VALUE joined by "and" or ",", e.g. "N<1e10"')
    add_sampler_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.set_defaults(handler=run_backtest)
    return p


def run_backtest(args: argparse.Namespace) -> int:
    """Handler: run the backtest and print the per-run table and the scores; 2 on bad input."""
    import json

    from bayeslaw.evaluate.backtest import backtest

    extrapolation = extrapolation_choice(args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = backtest(args.law, read_data(args.data), args.cutoff, by=args.by, target=args.target,
                              group=args.group, chains=args.chains, draws=args.draws,
                              warmup=args.warmup, seed=args.seed, extrapolation=extrapolation,
                              run=args.run, noise_trend=args.noise_trend,
                              where=args.where, progress=getattr(args, "progress", None))
    except BayeslawError as exc:
        print(f"bayeslaw: error: {one_line(exc)}", file=sys.stderr)
        return 2
    if args.json:
        row = result.summary().iloc[0]
        print(json.dumps({k: v.item() if hasattr(v, "item") else v for k, v in row.items()}, indent=2))
        return 0
    table = result.table
    columns = [c for c in table.columns if c not in _SHOWN and not c.startswith(("lower_", "upper_", "inside_"))]
    wide = max(result.ci_probs)
    columns += _SHOWN + [f"lower_{wide:g}", f"upper_{wide:g}"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nfitted {result.n_train} runs with {args.by} < {args.cutoff:g}; held out {len(table)}")
    print(f"median ARE: {result.median_are:.2%}")
    if result.fit.extrapolation is not None:
        print(f"extrapolation error: {format_extrapolation(result.fit.extrapolation, result.fit.families, args.target)}")
    for p, c in result.coverage.items():
        print(f"coverage of {p:.0%} intervals: {c:.0%}")
    return 0
