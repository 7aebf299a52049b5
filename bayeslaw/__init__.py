"""bayeslaw: Bayesian scaling-law estimation on JAX and NumPyro.

Fit a scaling law with full posterior uncertainty, pool parameters across model families, and
predict planned runs with honest intervals::

    import bayeslaw as bl
    runs = bl.load_dataset("synthetic_families")
    fit = bl.fit("chinchilla", runs, target="loss", group="family", seed=0)
    fit.summary(ci_prob=0.9)
    fit.predict({"N": 70e9, "D": 1.4e12, "family": "dense"}, kind="observed")
"""

from . import planning
from .backtest import Backtest, backtest
from .datasets import list_datasets, load_dataset
from .errors import (
    BayeslawError,
    ConvergenceWarning,
    DataError,
    DataWarning,
    FitError,
    LawSpecError,
    PredictionError,
)
from .fit import fit
from .law import Law, list_laws, load_law, parse_law
from .persist import load_fit
from .planning import optimal_allocation, plan_precision, plot_frontier, prob_below, prob_better
from .plot import plot_fit
from .results import Fit

Fit.optimal_allocation = planning.optimal_allocation
Fit.prob_below = planning.prob_below
Fit.prob_better = planning.prob_better

__version__ = "0.1.0"

__all__ = [
    "Backtest",
    "BayeslawError",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "Fit",
    "FitError",
    "Law",
    "LawSpecError",
    "PredictionError",
    "backtest",
    "fit",
    "list_datasets",
    "list_laws",
    "load_dataset",
    "load_fit",
    "load_law",
    "optimal_allocation",
    "parse_law",
    "plan_precision",
    "plot_fit",
    "plot_frontier",
    "prob_below",
    "prob_better",

]
