"""Options of the ``bayeslaw`` command line, as argparse sees them: range-checked numbers
(``type=`` functions, so a bad value is a one-line usage error at parsing) and the options
several sub-commands share, each defined once so its flag, default and help read the same in
every command. Only the standard library is imported, so ``bayeslaw --help`` stays fast.

The checks that need the parsed values together (key=value lists, output paths) are in
:mod:`bayeslaw.cli.args`.
"""

from __future__ import annotations

import argparse
import math

from bayeslaw.cli.args import CliError

# -- numbers given as options (argparse ``type=`` functions) ----------------------------------

#: seeds are 32-bit unsigned integers (JAX's PRNGKey and NumPy's generators take them all)
SEED_MAX = 2**32 - 1
#: more chains than this, or more warmup/draws per chain, is refused as a typo: the draws are
#: held in memory (chains x draws x parameters) and would take days on any machine
MAX_CHAINS = 1024
MAX_ITERATIONS = 10**7
#: ``suggest``: more runs to choose, or runs per iso-cost curve, than this is refused as a typo
#: (each chosen run is one greedy step over every candidate in every simulated world)
MAX_DESIGN_RUNS = 1000
#: ``suggest``: simulated worlds, at least 2 (as :func:`bayeslaw.decide.design.suggest_runs`
#: requires) and at most this many (each world holds a weight per posterior draw)
MAX_WORLDS = 10**4


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut to 40 characters."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def whole(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``, or a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{_shown(text)} is out of range: give a whole number from {low} to {high}")
        return value

    parse.__name__ = "whole number"
    return parse


def _float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a finite number")
    return value


def finite(text: str) -> float:
    """An argparse type: a finite number."""
    return _float(text)


def positive(text: str) -> float:
    """An argparse type: a finite number greater than 0 (a cost budget)."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{_shown(text)} must be a positive number")
    return value


def probability(text: str) -> float:
    """An argparse type: a probability strictly between 0 and 1 (an interval's mass)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{_shown(text)} must be between 0 and 1 (e.g. 0.9)")
    return value


seed = whole(0, SEED_MAX)
chains = whole(1, MAX_CHAINS)
iterations = whole(1, MAX_ITERATIONS)
design_runs = whole(1, MAX_DESIGN_RUNS)
worlds = whole(2, MAX_WORLDS)


def add_sampler_options(p: argparse.ArgumentParser, chains_default: int = 4,
                        iterations_default: int = 1000, seed_help: str = "random seed") -> None:
    """``--chains``, ``--draws``, ``--warmup`` and ``--seed``, each range-checked at parsing."""
    p.add_argument("--chains", type=chains, default=chains_default,
                   help=f"number of chains, 1 to {MAX_CHAINS} (default: {chains_default})")
    p.add_argument("--draws", type=iterations, default=iterations_default,
                   help=f"draws per chain after warmup (default: {iterations_default})")
    p.add_argument("--warmup", type=iterations, default=iterations_default,
                   help=f"warmup iterations per chain (default: {iterations_default})")
    add_shared(p, "--seed", help=f"{seed_help}, 0 to {SEED_MAX} (default: 0)")


# -- options shared by several sub-commands --------------------------------------------------

#: how a planned run is written on the command line (``--predict``, ``--at``)
POINT_EXAMPLE = ('"N=7e10,D=1.4e12,family=dense"; leave family out (or empty) for a new family '
                 "(repeatable)")

#: options several sub-commands take with the same flag, metavar, type, default and help; a
#: command adds one with :func:`add_shared`
SHARED_OPTIONS: dict[str, dict] = {
    # a saved fit: the input of predict, plot, report, plan and suggest
    "fit": {"metavar": "FIT.nc", "help": "a fit written by 'bayeslaw fit --out'"},
    # FLOP budgets, read with bayeslaw.cli.args.parse_budgets; each command's help says what for
    "--compute": {"metavar": "C,C,..."},
    "--flops": {"default": "6*N*D", "help": "FLOP formula k*N*D (default: 6*N*D)"},
    # every command's --ci-prob, range-checked at parsing; plot, compare and family-test change the help
    # every command's --seed, range-checked at parsing; each command's help says what it seeds
    "--seed": {"type": seed, "default": 0},
    "--ci-prob": {"type": probability, "default": 0.9, "help": "interval probability (default: 0.9)"},
    "--x": {"metavar": "KEY", "help": "size key on the plot's x axis: C (training compute 6ND, "
            "the default for laws in N and D) or a law input (default otherwise: the law's first "
            "input)"},
}


def add_shared(p: argparse.ArgumentParser, name: str, **changes) -> None:
    """Add the option (or positional) ``name`` of :data:`SHARED_OPTIONS` to ``p``.

    ``changes`` replace or add ``add_argument`` keywords, e.g. the help of ``--compute``, which
    says what the budgets are for.
    """
    p.add_argument(name, **(SHARED_OPTIONS[name] | changes))


def add_ci_prob_and_seed(p: argparse.ArgumentParser, seed_help: str) -> None:
    """``--ci-prob`` and ``--seed``, both range-checked at parsing (``fit`` and ``predict``)."""
    add_shared(p, "--ci-prob")
    add_shared(p, "--seed", help=f"{seed_help}, 0 to {SEED_MAX} (default: 0)")


def add_law_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``fit`` and ``backtest`` that change the model around the law: the
    checkpoint run column, the noise trend and the extrapolation error."""
    run = p.add_mutually_exclusive_group()
    run.add_argument("--run", metavar="COL", help="column naming the training run when rows are "
                     "intermediate checkpoints (adds a per-run effect; default: a 'run' or 'run_id' "
                     "column that repeats a label)")
    run.add_argument("--no-run", dest="run", action="store_const", const=False,
                     help="no per-run effect, even where a 'run' column repeats a label")
    p.add_argument("--noise-trend", metavar="INPUT", help="let the noise scale follow a power of this "
                   "law input (sigma_trend), e.g. N when small runs scatter more than large ones")
    p.add_argument("--extrapolation", metavar="KEY", help="measure the extrapolation error on "
                   "size key KEY (C = 6ND, or a law input) by nested leave-largest-out refits "
                   "(default: C for laws in N and D, else the law's input); predictions beyond "
                   "the fitted runs in KEY, N or D widen accordingly")
    p.add_argument("--no-extrapolation", action="store_true",
                   help="leave the extrapolation error out of the predictions")


def extrapolation_choice(args: argparse.Namespace) -> str | bool:
    """The ``extrapolation=`` argument of :func:`bayeslaw.fit` that the options above ask for."""
    if args.no_extrapolation and args.extrapolation is not None:
        raise CliError(f"--extrapolation {args.extrapolation} and --no-extrapolation contradict each other; give one")
    return False if args.no_extrapolation else (args.extrapolation or "auto")

