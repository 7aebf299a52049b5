"""The ``bayeslaw`` command line: ``laws``, ``fit``, ``predict`` and ``plot``.

Bad input of any kind prints one line ``bayeslaw: error: <message>`` to stderr and exits with
status 2; nothing is written then. Outputs go to a temporary file in the target folder that is
renamed into place, so a file is either complete or absent. Every output folder is checked
before any work. The library is imported inside :func:`main`, after argument parsing.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

EXIT_ERROR = 2
#: modules adding sub-commands through ``add_parser(subparsers)`` (each sets a ``handler``)
_EXTENSIONS = ("cli_compare", "cli_backtest", "cli_downstream")
_POOLINGS = ("shared", "partial", "none", "correlated")  # as bayeslaw.law.POOLINGS (not imported: --help stays fast)
_DEVICES = ("cpu", "gpu", "tpu")
#: JAX's concrete platform names by the ``--device`` kind they belong to (others are their own kind)
_PLATFORM_KIND = {"cuda": "gpu", "rocm": "gpu"}


class CliError(Exception):
    """Bad command-line input found by the command line itself (bad token, unwritable path)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, like every other error of the tool."""

    def error(self, message: str):
        _fail(f"{message} (see '{self.prog} --help')")


def _fail(message: str):
    first = str(message).strip().splitlines()[0] if str(message).strip() else "failed"
    print(f"bayeslaw: error: {first}", file=sys.stderr)
    sys.exit(EXIT_ERROR)


# -- parsing of key=value lists -------------------------------------------------------------


def _pairs(text: str, option: str) -> list[tuple[str, str]]:
    """Split ``k=v,k=v`` into pairs; no evaluation of any kind."""
    out, seen = [], set()
    for token in text.split(","):
        token = token.strip()
        key, eq, value = token.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise CliError(f"bad {option} value {text!r}: {token!r} is not key=value")
        if key in seen:
            raise CliError(f"bad {option} value {text!r}: {key!r} is given twice")
        seen.add(key)
        out.append((key, value))
    return out


def parse_pooling(texts: list[str], params: list[str]) -> dict[str, str]:
    """``["alpha=partial,beta=none"]`` -> {"alpha": "partial", "beta": "none"}."""
    out: dict[str, str] = {}
    for text in texts:
        bad = f"bad --pooling value {text!r}"
        for key, value in _pairs(text, "--pooling"):
            if key not in params:
                raise CliError(f"{bad}: {key!r} is not a parameter of the law; "
                               f"parameters: {', '.join(params)}")
            if value not in _POOLINGS:
                raise CliError(f"{bad}: {value!r} is not one of: {', '.join(_POOLINGS)}")
            out[key] = value
    return out


def parse_point(text: str, option: str, inputs: dict[str, bool], group: str | None,
                families: list[str] | None) -> dict:
    """``"N=7e10,D=1.4e12,family=dense"`` -> a row dict for ``Fit.predict``.

    ``inputs`` maps each law input to whether it must be positive. The family may be given as
    ``family=`` or under the fit's group column name; empty means a new family.
    """
    row: dict = {}
    bad = f"bad {option} value {text!r}"
    valid = list(inputs) + (["family"] if group else [])
    for key, value in _pairs(text, option):
        if group and key in ("family", group):
            if families is not None and value and value not in families:
                raise CliError(f"{bad}: unknown family {value!r}; known: "
                               f"{', '.join(families)} (leave it empty for a new family)")
            row[group] = value
            continue
        if key not in inputs:
            hint = " (the fit has no --group, so no family)" if key == "family" else ""
            raise CliError(f"{bad}: unknown key {key!r}; valid: {', '.join(valid)}{hint}")
        try:
            number = float(value)
        except ValueError:
            raise CliError(f"{bad}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise CliError(f"{bad}: {value!r} is not a finite number")
        if inputs[key] and number <= 0:
            raise CliError(f"{bad}: {key} must be positive, got {value!r}")
        row[key] = number
    missing = [name for name in inputs if name not in row]
    if missing:
        raise CliError(f"{bad}: missing {', '.join(missing)} (needed: {', '.join(inputs)})")
    return row


# -- output files -----------------------------------------------------------------------------


def check_output(path: str, option: str) -> Path:
    """Refuse an output path whose folder is missing or unwritable (before any work is done)."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise CliError(f"cannot write {option} '{path}': folder '{folder}' does not exist")
    if target.is_dir():
        raise CliError(f"cannot write {option} '{path}': it is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"cannot write {option} '{path}': folder '{folder}' is not writable")
    return target


def check_plot_path(path: str, option: str = "--plot") -> Path:
    """An output path for a figure, with a format matplotlib can write."""
    from matplotlib.backend_bases import FigureCanvasBase

    target = check_output(path, option)
    fmt = target.suffix.lstrip(".").lower() or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise CliError(f"cannot write {option} '{path}': unknown image format {fmt!r}; "
                       f"use one of: {', '.join(sorted(supported))}")
    return target


def atomic_write(target: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``target``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        raise CliError(f"cannot write '{target}': {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_plot(fit, target: Path, x: str, ci_prob: float) -> None:
    """Draw :func:`bayeslaw.plot.plot_fit` on a pyplot-free figure and save it atomically."""
    from matplotlib.figure import Figure

    from .plot import plot_fit

    fig = Figure(figsize=(7, 5), layout="constrained")
    plot_fit(fit, x=x, ci_prob=ci_prob, ax=fig.add_subplot())
    fmt = target.suffix.lstrip(".").lower() or "png"
    atomic_write(target, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120))


# -- printing ---------------------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.4g}"


def format_summary(summary) -> str:
    """A parameter summary with 4 significant digits, R-hat to 3 decimals, ESS as integers."""
    text = summary.copy().astype(object)
    for col in ("mean", "sd", "median", "lower", "upper"):
        text[col] = [_num(v) for v in summary[col]]
    text["r_hat"] = [f"{v:.3f}" for v in summary["r_hat"]]
    for col in ("ess_bulk", "ess_tail"):
        text[col] = [f"{v:.0f}" for v in summary[col]]
    return text.to_string()


def format_predictions(frame, inputs: list[str]) -> str:
    text = frame.copy().astype(object)
    for col in inputs + ["mean", "sd", "median", "lower", "upper"]:
        if col in frame:
            text[col] = [_num(v) for v in frame[col]]
    return text.to_string(index=False)


# -- subcommands ------------------------------------------------------------------------------


def cmd_laws(args) -> int:
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


def _read_data(spec: str):
    import bayeslaw as bl
    from bayeslaw.data import read_runs

    if spec.startswith("dataset:"):
        return bl.load_dataset(spec.removeprefix("dataset:"))
    return read_runs(spec)


def _check_ci_prob(value: float) -> float:
    if not 0 < value < 1:
        raise CliError(f"bad --ci-prob value '{value:g}': must be between 0 and 1")
    return value


def cmd_fit(args) -> int:
    import bayeslaw as bl

    ci_prob = _check_ci_prob(args.ci_prob)
    out = check_output(args.out, "--out") if args.out else None
    plot = check_plot_path(args.plot) if args.plot else None
    law = bl.load_law(args.law)
    pooling = parse_pooling(args.pooling, list(law.all_params()))
    x = args.x or law.input_names[0]
    if x not in law.input_names:
        raise CliError(f"bad --x value {x!r}: not an input of law {law.name!r}; "
                       f"inputs: {', '.join(law.input_names)}")
    runs = _read_data(args.data)
    families = None
    if args.group and args.group in runs.columns:
        families = sorted({str(v) for v in runs[args.group].dropna()})
    inputs = {i.name: i.positive for i in law.inputs}
    points = [parse_point(t, "--predict", inputs, args.group, families) for t in args.predict]
    if args.extrapolation:
        from .extrapolation import check_key

        check_key(law, args.extrapolation)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bl.fit(law, runs, target=args.target, group=args.group, run=args.run, pooling=pooling,
                     chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed,
                     progress_bar=args.progress)
        if args.extrapolation:
            fit = fit.calibrate_extrapolation(by=args.extrapolation)
    n_fam = len(fit.families)
    print(
        f"{law.name}: {len(fit.table.frame)} runs, {n_fam} {'family' if n_fam == 1 else 'families'}"
        f", target {args.target!r}; {args.chains} chains x {args.draws} draws "
        f"(warmup {args.warmup}, {fit.config['chain_method']}), seed {args.seed}"
    )
    print(f"\nPosterior summary ({ci_prob:.0%} intervals):")
    print(format_summary(fit.summary(ci_prob=ci_prob)))
    t = fit.timings
    print(
        f"\nTimings: compile {t['compile_s']:.1f} s, sampling {t['sampling_s']:.1f} s "
        f"(start {t['init_s']:.1f} s, total {t['total_s']:.1f} s)"
    )
    if fit.extrapolation is not None:
        error = fit.extrapolation
        print(f"Extrapolation error beyond the largest run ({len(error.cutoffs)} nested refits): "
              f"offset kappa {error.kappa_median:.3g}, slope change tau {error.tau_median:.3g} "
              f"per unit log {error.by} (log {args.target})")
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
    if out is not None:
        atomic_write(out, fit.save)
        print(f"\nwrote {out}")
    if plot is not None:
        save_plot(fit, plot, x, ci_prob)
        print(f"wrote {plot}")
    return 0


def _rows_frame(points: list[dict]):
    """Row dicts (possibly with different keys) -> one DataFrame; absent family = new family."""
    import pandas as pd

    return pd.DataFrame(points)


def cmd_predict(args) -> int:
    import bayeslaw as bl
    from bayeslaw.data import read_runs

    ci_prob = _check_ci_prob(args.ci_prob)
    out = check_output(args.out, "--out") if args.out else None
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
    if out is not None:
        atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False))
        print(f"wrote {out}")
    return 0


