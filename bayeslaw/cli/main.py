"""The ``bayeslaw`` command line: ``laws``, ``fit``, ``predict`` and ``plot``.

Bad input of any kind prints one line ``bayeslaw: error: <message>`` to stderr and exits with
status 2; nothing is written then. Outputs go to a temporary file in the target folder that is
renamed into place, so a file is either complete or absent. Every output folder is checked
before any work. The library is imported inside :func:`main`, after argument parsing.

This module holds the sub-commands, the parser and the entry point; the checks of the input are
in :mod:`bayeslaw.cli.args` and the writing and printing of the outputs in
:mod:`bayeslaw.cli.output`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import warnings

from bayeslaw.cli.args import (
    EXIT_ERROR,
    MAX_CHAINS,
    SEED_MAX,
    CliError,
    _check_ci_prob,
    _fail,
    _read_data,
    _rows_frame,
    add_law_options,
    chains,
    check_output,
    check_plot_path,
    extrapolation_choice,
    iterations,
    parse_point,
    parse_pooling,
    probability,
    seed,
)
from bayeslaw.cli.output import (
    atomic_write,
    describe_beyond,
    format_predictions,
    format_summary,
    format_timings,
    save_plot,
)
from bayeslaw.core import interrupts

#: help of --where (fit, backtest)
WHERE_HELP = ('fit only the rows satisfying FILTER: conditions COLUMN OP VALUE joined by "and" or '
              '",", OP one of < <= > >= == !=, e.g. "N<1e9 and D>=2e10"')
#: modules adding sub-commands through ``add_parser(subparsers)`` (each sets a ``handler``)
_EXTENSIONS = ("compare", "backtest", "downstream", "report", "plan", "suggest", "isoflop")
_DEVICES = ("cpu", "gpu", "tpu")
#: JAX's concrete platform names by the ``--device`` kind they belong to (others are their own kind)
_PLATFORM_KIND = {"cuda": "gpu", "rocm": "gpu"}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, like every other error of the tool."""

    def error(self, message: str):
        _fail(f"{message} (see '{self.prog} --help')")


# -- subcommands ------------------------------------------------------------------------------


def cmd_laws(args) -> int:
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


def cmd_fit(args) -> int:
    """Fit a law to runs; print the summary, timings, diagnostics and predictions."""
    import bayeslaw as bl

    ci_prob = _check_ci_prob(args.ci_prob)
    out = check_output(args.out, "--out", (args.data, args.law)) if args.out else None
    plot = check_plot_path(args.plot, "--plot", (args.data, args.law)) if args.plot else None
    if out is not None and plot is not None and out.resolve() == plot.resolve():
        raise CliError(f"--out and --plot name the same file '{args.out}'")
    law = bl.load_law(args.law)
    if args.noise_trend:
        law = bl.with_noise_trend(law, args.noise_trend)
    pooling = parse_pooling(args.pooling, list(law.all_params()))
    keys = (["C"] if {"N", "D"} <= set(law.input_names) else []) + list(law.input_names)
    if args.x is not None and args.x not in keys:
        raise CliError(f"bad --x value {args.x!r}: not a size key of law {law.name!r}; "
                       f"use one of: {', '.join(keys)}")
    runs = _read_data(args.data)
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
    n_fam = len(fit.families)
    print(
        f"{law.name}: {len(fit.table.frame)} runs, {n_fam} {'family' if n_fam == 1 else 'families'}"
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
              f"{error.describe()} (log {args.target})")
    elif fit.config.get("extrapolation_skipped"):
        print(f"No extrapolation error: {fit.config['extrapolation_skipped']}")
    ours = [w for w in caught if issubclass(w.category, bl.ConvergenceWarning | bl.DataWarning)]
    for w in caught:
        if w not in ours:  # not ours to interpret: show as Python would have
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    notes = [f"{w.category.__name__}: {w.message}" for w in ours]
    print("Diagnostics: " + ("no problems found (R-hat, ESS, divergences)" if not notes
                             else f"{len(notes)} warning(s)"))
    for note in notes:
        print(f"  warning: {note}")
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
        atomic_write(out, fit.save)
        print(f"\nwrote {out}")
    if plot is not None:
        save_plot(fit, plot, args.x, ci_prob, _rows_frame(points) if points else None)
        print(f"wrote {plot}")
    return 0


