"""bayeslaw: Bayesian scaling-law estimation on JAX and NumPyro.

Fit a scaling law with full posterior uncertainty, pool parameters across model families, and
predict planned runs with honest intervals::

    import bayeslaw as bl
    runs = bl.load_dataset("synthetic_families")
    fit = bl.fit("chinchilla", runs, target="loss", group="family", seed=0)
    fit.summary(ci_prob=0.9)
    fit.predict({"N": 70e9, "D": 1.4e12, "family": "dense"}, kind="observed")
"""

# first: when this process is the command line, SIGINT/SIGTERM end it cleanly from here on,
# also while the numerical stack below is imported (see bayeslaw.core.interrupts)
from bayeslaw.core import interrupts as _interrupts  # noqa: F401  isort: skip
from bayeslaw.core.errors import (
    BayeslawError,
    BayeslawWarning,
    ConvergenceWarning,
    DataError,
    DataWarning,
    DesignWarning,
    FitError,
    LawSpecError,
    PredictionError,
)
from bayeslaw.data.checkpoints import drop_early_checkpoints
from bayeslaw.data.datasets import list_datasets, load_dataset
from bayeslaw.data.where import filter_runs
from bayeslaw.decide.design import suggest_runs
from bayeslaw.decide.isoflop import IsoflopFit, isoflop
from bayeslaw.decide.isoflop_design import isoflop_grid
from bayeslaw.decide.planning import optimal_allocation, plan_precision, prob_below, prob_better
from bayeslaw.downstream.ladder import LadderFit, fit_ladder
from bayeslaw.downstream.observational import ObservationalFit, capability_pca, fit_observational
from bayeslaw.downstream.performance_law import PerformanceLawFit, fit_performance_law
from bayeslaw.downstream.quantization import QuantizationFit, fit_quantization
from bayeslaw.evaluate.backtest import Backtest, backtest
from bayeslaw.evaluate.compare import ParetoKWarning, average_predict, compare, refit
from bayeslaw.evaluate.families import FamilyTestResult, family_test, plot_forest
from bayeslaw.evaluate.sbc import SBCResult, sbc
from bayeslaw.infer.batch import diagnose_many, fit_many, summarize_many
from bayeslaw.infer.fit import calibrate_extrapolation, fit
from bayeslaw.laws.law import Law, list_laws, load_law, parse_law, with_noise_trend
from bayeslaw.plot import (
    plot_calibration,
    plot_decision,
    plot_family_forest,
    plot_fit,
    plot_frontier,
    plot_isoflop,
    plot_residuals,
)
from bayeslaw.plot.downstream import plot_accuracy, plot_loadings
from bayeslaw.report import write_report
from bayeslaw.results.fit import Fit
from bayeslaw.results.load import load_fit

__version__ = "0.1.0"

__all__ = [
    "Backtest",
    "BayeslawError",
    "BayeslawWarning",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "DesignWarning",
    "FamilyTestResult",
    "Fit",
    "FitError",
    "IsoflopFit",
    "LadderFit",
    "Law",
    "LawSpecError",
    "ObservationalFit",
    "ParetoKWarning",
    "PerformanceLawFit",
    "PredictionError",
    "QuantizationFit",
    "SBCResult",
    "average_predict",
    "backtest",
    "calibrate_extrapolation",
    "capability_pca",
    "compare",
    "diagnose_many",
    "drop_early_checkpoints",
    "family_test",
    "filter_runs",
    "fit",
    "fit_ladder",
    "fit_many",
    "fit_observational",
    "fit_performance_law",
    "fit_quantization",
    "isoflop",
    "isoflop_grid",
    "list_datasets",
    "list_laws",
    "load_dataset",
    "load_fit",
    "load_law",
    "optimal_allocation",
    "parse_law",
    "plan_precision",
    "plot_accuracy",
    "plot_calibration",
    "plot_decision",
    "plot_family_forest",
    "plot_fit",
    "plot_forest",
    "plot_frontier",
    "plot_isoflop",
    "plot_loadings",
    "plot_residuals",
    "prob_below",
    "prob_better",
    "refit",
    "sbc",
    "suggest_runs",
    "summarize_many",
    "with_noise_trend",
    "write_report",

]
