"""Figures of fitted laws (matplotlib, imported only when a figure is drawn).

* :func:`plot_fit` — runs, the fitted curve per family and its band, against one input;
* :func:`plot_decision` — the planning figure: loss against compute C = 6ND coloured by tokens
  per parameter, iso-lines of the law, the extrapolation region, planned runs with intervals and
  a residual panel;
* :func:`plot_residuals` — observed / fitted against compute, with the predictive noise band;
* :func:`plot_frontier` — compute-optimal model size (or tokens) against compute, with its band;
* :func:`plot_family_forest` — per-family parameter intervals, one panel per parameter;
* :func:`plot_calibration` — nominal against empirical coverage of a backtest, with Jeffreys
  intervals;
* :func:`plot_isoflop` — isoFLOP profiles and their minima;
* :func:`plot_accuracy` and :func:`plot_loadings` — the downstream laws' accuracy bands and
  capability-factor loadings.
"""

from bayeslaw.plot.calibration import plot_calibration
from bayeslaw.plot.decision import plot_decision
from bayeslaw.plot.downstream import plot_accuracy
from bayeslaw.plot.fit import EXTEND_DECADES, plain_log_ticks, plot_fit
from bayeslaw.plot.forest import plot_family_forest
from bayeslaw.plot.frontier import plot_frontier
from bayeslaw.plot.isoflop import plot_isoflop
from bayeslaw.plot.loadings import plot_loadings
from bayeslaw.plot.residuals import plot_residuals

__all__ = ["EXTEND_DECADES", "plain_log_ticks", "plot_accuracy", "plot_calibration", "plot_decision",
           "plot_family_forest", "plot_fit", "plot_frontier", "plot_isoflop", "plot_loadings", "plot_residuals"]
