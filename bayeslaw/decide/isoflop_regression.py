"""The regressions behind :func:`bayeslaw.isoflop`: exact conjugate draws of a parabola per
budget, and of the power law through the budgets' optima with their scatter around it."""

from __future__ import annotations

import warnings

import numpy as np

#: weak prior: flat on the parabola's coefficients, sigma^2 ~ InvGamma(PRIOR_A, PRIOR_B) on the
#: scale of the loss standardised per budget (sigma in units of the budget's loss sd); close to
#: the reference prior 1/sigma^2. Used by every budget with OWN_NOISE_DOF residual degrees of
#: freedom or more, and by all where no budget has a residual to learn the noise from.
PRIOR_A, PRIOR_B = 0.01, 1e-4

#: a budget with fewer residual degrees of freedom than this (3 or 4 runs for a parabola's 3
#: coefficients) borrows the noise of the others (:func:`pooled_noise`) in its prior on sigma^2
OWN_NOISE_DOF = 2

#: weight of that borrowed noise, in residual degrees of freedom (twice the inverse-gamma shape)
POOLED_DOF = 2.0


def _design(log_n: np.ndarray, y: np.ndarray):
    """Standardised u and y of one budget, the design matrix, (X'X)^-1, OLS coefficients and
    residuals in standardised y, with the centre and scales to map back."""
    u0, y0 = log_n - log_n.mean(), y.mean()
    su, sy = u0.std() or 1.0, y.std() or 1.0
    u, z = u0 / su, (y - y0) / sy
    X = np.stack([np.ones_like(u), u, u * u], axis=1)
    cov = np.linalg.inv(X.T @ X)
    mean = cov @ (X.T @ z)
    return cov, mean, z - X @ mean, y0, su, sy


def pooled_noise(budgets: list[tuple[np.ndarray, np.ndarray]]) -> list[float | None] | None:
    """The run-to-run variance pooled over all budgets' parabolas, for the budgets too small to
    learn their own.

    The pooled variance is the sum of squared residuals over the sum of residual degrees of
    freedom, relative to each budget's mean loss squared when every target is positive (noise
    proportional to the loss, as the laws' likelihood on log loss has it), else in the target's
    own units. Returns one entry per budget: that variance in the budget's units where it has
    fewer than :data:`OWN_NOISE_DOF` residual degrees of freedom, None where it has enough to
    keep its own (weak) prior; or None when every budget has exactly 3 runs (no residual).
    """
    scales = [abs(float(y.mean())) for _, y in budgets]
    if not all(y.min() > 0 for _, y in budgets):
        scales = [1.0] * len(budgets)
    ssr = dof = 0.0
    for (log_n, y), scale in zip(budgets, scales, strict=True):
        _, _, resid, _, _, sy = _design(log_n, y)
        ssr += float(resid @ resid) * (sy / scale) ** 2
        dof += len(y) - 3
    if dof <= 0:
        return None
    return [ssr / dof * scale**2 if len(y) - 3 < OWN_NOISE_DOF else None
            for (_, y), scale in zip(budgets, scales, strict=True)]


def parabola_draws(log_n: np.ndarray, y: np.ndarray, draws: int, rng,
                   noise: float | None = None) -> np.ndarray:
    """Posterior draws of (c0, c1, c2) of ``y = c0 + c1 u + c2 u^2`` with ``u = log N - mean``.

    Conjugate regression under a flat prior on the coefficients and an inverse-gamma prior on
    sigma^2: sigma^2 ~ InvGamma(a + (n - 3) / 2, b + SSR / 2) and c | sigma^2 ~
    N(c_ols, sigma^2 (X'X)^-1), drawn exactly. With ``noise`` (the variance the budgets share,
    :func:`pooled_noise`) the prior is worth :data:`POOLED_DOF` residuals of that variance, so a
    budget of 3 or 4 runs, which can hardly estimate its own noise, borrows the others' instead
    of getting intervals orders of magnitude too wide (a budget of 3 runs has no residual at
    all); otherwise it is the weak prior above. y and u are standardised per budget; the draws
    are mapped back to y and u. Returns (draws, 3).
    """
    cov, mean, resid, y0, su, sy = _design(log_n, y)
    if noise is None:
        a_0, b_0 = PRIOR_A, PRIOR_B
    else:
        a_0 = POOLED_DOF / 2
        b_0 = a_0 * noise / sy**2
    a_n = a_0 + (len(y) - 3) / 2
    b_n = b_0 + 0.5 * (resid @ resid)
    # a budget without residual degrees of freedom has a_n = PRIOR_A: its gamma draws reach zero
    sigma2 = b_n / np.maximum(rng.gamma(a_n, 1.0, size=draws), 1e-300)
    chol = np.linalg.cholesky(cov)
    coef = mean + np.sqrt(sigma2)[:, None] * (rng.standard_normal((draws, 3)) @ chol.T)
    return np.stack([y0 + sy * coef[:, 0], sy * coef[:, 1] / su, sy * coef[:, 2] / su**2], axis=1)


