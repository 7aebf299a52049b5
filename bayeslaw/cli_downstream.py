"""``bayeslaw downstream {ladder,quantization} ...``: command-line face of the downstream models.

Hooked into the main CLI with ``add_parser(subparsers)`` (add ``"cli_downstream"`` to
``cli._EXTENSIONS``); the handler returns the exit status, 2 with one line on bad input.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .errors import BayeslawError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``downstream`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("downstream", help="downstream accuracy models (ladder, quantization)",
                              description="Fit a downstream model on a data folder and print its summary "
                                          "and predictions.")
    p.add_argument("model", choices=("ladder", "quantization"))
    p.add_argument("data", help="data folder (olmo_ladder or quantization_openllm layout)")
    p.add_argument("--task", default="mmlu", help="ladder task (default mmlu) or quantization benchmark (MMLU)")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ci-prob", type=float, default=0.9)
    p.set_defaults(handler=run_downstream)
    return p


def run_downstream(args: argparse.Namespace) -> int:
    """Handler: fit, print the summary and the predictions; 2 on bad input."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if args.model == "ladder":
                from .ladder import OLMO_CHANCE, fit_ladder, load_olmo_ladder

                runs, targets = load_olmo_ladder(args.data, args.task)
                fit = fit_ladder(runs, chance=OLMO_CHANCE[args.task], chains=args.chains, draws=args.draws,
                                 warmup=args.warmup, seed=args.seed)
                table = fit.predict(targets[["N", "D"]], ci_prob=args.ci_prob).assign(actual=targets["accuracy"].values)
            else:
                from .quantization import fit_quantization, load_openllm

                curve, pairs = load_openllm(args.data, args.task)
                fit = fit_quantization(curve, pairs, chains=args.chains, draws=args.draws, warmup=args.warmup,
                                       seed=args.seed)
                table = fit.prob_quantized_wins([4.0, 16.0, 48.0, 140.0])
    except (BayeslawError, OSError, KeyError) as exc:
        print(f"bayeslaw: error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    print(fit.summary(ci_prob=args.ci_prob).to_string(float_format=lambda v: f"{v:.4g}"))
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``bayeslaw downstream`` on its own."""
    parser = argparse.ArgumentParser(prog="bayeslaw")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
