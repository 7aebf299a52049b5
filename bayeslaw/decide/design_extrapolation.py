"""The extrapolation error's share of a design target's variance, and how new runs shrink it.

A fit with a calibrated extrapolation error (:mod:`bayeslaw.results.extrapolation_error`) predicts
a run beyond its largest fitted one with an extra log-space error ``kappa z1 + tau d z2 + eta u
z3``, ``d`` the log distance beyond the largest fitted key. Its variance at a target row is

    E[kappa^2] 1(d > 0) + E[tau^2] d^2 + E[eta^2] u^2 1(d > 0) + c' Cov(m) c

with ``c = (1(d > 0), d, u 1(d > 0))`` carrying the uncertainty of the drift ``m`` the nested
fits share (its mean moves the prediction, its covariance widens it). No simulated outcome
changes it: new small runs do not inform whether the law bends. A run larger than every fitted
one does, by moving the data's frontier, and so ``d``, towards the target. This is the part of
the design that survives a wrong law: by the error model's own account, the surest way to predict
a far run is to come closer to it. Without this term a posterior that trusts its law would spend
a budget on many cheap runs that only sharpen the fitted parameters.

:class:`ExtrapolationTerm` holds what the greedy selection needs: per fit with an error model, its
mixture weight, the error's second moments, the target rows' and candidates' log keys and the
current frontier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bayeslaw.decide import design_inputs as inputs
from bayeslaw.results.extrapolation_error import key_values, tilt_values


@dataclass
class _Part:
    """One fit's share: its mixture weight, the error's second moments, keys and frontier."""

    weight: float
    moments: np.ndarray  # (3, 3) diag(E[kappa^2], E[tau^2], E[eta^2]) + Cov(m), see _moments
    target_key: np.ndarray  # (T,) log key of the target rows
    target_u: np.ndarray  # (T,) tilt position, 0 without a tilt term
    cand_key: np.ndarray  # (C,) log key of the candidates
    frontier: float  # log key of the largest run fitted or chosen so far


def _moments(error, family: np.ndarray) -> np.ndarray:
    """The (3, 3) matrix whose quadratic form in ``c = (1(d > 0), d, u 1(d > 0))`` is the
    error's variance: ``diag(E[kappa^2], E[tau^2], E[eta^2])`` under the grid posterior, plus the
    drift's covariance (zero where the law has no tilt term or the error no drift; with a drift
    per family, the mean over the target rows' families, ``family`` their indices)."""
    scales = error.scale_moments()
    out = np.zeros((3, 3))
    out[:len(scales), :len(scales)] = np.diag(scales)
    if error.drift_cov is not None:
        cov = error.drift_of(family)[1].mean(axis=0)
        k = len(cov)
        out[:k, :k] += cov
    return out


@dataclass
class ExtrapolationTerm:
    """The extrapolation variance of the target (mean over its rows, mixture over the fits) as a
    function of the runs chosen so far; one part per fit with an extrapolation error (see
    :meth:`of`)."""

    parts: list[_Part]

    @classmethod
    def of(cls, fits: Mapping, law_w: Mapping[str, float], target: pd.DataFrame,
           cands: pd.DataFrame) -> ExtrapolationTerm:
        """The term of ``fits`` (mixture weights ``law_w``; fits without an extrapolation error
        add nothing) for the planned ``target`` rows and the candidate runs ``cands`` (law
        inputs, family column as needed), frontiers at each fit's largest fitted run."""
        parts = []
        for name, fit in fits.items():
            error = fit.extrapolation
            if error is None or law_w[name] <= 0:
                continue
            encoded = fit._rows(inputs.family_column(fit, target))
            rows = encoded.inputs
            options = fit._rows(inputs.family_column(fit, cands)).inputs
            u = tilt_values(rows, error.by)
            u = np.zeros(len(target)) if u is None or error.tilt_center is None else u - error.tilt_center
            parts.append(_Part(law_w[name], _moments(error, encoded.family_index), np.log(key_values(rows, error.by)), u,
                               np.log(key_values(options, error.by)), float(error.reference)))
        return cls(parts)

    def __bool__(self) -> bool:
        return bool(self.parts)

    def copy(self) -> ExtrapolationTerm:
        """An independent copy (its frontier moves on its own)."""
        return ExtrapolationTerm([replace(p) for p in self.parts])

    @staticmethod
    def _variance(part: _Part, frontier: np.ndarray) -> np.ndarray:
        """The part's target variance (mean over rows) for each frontier in ``frontier``."""
        d = np.maximum(part.target_key[None, :] - frontier[:, None], 0.0)
        beyond = (d > 0).astype(float)
        c = np.stack([beyond, d, part.target_u[None, :] * beyond], axis=-1)
        return np.einsum("...i,ij,...j->...", c, part.moments, c).mean(axis=1)

    def now(self) -> float:
        """The variance with the runs chosen so far."""
        return float(sum(p.weight * self._variance(p, np.array([p.frontier]))[0] for p in self.parts))

    def after(self) -> np.ndarray:
        """(C,) the variance once each candidate is added (its key may move the frontier)."""
        return sum(p.weight * self._variance(p, np.maximum(p.frontier, p.cand_key)) for p in self.parts)

    def choose(self, c: int) -> None:
        """Add candidate ``c`` to the chosen runs."""
        for p in self.parts:
            p.frontier = max(p.frontier, float(p.cand_key[c]))
