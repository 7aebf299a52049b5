"""What a measured extrapolation error tells the user: warnings about the nested fits behind it.

Two findings deserve more than a number in the summary: a nested fit whose chains did not mix
(the error rests on it), and a drift so large that the law itself is in doubt (refitted on the
smaller runs, it missed the larger ones by several percent, in the same direction at every
cutoff). The first is a :class:`~bayeslaw.core.errors.ConvergenceWarning`, the second a
:class:`~bayeslaw.core.errors.DataWarning`: the data disagree with the law's form.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayeslaw.core.errors import ConvergenceWarning, DataWarning
from bayeslaw.infer.nested_refits import NESTED_R_HAT_LIMIT
from bayeslaw.results.extrapolation_error import ONSET, ExtrapolationErrorModel

#: a drift beyond this in log target one :data:`ONSET` beyond the data (about 5%) is warned about.
#: The Chinchilla law's default fits of six real loss data sets drift at most 0.8% there, of
#: pythia's LAMBADA log-perplexity -4.5%; the data-constrained law on datablations' runs +12%
#: (benchmarks/drift_warning.py)
DRIFT_WARN = 0.05


def warn_if_unmixed(points: pd.DataFrame, by: str, stacklevel: int = 3) -> float | None:
    """Warn where a nested fit's R-hat exceeds :data:`NESTED_R_HAT_LIMIT`; return the largest
    nested R-hat (None where none was computed). ``points``: the nested residuals."""
    r_hat = points.groupby("cutoff")["r_hat"].first()
    worst = float(r_hat.max()) if r_hat.notna().any() else None
    if worst is not None and worst > NESTED_R_HAT_LIMIT:
        n_fit = int(points.loc[points["cutoff"] == r_hat.idxmax(), "n_fit"].iloc[0])
        warnings.warn(f"the extrapolation error's nested fit on the {n_fit} runs below {by} = "
                      f"{r_hat.idxmax():.3g} did not converge (R-hat {worst:.2f}): intervals beyond "
                      "the fitted runs rest on it; extrapolation=False leaves the error out",
                      ConvergenceWarning, stacklevel=stacklevel + 1)
    return worst


def drift_at_onset(error: ExtrapolationErrorModel, n_families: int) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of the drift's shift (offset plus slope change, log target) one
    :data:`ONSET` of log key beyond the data: per family where the drift is per family, else one."""
    index = np.arange(n_families) if error.drift.ndim == 2 else np.zeros(1, dtype=int)
    mean, cov = error.drift_of(index)
    shift = mean[:, 0] + mean[:, 1]
    sd = np.sqrt(np.maximum(cov[:, 0, 0] + cov[:, 1, 1] + 2 * cov[:, 0, 1], 0.0))
    return shift, sd


def warn_if_drifting(error: ExtrapolationErrorModel, families: tuple[str, ...], stacklevel: int = 3) -> None:
    """A :class:`DataWarning` where the drift one e-fold beyond the data exceeds
    :data:`DRIFT_WARN` and twice its posterior sd (the nested fits agree that the law misses
    its larger runs): the predictions move by it, but the user should know the law is in doubt."""
    if error.drift is None:
        return
    shift, sd = drift_at_onset(error, len(families))
    bad = np.flatnonzero((np.abs(shift) > DRIFT_WARN) & (np.abs(shift) > 2 * sd))
    if not bad.size:
        return
    j = bad[np.argmax(np.abs(shift[bad]))]
    who = f" of family '{families[j]}'" if error.drift.ndim == 2 else ""
    warnings.warn(
        f"the law misses its own larger runs{who}: they came out {abs(np.expm1(shift[j])):.0%} "
        f"{'above' if shift[j] > 0 else 'below'} what fits on the smaller runs predicted (the drift "
        f"{ONSET:g} e-fold of {error.by} beyond the data, sd {sd[j]:.2f} in log); predictions beyond "
        "the data move by it, but the law may not hold at these sizes: compare other laws on the "
        "largest runs (bl.compare(fits, method='largest'))", DataWarning, stacklevel=stacklevel + 1)
