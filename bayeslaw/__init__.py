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
# also while the numerical stack below is imported (see bayeslaw.interrupts)
from . import interrupts as _interrupts  # noqa: F401  isort: skip
from . import design, planning
from .backtest import Backtest, backtest
from .batch import diagnose_many, fit_many, summarize_many
from .checkpoints import drop_early_checkpoints
from .compare import ParetoKWarning, average_predict, compare, refit
from .datasets import list_datasets, load_dataset
from .design import suggest_runs
from .errors import (
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
from .family_test import FamilyTestResult, family_test, plot_forest
from .fit import fit
from .isoflop import IsoflopFit, isoflop
from .isoflop_design import isoflop_grid
from .ladder import LadderFit, fit_ladder
from .law import Law, list_laws, load_law, parse_law, with_noise_trend
from .observational import ObservationalFit, capability_pca, fit_observational
from .performance_law import PerformanceLawFit, fit_performance_law
from .persist import load_fit
from .planning import optimal_allocation, plan_precision, prob_below, prob_better
from .plot import (plot_calibration, plot_decision, plot_family_forest, plot_fit, plot_frontier,
                   plot_residuals)
from .plot_downstream import plot_accuracy, plot_loadings
from .quantization import QuantizationFit, fit_quantization
from .report import write_report
from .results import Fit
from .sbc import SBCResult, sbc
from .where import filter_runs

Fit.optimal_allocation = planning.optimal_allocation
Fit.prob_below = planning.prob_below
Fit.prob_better = planning.prob_better
Fit.report = write_report
Fit.suggest_runs = design.suggest_runs

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
