"""The regressions behind :func:`bayeslaw.isoflop`: exact conjugate draws of a parabola per
budget, and a least-squares line through the budgets' optima per draw."""

from __future__ import annotations

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
    all); otherwise it is the weak prior above. y and
    u are standardised per budget; the draws are mapped back to y and u. Returns (draws, 3).
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
