"""``bayeslaw report FIT.nc --out report.html``: the command-line face of :func:`bayeslaw.write_report`.

The main CLI hooks this in with ``cli_report.add_parser(subparsers)``; the handler is the
sub-parser's ``handler`` default and returns the exit status. Bad input raises
:class:`~bayeslaw.cli.args.CliError` or a :class:`~bayeslaw.core.errors.BayeslawError`, which the
main entry point prints as one line (exit status 2), before anything is written.
"""

from __future__ import annotations

import argparse

from bayeslaw.cli.args import _rows_frame, check_output, parse_point
from bayeslaw.cli.options import add_shared


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "report", help="write a one-page HTML report of a saved fit",
        description="Write one self-contained HTML page (figures embedded, no network, no scripts) "
                    "with the law, the data, the planning plot, the parameters in plain language, "
                    "the sampler diagnostics in words, the planned runs (--at) with how far each "
                    "lies beyond the data, the compute-optimal allocation and the calibration "
                    "evidence.",
        epilog='example:\n  bayeslaw report fit.nc --out report.html --at "N=7e10,D=1.4e12,family=dense"',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared(p, "fit")
    p.add_argument("--out", required=True, metavar="REPORT.html", help="the HTML file to write")
    p.add_argument("--at", action="append", default=[], metavar="K=V,...",
                   help='a planned run, e.g. "N=7e10,D=1.4e12,family=dense"; leave family out for a '
                        "new family (repeatable)")
    add_shared(p, "--ci-prob")
    add_shared(p, "--seed", help="seed of the predictive draws (default: 0)")
    p.add_argument("--title", help="page title (default: the law and the number of runs)")
    p.set_defaults(handler=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    """Handler: load the fit, check the planned runs and write the report."""
    import bayeslaw as bl
    from bayeslaw.report import check_html_name, write_report

    out = check_output(args.out, "--out", (args.fit,))
    check_html_name(args.out, "--out")
    fit = bl.load_fit(args.fit)
    inputs = {i.name: i.positive for i in fit.law.inputs}
    points = [parse_point(t, "--at", inputs, fit.table.group, list(fit.families)) for t in args.at]
    write_report(fit, out, _rows_frame(points) if points else None, ci_prob=args.ci_prob, seed=args.seed,
                 title=args.title)
    print(f"wrote {out}")
    return 0
