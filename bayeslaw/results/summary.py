"""The posterior summary table of a fit: one row per (quantity, family), by the law's names.

Kept apart from :class:`~bayeslaw.results.fit.Fit` (whose ``summary`` method calls it) because
it joins three concerns the fit itself need not know: the law's reader-facing quantities
(:mod:`bayeslaw.modeling.quantities`), equal-tailed intervals and the chain diagnostics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayeslaw.modeling.quantities import quantities
from bayeslaw.results.diagnostics import diagnose
from bayeslaw.results.draws import check_ci_prob, interval_columns

__all__ = ["POPULATION", "SHARED", "summarize"]

#: the family label of a partially pooled quantity's population value, and of a shared one
POPULATION, SHARED = "(population)", "(shared)"


def summarize(fit, ci_prob: float = 0.9, internal: bool = False) -> pd.DataFrame:
    """:meth:`bayeslaw.results.fit.Fit.summary` (see there for the columns)."""
    ci_prob = check_ci_prob(ci_prob)
    chains = np.asarray(next(iter(fit.samples.values()))).shape[0]
    rows, arrays, legend = [], {}, {}
    for q in quantities(fit):
        if q.internal and not internal:
            continue
        legend[q.name] = q.meaning
        if q.population is not None:
            rows.append((q.name, SHARED if q.shared else POPULATION))
            arrays[rows[-1]] = q.population
        if q.family is not None:
            for j, family in enumerate(fit.families):
                rows.append((q.name, family))
                arrays[rows[-1]] = q.family[:, j]
    stats = interval_columns(np.stack([arrays[r] for r in rows], axis=1), ci_prob)
    diag = diagnose({str(i): arrays[r].reshape(chains, -1) for i, r in enumerate(rows)})
    frame = pd.DataFrame(stats, index=pd.MultiIndex.from_tuples(rows, names=["parameter", "family"]))
    for col in ("r_hat", "ess_bulk", "ess_tail"):
        frame[col] = diag[col].to_numpy()
    frame["meaning"] = [legend[name] for name, _ in rows]
    frame.attrs["ci_prob"] = ci_prob
    frame.attrs["legend"] = legend
    return frame
