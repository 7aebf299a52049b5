"""``bayeslaw suggest``: which runs to train next, from a saved fit (:func:`bayeslaw.suggest_runs`).

The target is one or more planned runs (``--target "N=7e10,D=1.4e12"``, repeatable) or the
compute-optimal N* at FLOP budgets (``--compute 1e21,1e22``). The candidates come from a CSV file
(``--candidates``, columns N, D and optionally the family), a log-spaced grid (``--grid
"N=1e7:1e9:7,D=1e8:1e10:7"``: from:to:count per input, every combination) or iso-cost curves
(``--iso 1e18,1e19``, ``--points`` runs per budget). ``--with OTHER.nc`` (repeatable) designs for
several laws fitted on the same runs at once, mixed by their stacking weights (as ``bayeslaw
compare`` computes them), so the runs also tell the laws apart where they disagree about the
target; targets and candidates then give every input of every law. Bad input prints one line,
exit status 2.
"""

from __future__ import annotations

import argparse
import itertools
import math
import warnings
from pathlib import Path

import numpy as np

from bayeslaw.cli.args import (
    CliError,
    _rows_frame,
    check_family,
    named_fit,
    parse_budgets,
    parse_point,
    refuse_unused,
    with_family,
)
from bayeslaw.cli.options import add_shared, design_runs, positive, worlds

_EXAMPLE = """examples:
  bayeslaw suggest fit.nc --target "N=7e10,D=1.4e12" --grid "N=1e7:1e9:7,D=1e8:1e10:7" --n 4
  bayeslaw suggest fit.nc --compute 1e21 --candidates runs.csv --budget 1e19 --no-replicates
  bayeslaw suggest chinchilla.nc --with kaplan.nc --target "N=7e10,D=1.4e12" --grid "N=1e7:1e9:7,D=1e8:1e10:7"
"""


#: most values per --grid axis (candidates in all: design_inputs.MAX_CANDIDATES): every candidate
#: is predicted on every posterior draw in every simulated world, so a grid of 10^8 exhausts
#: memory before it says so
MAX_GRID = 1000


