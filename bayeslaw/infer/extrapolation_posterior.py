"""Grid posterior of the extrapolation error's scales from the residuals of nested fits.

:mod:`bayeslaw.infer.extrapolation` refits a law below nested cutoffs of its own runs and collects,
per held-out run, the residual ``r`` (log target), the predictive scale ``s``, the distance ``d``
beyond the nested fit's largest run and, for a law with a tilt term, the position ``u`` across the
key. This module turns those into the joint posterior of the error's scales ``kappa`` (offset),
``tau`` (change of slope per unit of log distance) and ``eta`` (tilt), on the log-spaced grids of
:mod:`bayeslaw.results.extrapolation_error` with log-uniform priors:

* :func:`effective_distances` puts the nested distances on the full fit's footing (a nested fit
  spans a shorter range of the key, so its slope error overstates the full fit's).
* :func:`shared_error_posterior` reads each nested fit as one draw of the error: the rows a
  prediction makes share one ``z1, z2, z3``, so within a nested fit
  ``r ~ MultivariateNormal(V m, diag(s^2) + kappa^2 1 1' + tau^2 d d' + eta^2 u u')``, evaluated
  per grid cell with the Woodbury identity (:func:`woodbury_loglik` on :func:`scale_grid`); the
  drift ``m`` shared by all nested fits is zero or integrated out in closed form
  (:func:`drift_terms`).
* :func:`error_posterior` treats every row as its own draw, optionally with a bias grid instead of
  the tilt; :mod:`bayeslaw.downstream.observational` uses it for the link's extrapolation error.

Kept apart from the refits because it is pure NumPy on the collected residuals: it needs no fit,
and benchmarks and other models call it on their own residuals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayeslaw.results.extrapolation_error import GRID, TILT_GRID


def effective_distances(points: pd.DataFrame, full_span: float) -> np.ndarray:
    """Nested distances stretched to the full fit's footing: ``d * full_span / span``.

    A nested fit spans a shorter log range of the key than the full fit, and the slope of a
    regression is pinned down in proportion to the range it spans (its standard error goes as
    1/range), so the nested fit's slope error overstates the full fit's by ``full_span / span``.
    Read on the full fit's footing, a nested residual at distance ``d`` is one at the longer
    distance ``d * full_span / span``; ``tau`` is then the full fit's slope change.
    """
    span_k = points["span"].to_numpy(dtype=float)
    return points["distance"].to_numpy(dtype=float) * full_span / span_k


def error_posterior(residuals: np.ndarray, scales: np.ndarray, distances: np.ndarray,
                    tilts: np.ndarray | None = None, biases: np.ndarray | None = None) -> np.ndarray:
    """Grid posterior of (kappa, tau) under ``r ~ Normal(0, s^2 + kappa^2 + tau^2 d^2)``; of
    (kappa, tau, eta) with ``+ eta^2 u^2`` when the perpendicular positions ``tilts`` are given;
    or of (kappa, tau, bias) with ``r ~ Normal(bias, ...)`` over the grid ``biases``.

    Log-uniform priors on kappa, tau and eta, uniform on the bias grid; returns weights shaped
    (kappa, tau), (kappa, tau, eta) or (kappa, tau, bias).
    """
    if tilts is not None and biases is not None:
        raise ValueError("error_posterior takes tilts or biases, not both")
    base = (scales**2)[None, None, :] + (GRID**2)[:, None, None] \
        + (GRID[None, :, None] * distances[None, None, :]) ** 2

    def loglik(var, bias=0.0):
        return -0.5 * (np.log(var) + (residuals[None, None, :] - bias) ** 2 / var).sum(axis=-1)

    # one (kappa, tau) slab per third-axis value keeps memory at one 2-D grid x points
    if tilts is not None:
        out = np.stack([loglik(base + (eta * tilts[None, None, :]) ** 2) for eta in TILT_GRID], axis=-1)
    elif biases is not None:
        out = np.stack([loglik(base, bias) for bias in biases], axis=-1)
    else:
        out = loglik(base)
    weights = np.exp(out - out.max())
    return weights / weights.sum()


def shared_error_posterior(residuals: np.ndarray, scales: np.ndarray, distances: np.ndarray,
                           tilts: np.ndarray | None, groups: np.ndarray,
                           drift: bool = False):
    """Grid posterior of (kappa, tau[, eta]) when the rows of one group share ``z1, z2, z3``.

    The error model gives every row a prediction makes the same ``z`` (see the module
    docstring), so the held-out rows of one nested fit are one draw of the error, not many: within
    a group ``r ~ MultivariateNormal(V m, diag(s^2) + V diag(kappa^2, tau^2, eta^2) V')`` with the
    columns of ``V`` ones, ``d`` and ``u``. :func:`error_posterior` treats every row as its own
    draw, which reads one nested fit's shared offset as many independent ones and is too sure.
    Same priors, grids and returned shapes as :func:`error_posterior`.

    Without ``drift`` the error has mean ``m = 0``. With ``drift``, ``m`` (a systematic offset,
    slope change and tilt shared by every nested fit and by the full fit's predictions) has the
    prior ``m ~ Normal(0, diag(kappa^2, tau^2, eta^2))``: a drift as large as the scatter of the
    nested fits around it, no new scale to choose. ``m`` is integrated out of each grid cell's
    likelihood in closed form (:func:`drift_terms`); returns ``(weights, mean, cov)``, the grid
    weights and the Gaussian with the posterior mean and covariance of ``m`` over the grid.
    """
    residuals, scales, distances = (np.asarray(a, dtype=float) for a in (residuals, scales, distances))
    cols = [np.ones_like(residuals), distances] + ([] if tilts is None else [np.asarray(tilts, dtype=float)])
    sd = scale_grid(tilts is not None)
    k = sd.shape[-1]
    out = np.zeros(sd.shape[:-1])
    precision, shift = np.zeros(sd.shape[:-1] + (k, k)), np.zeros(sd.shape)
    for g in np.unique(groups):
        at = np.asarray(groups) == g
        v = np.stack([c[at] for c in cols], axis=1)  # (n, k)
        w = 1.0 / scales[at] ** 2
        m, b = v.T @ (w[:, None] * v), v.T @ (w * residuals[at])
        # log det D is the same on every grid cell: left out
        out += woodbury_loglik(sd, m, b, float(np.sum(w * residuals[at] ** 2)))
        if drift:
            p_g, h_g = drift_terms(sd, m, b)
            precision += p_g
            shift += h_g
    if not drift:
        weights = np.exp(out - out.max())
        return weights / weights.sum()
    # m ~ N(0, S^2) integrated out: B = I + S P S, (P + S^-2)^-1 = S B^-1 S
    big_b = np.eye(k) + sd[..., :, None] * precision * sd[..., None, :]
    sh = sd * shift
    solved = np.linalg.solve(big_b, sh[..., None])[..., 0]
    out += -0.5 * np.linalg.slogdet(big_b)[1] + 0.5 * np.einsum("...i,...i->...", sh, solved)
    weights = np.exp(out - out.max())
    weights /= weights.sum()
    cell_mean = sd * solved
    cell_cov = sd[..., :, None] * np.linalg.inv(big_b) * sd[..., None, :]
    flat = weights.ravel()
    mean = flat @ cell_mean.reshape(flat.size, k)
    second = flat @ (cell_cov + cell_mean[..., :, None] * cell_mean[..., None, :]).reshape(flat.size, k * k)
    return weights, mean, second.reshape(k, k) - np.outer(mean, mean)


def drift_terms(sd: np.ndarray, m: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One group's information about the drift ``m`` on every grid cell: ``V' Cov^-1 V`` and
    ``V' Cov^-1 r`` with ``Cov = D + V S^2 V'``, from ``m = V' D^-1 V`` and ``b = V' D^-1 r``.

    Woodbury, as in :func:`woodbury_loglik`: ``V' Cov^-1 = (I - M S A^-1 S) V' D^-1`` with
    ``A = I + S M S``, so both are k x k (or k) per cell.
    """
    a = np.eye(sd.shape[-1]) + sd[..., :, None] * m * sd[..., None, :]
    ms = m * sd[..., None, :]  # M S
    proj = ms @ np.linalg.solve(a, sd[..., :, None] * np.eye(sd.shape[-1]))  # M S A^-1 S
    return m - proj @ m, b - np.einsum("...ij,j->...i", proj, b)


def scale_grid(tilt: bool) -> np.ndarray:
    """Every (kappa, tau[, eta]) of the posterior grids, shaped grid shape + (2 or 3,)."""
    axes = np.meshgrid(GRID, GRID, *([TILT_GRID] if tilt else []), indexing="ij")
    return np.stack(axes, axis=-1)


def woodbury_loglik(sd: np.ndarray, m: np.ndarray, b: np.ndarray, q: float) -> np.ndarray:
    """``log N(r; 0, D + V S^2 V')`` up to ``-log det D / 2`` on the grid of scales ``sd``
    (:func:`scale_grid`, S = diag of each cell), given ``m = V' D^-1 V``, ``b = V' D^-1 r`` and
    ``q = r' D^-1 r``.

    Woodbury with ``A = I + S M S``: ``r' Cov^-1 r = q - (S b)' A^-1 (S b)`` and
    ``log det Cov = log det D + log det A``; one k x k solve per cell instead of an n x n one.
    """
    a = np.eye(sd.shape[-1]) + sd[..., :, None] * m * sd[..., None, :]
    sb = sd * b
    quad = q - np.einsum("...i,...i->...", sb, np.linalg.solve(a, sb[..., None])[..., 0])
    return -0.5 * (np.linalg.slogdet(a)[1] + quad)
