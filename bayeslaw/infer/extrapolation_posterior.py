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
  per grid cell with the Woodbury identity (:func:`woodbury_terms` on :func:`scale_grid`); the
  drift ``m`` shared by all nested fits (one per family where there are several) is zero or
  integrated out in closed form (:func:`drift_cells`).
* :func:`error_posterior` treats every row as its own draw, optionally with a bias grid instead of
  the tilt; :mod:`bayeslaw.downstream.observational` uses it for the link's extrapolation error.

Kept apart from the refits because it is pure NumPy on the collected residuals: it needs no fit,
and benchmarks and other models call it on their own residuals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from bayeslaw.results.extrapolation_error import GRID, ONSET, TILT_GRID, edge_weight


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
                           tilts: np.ndarray | None, groups: np.ndarray, drift: bool = False,
                           families: np.ndarray | None = None, n_families: int | None = None,
                           evidence: bool = False, drift_sd: Callable | None = None, onset: float = ONSET):
    """Grid posterior of (kappa, tau[, eta]) when the rows of one group share ``z1, z2, z3``.

    The error model gives every row a prediction makes the same ``z`` (see the module
    docstring), so the held-out rows of one nested fit are one draw of the error, not many: within
    a group ``r ~ MultivariateNormal(V m, diag(s^2) + V diag(kappa^2, tau^2, eta^2) V')`` with the
    columns of ``V`` ``g(d)``, ``d`` and ``u g(d)``, ``g`` the offset's and tilt's growth beyond the
    data over ``onset`` (:func:`~bayeslaw.results.extrapolation_error.edge_weight`; 0: ones, the
    step). :func:`error_posterior` treats every row as its own
    draw, which reads one nested fit's shared offset as many independent ones and is too sure.
    Same priors, grids and returned shapes as :func:`error_posterior`.

    Without ``drift`` the error has mean ``m = 0``. With ``drift``, ``m`` (a systematic offset,
    slope change and tilt shared by every nested fit and by the full fit's predictions) has the
    prior ``m ~ Normal(0, diag(kappa^2, tau^2, eta^2))``: a drift as large as the scatter of the
    nested fits around it, no new scale to choose. ``m`` is integrated out of each grid cell's
    likelihood in closed form (:func:`drift_cells`); returns ``(weights, mean, cov)``, the
    grid weights and the Gaussian with the posterior mean and covariance of ``m`` over the grid.

    ``families`` (an index per row, ``0 .. n_families - 1``) gives each family its own drift
    ``m_f``, independent draws from the same prior: families fitted together by one law can still
    bend apart beyond their data (their offsets differ), and one drift for all moves every family
    by their average miss. A group is then a nested fit's rows of one family, the drifts are
    integrated out family by family and their evidence multiplied; ``mean`` and ``cov`` gain a
    leading family axis, and a family with no held-out rows keeps the prior (mean 0).

    ``drift_sd`` maps the grid's scales ``S`` (shape grid + (k,)) to the drift's prior sds in
    each cell; None (the model) is ``S`` itself. ``benchmarks/drift_variants.py`` compares
    looser priors through it.

    With ``evidence`` the result comes as ``(result, log_evidence)``: the log marginal density of
    the residuals under the nested fits' predictive scales and this error model, its scales
    (and drifts) integrated over their priors. It scores how well the nested fits extrapolated,
    penalising both misses and over-wide predictions, so two models of the same runs (same
    nested cutoffs, same held-out rows) can be compared by it (a leave-future-out Bayes factor).
    """
    residuals, scales, distances = (np.asarray(a, dtype=float) for a in (residuals, scales, distances))
    groups = np.asarray(groups)
    family = np.zeros(len(residuals), dtype=int) if families is None else np.asarray(families, dtype=int)
    count = 1 if families is None else int(n_families if n_families is not None else family.max() + 1)
    grow = edge_weight(distances, onset)  # every nested residual lies beyond its cutoff: d > 0
    cols = [grow, distances] + ([] if tilts is None else [np.asarray(tilts, dtype=float) * grow])
    sd = scale_grid(tilts is not None)
    k = sd.shape[-1]
    out = np.zeros(sd.shape[:-1])
    cells = []
    for f in range(count):  # a group's rows of one family are one draw: group (nested fit, family)
        at = family == f
        loglik, precision, shift = np.zeros(sd.shape[:-1]), np.zeros(sd.shape[:-1] + (k, k)), np.zeros(sd.shape)
        for _, terms in group_terms(residuals[at], scales[at], [c[at] for c in cols], groups[at], sd, drift):
            if drift:
                loglik, precision, shift = loglik + terms[0], precision + terms[1], shift + terms[2]
            else:
                loglik = loglik + terms
        if drift:
            prior_sd = sd if drift_sd is None else np.broadcast_to(drift_sd(sd), sd.shape)
            family_loglik, cell_mean, cell_cov = drift_cells(loglik, prior_sd, precision, shift)
            out += family_loglik
            cells.append((cell_mean, cell_cov))
        else:
            out += loglik
    weights = np.exp(out - out.max())
    total = weights.sum()
    weights /= total
    if not drift:
        result = weights
    else:
        moments = [mix_cells(weights, *cell) for cell in cells]
        result = ((weights, *moments[0]) if families is None else
                  (weights, np.stack([m for m, _ in moments]), np.stack([c for _, c in moments])))
    if not evidence:
        return result
    # log mean over the (log-uniform) grid, plus the -log det D / 2 and 2 pi the cells leave out
    log_evidence = (float(out.max() + np.log(total / out.size)) - float(np.sum(np.log(scales)))
                    - 0.5 * residuals.size * np.log(2 * np.pi))
    return result, log_evidence


