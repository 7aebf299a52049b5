"""The extrapolation error's share of a design target's uncertainty, and how new runs shrink it.

A fit with a calibrated extrapolation error (:mod:`bayeslaw.results.extrapolation_error`) predicts
a run beyond its largest fitted one with an extra log-space error ``kappa z1 + tau d z2 + eta u
z3`` (plus the drift ``m`` the nested fits share), ``d`` the log distance beyond the fitted runs
(the farthest of the size axes N, D and C, :func:`~bayeslaw.results.sizes.size_axes`). Given the
scales its variance at a target row is

    V(kappa, tau, eta) = kappa^2 g^2 + tau^2 d^2 + eta^2 u^2 g^2  (+ c' Cov(m) c)

``g`` the offset's and tilt's growth over the first log unit beyond the data
(:func:`~bayeslaw.results.extrapolation_error.edge_weight`), ``c`` the drift's terms at the
distance along the key alone (the drift moves predictions along the key)

and the fit knows the scales only through a posterior over a grid, measured on a handful of nested
fits' held-out runs. New runs shrink this part of the target's uncertainty in two ways:

* **Coming closer.** A run larger than every fitted one moves the data's frontier, and so ``d``,
  towards the target: by the error model's own account the surest way to predict a far run is to
  come closer to it.
* **Learning how far the law can be trusted.** A new run lies beyond some of the nested cutoffs:
  once fitted, it is one more held-out run of those nested fits, whose residual (of variance
  ``V`` at its own distance beyond each cutoff, plus its noise) sharpens the posterior of the
  scales. The expected variance does not change by it (the posterior mean of ``V`` is a
  martingale), but the expected predictive sd does, and an interval's width goes with the sd:
  on a small table the scales' posterior holds both small and large errors, and every run that
  tells them apart narrows the intervals (measured in benchmarks/README.md, "Design replay").

:class:`ExtrapolationTerm` represents the scales' posterior by :data:`CELLS` draws from the grid,
and keeps one set of log weights over them per simulated world (as the greedy selection of
:mod:`bayeslaw.decide.design_greedy` keeps one over the law's draws): each world draws its true
scales from them, each step simulates every candidate's nested residuals under those, and
reweighting the draws by the residuals gives the error variance the world would be left with.
The new residuals are treated as independent across nested fits, and their nested fits'
parameter uncertainty is left out (the noise of the run is kept): both make a run look somewhat
more informative about the scales than it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bayeslaw.decide import design_inputs as inputs
from bayeslaw.results.extrapolation_error import edge_weight
from bayeslaw.results.sizes import distance_beyond, key_values, log_sizes

#: draws of the scales' posterior that stand for it in the simulated worlds
CELLS = 256
#: candidates whose residuals' log likelihoods are held at once
CHUNK = 64


@dataclass
class _Part:
    """One fit's share: its mixture weight, the scales' draws, the drift's covariance, log sizes
    on the error's axes (the key first), tilt positions, nested cutoffs, the frontier, and the
    worlds' log weights over the draws."""

    weight: float
    scales: np.ndarray  # (G, 3) draws of (kappa, tau, eta); eta 0 without a tilt term
    drift_cov: np.ndarray  # (3, 3) covariance of the drift (zeros without one)
    target_size: np.ndarray  # (T, A) log size of the target rows on the error's axes
    target_u: np.ndarray  # (T,) tilt position, 0 without a tilt term
    cand_size: np.ndarray  # (C, A) log size of the candidates
    cand_u: np.ndarray  # (C,) tilt position of the candidates
    cutoffs: np.ndarray  # (J,) log key of the nested cutoffs
    frontier: np.ndarray  # (A,) largest log size of the runs fitted or chosen so far
    onset: float  # the error's onset (ExtrapolationErrorModel.onset)
    truth: np.ndarray | None = None  # (M,) each world's true draw of the scales
    logw: np.ndarray | None = None  # (M, G) each world's log weights over the draws
    resid_var: np.ndarray | None = None  # (C, J, G) candidates' residual variances, see start


def _drift_cov(error, family: np.ndarray) -> np.ndarray:
    """The drift's (3, 3) covariance (mean over the target rows' families), zeros without one."""
    out = np.zeros((3, 3))
    if error.drift_cov is not None:
        cov = error.drift_of(family)[1].mean(axis=0)
        out[:len(cov), :len(cov)] = cov
    return out


def _position(error, rows) -> np.ndarray:
    """Rows' tilt positions (:meth:`~bayeslaw.results.extrapolation_error.ExtrapolationErrorModel.tilt_position`);
    zeros without a tilt term."""
    u = error.tilt_position(rows)
    return np.zeros(len(key_values(rows, error.by))) if u is None else u