def cmd_predict(args) -> int:
    """Predict runs (``--at`` points or a ``--rows`` CSV) from a saved fit."""
    import bayeslaw as bl
    from bayeslaw.data.runs import read_runs

    ci_prob = _check_ci_prob(args.ci_prob)
    out = check_output(args.out, "--out", (args.fit, args.rows)) if args.out else None
    fit = bl.load_fit(args.fit)
    if args.at:
        inputs = {i.name: i.positive for i in fit.law.inputs}
        group, families = fit.table.group, list(fit.families)
        rows = _rows_frame([parse_point(t, "--at", inputs, group, families) for t in args.at])
    else:
        rows = read_runs(args.rows)
    frame = fit.predict(rows, kind=args.kind, ci_prob=ci_prob, seed=args.seed)
    print(f"{fit.law.name}: {args.kind} predictions, {ci_prob:.0%} intervals")
    print(format_predictions(frame, list(fit.law.input_names)))
    for line in describe_beyond(frame):
        print(line)
    if out is not None:
        atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False))
        print(f"wrote {out}")
    return 0


def cmd_plot(args) -> int:
    """Plot a saved fit to an image file."""
    import bayeslaw as bl

    ci_prob = _check_ci_prob(args.ci_prob)
    target = check_plot_path(args.out, "--out", (args.fit,))
    fit = bl.load_fit(args.fit)
    points = None
    if args.at:
        inputs = {i.name: i.positive for i in fit.law.inputs}
        group, families = fit.table.group, list(fit.families)
        points = _rows_frame([parse_point(t, "--at", inputs, group, families) for t in args.at])
    save_plot(fit, target, args.x, ci_prob, points)
    print(f"wrote {target}")
    return 0


# -- parser and entry point -------------------------------------------------------------------

_FIT_EXAMPLE = """examples:
  bayeslaw fit chinchilla dataset:synthetic_families --group family --out fit.nc --plot fit.png
  bayeslaw fit chinchilla runs.csv --group family --pooling alpha=partial \\
      --predict "N=7e10,D=1.4e12,family=dense" --predict "N=7e10,D=1.4e12"
"""


