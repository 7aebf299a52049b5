"""Helpers shared by the figures: size keys (C = 6ND), axis labels with units, planned runs.

Only NumPy and pandas are imported here; matplotlib is imported inside the drawing functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayeslaw.core.errors import PredictionError
from bayeslaw.results.fit import NEW_FAMILY, require_fit

#: FLOPs per parameter per token of a training run (C = 6 N D)
#: the curves run this factor beyond the largest fitted (or planned) size key
CURVE_MARGIN = 3.0
#: colour of planned runs, the fitted-region boundary and the extrapolation region
PLAN_COLOR = "#c0392b"
SPAN_COLOR = "0.93"
CMAP = "viridis"

_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
_KEY_NAMES = {"C": "training compute C = 6ND", "N": "model size N", "D": "training tokens D"}


def has_nd(law) -> bool:
    """Whether the law has inputs N (parameters) and D (tokens), so C = 6ND and D/N exist."""
    return {"N", "D"} <= set(law.input_names)


def human(value: float) -> str:
    """A count with a suffix a reader knows: 7e10 -> '70B', 1.4e12 -> '1.4T', 3e23 -> '3e+23'."""
    value = float(value)
    if abs(value) >= 1e15 or abs(value) < 1:
        return f"{value:.2g}"
    for scale, suffix in _SUFFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def unit_of(fit, name: str) -> str:
    """Unit of a size key: FLOPs for C, the law's declared unit for an input."""
    if name == "C":
        return "FLOPs"
    units = {i.name: i.unit for i in fit.law.inputs}
    return units.get(name, "")


def key_label(fit, name: str) -> str:
    """Axis label of a size key with its unit, e.g. 'training compute C = 6ND (FLOPs)'."""
    unit = unit_of(fit, name)
    text = _KEY_NAMES.get(name, name)
    return f"{text} ({unit})" if unit else text


def target_label(fit) -> str:
    """Axis label of the target; a target named 'loss' is in nats (natural-log cross-entropy)."""
    name = fit.table.target_name or "target"
    return "loss (nats)" if name == "loss" else name


def check_key(fit, x: str) -> str:
    """Validate the x-axis key: ``"C"`` (laws in N and D) or a law input."""
    inputs = fit.law.input_names
    allowed = (["C"] if has_nd(fit.law) else []) + list(inputs)
    if x not in allowed:
        raise PredictionError(f"x {x!r} is not a size key of law {fit.law.name!r}; use one of: "
                              f"{', '.join(allowed)}")
    return x


def planned_frame(fit, at) -> pd.DataFrame:
    """Planned runs as a DataFrame (inputs, maybe the group column), validated like predict's rows.

    ``at`` is None, a dict or Series (one run), a list of them or a DataFrame. Raises PredictionError for
    a missing input or an unknown family (through :meth:`Fit.predict`'s own checks), and a
    TypeError for anything but a Fit (every figure of a fit and the report start here).
    """
    require_fit(fit)
    if at is None or (isinstance(at, pd.DataFrame) and at.empty):
        return pd.DataFrame(columns=list(fit.law.input_names))
    if isinstance(at, pd.DataFrame):
        frame = at.reset_index(drop=True)
    elif isinstance(at, Mapping | pd.Series):
        frame = pd.DataFrame([dict(at)])
    elif isinstance(at, Sequence) and not isinstance(at, str) and all(isinstance(r, Mapping | pd.Series) for r in at):
        frame = pd.DataFrame([dict(r) for r in at])
    else:
        raise PredictionError(f"at must be a dict, a list of dicts or a DataFrame, got {type(at).__name__}")
    table = fit._rows(frame)  # the same checks and messages as Fit.predict
    # the inputs as predict reads them ('7e10' and Decimal are numbers), for the figures' arithmetic
    return frame.assign(**{name: np.asarray(values, float) for name, values in table.inputs.items()})


def plan_families(fit, frame: pd.DataFrame) -> list[str]:
    """Family of each planned run: a fitted family, or '(new)' for one not in the fit."""
    table = fit._rows(frame)
    return [fit.families[i] if i >= 0 else NEW_FAMILY for i in table.family_index]


def plan_label(fit, row: Mapping, family: str) -> str:
    """A short label of a planned run, e.g. 'N=70B, D=1.4T (dense)'."""
    text = ", ".join(f"{name}={human(row[name])}" for name in fit.law.input_names)
    if len(fit.families) > 1 or fit.table.group is not None:
        text += f" ({'new family' if family == NEW_FAMILY else family})"
    return text


def family_rows(fit, family: str, n: int) -> dict:
    """The group column for ``n`` rows of one family (nothing for a fit without groups)."""
    group = fit.table.group
    if group is None:
        return {}
    return {group: [None if family == NEW_FAMILY else family] * n}


def default_family(fit, planned: pd.DataFrame) -> str:
    """Family whose curves are drawn: the first fitted family among the planned runs, else the
    family with the most runs (the first such), else the only one."""
    if len(planned):
        for family in plan_families(fit, planned):
            if family != NEW_FAMILY:
                return family
    counts = np.bincount(np.asarray(fit.table.family_index), minlength=len(fit.families))
    return fit.families[int(np.argmax(counts))]


def check_family(fit, family: str | None, planned: pd.DataFrame) -> str:
    """Validate ``family`` (a fitted family, '(new)' or None for the default)."""
    if family is None:
        return default_family(fit, planned)
    if family != NEW_FAMILY and family not in fit.families:
        raise PredictionError(f"unknown family {family!r}; families in the fit: {', '.join(fit.families)} "
                              f"(or {NEW_FAMILY!r} for a family not in the fit)")
    return family


def shade_extrapolation(ax, start: float, end: float, *, text: str | None = "extrapolation",
                        y: float = 0.97) -> None:
    """Shade the x range from ``start`` (the largest fitted run) to ``end`` and label it.

    The span and the boundary line carry the labels ``extrapolation`` and ``_largest fitted
    run`` so a test (or a reader of the legend) can find them. ``text=None`` writes no labels.
    """
    ax.axvspan(start, end, color=SPAN_COLOR, zorder=0, label="extrapolation",
               linewidth=0)
    ax.axvline(start, color="0.45", linestyle="--", linewidth=1, zorder=1, label="_largest fitted run")
    if text is None:
        return
    ax.text(start, y, f"  {text} \u2192", transform=ax.get_xaxis_transform(), ha="left", va="top",
            fontsize=8, color="0.3")
    ax.text(start, y, "fitted runs  ", transform=ax.get_xaxis_transform(), ha="right", va="top",
            fontsize=8, color="0.3")


def reader_name(law, param: str) -> tuple[str, bool]:
    """Name a reader knows for a parameter, and whether it is the exponential of the sampled one.

    A log amplitude ``a`` with a derived quantity ``A = exp(a)`` reads as ``A``; other
    parameters keep their own name.
    """
    for name, formula in law.derived.items():
        if "".join(formula.text.split()) == f"exp({param})":
            return name, True
    return param, False