def _features(part: _Part, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each frontier in ``frontier`` (F, A): the target rows' mean of ``(g^2, d^2, u^2 g^2)``
    (F, 3), whose product with the squared scales is ``V``, and the drift's variance c' Cov(m) c
    (F,) (its distance along the key, the first axis)."""
    d = distance_beyond(part.target_size[None, :, :], frontier[:, None, :])
    g = edge_weight(d, part.onset)
    u = part.target_u[None, :] * g
    feats = np.stack([g**2, d**2, u**2], axis=-1).mean(axis=1)
    k = np.maximum(part.target_size[None, :, 0] - frontier[:, None, 0], 0.0)
    gk = edge_weight(k, part.onset)
    c = np.stack([gk, k, part.target_u[None, :] * gk], axis=-1)
    drift = np.einsum("...i,ij,...j->...", c, part.drift_cov, c).mean(axis=1)
    return feats, drift


def _residual_variance(part: _Part, noise2: np.ndarray) -> np.ndarray:
    """(C, J, G) variance of a candidate's residual in each nested fit (0 where the candidate is
    not beyond the nested cutoff): ``V`` at its distance beyond the cutoff along the key (as the
    nested fits measure it) plus its noise."""
    d = part.cand_size[:, None, 0] - part.cutoffs[None, :]
    beyond = (d > 0).astype(float)
    g = edge_weight(np.maximum(d, 0.0), part.onset)
    feats = np.stack([g**2, np.maximum(d, 0.0) ** 2, (part.cand_u[:, None] * g) ** 2], axis=-1)
    return (feats @ (part.scales**2).T + noise2[:, None, None]) * beyond[..., None]


def _loglik(var: np.ndarray, r: np.ndarray) -> np.ndarray:
    """(C, M, G) log likelihood, up to a constant, of each world's residuals ``r`` (C, J, M) under
    each draw of the scales, whose residual variances are ``var`` (C, J, G); nested fits a
    candidate is not beyond (variance 0) add nothing."""
    out = np.zeros((var.shape[0], r.shape[2], var.shape[2]))
    for j in range(var.shape[1]):
        on = var[:, j, 0] > 0
        v = var[on, j][:, None, :]
        out[on] -= 0.5 * (r[on, j][:, :, None] ** 2 / v + np.log(v))
    return out


@dataclass
class ExtrapolationTerm:
    """The extrapolation error's share of the target's variance, per simulated world, as runs
    are chosen (see the module docstring); one part per fit with an extrapolation error."""

    parts: list[_Part]

    @classmethod
    def of(cls, fits: Mapping, law_w: Mapping[str, float], target: pd.DataFrame,
           cands: pd.DataFrame, seed: int = 0) -> ExtrapolationTerm:
        """The term of ``fits`` (mixture weights ``law_w``; fits without an extrapolation error
        add nothing) for the planned ``target`` rows and the candidate runs ``cands`` (law
        inputs, family column as needed), frontiers at each fit's largest fitted run; ``seed``
        draws the scales."""
        rng = np.random.default_rng(seed)
        parts = []
        for name, fit in fits.items():
            error = fit.extrapolation
            if error is None or law_w[name] <= 0:
                continue
            encoded = fit._rows(inputs.family_column(fit, target))
            rows = encoded.inputs
            options = fit._rows(inputs.family_column(fit, cands)).inputs
            front = error.axis_frontier
            axes = tuple(front)
            parts.append(_Part(law_w[name], error.scale_draws(rng, CELLS), _drift_cov(error, encoded.family_index),
                               log_sizes(rows, axes), _position(error, rows),
                               log_sizes(options, axes), _position(error, options),
                               np.log(np.asarray(error.cutoffs, dtype=float)),
                               np.array(list(front.values())), float(error.onset)))
        return cls(parts)

    def __bool__(self) -> bool:
        return bool(self.parts)

    def start(self, outer: int, rng: np.random.Generator, noise2: np.ndarray) -> ExtrapolationTerm:
        """An independent copy with ``outer`` worlds, each with its true scales drawn from the
        draws and left out of its own weights (as the law's truth is, see
        :mod:`bayeslaw.decide.design_greedy`); ``noise2`` (C,) is each candidate's noise variance
        in log target, part of its residuals' variances (:func:`_residual_variance`)."""
        parts = []
        for p in self.parts:
            truth = rng.integers(len(p.scales), size=outer)
            logw = np.zeros((outer, len(p.scales)))
            logw[np.arange(outer), truth] = -np.inf
            parts.append(replace(p, truth=truth, logw=logw, resid_var=_residual_variance(p, noise2)))
        return ExtrapolationTerm(parts)

    @staticmethod
    def _world_variance(part: _Part, logw: np.ndarray, frontier: np.ndarray) -> np.ndarray:
        """(F, M) error variance per world under log weights ``logw`` (F, M, G), row f at the
        frontier ``frontier[f]`` (F, A)."""
        feats, drift = _features(part, frontier)
        v = feats @ (part.scales**2).T  # (F, G)
        w = np.exp(logw - logw.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
        return np.einsum("fmg,fg->fm", w, v) + drift[:, None]

    def now(self) -> np.ndarray:
        """(M,) the error variance of each world with the runs chosen so far."""
        return sum(p.weight * self._world_variance(p, p.logw[None], p.frontier[None, :])[0] for p in self.parts)

    def after(self, rng: np.random.Generator) -> tuple[np.ndarray, list]:
        """(C, M) each world's error variance once each candidate is added (its key may move the
        frontier, its simulated nested residuals reweight the scales), and the simulated residuals
        (per part, (C, J, M)) for :meth:`choose`. Candidates go in chunks of :data:`CHUNK`:
        memory stays at CHUNK x worlds x draws whatever their number."""
        total, residuals = 0.0, []
        for p in self.parts:
            var = p.resid_var  # (C, J, G)
            r = np.sqrt(var[:, :, p.truth]) * rng.standard_normal(var.shape[:2] + (len(p.truth),))  # (C, J, M)
            frontiers = np.maximum(p.frontier[None, :], p.cand_size)
            out = np.empty((len(var), len(p.truth)))
            for lo in range(0, len(var), CHUNK):
                part = slice(lo, lo + CHUNK)
                out[part] = self._world_variance(p, p.logw[None] + _loglik(var[part], r[part]), frontiers[part])
            total = total + p.weight * out
            residuals.append(r)
        return total, residuals

    def choose(self, c: int, residuals: list) -> None:
        """Add candidate ``c`` (its simulated residuals from :meth:`after`) to the chosen runs."""
        for p, r in zip(self.parts, residuals):
            p.frontier = np.maximum(p.frontier, p.cand_size[c])
            p.logw = p.logw + _loglik(p.resid_var[c:c + 1], r[c:c + 1])[0]
