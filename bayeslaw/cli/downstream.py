"""``bayeslaw downstream {ladder,observational,quantization} ...``: the downstream models' command line.

Hooked into the main CLI with ``add_parser(subparsers)`` (``"downstream"`` in
``bayeslaw.cli.main._COMMANDS``); the handler returns the exit status, 2 with one line on bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from bayeslaw.cli.options import add_sampler_options, add_shared, whole
from bayeslaw.cli.output import format_diagnostics
from bayeslaw.core.errors import BayeslawError, BayeslawWarning

#: benchmark columns of obsscaling's base_llm_benchmark_eval.csv; the target is one, the rest are inputs
OBS_BENCHMARKS = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval")
#: default --task per model
DEFAULT_TASK = {"ladder": "mmlu", "observational": "MMLU", "quantization": "MMLU"}
#: the observational accuracy plot draws this many families (those with the most models)
PLOT_FAMILIES = 6


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``downstream`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("downstream", help="downstream accuracy models (ladder, observational, quantization)",
                              description="Fit a downstream model on a data folder and print its summary "
                                          "and predictions.")
    p.add_argument("model", choices=("ladder", "observational", "quantization"))
    p.add_argument("data", help="data folder (olmo_ladder, obsscaling or quantization_openllm layout)")
    p.add_argument("--task", default=None, help="ladder task (default mmlu), observational target benchmark "
                                                "(MMLU; the other benchmarks are the inputs) or quantization "
                                                "benchmark (MMLU)")
    p.add_argument("--factors", type=whole(1, len(OBS_BENCHMARKS) - 1), default=2, help="observational: capability factors (default 2)")
    p.add_argument("--extrapolation-folds", type=whole(0, 2), default=0,
                   help="ladder: nested fits measuring the task loss's extrapolation error beyond the ladder "
                        "(0 to 2; default 0, the posterior alone)")
    add_sampler_options(p, chains_default=2, iterations_default=500)
    add_shared(p, "--ci-prob", help=None)
    p.add_argument("--plot", metavar="FILE.png", help="save the accuracy-vs-compute plot (ladder, observational); "
                                                      "the observational model also saves FILE_loadings.png")
    p.set_defaults(handler=run_downstream)
    return p


def run_downstream(args: argparse.Namespace) -> int:
    """Handler: fit, print the summary and the predictions, save the plots; 2 on bad input."""
    from bayeslaw.cli.args import CliError, check_plot_path, one_line, refuse_unused

    task = args.task or DEFAULT_TASK[args.model]
    unused = {"ladder": {"factors": "--factors"}, "observational": {"extrapolation_folds": "--extrapolation-folds"},
              "quantization": {"factors": "--factors", "extrapolation_folds": "--extrapolation-folds"}}[args.model]
    for dest, flag in unused.items():
        refuse_unused(args, {dest: flag}, f"does not apply to the {args.model} model")
    try:
        plot = None
        if args.plot is not None:
            if args.model == "quantization":
                raise CliError("--plot draws the ladder and observational models, not quantization")
            plot = check_plot_path(args.plot, "--plot", (args.data,))
            if args.model == "observational":
                check_plot_path(str(_loadings_path(plot)))
        caption = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BayeslawWarning)
            if args.model == "ladder":
                from bayeslaw.downstream.ladder import fit_ladder
                from bayeslaw.downstream.olmo_ladder import OLMO_CHANCE, load_olmo_ladder

                runs, targets = load_olmo_ladder(args.data, task)
                fit = fit_ladder(runs, chance=OLMO_CHANCE[task], extrapolation_folds=args.extrapolation_folds,
                                 chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed)
                table = fit.predict(targets[["N", "D"]], ci_prob=args.ci_prob).assign(actual=targets["accuracy"].values)
                drawn = {"rows": runs, "heldout": targets, "group": "size_label"}
                beyond = math.log10((targets["N"] * targets["D"]).max() / (runs["N"] * runs["D"]).max())
                error = fit.loss_error
                measured = (f"with the task loss's extrapolation error from {len(error.cutoffs)} nested fits of the "
                            "ladder" if error is not None else "from the ladder's posterior alone, no extrapolation "
                            "error (--extrapolation-folds 2 measures one)")
                caption = (f"{task} accuracy of the targets ({args.ci_prob:.0%} intervals {measured}; the targets "
                           f"lie up to {beyond:.1f} decades of compute beyond the largest ladder run):")
            elif args.model == "observational":
                fit, table, drawn, caption = _observational(args, task)
            else:
                from bayeslaw.downstream.quantization import fit_quantization, load_openllm

                curve, pairs = load_openllm(args.data, task)
                fit = fit_quantization(curve, pairs, chains=args.chains, draws=args.draws, warmup=args.warmup,
                                       seed=args.seed)
                table = fit.prob_quantized_wins([4.0, 16.0, 48.0, 140.0])
        print(fit.summary(ci_prob=args.ci_prob).to_string(float_format=lambda v: f"{v:.4g}"))
        print()
        if caption:
            print(caption)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        # the sampler's and the data's warnings, as `bayeslaw fit` reports them
        notes = [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, BayeslawWarning)]
        print(format_diagnostics(notes))
        if plot is not None:
            print("wrote " + " and ".join(map(str, _save_plots(fit, plot, drawn, args.ci_prob, args.seed))))
    except (BayeslawError, CliError, OSError) as exc:
        print(f"bayeslaw: error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _observational(args: argparse.Namespace, task: str):
    """Fit obsscaling below the paper's FLOPs cutoff; predict the target of the models at or above
    it. Models without a FLOPs figure lend their base benchmarks to the capability factors, but
    their target is neither fitted (they may lie beyond the cutoff) nor scored (they may not).
    A folder with nothing to fit or nothing to predict, or fewer models than ``--factors``, is
    refused before sampling."""
    import numpy as np

    from bayeslaw.cli.args import CliError
    from bayeslaw.data.files import require_layout
    from bayeslaw.downstream.observational import FLOPS_CUTOFF, fit_observational
    from bayeslaw.downstream.obsscaling import load_obsscaling, table_name

    if task not in OBS_BENCHMARKS:
        raise BayeslawError(f"unknown --task {task!r} for the observational model; benchmarks: "
                            + ", ".join(OBS_BENCHMARKS))
    models = load_obsscaling(args.data)
    require_layout(models, OBS_BENCHMARKS, args.data, "observational")
    models.attrs["table"] = table_name(args.data)  # the fit's refusals name the file
    bench = [b for b in OBS_BENCHMARKS if b != task]
    if args.factors > len(models):  # fit_observational's message names its k
        raise CliError(f"--factors {args.factors} needs at least {args.factors} models; data folder "
                       f"'{args.data}' has {len(models)}")
    flops = models["flops"].to_numpy(float)
    train, above = flops < FLOPS_CUTOFF, flops >= FLOPS_CUTOFF  # NaN is neither
    test = np.flatnonzero(above & models[task].notna().to_numpy())
    for side, rows, verb in (("below", np.flatnonzero(train & models[task].notna().to_numpy()), "fit"),
                             ("at or above", test, "predict")):
        if not rows.size:  # nothing above: the fit ran, then printed pandas' 'Empty DataFrame'
            raise CliError(f"data folder '{args.data}' has no model {side} the holdout cutoff of {FLOPS_CUTOFF:.3g} "
                           f"FLOPs with a {task} score: nothing to {verb}")
    fit = fit_observational(models, bench, task, k=args.factors, train=train, chains=args.chains,
                            draws=args.draws, warmup=args.warmup, seed=args.seed)
    unknown = int((~train & ~above).sum())
    caption = (f"{task} of the {len(test)} models at or above {FLOPS_CUTOFF:.3g} FLOPs (the paper's "
               f"holdout), fitted on the {int((train & models[task].notna().to_numpy()).sum())} below it"
               + (f"; {unknown} model{'s' * (unknown != 1)} without a FLOPs figure "
                  f"{'are' if unknown != 1 else 'is'} neither fitted nor scored" if unknown else "")
               + f" ({args.ci_prob:.0%} intervals):")
    table = fit.predict({"row": test}, ci_prob=args.ci_prob)[["median", "lower", "upper"]]
    table.insert(0, "model", models["model"].to_numpy()[test])
    table.insert(1, "flops", models["flops"].to_numpy()[test])
    table["actual"] = models[task].to_numpy()[test]
    with_c = models[np.isfinite(models["flops"].to_numpy())]
    counts = with_c["family"].astype(str).value_counts()
    families = sorted(counts.index, key=lambda f: (-counts[f], f))[:PLOT_FAMILIES]
    drawn = {"rows": models[train], "heldout": models[above], "x": "flops", "families": families}
    return fit, table, drawn, caption


def _loadings_path(target):
    """Where the observational model's loadings plot goes, beside the accuracy plot."""
    return target.with_name(f"{target.stem}_loadings{target.suffix or '.png'}")


