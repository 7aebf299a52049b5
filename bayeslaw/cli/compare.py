"""``bayeslaw compare`` and ``bayeslaw family-test``: command-line faces of compare.py and
family_test.py.

The main CLI hooks them in with ``cli_compare.add_parser(subparsers)``; each handler is stored as
the sub-parser's ``handler`` default and returns the exit status (2 with a one-line error on bad
input). :func:`main` runs them alone.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from bayeslaw.cli.args import (
    check_plot_path,
    is_fit_file,
    named_fit,
    one_line,
    read_data,
    refuse_unused,
)
from bayeslaw.cli.options import add_sampler_options, add_shared, finite
from bayeslaw.cli.output import atomic_write
from bayeslaw.core.errors import BayeslawError

_FMT = {"float_format": lambda v: f"{v:.4g}"}


def _sampler(p: argparse.ArgumentParser) -> None:
    add_sampler_options(p)


def add_parser(subparsers) -> None:
    """Add the ``compare`` and ``family-test`` sub-commands to an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "compare", help="rank law forms by LOO or held-out (extrapolation) scores",
        description="Compare fits of the same runs. Each FIT is a saved fit (NAME=FILE.nc or "
                    "FILE.nc) or a law name fitted to --data. Prints the table, best first.")
    p.add_argument("fits", nargs="+", metavar="FIT", help="FILE.nc, NAME=FILE.nc, or a law (needs --data)")
    p.add_argument("--data", help="runs (CSV, or dataset:NAME) to fit the named laws to")
    p.add_argument("--target", default="loss", help="target column (default: loss)")
    p.add_argument("--group", help="family column")
    p.add_argument("--method", choices=("loo", "largest", "family"), default="loo",
                   help="loo (PSIS-LOO), largest (leave-largest-out), family (leave-one-family-out)")
    p.add_argument("--by", help="size key for --method largest: an input column or C (= 6ND)")
    p.add_argument("--cutoff", type=finite, help="runs with scale >= CUTOFF are held out (default: largest 20%%)")
    _sampler(p)
    p.set_defaults(handler=cli_compare)

    p = subparsers.add_parser(
        "family-test", help="do families differ in some parameters (e.g. the exponents)?",
        description="Fit LAW with PARAMS shared and per family, compare by LOO, print the table, "
                    "a verdict (differ when the ELPD difference exceeds 2 SE) and pairwise contrasts.")
    p.add_argument("law", metavar="LAW", help="law name, .toml path, or a saved fit FILE.nc")
    p.add_argument("data", nargs="?", metavar="DATA", help="runs (CSV, or dataset:NAME); not needed "
                   "with a saved fit")
    p.add_argument("--params", default="alpha", help="comma-separated parameters (default: alpha)")
    p.add_argument("--group", help="family column (needed with a law)")
    p.add_argument("--target", default="loss", help="target column (default: loss)")
    p.add_argument("--alternative", choices=("partial", "none"), default="partial")
    p.add_argument("--leave-family-out", action="store_true", help="also compare by leave-one-family-out")
    add_shared(p, "--ci-prob", help="interval of the contrasts (default: 0.9)")
    p.add_argument("--plot", metavar="FILE.png", help="save a forest plot of the per-family values")
    _sampler(p)
    p.set_defaults(handler=cli_family_test)


def _fail(exc: Exception) -> int:
    print(f"bayeslaw: error: {one_line(exc)}", file=sys.stderr)
    return 2


def _load_fits(args) -> dict:
    """The fits to compare: .nc files loaded, laws fitted to --data. Every name, file and law
    is checked (each law against the data, and the held-out method's settings) before the first
    fit, so a law the table cannot take fails at once, not after minutes of the others' sampling."""
    import bayeslaw as bl
    from bayeslaw.infer.settings import checked_table
    from bayeslaw.laws.law import load_law

    items, runs = {}, None
    if len(args.fits) < 2:  # found after fitting the one law, minutes later
        raise BayeslawError(f"compare ranks two or more FITs (laws or .nc files), got one: {args.fits[0]!r}")
    if args.method != "largest" and (args.by is not None or args.cutoff is not None):
        raise BayeslawError(f"--by and --cutoff choose the held-out runs of --method largest, not --method {args.method}")
    if all(is_fit_file(named_fit(item)[1]) for item in args.fits):
        if args.data is not None:
            raise BayeslawError(f"--data '{args.data}' is for laws to fit, but every FIT is a saved fit (.nc), "
                                "which compares on its own runs; leave --data out")
        refuse_unused(args, {"target": "--target", "group": "--group", "chains": "--chains", "draws": "--draws",
                             "warmup": "--warmup"}, "would set how laws are fitted to --data, but every FIT is a "
                      "saved fit (.nc), refitted as it was made")
    for item in args.fits:
        name, path = named_fit(item)
        if name in items:
            raise BayeslawError(f"fit name {name!r} is given twice; use NAME=FILE.nc")
        if is_fit_file(path):
            items[name] = bl.load_fit(path)
        elif args.data is None:
            raise BayeslawError(f"{item!r} is not a .nc fit file; give --data to fit law {path!r}")
        else:
            runs = read_data(args.data) if runs is None else runs
            items[name] = load_law(path)
            _check_method(args, checked_table(items[name], runs, args.target, args.group))
    settings = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup, "seed": args.seed}
    return {name: item if isinstance(item, bl.Fit) else
            bl.fit(item, runs, target=args.target, group=args.group,
                   progress=getattr(args, "progress", None), **settings)
            for name, item in items.items()}


