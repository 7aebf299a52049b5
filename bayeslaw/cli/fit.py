"""``bayeslaw laws`` and ``bayeslaw fit``: the catalogue of laws, and fitting one to runs.

``fit`` prints the posterior summary, the timings, the diagnostics and the predictions of any
``--predict`` runs, and writes the fit (``--out``) and its planning plot (``--plot``) once every
output path has been checked. The main CLI hooks both in with ``add_parser(subparsers)``; each
handler is stored as ``handler``.
"""

from __future__ import annotations

import argparse
import warnings

from bayeslaw.cli.args import (
    CliError,
    _rows_frame,
    check_output,
    check_plot_path,
    parse_point,
    parse_pooling,
    read_data,
    refuse_unused,
)
from bayeslaw.cli.options import (
    MAX_CHAINS,
    POINT_EXAMPLE,
    add_ci_prob_and_seed,
    add_law_options,
    add_shared,
    chains,
    extrapolation_choice,
    iterations,
)
from bayeslaw.cli.output import (
    describe_beyond,
    format_diagnostics,
    format_extrapolation,
    format_predictions,
    format_summary,
    format_timings,
    save_plot,
)

#: help of --where
WHERE_HELP = ('fit only the rows satisfying FILTER: conditions COLUMN OP VALUE joined by "and" or '
              '",", OP one of < <= > >= == !=, e.g. "N<1e9 and D>=2e10"')
_EXAMPLE = """examples:
  bayeslaw fit chinchilla dataset:synthetic_families --group family --out fit.nc --plot fit.png
  bayeslaw fit chinchilla runs.csv --group family --pooling alpha=partial \\
      --predict "N=7e10,D=1.4e12,family=dense" --predict "N=7e10,D=1.4e12"
"""


def add_parser(subparsers) -> None:
    """Add the ``laws`` and ``fit`` sub-commands to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("laws", help="list the laws in the catalogue",
                              description="List the catalogue's laws: name, inputs, parameters, "
                              "description.")
    p.set_defaults(handler=run_laws)

    p = subparsers.add_parser("fit", help="fit a law to a table of runs", epilog=_EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="Fit a scaling law by MCMC; print the posterior summary, "
                              "timings, diagnostics and any requested predictions.")
    p.add_argument("law", metavar="LAW",
                   help="catalogue name (see 'bayeslaw laws') or path to a .toml law file")
    p.add_argument("data", metavar="DATA", help="CSV file of runs (one row per run), or "
                   "dataset:NAME for a registered data set, e.g. dataset:synthetic_families")
    p.add_argument("--target", default="loss", help="column of the target (default: loss)")
    p.add_argument("--group", metavar="COL",
                   help="column naming each run's family; without it all runs are one family")
    p.add_argument("--pooling", action="append", default=[], metavar="P=MODE,...",
                   help="override pooling per parameter, MODE one of shared, partial, none, "
                   "correlated (all 'correlated' parameters vary jointly across families); e.g. "
                   "alpha=partial,beta=none or a=correlated,alpha=correlated (repeatable)")
    p.add_argument("--where", metavar="FILTER", help=WHERE_HELP)
    add_law_options(p)
    p.add_argument("--chains", type=chains, default=4,
                   help=f"number of chains, 1 to {MAX_CHAINS} (default: 4)")
    p.add_argument("--draws", type=iterations, default=1000,
                   help="draws per chain after warmup (default: 1000)")
    p.add_argument("--warmup", type=iterations, default=1000,
                   help="warmup iterations per chain (default: 1000)")
    p.add_argument("--sampler", choices=("auto", "nuts", "hmc"), default="auto",
                   help="auto (default): hmc where it suits the model, falling back to nuts when "
                        "its draws fail a convergence check; hmc: every chain in one vectorised "
                        "fixed-length HMC program, faster per effective draw; nuts: NumPyro's NUTS")
    add_ci_prob_and_seed(p, "random seed of the sampler and the predictions")
    p.add_argument("--out", metavar="FIT.nc", help="write the fit to this netCDF file (for "
                   "'bayeslaw predict' and 'bayeslaw plot')")
    p.add_argument("--predict", action="append", default=[], metavar="K=V,...",
                   help=f"a planned run to predict (law and observed), e.g. {POINT_EXAMPLE}")
    p.add_argument("--plot", metavar="FILE.png", help="save the planning plot: runs, the fitted law and "
                   "the --predict runs with their intervals (png, pdf, svg...)")
    add_shared(p, "--x")
    p.set_defaults(handler=run_fit)

def run_laws(args: argparse.Namespace) -> int:
    """List the catalogue's laws as a table: name, inputs, parameters, description."""
    import bayeslaw as bl

    rows = []
    for name in bl.list_laws():
        try:
            law = bl.load_law(name)
        except bl.BayeslawError as exc:  # one broken file should not hide the rest
            rows.append((name, "?", "?", f"(invalid law file: {str(exc).splitlines()[0]})"))
            continue
        rows.append((name, ", ".join(law.input_names), ", ".join(law.params), law.description))
    header = ("name", "inputs", "parameters", "description")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    for row in [header] + rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)]
        print("  ".join([*cells, row[3]]))
    return 0