def group_terms(residuals: np.ndarray, scales: np.ndarray, cols: list[np.ndarray],
                groups: np.ndarray, sd: np.ndarray, drift: bool):
    """Yield ``(group, woodbury_terms(...))`` for each group of rows, with ``V`` the columns
    ``cols`` and ``D = diag(scales^2)`` (``log det D`` is the same on every grid cell: left out)."""
    for g in np.unique(groups):
        at = groups == g
        v = np.stack([c[at] for c in cols], axis=1)  # (n, k)
        w = 1.0 / scales[at] ** 2
        m, b = v.T @ (w[:, None] * v), v.T @ (w * residuals[at])
        yield g, woodbury_terms(sd, m, b, float(np.sum(w * residuals[at] ** 2)), drift=drift)


def drift_cells(loglik: np.ndarray, prior_sd: np.ndarray, precision: np.ndarray, shift: np.ndarray):
    """Integrate a Gaussian drift ``m ~ Normal(0, diag(prior_sd^2))`` out of each grid cell.

    ``loglik`` is the cells' log likelihood at ``m = 0``; ``precision`` and ``shift`` are the
    summed ``V' Cov^-1 V`` and ``V' Cov^-1 r`` of the groups (:func:`woodbury_terms`). Returns
    each cell's log likelihood with ``m`` integrated out and the posterior mean and covariance
    of ``m`` in each cell. With ``B = I + S P S``, ``(P + S^-2)^-1 = S B^-1 S``.
    """
    k = prior_sd.shape[-1]
    big_b = np.eye(k) + prior_sd[..., :, None] * precision * prior_sd[..., None, :]
    sh = prior_sd * shift
    inverse, logdet = inv_logdet(big_b)
    solved = np.einsum("...ij,...j->...i", inverse, sh)
    out = loglik - 0.5 * logdet + 0.5 * np.einsum("...i,...i->...", sh, solved)
    cell_cov = prior_sd[..., :, None] * inverse * prior_sd[..., None, :]
    return out, prior_sd * solved, cell_cov


def mix_cells(weights: np.ndarray, cell_mean: np.ndarray, cell_cov: np.ndarray):
    """Mean and covariance of the mixture over the grid of the cells' Gaussians."""
    keep = cell_mean.shape[-1]
    flat = weights.ravel()
    mean = flat @ cell_mean.reshape(flat.size, keep)
    second = flat @ (cell_cov + cell_mean[..., :, None] * cell_mean[..., None, :]).reshape(flat.size, keep * keep)
    return mean, second.reshape(keep, keep) - np.outer(mean, mean)