def _check_method(args, table) -> None:
    """Refuse the held-out method's settings (``--by``, ``--cutoff``, a table without families)
    on a law's checked runs table, as :func:`bayeslaw.compare` would after every law's fit
    (``--by`` and ``--cutoff`` without ``--method largest`` are refused by :func:`_load_fits`)."""
    from bayeslaw.evaluate.heldout import check_families, holdout_split

    if args.method == "largest":
        holdout_split(table, args.by, args.cutoff)
    elif args.method == "family":
        if args.group is None:
            raise BayeslawError("--method family needs --group (the column naming each run's family)")
        check_families(table)


def cli_compare(args: argparse.Namespace) -> int:
    """Handler of ``bayeslaw compare``."""
    from bayeslaw.evaluate.compare import ParetoKWarning, compare

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = compare(_load_fits(args), method=args.method, by=args.by, cutoff=args.cutoff,
                            seed=args.seed, progress=getattr(args, "progress", None))
    except BayeslawError as exc:
        return _fail(exc)
    print(f"method: {args.method}" + "".join(f", {k} {v}" for k, v in table.attrs.items() if k != "method"))
    print(table.to_string(**_FMT))
    for w in caught:
        if issubclass(w.category, ParetoKWarning):
            print(f"warning: {w.message}")
    print(_best_line(table))
    return 0


def _best_line(table) -> str:
    """``best: NAME``, with a caveat where the runner-up's ELPD is within two standard errors of
    the difference (the ranking is then not a finding: Sivula et al. 2022)."""
    best = f"best: {table.index[0]}"
    if len(table) < 2 or "dse" not in table.columns:
        return best
    diff, dse = float(table["elpd_diff"].iloc[1]), float(table["dse"].iloc[1])
    if not math.isnan(dse) and diff < 2 * dse:  # dse NaN (one scored unit): nothing to weigh
        best += (f" (not clearly: {table.index[1]} is {diff:.1f} behind, within two standard errors "
                 f"of the difference, {dse:.1f})")
    return best


def cli_family_test(args: argparse.Namespace) -> int:
    """Handler of ``bayeslaw family-test``."""
    import bayeslaw as bl
    from bayeslaw.evaluate.families import family_test

    plot = check_plot_path(args.plot, "--plot", (args.law, args.data)) if args.plot else None
    params = [p.strip() for p in args.params.split(",") if p.strip()]
    settings = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup, "seed": args.seed}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if is_fit_file(args.law):
                refuse_unused(args, {"group": "--group", "target": "--target"}, "would name the columns of "
                              "a law's fit, but a saved fit (.nc) has its own")
                subject = bl.load_fit(args.law)
                runs = None if args.data is None else read_data(args.data)
            else:
                if args.data is None:
                    raise BayeslawError("family-test with a law needs DATA (a CSV of runs)")
                if args.group is None:
                    raise BayeslawError("family-test with a law needs --group (the column naming each run's family)")
                subject, runs = args.law, read_data(args.data)
            result = family_test(subject, runs, params, alternative=args.alternative, target=args.target,
                                 group=args.group, leave_family_out=args.leave_family_out,
                                 ci_prob=args.ci_prob, progress=getattr(args, "progress", None),
                                 **settings)
    except BayeslawError as exc:
        return _fail(exc)
    print(result.table.to_string(**_FMT))
    for name, table in result.extra.items():
        print(f"\n{name}:\n{table.to_string(**_FMT)}")
    print(f"\nverdict: {result.verdict}")
    print(f"\ncontrasts ({args.ci_prob:.0%} intervals of family_a - family_b):")
    print(result.contrasts.to_string(index=False, **_FMT))
    if plot is not None:
        figure = result.plot_forest(ci_prob=args.ci_prob).figure
        fmt = plot.suffix.lstrip(".").lower() or "png"
        atomic_write(plot, lambda tmp: figure.savefig(tmp, format=fmt))
        print(f"wrote {args.plot}")
    return 0
