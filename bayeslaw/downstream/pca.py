"""Principal capability measures (Ruan, Maddison, Hashimoto 2024) of a benchmark matrix with
missing values: the observational scaling law's plain baseline, and the order in which
:func:`bayeslaw.downstream.observational.fit_observational` lets benchmarks lead its factors.

Missing entries are imputed by iterating a low-rank reconstruction, then PCA runs on the
completed, centred matrix, as in the paper.
"""

from __future__ import annotations

import numpy as np

from bayeslaw.core.errors import DataError


def capability_pca(matrix, k: int = 3, *, iterations: int = 200, tol: float = 1e-8):
    """Principal capability measures of a (models x benchmarks) matrix with NaNs.

    Missing entries are filled by iterating a rank-``k`` reconstruction (column means to start).

    Returns
    -------
    scores (M, k), loadings (J, k), column means (J,), explained variance ratio (k,)
    """
    y = np.asarray(matrix, dtype=float)
    if y.ndim != 2 or k < 1 or k > min(y.shape):
        raise DataError(f"capability_pca needs a 2-d matrix and 1 <= k <= {min(y.shape) if y.ndim == 2 else '?'}")
    observed = np.isfinite(y)
    if (~observed).all(axis=0).any():
        raise DataError("every benchmark column needs at least one observed value")
    filled = np.where(observed, y, np.nanmean(y, axis=0))
    for _ in range(iterations):
        mean = filled.mean(axis=0)
        u, s, vt = np.linalg.svd(filled - mean, full_matrices=False)
        recon = mean + (u[:, :k] * s[:k]) @ vt[:k]
        change = np.sum((recon[~observed] - filled[~observed]) ** 2)
        filled[~observed] = recon[~observed]
        if change < tol:
            break
    mean = filled.mean(axis=0)
    u, s, vt = np.linalg.svd(filled - mean, full_matrices=False)
    return u[:, :k] * s[:k], vt[:k].T, mean, (s[:k] ** 2) / np.sum(s ** 2)


def leaders(y: np.ndarray, k: int) -> np.ndarray:
    """Benchmark order for the lower-triangular loadings: factor j's leader (its positive diagonal
    entry) is the unused benchmark that PCA loads most heavily on factor j.

    A leader that barely loads on its factor leaves the factor's sign unidentified, and the chains
    split between mirror modes."""
    _, loadings, _, _ = capability_pca(y, k=k)
    order: list[int] = []
    for j in range(k):
        free = [i for i in np.argsort(-np.abs(loadings[:, j])) if i not in order]
        order.append(int(free[0]))
    return np.array(order + [i for i in range(y.shape[1]) if i not in order])
