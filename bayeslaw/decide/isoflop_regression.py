"""The regressions behind :func:`bayeslaw.isoflop`: exact conjugate draws of a parabola per
budget, and a least-squares line through the budgets' optima per draw."""

from __future__ import annotations

import numpy as np

#: weak prior: flat on the parabola's coefficients, sigma^2 ~ InvGamma(PRIOR_A, PRIOR_B) on the
#: scale of the loss standardised per budget (sigma in units of the budget's loss sd); close to
#: the reference prior 1/sigma^2, so a budget's intervals have near-nominal frequentist coverage
#: when the parabola holds, and a budget of 3 runs (no residual) gets very wide intervals
PRIOR_A, PRIOR_B = 0.01, 1e-4


def parabola_draws(log_n: np.ndarray, y: np.ndarray, draws: int, rng) -> np.ndarray:
    """Posterior draws of (c0, c1, c2) of ``y = c0 + c1 u + c2 u^2`` with ``u = log N - mean``.

    Conjugate regression under a flat prior on the coefficients and the weak inverse-gamma prior
    on sigma^2 above: sigma^2 ~ InvGamma(a + (n - 3) / 2, b + SSR / 2) and c | sigma^2 ~
    N(c_ols, sigma^2 (X'X)^-1), drawn exactly. y and u are standardised so the prior is equally
    weak for every budget; the draws are mapped back to y and u. Returns (draws, 3).
    """
    u0, y0 = log_n - log_n.mean(), y.mean()
    su, sy = u0.std() or 1.0, y.std() or 1.0
    u, z = u0 / su, (y - y0) / sy
    X = np.stack([np.ones_like(u), u, u * u], axis=1)
    cov = np.linalg.inv(X.T @ X)
    mean = cov @ (X.T @ z)
    resid = z - X @ mean
    a_n = PRIOR_A + (len(z) - 3) / 2
    b_n = PRIOR_B + 0.5 * (resid @ resid)
    # a budget without residual degrees of freedom has a_n = PRIOR_A: its gamma draws reach zero
    sigma2 = b_n / np.maximum(rng.gamma(a_n, 1.0, size=draws), 1e-300)
    chol = np.linalg.cholesky(cov)
    coef = mean + np.sqrt(sigma2)[:, None] * (rng.standard_normal((draws, 3)) @ chol.T)
    return np.stack([y0 + sy * coef[:, 0], sy * coef[:, 1] / su, sy * coef[:, 2] / su**2], axis=1)


def line_draws(log_c: np.ndarray, log_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, the least-squares line ``log_y = a + e log_c`` over the budgets with a finite
    optimum in that draw: (a, e), each (S,); NaN where fewer than 2 budgets are finite."""
    w = np.isfinite(log_y).astype(float)
    ly = np.where(w > 0, log_y, 0.0)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * log_c).sum(axis=1) / n
        my = (w * ly).sum(axis=1) / n
        dx = log_c[None, :] - mx[:, None]
        slope = (w * dx * (ly - my[:, None])).sum(axis=1) / (w * dx * dx).sum(axis=1)
        intercept = my - slope * mx
    bad = n < 2
    slope[bad], intercept[bad] = np.nan, np.nan
    return intercept, slope