#: a budget whose draws have an optimum less often than this tells the line nothing and is left out
MIN_FINITE = 0.1

#: points of the grid over the budgets' scatter sd tau around the power law
TAU_POINTS = 200


def line_draws(log_c: np.ndarray, log_y: np.ndarray,
               rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior draws (a, e, tau), each (S,), of the line ``log y_b = a + e log c_b + scatter_b``
    through the budgets' optima, from their draws ``log_y`` (S, B; NaN where a draw has none).

    Each budget's optimum is known up to its posterior (summarised by the median and a robust
    variance v_b from the interquartile range of its finite draws), and the budgets scatter
    around the power law with an sd tau: real sweeps tune each budget apart, so their optima do
    not lie on one line. Given tau, the line is a weighted regression with weights
    1 / (v_b + tau^2) under a flat prior (conjugate, exact); tau has a half-Cauchy prior (Gelman
    2006, for a group-level sd learnt from few groups) whose scale is the larger of the
    unweighted residual sd and the typical sqrt(v_b), on a grid up to ten times that scale, and
    is drawn from its marginal posterior. With 2 budgets tau cannot be learnt and is 0: the
    interval then only carries the budgets' own uncertainty. NaN where fewer than 2 budgets have
    an optimum in at least :data:`MIN_FINITE` of their draws.
    """
    draws = log_y.shape[0]
    finite = np.isfinite(log_y)
    keep = finite.mean(axis=0) >= MIN_FINITE
    if keep.sum() < 2:
        return np.full(draws, np.nan), np.full(draws, np.nan), np.full(draws, np.nan)
    y = log_y[:, keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, m, q75 = np.nanquantile(y, [0.25, 0.5, 0.75], axis=0)
    v = np.maximum(((q75 - q25) / 1.349) ** 2, 1e-12)
    x = log_c[keep] - log_c[keep].mean()
    X = np.stack([np.ones_like(x), x], axis=1)
    taus, scale = np.zeros(1), 1.0
    if keep.sum() > 2:
        beta = np.linalg.lstsq(X, m, rcond=None)[0]
        resid_sd = float(np.sqrt(np.mean((m - X @ beta) ** 2)))
        scale = max(resid_sd, float(np.sqrt(np.median(v))), 1e-6)
        taus = np.linspace(0.0, 10.0 * scale, TAU_POINTS)
    w = 1.0 / (v[None, :] + taus[:, None] ** 2)  # (T, K)
    xtwx = np.einsum("tk,ki,kj->tij", w, X, X)
    cov = np.linalg.inv(xtwx)
    mean = np.einsum("tij,tj->ti", cov, np.einsum("tk,ki,k->ti", w, X, m))
    resid = m[None, :] - mean @ X.T
    log_ml = (0.5 * np.log(w).sum(axis=1) - 0.5 * np.linalg.slogdet(xtwx)[1]
              - 0.5 * (w * resid**2).sum(axis=1))
    log_ml = log_ml - np.log1p((taus / scale) ** 2)  # half-Cauchy prior on tau
    prob = np.exp(log_ml - log_ml.max())
    pick = rng.choice(len(taus), size=draws, p=prob / prob.sum())
    normal = rng.standard_normal((draws, 2))
    coef = mean[pick] + np.einsum("sij,sj->si", np.linalg.cholesky(cov[pick]), normal)
    slope = coef[:, 1]
    return coef[:, 0] - slope * log_c[keep].mean(), slope, taus[pick]
