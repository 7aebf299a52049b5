"""Downstream laws on top of loss fits: observational scaling, the OLMo ladder, the Performance Law for MMLU, and quantization precision.

* :func:`fit_observational` — benchmark scores from a few capability factors, each family with its
  own compute efficiency (``capability_pca`` is the plain PCA baseline);
* :func:`fit_ladder` — the OLMo ladder: compute to task loss to accuracy, in one posterior;
* :func:`fit_performance_law` — MMLU from a model's shape and tokens (the Performance Law);
* :func:`fit_quantization` — the 16-bit accuracy curve and the drop at 8 and 4 bits.

Their figures are :func:`bayeslaw.plot.plot_accuracy` and :func:`bayeslaw.plot.plot_loadings`.
"""

from bayeslaw.downstream.ladder import LadderFit, fit_ladder
from bayeslaw.downstream.observational import ObservationalFit, fit_observational
from bayeslaw.downstream.pca import capability_pca
from bayeslaw.downstream.performance_law import PerformanceLawFit, fit_performance_law
from bayeslaw.downstream.quantization import QuantizationFit, fit_quantization

__all__ = ["LadderFit", "ObservationalFit", "PerformanceLawFit", "QuantizationFit", "capability_pca",
           "fit_ladder", "fit_observational", "fit_performance_law", "fit_quantization"]