def _common(p: argparse.ArgumentParser, seed_help: str) -> None:
    p.add_argument("--ci-prob", type=probability, default=0.9,
                   help="interval probability (default: 0.9)")
    p.add_argument("--seed", type=seed, default=0, help=f"{seed_help}, 0 to {SEED_MAX} (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bayeslaw`` command (subcommands laws, fit, predict, plot)."""
    from importlib import metadata

    try:
        version = metadata.version("bayeslaw")
    except metadata.PackageNotFoundError:
        version = "unknown"
    parser = _Parser(prog="bayeslaw", description="Bayesian scaling-law estimation: fit a law "
                     "to training runs, predict planned runs with intervals, plot the fit.")
    parser.add_argument("--version", action="version", version=f"bayeslaw {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fit_file = "a fit written by 'bayeslaw fit --out'"
    x_help = ("size key on the plot's x axis: C (training compute 6ND, the default for laws in N and "
              "D) or a law input (default otherwise: the law's first input)")
    run_help = ('"N=7e10,D=1.4e12,family=dense"; leave family out (or empty) for a new family '
                "(repeatable)")

    p = sub.add_parser("laws", help="list the laws in the catalogue",
                       description="List the catalogue's laws: name, inputs, parameters, "
                       "description.")
    p.set_defaults(func=cmd_laws)

    p = sub.add_parser("fit", help="fit a law to a table of runs", epilog=_FIT_EXAMPLE,
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
    _common(p, "random seed of the sampler and the predictions")
    p.add_argument("--out", metavar="FIT.nc", help="write the fit to this netCDF file (for "
                   "'bayeslaw predict' and 'bayeslaw plot')")
    p.add_argument("--predict", action="append", default=[], metavar="K=V,...",
                   help=f"a planned run to predict (law and observed), e.g. {run_help}")
    p.add_argument("--plot", metavar="FILE.png", help="save the planning plot: runs, the fitted law and "
                   "the --predict runs with their intervals (png, pdf, svg...)")
    p.add_argument("--x", metavar="KEY", help=x_help)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict planned runs from a saved fit",
                       description="Predict runs from a saved fit; prints mean, sd, median and "
                       "the interval of each run.")
    p.add_argument("fit", metavar="FIT.nc", help=fit_file)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", action="append", metavar="K=V,...",
                       help=f"a run to predict, e.g. {run_help}")
    where.add_argument("--rows", metavar="CSV", help="CSV of runs to predict: the law's inputs "
                       "and optionally the fit's group column (empty = new family)")
    p.add_argument("--kind", choices=("observed", "law"), default="observed",
                   help="observed: a new run, with run-to-run noise (default); law: the curve")
    _common(p, "seed of the predictive noise and new-family draws")
    p.add_argument("--out", metavar="CSV", help="also write the predictions to this CSV file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("plot", help="plot a saved fit",
                       description="Plot the runs against training compute (or --x) coloured by "
                       "tokens per parameter, the fitted law at a few fixed D/N with its credible and "
                       "predictive bands, the extrapolation region, planned runs (--at) with their "
                       "intervals, and the residuals.")
    p.add_argument("fit", metavar="FIT.nc", help=fit_file)
    p.add_argument("--out", required=True, metavar="FILE.png",
                   help="image file to write (png, pdf, svg...)")
    p.add_argument("--x", metavar="KEY", help=x_help)
    p.add_argument("--at", action="append", metavar="K=V,...",
                   help=f"a planned run to draw with its interval, e.g. {run_help}")
    p.add_argument("--ci-prob", type=probability, default=0.9,
                   help="band probability (default: 0.9)")
    p.set_defaults(func=cmd_plot)
    for module in _EXTENSIONS:
        extension = importlib.import_module(f"{__package__}.{module}")
        extension.add_parser(sub)  # sets a `handler` default, see main
    for name, command in sub.choices.items():
        if name == "laws":
            continue
        try:
            command.add_argument("--device", choices=_DEVICES, help="JAX platform to run on, as "
                                 "numpyro.set_platform (default: JAX's choice, an accelerator if "
                                 "present)")
        except argparse.ArgumentError:  # the sub-command defines its own --device
            pass
        _progress_options(command)
    return parser


def _progress_options(command: argparse.ArgumentParser) -> None:
    """``--progress``/``--no-progress``; default: bars only when stderr is a terminal."""
    shown = command.add_mutually_exclusive_group()
    shown.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show progress bars on stderr even when it is not a terminal "
                       "(default: shown on a terminal; BAYESLAW_PROGRESS=0/1 sets the default)")
    shown.add_argument("--no-progress", dest="progress", action="store_false",
                       help="hide progress bars")


def _use_cpu_cores() -> None:
    """Expose every CPU core as a JAX device so chains run in parallel (must precede jax import)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        count = max(os.cpu_count() or 1, 4)
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def select_device(name: str) -> None:
    """Make ``name`` (cpu, gpu or tpu) JAX's only platform, with ``numpyro.set_platform``.

    Must run before any JAX computation. JAX's backends are probed once to learn which
    platforms this machine has, then cleared, so the chosen platform is the one initialised.

    Raises
    ------
    CliError
        When JAX has no such platform here; the message lists the platforms it has.
    """
    import numpyro
    from jax.extend import backend

    present: dict[str, str] = {}
    for platform in backend.backends():
        present.setdefault(_PLATFORM_KIND.get(platform, platform), platform)
    if name not in present:
        raise CliError(f"--device {name}: JAX has no {name} platform on this machine; "
                       f"platforms present: {', '.join(sorted(present))}")
    backend.clear_backends()
    numpyro.set_platform(present[name])  # it takes concrete names (cuda, rocm), not 'gpu'


def main(argv: list[str] | None = None) -> int:
    """Run the ``bayeslaw`` command; returns the exit status (0 ok, 2 bad input).

    SIGINT and SIGTERM end the process with one line and status 130 or 143 (see
    :mod:`bayeslaw.core.interrupts`).
    """
    with interrupts.guard():
        _use_cpu_cores()
        args = build_parser().parse_args(argv)
        from bayeslaw.core.errors import BayeslawError

        handler = getattr(args, "func", None) or args.handler
        try:
            if getattr(args, "device", None):
                select_device(args.device)
            return handler(args)
        except (BayeslawError, CliError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:  # a SIGINT raised by other code than our handler
            interrupts.end(signal.SIGINT)
    return EXIT_ERROR  # not reached: _fail and end exit


if __name__ == "__main__":
    sys.exit(main())