def _save_plots(fit, target, drawn: dict, ci_prob: float, seed: int) -> list:
    """Draw on pyplot-free figures and write them atomically: the accuracy plot, then the loadings."""
    from matplotlib.figure import Figure

    from bayeslaw.cli.output import atomic_write
    from bayeslaw.downstream.observational import ObservationalFit
    from bayeslaw.plot.downstream import plot_accuracy
    from bayeslaw.plot.loadings import plot_loadings

    fmt = target.suffix.lstrip(".").lower() or "png"
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    plot_accuracy(fit, drawn.pop("rows"), ci_prob=ci_prob, seed=seed, ax=fig.add_subplot(), **drawn)
    figures = [(target, fig)]
    if isinstance(fit, ObservationalFit):
        k, n_bench = fit.info["k"], len(fit.info["benchmarks"])
        fig = Figure(figsize=(2.5 + 2.5 * k, 1.2 + 0.35 * n_bench), layout="constrained")
        plot_loadings(fit, ax=fig.subplots(1, k, sharey=True, squeeze=False)[0], ci_prob=ci_prob)
        figures.append((_loadings_path(target), fig))
    for path, figure in figures:
        atomic_write(path, lambda tmp, figure=figure: figure.savefig(tmp, format=fmt, dpi=120))
    return [path for path, _ in figures]
