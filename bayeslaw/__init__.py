"""bayeslaw: Bayesian scaling-law estimation on JAX and NumPyro.

Fit a scaling law with full posterior uncertainty, pool parameters across model families, and
predict planned runs with honest intervals::

    import bayeslaw as bl
    runs = bl.load_dataset("synthetic_families")
    fit = bl.fit("chinchilla", runs, target="loss", group="family", seed=0)
    fit.summary(ci_prob=0.9)
    fit.predict({"N": 70e9, "D": 1.4e12, "family": "dense"}, kind="observed")

The root holds the workflow (fit, judge, decide, report) and the errors. Figures live in
:mod:`bayeslaw.plot` (``bl.plot.plot_fit``), the downstream laws in :mod:`bayeslaw.downstream`
(``bl.downstream.fit_ladder``), result classes and helpers in their subpackages
(``bayeslaw.evaluate.backtest.Backtest``, ``bayeslaw.infer.batch.summarize_many``).
"""

# first: when this process is the command line, SIGINT/SIGTERM end it cleanly from here on,
# also while the numerical stack below is imported (see bayeslaw.core.interrupts)
from bayeslaw.core import interrupts as _interrupts  # noqa: F401  isort: skip
from bayeslaw import downstream, plot  # noqa: F401  bl.downstream.fit_ladder, bl.plot.plot_fit, ...
from bayeslaw.core.errors import (
    BayeslawError,
    BayeslawWarning,
    ConvergenceWarning,
    DataError,
    DataWarning,
    DesignWarning,
    FitError,
    LawSpecError,
    ParetoKWarning,
    PredictionError,
)
from bayeslaw.data.checkpoints import drop_early_checkpoints
from bayeslaw.data.datasets import list_datasets, load_dataset
from bayeslaw.data.where import filter_runs
from bayeslaw.decide.allocation import optimal_allocation
from bayeslaw.decide.design import suggest_runs
from bayeslaw.decide.isoflop import isoflop
from bayeslaw.decide.isoflop_design import isoflop_grid
from bayeslaw.decide.planning import prob_below, prob_better
from bayeslaw.evaluate.backtest import backtest
from bayeslaw.evaluate.compare import compare
from bayeslaw.evaluate.families import family_test
from bayeslaw.evaluate.sbc import sbc
from bayeslaw.infer.batch import fit_many
from bayeslaw.infer.fit import calibrate_extrapolation, fit
from bayeslaw.laws.law import Law, list_laws, load_law, parse_law, with_noise_trend
from bayeslaw.report import write_report
from bayeslaw.results.fit import Fit
from bayeslaw.results.load import load_fit

__version__ = "0.1.0"

__all__ = [
    # the workflow: fit, judge, decide, report
    "Fit",
    "Law",
    "backtest",
    "calibrate_extrapolation",
    "compare",
    "drop_early_checkpoints",
    "family_test",
    "filter_runs",
    "fit",
    "fit_many",
    "isoflop",
    "isoflop_grid",
    "list_datasets",
    "list_laws",
    "load_dataset",
    "load_fit",
    "load_law",
    "optimal_allocation",
    "parse_law",
    "prob_below",
    "prob_better",
    "sbc",
    "suggest_runs",
    "with_noise_trend",
    "write_report",
    # errors and warnings
    "BayeslawError",
    "BayeslawWarning",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "DesignWarning",
    "FitError",
    "LawSpecError",
    "ParetoKWarning",
    "PredictionError",
]