def integrate_drift(loglik: np.ndarray, prior_sd: np.ndarray, precision: np.ndarray,
                    shift: np.ndarray, keep: int | None = None):
    """The grid weights with the drift integrated out (:func:`drift_cells`) and the posterior mean
    and covariance of ``m`` (its first ``keep`` coordinates), mixed over the grid."""
    keep = prior_sd.shape[-1] if keep is None else keep
    out, cell_mean, cell_cov = drift_cells(loglik, prior_sd, precision, shift)
    weights = np.exp(out - out.max())
    weights /= weights.sum()
    return (weights, *mix_cells(weights, cell_mean[..., :keep], cell_cov[..., :keep, :keep]))


def scale_grid(tilt: bool) -> np.ndarray:
    """Every (kappa, tau[, eta]) of the posterior grids, shaped grid shape + (2 or 3,)."""
    axes = np.meshgrid(GRID, GRID, *([TILT_GRID] if tilt else []), indexing="ij")
    return np.stack(axes, axis=-1)


def woodbury_terms(sd: np.ndarray, m: np.ndarray, b: np.ndarray, q: float, drift: bool = False):
    """``log N(r; 0, Cov)`` with ``Cov = D + V S^2 V'``, up to ``-log det D / 2``, on the grid of
    scales ``sd`` (:func:`scale_grid`, S = diag of each cell), given ``m = V' D^-1 V``,
    ``b = V' D^-1 r`` and ``q = r' D^-1 r``; with ``drift`` also the group's information about a
    mean ``V m0``: ``V' Cov^-1 V`` and ``V' Cov^-1 r``.

    Woodbury with ``A = I + S M S``: ``r' Cov^-1 r = q - (S b)' A^-1 (S b)``,
    ``log det Cov = log det D + log det A`` and ``V' Cov^-1 = (I - M S A^-1 S) V' D^-1``: one
    k x k inverse per cell (:func:`inv_logdet`), shared by all three, instead of an n x n solve.
    """
    k = sd.shape[-1]
    a = np.eye(k) + sd[..., :, None] * m * sd[..., None, :]
    sb = sd * b
    inverse, logdet = inv_logdet(a)
    quad = q - np.einsum("...i,...i->...", sb, np.einsum("...ij,...j->...i", inverse, sb))
    loglik = -0.5 * (logdet + quad)
    if not drift:
        return loglik
    proj = np.einsum("...ij,...jl->...il", m * sd[..., None, :], inverse * sd[..., None, :])  # M S A^-1 S
    return loglik, m - np.einsum("...ij,jl->...il", proj, m), b - np.einsum("...ij,j->...i", proj, b)


def woodbury_loglik(sd: np.ndarray, m: np.ndarray, b: np.ndarray, q: float) -> np.ndarray:
    """The log likelihood of :func:`woodbury_terms` alone (zero-mean error)."""
    return woodbury_terms(sd, m, b, q)


def inv_logdet(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and log determinant of a stack of symmetric positive definite k x k matrices.

    The grids hold ~10^5 cells of 2 x 2 or 3 x 3 matrices (one per cell, nested fit and family);
    LAPACK's batched solve pays a call per matrix, the closed form (adjugate over determinant)
    runs as a few array operations. Other sizes go to ``numpy.linalg``.
    """
    k = a.shape[-1]
    if k == 2:
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        adj = np.stack([np.stack([a[..., 1, 1], -a[..., 0, 1]], -1),
                        np.stack([-a[..., 1, 0], a[..., 0, 0]], -1)], -2)
    elif k == 3:
        c = lambda i, j: (a[..., (i + 1) % 3, (j + 1) % 3] * a[..., (i + 2) % 3, (j + 2) % 3]
                          - a[..., (i + 1) % 3, (j + 2) % 3] * a[..., (i + 2) % 3, (j + 1) % 3])
        cof = np.stack([np.stack([c(i, j) for j in range(3)], -1) for i in range(3)], -2)  # cofactors
        det = np.einsum("...j,...j->...", a[..., 0, :], cof[..., 0, :])
        adj = np.swapaxes(cof, -1, -2)
    else:
        return np.linalg.inv(a), np.linalg.slogdet(a)[1]
    return adj / det[..., None, None], np.log(det)