def run_fit(args: argparse.Namespace) -> int:
    """Fit a law to runs; print the summary, timings, diagnostics and predictions."""
    import bayeslaw as bl

    ci_prob = args.ci_prob
    out = check_output(args.out, "--out", (args.data, args.law)) if args.out is not None else None
    plot = check_plot_path(args.plot, "--plot", (args.data, args.law)) if args.plot is not None else None
    if plot is None:
        refuse_unused(args, {"x": "--x"}, "sets the x axis of --plot, which is not given")
    if out is not None and plot is not None and out.resolve() == plot.resolve():
        raise CliError(f"--out and --plot name the same file '{args.out}'")
    law = bl.load_law(args.law)
    if args.noise_trend:
        try:
            law = bl.with_noise_trend(law, args.noise_trend)
        except bl.LawSpecError as exc:  # it spoke of the law file's sigma_trend key, not the option
            raise CliError(f"bad --noise-trend value {args.noise_trend!r}: {exc}") from None
    pooling = parse_pooling(args.pooling, list(law.all_params()))
    keys = (["C"] if {"N", "D"} <= set(law.input_names) else []) + list(law.input_names)
    if args.x is not None and args.x not in keys:
        raise CliError(f"bad --x value {args.x!r}: not a size key of law {law.name!r}; "
                       f"use one of: {', '.join(keys)}")
    runs = read_data(args.data)
    if args.where:
        from bayeslaw.data.where import filter_runs

        runs = filter_runs(runs, args.where)
    families = None
    if args.group and args.group in runs.columns:
        families = sorted({str(v) for v in runs[args.group].dropna()})
    inputs = {i.name: i.positive for i in law.inputs}
    points = [parse_point(t, "--predict", inputs, args.group, families) for t in args.predict]
    extrapolation = extrapolation_choice(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bl.fit(law, runs, target=args.target, group=args.group, run=args.run, pooling=pooling,
                     where=args.where,
                     chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed,
                     progress=args.progress, sampler=args.sampler, extrapolation=extrapolation)
    n_fam, n_rows = len(fit.families), len(fit.table.frame)
    # with --run the rows are checkpoints of fewer runs: say both, not rows as runs
    rows = f"{n_rows} rows of {fit.plan.n_runs} runs" if fit.plan.n_runs else f"{n_rows} runs"
    print(
        f"{law.name}: {rows}, {n_fam} {'family' if n_fam == 1 else 'families'}"
        f", target {args.target!r}; {args.chains} chain{'' if args.chains == 1 else 's'} x {args.draws} draws "
        f"(warmup {args.warmup}, {fit.config['sampler_used']}, {fit.config['chain_method']}), seed {args.seed}"
    )
    if fit.config.get("hmc_fallback"):
        print(f"HMC's draws were set aside ({fit.config['hmc_fallback'].split(':')[0]}); these are NUTS's")
    print(f"\nPosterior summary ({ci_prob:.0%} intervals):")
    print(format_summary(fit.summary(ci_prob=ci_prob)))
    print(f"\n{format_timings(fit.timings)}")
    if fit.extrapolation is not None:
        error = fit.extrapolation
        print(f"Extrapolation error beyond the largest run ({len(error.cutoffs)} nested fits): "
              f"{format_extrapolation(error, fit.families, args.target)}")
    elif fit.config.get("extrapolation_skipped"):
        print(f"No extrapolation error: {fit.config['extrapolation_skipped']}")
    ours = [w for w in caught if issubclass(w.category, bl.ConvergenceWarning | bl.DataWarning)]
    for w in caught:
        if w not in ours:  # not ours to interpret: show as Python would have
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    notes = [f"{w.category.__name__}: {w.message}" for w in ours]
    print(format_diagnostics(notes))
    if points:
        print(f"\nPredictions ({ci_prob:.0%} intervals; law = the curve, observed = a new run):")
        frames = []
        for kind in ("law", "observed"):
            frame = fit.predict(_rows_frame(points), kind=kind, ci_prob=ci_prob, seed=args.seed)
            frame.insert(len(law.input_names) + 1, "kind", kind)
            frames.append(frame.reset_index(drop=True))
        import pandas as pd

        both = pd.concat(frames, ignore_index=True)
        order = sorted(range(len(both)), key=lambda i: (i % len(points), i))
        print(format_predictions(both.iloc[order], list(law.input_names)))
        for line in describe_beyond(frames[0]):
            print(line)
    if out is not None:
        fit.save(out)  # atomic itself: wrapped in another atomic write, a temp name in a temp name
        print(f"\nwrote {out}")
    if plot is not None:
        save_plot(fit, plot, args.x, ci_prob, _rows_frame(points) if points else None)
        print(f"wrote {plot}")
    return 0