def cmd_plot(args) -> int:
    import bayeslaw as bl

    ci_prob = _check_ci_prob(args.ci_prob)
    target = check_plot_path(args.out, "--out")
    fit = bl.load_fit(args.fit)
    x = args.x or fit.law.input_names[0]
    save_plot(fit, target, x, ci_prob)
    print(f"wrote {target}")
    return 0


# -- parser and entry point -------------------------------------------------------------------

_FIT_EXAMPLE = """examples:
  bayeslaw fit chinchilla dataset:synthetic_families --group family --out fit.nc --plot fit.png
  bayeslaw fit chinchilla runs.csv --group family --pooling alpha=partial \\
      --predict "N=7e10,D=1.4e12,family=dense" --predict "N=7e10,D=1.4e12"
"""


def _common(p: argparse.ArgumentParser, seed_help: str) -> None:
    p.add_argument("--ci-prob", type=float, default=0.9, help="interval probability (default: 0.9)")
    p.add_argument("--seed", type=int, default=0, help=f"{seed_help} (default: 0)")


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
    x_help = "law input on the plot's x axis (default: the law's first input)"
    run_help = ('"N=7e10,D=1.4e12,family=dense"; leave family out (or empty) for a new family '
                "(repeatable)")

    p = sub.add_parser("laws", help="list the laws in the catalogue",
                       description="List the catalogue's laws: name, inputs, parameters, "
                       "description.")
    p.set_defaults(func=cmd_laws)

    p = sub.add_parser("fit", help="fit a law to a table of runs", epilog=_FIT_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Fit a scaling law with NUTS; print the posterior summary, "
                       "timings, diagnostics and any requested predictions.")
    p.add_argument("law", metavar="LAW",
                   help="catalogue name (see 'bayeslaw laws') or path to a .toml law file")
    p.add_argument("data", metavar="DATA", help="CSV file of runs (one row per run), or "
                   "dataset:NAME for a registered data set, e.g. dataset:synthetic_families")
    p.add_argument("--target", default="loss", help="column of the target (default: loss)")
    p.add_argument("--group", metavar="COL",
                   help="column naming each run's family; without it all runs are one family")
    p.add_argument("--pooling", action="append", default=[], metavar="P=MODE,...",
                   help="override pooling per parameter, MODE one of shared, partial, none, correlated "
                   "(all 'correlated' parameters vary jointly across families); e.g. alpha=partial,beta=none "
                   "or a=correlated,alpha=correlated (repeatable)")
    p.add_argument("--run", metavar="COL", help="column naming the training run when rows are "
                   "intermediate checkpoints (adds a per-run effect)")
    p.add_argument("--extrapolation", metavar="KEY", help="calibrate the extrapolation error on "
                   "size key KEY (C = 6ND, or a law input) by nested leave-largest-out refits: "
                   "predictions beyond the largest run widen accordingly")
    p.add_argument("--chains", type=int, default=4, help="number of chains (default: 4)")
    p.add_argument("--draws", type=int, default=1000,
                   help="draws per chain after warmup (default: 1000)")
    p.add_argument("--warmup", type=int, default=1000,
                   help="warmup iterations per chain (default: 1000)")
    _common(p, "random seed of the sampler and the predictions")
    p.add_argument("--out", metavar="FIT.nc", help="write the fit to this netCDF file (for "
                   "'bayeslaw predict' and 'bayeslaw plot')")
    p.add_argument("--predict", action="append", default=[], metavar="K=V,...",
                   help=f"a planned run to predict (law and observed), e.g. {run_help}")
    p.add_argument("--plot", metavar="FILE.png", help="save a plot of the fit (png, pdf, svg...)")
    p.add_argument("--x", metavar="INPUT", help=x_help)
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the sampler's progress bar")
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
                       description="Plot the runs, the fitted law of each family and its "
                       "credible band (log-log); other inputs are held at each family's "
                       "geometric mean.")
    p.add_argument("fit", metavar="FIT.nc", help=fit_file)
    p.add_argument("--out", required=True, metavar="FILE.png",
                   help="image file to write (png, pdf, svg...)")
    p.add_argument("--x", metavar="INPUT", help=x_help)
    p.add_argument("--ci-prob", type=float, default=0.9, help="band probability (default: 0.9)")
    p.set_defaults(func=cmd_plot)
    for module in _EXTENSIONS:
        try:
            extension = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:  # an optional sub-command not in this installation
            if exc.name != f"{__package__}.{module}":
                raise
            continue
        extension.add_parser(sub)  # sets a `handler` default, see main
    for name, command in sub.choices.items():
        if name == "laws":
            continue
        try:
            command.add_argument("--device", choices=_DEVICES, help="JAX platform to run on, as "
                                 "numpyro.set_platform (default: JAX's choice, an accelerator if present)")
        except argparse.ArgumentError:  # the sub-command defines its own --device
            pass
    return parser


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
    """Run the ``bayeslaw`` command; returns the exit status (0 ok, 2 bad input)."""
    _use_cpu_cores()
    args = build_parser().parse_args(argv)
    from .errors import BayeslawError

    handler = getattr(args, "func", None) or args.handler
    try:
        if getattr(args, "device", None):
            select_device(args.device)
        return handler(args)
    except (BayeslawError, CliError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        print("bayeslaw: interrupted", file=sys.stderr)
        return 130
    return EXIT_ERROR  # not reached: _fail exits


if __name__ == "__main__":
    sys.exit(main())
