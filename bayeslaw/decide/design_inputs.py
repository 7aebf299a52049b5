"""Checked inputs of :func:`bayeslaw.decide.design.suggest_runs`: target, candidates, costs, law weights.

Everything here turns user input into plain frames and arrays, or raises
:class:`~bayeslaw.core.errors.PredictionError` naming the key, column or row at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayeslaw.core.errors import BayeslawError, LawSpecError, PredictionError
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.data.columns import row_numbers
from bayeslaw.data.frames import as_frame
from bayeslaw.decide.allocation import _budgets, flops_constant
from bayeslaw.decide.isoflop_design import MAX_POINTS
from bayeslaw.laws.expr import compile_formula
from bayeslaw.results.draws import check_seed
from bayeslaw.results.fit import require_fit
from bayeslaw.results.sizes import beyond

#: keys of a compute-optimal target ``{"compute": [...], ...}``
COMPUTE_KEYS = ("compute", "family", "flops")
#: keys of iso-cost candidates ``{"compute": [...], "points": 7, ...}``
ISO_KEYS = ("compute", "points", "family", "span")
#: tokens per parameter at the centre of each iso-cost curve (the Chinchilla rule of thumb)
ISO_TOKENS_PER_PARAM = 20.0
#: default half-width of an iso-cost curve in decades of N either side of its centre
ISO_SPAN = 0.75
#: the most candidates and chosen runs one design takes (the command line's limits too): more
#: was minutes per greedy step, or an array of 1e9 iso-cost points that ended the process
MAX_CANDIDATES = 20000
MAX_RUNS = 1000
#: decades below the fitted runs from which a chosen run is warned about
FAR_DECADES = 1.0


def _positive_numbers(values, what: str) -> np.ndarray:
    return _budgets(values, what, "numbers")


def _require_columns(frame: pd.DataFrame, what: str) -> None:
    """Columns N and D, positive numbers (checked on a copy: the caller's frame is not converted)."""
    for column in ("N", "D"):
        if column not in frame.columns:
            raise PredictionError(f"{what} has no column {column!r}; give the model size N and tokens D of each run")
    row_numbers(frame, {"N": True, "D": True}, what)


def parse_target(target) -> tuple[str, object]:
    """``("rows", DataFrame)`` for planned runs, ``("compute", dict)`` for a compute-optimal target.

    A mapping with the key ``compute`` is a compute-optimal target: ``compute`` (FLOP budgets),
    optional ``family`` and ``flops`` (formula ``k*N*D``, default ``"6*N*D"``). Anything else is
    one or more planned runs with columns N and D (and the fit's family column).
    """
    if isinstance(target, Mapping) and "compute" in target:
        unknown = [k for k in target if k not in COMPUTE_KEYS]
        if unknown:
            raise PredictionError(f"target has unknown key {unknown[0]!r}; a compute-optimal target takes: "
                                  f"{', '.join(COMPUTE_KEYS)}")
        spec = {"compute": _positive_numbers(target["compute"], "target 'compute'"),
                "family": target.get("family"), "flops": target.get("flops", "6*N*D")}
        return "compute", spec
    try:
        frame = as_frame(target, "target").reset_index(drop=True)
    except BayeslawError as exc:
        raise PredictionError(str(exc)) from None
    if len(frame) == 0:
        raise PredictionError("target is empty: give at least one planned run (N, D) or {'compute': [...]}")
    _require_columns(frame, "target")
    return "rows", frame


def iso_cost_candidates(spec: Mapping, k: float) -> pd.DataFrame:
    """Candidates on iso-cost curves: for each budget C, ``points`` runs log-spaced in N over
    ``span`` decades either side of the run with 20 tokens per parameter (``N = sqrt(C / (20 k))``),
    each with ``D = C / (k N)``."""
    unknown = [key for key in spec if key not in ISO_KEYS]
    if unknown:
        raise PredictionError(f"candidates has unknown key {unknown[0]!r}; iso-cost candidates take: "
                              f"{', '.join(ISO_KEYS)}")
    budgets = _budgets(spec["compute"], "candidates 'compute'", "numbers", distinct=True)  # a curve twice
    points = spec.get("points", 7)
    if not is_integer(points) or not 1 <= points <= MAX_POINTS:
        raise PredictionError(f"candidates 'points' must be a whole number from 1 to {MAX_POINTS}, got {points!r}")
    span = spec.get("span", ISO_SPAN)
    if not (is_real(span) and 0 < span < np.inf):  # a list used its first value
        raise PredictionError(f"candidates 'span' must be one positive number of decades, got {span!r}")
    span = float(span)
    offsets = np.linspace(-span, span, int(points)) if points > 1 else np.zeros(1)
    rows = []
    for c in budgets:
        centre = np.sqrt(c / (ISO_TOKENS_PER_PARAM * k))
        for n_params in centre * 10.0**offsets:
            rows.append({"N": n_params, "D": c / (k * n_params), "compute": c})
    frame = pd.DataFrame(rows)
    if spec.get("family") is not None:
        frame["family"] = spec["family"]
    return frame


def parse_candidates(candidates, k: float) -> pd.DataFrame:
    """Candidate runs as a DataFrame that keeps the caller's index labels."""
    if isinstance(candidates, Mapping) and "compute" in candidates:
        return iso_cost_candidates(candidates, k)
    try:
        frame = as_frame(candidates, "candidates")
    except BayeslawError as exc:
        raise PredictionError(str(exc)) from None
    if len(frame) == 0:
        raise PredictionError("candidates is empty: give at least one run (N, D) that could be trained")
    twice = frame.index.duplicated()
    if twice.any():  # the result's 'candidate' column names each pick by its label
        codes = frame.index.factorize(use_na_sentinel=False)[0]  # NaN labels equal each other here
        first = int(np.flatnonzero(twice)[0])
        rows = np.flatnonzero(codes == codes[first])
        label = frame.index[first]
        shown = "(" + ", ".join(map(str, label)) + ")" if isinstance(label, tuple) else str(label)
        raise PredictionError(f"candidates has the index label {shown} on {len(rows)} rows "
                              f"(positions {', '.join(map(str, rows[:5]))}): each candidate needs its own "
                              "label to be named in the result (e.g. candidates.reset_index(drop=True))")
    if len(frame) > MAX_CANDIDATES:
        raise PredictionError(f"candidates has {len(frame)} rows, more than {MAX_CANDIDATES}; give fewer")
    _require_columns(frame, "candidates")
    return frame


def check_distinct(frame: pd.DataFrame, replicates: bool) -> None:
    """With ``replicates=False``, refuse candidates that are the same run twice: each copy could
    be chosen once, so the same run was chosen again."""
    if replicates:
        return
    same = frame.astype(str).duplicated(keep=False).to_numpy()
    if same.any():
        labels = ", ".join(map(str, frame.index[same][:5]))
        raise PredictionError(f"candidates {labels} are the same run; with replicates=False give each run once "
                              "(or allow replicates)")


def far_runs(fit, chosen: pd.DataFrame) -> str | None:
    """The chosen runs more than :data:`FAR_DECADES` below the fitted runs in N, D or C, described
    for a warning (None where there are none): the law was never checked there, and such runs
    cost little, so gain per cost favours them. Runs beyond the data are what a target beyond it
    asks for (and their cost says how far they go)."""
    rows = {k: chosen[k].to_numpy(float) for k in ("N", "D") if k in chosen.columns}
    fitted = {k: v for k, v in fit.table.inputs.items() if k in rows}
    if len(rows) < 2 or len(chosen) == 0:
        return None
    notes = []
    for name, decades in beyond(fitted, rows, "below").items():
        for i in np.flatnonzero(decades > FAR_DECADES):
            notes.append(f"step {chosen['step'].iloc[i]} ({name.split('_', 1)[1]} {decades[i]:.1f} decades below "
                         "the fitted runs)")
    return ", ".join(notes) or None


def cost_constant(cost) -> float:
    """``k`` when the cost is ``k*N*D`` (used to lay out iso-cost curves), else 6."""
    try:
        return flops_constant(cost)
    except BayeslawError:
        return 6.0


def candidate_costs(cost, frame: pd.DataFrame) -> np.ndarray:
    """Cost of each candidate: a formula in the candidates' numeric columns (compiled by
    :mod:`bayeslaw.laws.expr`, never evaluated as Python), or one number per candidate."""
    if isinstance(cost, str):
        names = [c for c in frame.columns if isinstance(c, str) and c.isidentifier()
                 and pd.api.types.is_numeric_dtype(frame[c])]
        try:
            formula = compile_formula(cost, names, what="cost formula")
        except LawSpecError:  # a column named like a function (``log``) cannot be a formula name
            formula = compile_formula(cost, [n for n in ("N", "D") if n in names], what="cost formula")
        env = {name: frame[name].to_numpy(dtype=float) for name in formula.names}
        with np.errstate(all="ignore"):
            values = np.broadcast_to(np.asarray(formula(env), dtype=float), (len(frame),))
        shown = f"cost formula {cost!r}"
    else:
        if isinstance(cost, pd.Series):  # by label: its positions were used while the result names labels
            if cost.index.has_duplicates or set(cost.index) != set(frame.index):
                raise PredictionError("cost is a Series whose index is not the candidates' index; give one cost "
                                      "per candidate label (or a list in the candidates' order)")
            cost = cost.reindex(frame.index)
        try:
            if cost is None or isinstance(cost, bool | str):
                raise TypeError
            values = np.asarray(cost, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise PredictionError(f"cost must be a formula such as '6*N*D' or one number per candidate, "
                                  f"got {cost!r}") from None
        if values.size != len(frame):
            raise PredictionError(f"cost has {values.size} values for {len(frame)} candidates; give one per candidate")
        shown = "cost"
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PredictionError(f"cost of candidate {frame.index[i]} is {values[i]:g} ({shown}); "
                              "every cost must be a positive number")
    return np.array(values, dtype=float)


def law_weights(fits: Mapping, weights) -> dict[str, float]:
    """Normalised weight per fit name; equal weights when ``weights`` is None.

    ``weights`` is a mapping of fit name to weight or the DataFrame of :func:`bayeslaw.compare`
    (its ``weight`` column), as :func:`bayeslaw.evaluate.compare.average_predict` takes.
    """
    if not isinstance(fits, Mapping) or not fits:
        raise PredictionError("fits must be a non-empty mapping of name to Fit")
    for name, fit in fits.items():
        require_fit(fit, "fit" if len(fits) == 1 and name == "fit" else f"fits[{name!r}]")
    if weights is None:
        return {name: 1.0 / len(fits) for name in fits}
    if isinstance(weights, pd.DataFrame):
        if "weight" not in weights.columns:
            raise PredictionError("weights has no column 'weight'; pass the DataFrame of bayeslaw.evaluate.compare")
        w = weights["weight"]
    elif isinstance(weights, Mapping):
        w = pd.Series(dict(weights), dtype=float)
    else:
        raise PredictionError(f"weights must be a mapping of fit name to weight or the DataFrame of "
                              f"bayeslaw.evaluate.compare, got {type(weights).__name__}")
    for name in w.index:
        if name not in fits:
            raise PredictionError(f"weights name fit {name!r} that is not in fits; fits: {', '.join(map(str, fits))}")
    for name in fits:
        if name not in w.index:
            raise PredictionError(f"weights give no weight for fit {name!r}; weights: {', '.join(map(str, w.index))}")
    values = w.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise PredictionError("weights must be non-negative numbers with a positive sum")
    return {name: float(w[name] / values.sum()) for name in fits}


def check_settings(n, budget, outer, seed, replicates: bool = True) -> None:
    """Validate the counts, the budget, the seed and the replicates flag."""
    if not isinstance(replicates, bool | np.bool_):
        raise PredictionError(f"replicates must be True or False, got {replicates!r}")
    if not is_integer(n) or not 1 <= n <= MAX_RUNS:
        raise PredictionError(f"n must be a whole number of runs from 1 to {MAX_RUNS}, got {n!r}")
    if budget is not None and (not is_real(budget)
                               or not np.isfinite(budget) or budget <= 0):
        raise PredictionError(f"budget must be a positive number, got {budget!r}")
    if not is_integer(outer) or outer < 2:
        raise PredictionError(f"outer must be a whole number of simulated worlds >= 2, got {outer!r}")
    check_seed(seed)


def family_column(fit, frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` whose family sits under the fit's group column (``family`` accepted)."""
    group = fit.table.group
    if group and group not in frame.columns and "family" in frame.columns:
        frame = frame.rename(columns={"family": group})
    return frame


__all__: Sequence[str] = (
    "candidate_costs",
    "check_distinct",
    "check_settings",
    "cost_constant",
    "family_column",
    "far_runs",
    "iso_cost_candidates",
    "law_weights",
    "parse_candidates",
    "parse_target",
)
