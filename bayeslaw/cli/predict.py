"""``bayeslaw predict`` and ``bayeslaw plot``: a saved fit's predictions, as a table or a figure.

``predict`` prints (and with ``--out`` writes) the predictions of ``--at`` runs or of a ``--rows``
CSV; ``plot`` draws the runs, the fitted law and any ``--at`` runs with their intervals. The
main CLI hooks both in with ``add_parser(subparsers)``; each handler is stored as ``handler``.
"""

from __future__ import annotations

import argparse

from bayeslaw.cli.args import (
    _rows_frame,
    check_output,
    check_plot_path,
    parse_point,
)
from bayeslaw.cli.options import POINT_EXAMPLE, add_ci_prob_and_seed, add_shared
from bayeslaw.cli.output import atomic_write, describe_beyond, format_predictions, save_plot


def add_parser(subparsers) -> None:
    """Add the ``predict`` and ``plot`` sub-commands to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("predict", help="predict planned runs from a saved fit",
                              description="Predict runs from a saved fit; prints mean, sd, median "
                              "and the interval of each run.")
    add_shared(p, "fit")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", action="append", metavar="K=V,...",
                       help=f"a run to predict, e.g. {POINT_EXAMPLE}")
    where.add_argument("--rows", metavar="CSV", help="CSV of runs to predict: the law's inputs "
                       "and optionally the fit's group column (empty = new family)")
    p.add_argument("--kind", choices=("observed", "law"), default="observed",
                   help="observed: a new run, with run-to-run noise (default); law: the curve")
    add_ci_prob_and_seed(p, "seed of the predictive noise and new-family draws")
    p.add_argument("--out", metavar="CSV", help="also write the predictions to this CSV file")
    p.set_defaults(handler=run_predict)

    p = subparsers.add_parser("plot", help="plot a saved fit",
                              description="Plot the runs against training compute (or --x) "
                              "coloured by tokens per parameter, the fitted law at a few fixed D/N "
                              "with its credible and predictive bands, the extrapolation region, "
                              "planned runs (--at) with their intervals, and the residuals.")
    add_shared(p, "fit")
    p.add_argument("--out", required=True, metavar="FILE.png",
                   help="image file to write (png, pdf, svg...)")
    add_shared(p, "--x")
    p.add_argument("--at", action="append", metavar="K=V,...",
                   help=f"a planned run to draw with its interval, e.g. {POINT_EXAMPLE}")
    add_shared(p, "--ci-prob", help="band probability (default: 0.9)")
    p.set_defaults(handler=run_plot)


def _points(fit, texts: list[str]):
    """The ``--at`` runs of a saved fit as one frame."""
    inputs = {i.name: i.positive for i in fit.law.inputs}
    group, families = fit.table.group, list(fit.families)
    return _rows_frame([parse_point(t, "--at", inputs, group, families) for t in texts])


def run_predict(args: argparse.Namespace) -> int:
    """Predict runs (``--at`` points or a ``--rows`` CSV) from a saved fit."""
    import bayeslaw as bl
    from bayeslaw.data.runs import read_runs

    ci_prob = args.ci_prob
    out = check_output(args.out, "--out", (args.fit, args.rows)) if args.out is not None else None
    fit = bl.load_fit(args.fit)
    rows = _points(fit, args.at) if args.at else read_runs(args.rows, "prediction rows file")
    frame = fit.predict(rows, kind=args.kind, ci_prob=ci_prob, seed=args.seed)
    print(f"{fit.law.name}: {args.kind} predictions, {ci_prob:.0%} intervals")
    print(format_predictions(frame, list(fit.law.input_names)))
    for line in describe_beyond(frame):
        print(line)
    if out is not None:
        from bayeslaw.data.files import compression_of

        # written through a temporary name, from which pandas would infer no compression
        atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False, compression=compression_of(out)))
        print(f"wrote {out}")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """Plot a saved fit to an image file."""
    import bayeslaw as bl

    target = check_plot_path(args.out, "--out", (args.fit,))
    fit = bl.load_fit(args.fit)
    points = _points(fit, args.at) if args.at else None
    save_plot(fit, target, args.x, args.ci_prob, points)
    print(f"wrote {target}")
    return 0
