"""Where a row lies among the fitted runs: its size on each axis, and how far beyond them.

A scaling law is extrapolated along its size axes: parameters N, tokens D and compute C = 6 N D
(a law input, or computed from N and D). A planned run can lie beyond the fitted runs on one axis
while inside them on another (a large model on few tokens is inside in compute and beyond in N),
so its distance beyond the data is the farthest of its axes (:func:`distance_beyond`), as the
extrapolation error (:mod:`bayeslaw.results.extrapolation_error`) and the predictions'
``beyond_<axis>`` columns (:func:`beyond`) read it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def key_values(inputs: Mapping[str, np.ndarray], by: str) -> np.ndarray:
    """The size key of rows: ``6 N D`` for ``by="C"`` when C is not an input, else input ``by``."""
    if by in inputs:
        return np.asarray(inputs[by], dtype=float)
    return 6.0 * np.asarray(inputs["N"], dtype=float) * np.asarray(inputs["D"], dtype=float)


def tilt_values(inputs: Mapping[str, np.ndarray], by: str) -> np.ndarray | None:
    """A row's log position perpendicular to the key ``by``: ``log(D/N)`` for C, ``log D`` for N,
    ``log N`` for D (the extrapolation error's tilt axis); None when the law's inputs do not
    define one."""
    if not {"N", "D"} <= set(inputs) or by not in ("C", "N", "D") or (by == "C" and "C" in inputs):
        return None
    log_n, log_d = (np.log(np.asarray(inputs[k], dtype=float)) for k in ("N", "D"))
    return {"C": log_d - log_n, "N": log_d, "D": log_n}[by]


def size_axes(names, by: str) -> tuple[str, ...]:
    """The axes a row's distance beyond the data is measured on: the key ``by`` first, then N, D
    and C (6 N D) where the law's input ``names`` give them. Other inputs (unique tokens,
    precision bits) do not count: being beyond the fitted range there is not a larger run."""
    names = set(names)
    axes = [by]
    for axis in ("N", "D", "C"):
        if axis != by and (axis in names or (axis == "C" and {"N", "D"} <= names)):
            axes.append(axis)
    return tuple(axes)


def log_sizes(inputs: Mapping[str, np.ndarray], axes: tuple[str, ...]) -> np.ndarray:
    """(rows, axes) natural log of each row's value on each axis (:func:`key_values`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([np.log(key_values(inputs, axis)) for axis in axes], axis=-1)


def distance_beyond(sizes: np.ndarray, frontier: np.ndarray) -> np.ndarray:
    """Log distance of rows beyond a frontier: the largest of ``sizes - frontier`` over the axes
    (``sizes`` (rows, axes) from :func:`log_sizes`, ``frontier`` (axes,) or (rows, axes) the
    largest fitted values' logs), 0 inside the data on every axis."""
    return np.maximum(np.max(sizes - frontier, axis=-1), 0.0)


def beyond(fitted: Mapping[str, np.ndarray], rows: Mapping[str, np.ndarray],
           side: str = "beyond") -> dict[str, np.ndarray]:
    """How far rows lie beyond the fitted runs: ``log10(x / largest fitted x)``, 0 inside.

    One column ``beyond_<input>`` per positive law input, and ``beyond_C`` (compute 6 N D) when
    the law has N and D but no C input. A planned run can lie beyond the data in one input
    while inside it in the others (many tokens on a small model), which one size key hides.
    ``side="below"``: ``below_<input>``, the decades below the smallest fitted value, where the
    law is extrapolated downwards and no nested fit measured its error.
    """
    out = {}
    names = [k for k in fitted if np.all(np.asarray(fitted[k], dtype=float) > 0)]
    if {"N", "D"} <= set(names) and "C" not in fitted:
        names.append("C")
    edge, sign = (np.max, 1.0) if side == "beyond" else (np.min, -1.0)
    for name in names:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = key_values(rows, name) / edge(key_values(fitted, name))
            out[f"{side}_{name}"] = np.maximum(sign * np.log10(ratio), 0.0)
    return out


def below(fitted: Mapping[str, np.ndarray], rows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Decades each row lies below the smallest fitted value, by input name (C as in
    :func:`beyond`), 0 inside the data: the ``attrs["below"]`` of predictions and allocations."""
    return {k[len("below_"):]: np.asarray(v, dtype=float) for k, v in beyond(fitted, rows, "below").items()}