def parse_grid(text: str, inputs: list[str]) -> dict[str, np.ndarray]:
    """``"N=1e7:1e9:7,D=1e8:1e10:7"`` -> {"N": 7 log-spaced values, "D": ...}: axes among
    ``inputs`` (the inputs of every law in the design: the grid may span N, D or C, M), each
    given once."""
    bad = f"bad --grid value {text!r}"
    axes: dict[str, np.ndarray] = {}
    for part in text.split(","):
        key, sep, spec = part.partition("=")
        key = key.strip()
        if not sep:
            raise CliError(f"{bad}: {part.strip()!r} is not KEY=FROM:TO:COUNT")
        if key not in inputs:
            raise CliError(f"{bad}: unknown key {key!r}; valid: {', '.join(inputs)}")
        if key in axes:
            raise CliError(f"{bad}: {key!r} is given twice")
        pieces = spec.split(":")
        if len(pieces) != 3:
            raise CliError(f"{bad}: {part.strip()!r} is not KEY=FROM:TO:COUNT")
        try:
            low, high, count = float(pieces[0]), float(pieces[1]), int(pieces[2])
        except ValueError:
            raise CliError(f"{bad}: {part.strip()!r} needs two numbers and a whole count") from None
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high) or not 1 <= count <= MAX_GRID:
            raise CliError(f"{bad}: {key} needs 0 < FROM <= TO and 1 <= COUNT <= {MAX_GRID}")
        if count == 1 and low != high:  # np.geomspace would keep FROM and drop TO unsaid
            raise CliError(f"{bad}: {key} has one value (COUNT 1) but FROM {low:g} and TO {high:g} differ; "
                           f"give {key}={low:g}:{low:g}:1 or a COUNT of 2 or more")
        axes[key] = np.geomspace(low, high, count)
    return axes


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``suggest`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "suggest", help="which runs to train next to sharpen a prediction (Bayesian design)",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Choose, greedily, the candidate runs expected to shrink the posterior sd of a "
                    "target (planned runs, or log N* at FLOP budgets) the most per unit cost.")
    add_shared(p, "fit")
    p.add_argument("--target", action="append", metavar="K=V,...",
                   help='a planned run, e.g. "N=7e10,D=1.4e12" (repeatable)')
    add_shared(p, "--compute", help="target log N* at these FLOP budgets")
    p.add_argument("--candidates", metavar="CSV", help="candidate runs: a CSV with columns N, D (family)")
    p.add_argument("--grid", metavar="N=A:B:K,...", help="candidates on a log-spaced grid")
    p.add_argument("--iso", metavar="C,C,...", help="candidates on iso-cost curves at these budgets")
    p.add_argument("--points", type=design_runs, default=7, help="runs per iso-cost curve (default: 7)")
    p.add_argument("--family", default=None, help="family of the target and grid candidates")
    p.add_argument("--n", type=design_runs, default=4, help="number of runs to choose (default: 4)")
    p.add_argument("--budget", type=positive, default=None, help="total cost not to exceed")
    p.add_argument("--cost", default="6*N*D", help="cost formula (default: 6*N*D)")
    p.add_argument("--no-replicates", action="store_true", help="choose each candidate at most once")
    p.add_argument("--with", dest="also", action="append", metavar="[NAME=]FIT.nc",
                   help="another law's saved fit of the same runs (repeatable): design for the laws' "
                        "mixture, weighted by their stacking weights (PSIS-LOO, as bayeslaw compare)")
    p.add_argument("--outer", type=worlds, default=64, help="simulated worlds (default: 64)")
    add_shared(p, "--seed", help="seed of the simulated worlds")
    p.set_defaults(handler=run_suggest)
    return p


def _candidates(fit, args, inputs):
    import pandas as pd

    from bayeslaw.data.runs import read_runs
    from bayeslaw.decide.design_inputs import MAX_CANDIDATES

    given = [o for o in ("candidates", "grid", "iso") if getattr(args, o) is not None]
    if len(given) != 1:
        raise CliError("suggest needs exactly one of --candidates CSV, --grid SPEC or --iso C,C,...")
    group = fit.table.group
    if args.candidates is not None:
        return read_runs(args.candidates, "candidates file")
    if args.iso is None:
        refuse_unused(args, {"points": "--points"}, "sets the runs per iso-cost curve of --iso")
    if args.iso is not None:
        budgets = parse_budgets(args.iso, "--iso")
        return {"compute": budgets, "points": args.points, **({"family": args.family} if args.family else {})}
    axes = parse_grid(args.grid, list(inputs))
    if any(k not in axes for k in ("N", "D")):  # a candidate is a run: its size and cost need both
        raise CliError(f"bad --grid value {args.grid!r}: no axis for "
                       f"{' and '.join(k for k in ('N', 'D') if k not in axes)}; every candidate needs "
                       "N and D, e.g. --grid \"N=1e7:1e9:7,D=1e8:1e10:7\"")
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_CANDIDATES:
        raise CliError(f"bad --grid value {args.grid!r}: {size} candidates, more than {MAX_CANDIDATES}; "
                       "use fewer values per axis")
    frame = pd.DataFrame(list(itertools.product(*axes.values())), columns=list(axes))
    if group and args.family is not None:
        frame[group] = args.family
    return frame


def _inputs(fits) -> dict[str, bool]:
    """Every input any of the fits' laws needs (name -> must be positive), in the laws' order."""
    inputs: dict[str, bool] = {}
    for fit in fits:
        inputs.update({i.name: i.positive for i in fit.law.inputs})
    return inputs


def _law_mixture(fit, args):
    """``(fits, weights, notes)`` for a design over several laws (``--with``), else ``(None, None, [])``.

    The main fit is named by its file's stem, each ``--with`` fit by ``NAME=`` or its stem; the
    weights are :func:`bayeslaw.compare`'s stacking weights, which also checks that the fits are
    of the same runs. ``notes``: compare's warnings that PSIS-LOO is unreliable for some runs,
    printed as ``bayeslaw compare`` prints them.
    """
    if not args.also:
        return None, None, []
    import bayeslaw as bl
    from bayeslaw.evaluate.compare import ParetoKWarning

    fits = {Path(args.fit).stem: fit}
    for item in args.also:
        name, path = named_fit(item)
        if name in fits:
            raise CliError(f"--with: fit name {name!r} is given twice; use NAME=FILE.nc")
        fits[name] = bl.load_fit(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParetoKWarning)
        weights = bl.compare(fits, seed=args.seed)
    return fits, weights, [str(w.message) for w in caught if issubclass(w.category, ParetoKWarning)]


def run_suggest(args: argparse.Namespace) -> int:
    """Handler of ``bayeslaw suggest``."""
    import bayeslaw as bl
    from bayeslaw.cli.output import _num

    if args.target is not None and args.compute is not None:
        raise CliError("suggest takes one target: --target K=V,... or --compute C,C,..., not both")
    if args.target is None and args.compute is None:
        raise CliError("suggest needs a target: --target K=V,... (repeatable) or --compute C,C,...")
    fit = bl.load_fit(args.fit)
    check_family(fit, args.family)
    fits, weights, notes = _law_mixture(fit, args)
    inputs = _inputs(fits.values() if fits else [fit])
    if args.compute is not None:
        target = {"compute": parse_budgets(args.compute), "family": args.family}
    else:
        group = fit.table.group
        points = with_family([parse_point(t, "--target", inputs, group, list(fit.families)) for t in args.target],
                             args.target, "--target", group, args.family)
        target = _rows_frame(points)
    candidates = _candidates(fit, args, inputs)
    from bayeslaw.core.errors import DesignWarning
    from bayeslaw.decide.design import suggest_runs

    with warnings.catch_warnings(record=True) as caught:  # the design's own warnings, as lines below
        warnings.simplefilter("always", DesignWarning)
        table = suggest_runs(fit, target, candidates, n=args.n, cost=args.cost, budget=args.budget,
                             replicates=not args.no_replicates, outer=args.outer, seed=args.seed,
                             fits=fits, weights=weights)
    for w in caught:
        if issubclass(w.category, DesignWarning):
            notes.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if table.empty:  # the design's note says why (a budget below every candidate's cost)
        raise CliError("--" + next((n for n in notes if "below the cheapest" in n), "budget: no run fits it")
                       .replace(", the table is empty", ""))
    what = "log N*" if args.compute is not None else "log law value"
    text = table.astype(object).copy()
    for col in ("N", "D", "cost", "cumulative_cost"):
        text[col] = [f"{v:.3g}" for v in table[col]]
    for col in ("expected_sd", "extrapolation_sd", "ess_fraction"):
        text[col] = [_num(v) for v in table[col]]
    print(f"Next runs (target: {what}; expected sd now {_num(table.attrs['sd_now'])}):")
    print(text.to_string(index=False))
    if fits is not None:
        mixed = ", ".join(f"{k} {v:.2f}" for k, v in weights["weight"].items())
        # a law of (near) zero weight is the truth in no simulated world: nothing to report
        kept = ", ".join(f"{k} {v:.2f}" if math.isfinite(v) else f"{k} n/a (in no simulated world)"
                         for k, v in table.attrs["law_weight_if_true"].items())
        print(f"Laws mixed by stacking weight: {mixed}. Mass the true law would hold after these runs: {kept}.")
    for note in notes:
        print(f"warning: {note}")
    if table.attrs["criterion"] == "gain":
        print("Ranked by expected gain, not gain per unit cost: that spends the budget better here.")
    return 0
