"""The extrapolation error a fit's predictions carry beyond its largest fitted run.

Beyond the largest fitted run the law is off by
``delta = g(d) kappa z1 + tau z2 d + g(d) eta z3 u + g(k) m1 + m2 k + g(k) m3 u`` in log target,
``z_i ~ Normal(0, 1)``: an offset, a change of log-log slope growing with the log distance beyond
the data, and a tilt across the size key (``u``, a run's position perpendicular to it relative to
the fitted runs' median: ``log(D/N)`` for the key C = 6ND, ``log D`` for N, ``log N`` for D).
``m`` is the drift: the part of the nested fits' misses they share (a law that bends beyond its
data the same way at every cutoff), carried into the prediction's centre, one per family where a
fit has several; the ``z`` terms are the scatter around it.

Two distances. ``k`` is the log key beyond the largest fitted key: the nested fits are cut along
the key and measure the error there, so the drift, a direction they learn, moves predictions along
it only. ``d`` is the farthest of the row's log distances beyond the fitted runs on every size axis
the law has (the key, N, D and C = 6 N D; :func:`~bayeslaw.results.sizes.size_axes`; ``d >= k``):
a planned run on a model larger than every fitted one but with fewer tokens lies inside the data
in compute and beyond it in N, and its interval widens as far as its N says, by the scales the
nested fits measured per log unit. Inside the data ``delta = 0``, and the offset and tilt grow in
over the first :data:`ONSET` log unit beyond it (``g``, :func:`edge_weight`) rather than jumping
in: a run 0.1% beyond the largest fitted one is predicted as that run is, not moved by the whole
offset. Within a posterior draw
every predicted row shares ``z1, z2, z3`` and the rows of one family share ``m``, so paired
comparisons of two plans stay coherent.

This module holds the error's posterior (:class:`ExtrapolationErrorModel`) and applies it to
predictive draws; :mod:`bayeslaw.infer.extrapolation` measures it by nested refits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayeslaw.results.sizes import distance_beyond, key_values, log_sizes, tilt_values

GRID = np.logspace(-4, 0, 81)
#: log key beyond the data (an e-fold of C for the key C) over which the error's offset and tilt
#: grow in from 0 (:func:`edge_weight`); measured against the step in benchmarks/README.md
ONSET = 1.0
#: grid of the tilt scale eta: coarser (every 0.2 decades), so the joint grid stays small
TILT_GRID = GRID[::4]


def edge_weight(d: np.ndarray, onset: float) -> np.ndarray:
    """Weight of the error's offset and tilt terms at log distance ``d`` beyond the data: from 0
    at the data's edge to 1 at ``onset`` and beyond, linearly; ``onset`` 0 is the step ``1(d > 0)``
    of fits saved before the ramp (their error was measured with it)."""
    d = np.asarray(d, dtype=float)
    if onset <= 0:
        return (d > 0).astype(float)
    return np.clip(d / onset, 0.0, 1.0)


@dataclass(frozen=True)
class ExtrapolationErrorModel:
    """Posterior of the offset ``kappa`` and slope-change ``tau`` beyond the largest fitted run.

    Attributes
    ----------
    by : str
        Size key the distance is measured on (``"C"`` or a law input).
    reference : float
        Natural log of the largest key among the fitted runs: distances start there.
    weights : ndarray
        Posterior probability of each (``kappa``, ``tau``) pair on :data:`GRID` x :data:`GRID`,
        or of each (``kappa``, ``tau``, ``eta``) on :data:`GRID` x :data:`GRID` x
        :data:`TILT_GRID` when the law has a tilt term.
    n_points : int
        Held-out predictions (over all nested fits) the posterior rests on.
    cutoffs : tuple of float
        Key cutoffs of the nested fits.
    tilt_center : float, optional
        Median perpendicular position (:func:`tilt_values`) of the fitted runs; None without a
        tilt term.
    drift : ndarray, optional
        Posterior mean of the drift ``m`` (offset, slope change[, tilt]), shape (k,) when every
        row shares it, or (families, k) with one drift per family of the fit; None: no drift
        (fits saved before it, or measured with ``drift=False``).
    drift_cov : ndarray, optional
        Posterior covariance of ``m``: (k, k), or (families, k, k).
    nested_r_hat : float, optional
        Largest R-hat over the nested fits the error was measured with (None: not recorded).
    onset : float
        Log key over which the offset and tilt grow in beyond the data (:func:`edge_weight`);
        0, a step at the data's edge, for fits saved before the ramp.
    frontier : dict, optional
        Natural log of the largest fitted value on each of
        :func:`~bayeslaw.results.sizes.size_axes`, by axis (the key's equals ``reference``); None
        for fits saved before the scatter's distance was measured on every axis: their distance
        is along the key alone.
    """

    by: str
    reference: float
    weights: np.ndarray
    n_points: int
    cutoffs: tuple[float, ...]
    tilt_center: float | None = None
    drift: np.ndarray | None = None
    drift_cov: np.ndarray | None = None
    nested_r_hat: float | None = None
    onset: float = 0.0
    frontier: Mapping[str, float] | None = None

    def _marginal(self, axis: int) -> np.ndarray:
        others = tuple(i for i in range(self.weights.ndim) if i != axis)
        return self.weights.sum(axis=others)

    @property
    def kappa_median(self) -> float:
        """Posterior median of kappa (log target)."""
        return _median(self._marginal(0), GRID)

    @property
    def tau_median(self) -> float:
        """Posterior median of tau (log target per unit of log key)."""
        return _median(self._marginal(1), GRID)

    @property
    def eta_median(self) -> float | None:
        """Posterior median of eta (log target per unit of perpendicular log position), or None
        without a tilt term."""
        return _median(self._marginal(2), TILT_GRID) if self.weights.ndim == 3 else None

    def describe(self, families=None, *, per_family: bool = True) -> str:
        """The posterior medians in words, e.g. for the command line (``families``: the fit's
        family names, for a drift per family; ``per_family=False`` leaves those drifts out, for a
        caller that shows :meth:`drift_table` instead)."""
        text = (f"offset kappa {self.kappa_median:.3g}, slope change tau {self.tau_median:.3g} per "
                f"unit log {self.by}")
        if self.eta_median is not None:
            axis = {"C": "D/N", "N": "D", "D": "N"}[self.by]
            text += f", tilt eta {self.eta_median:.3g} per unit log {axis}"
        if self.drift is not None and self.drift.ndim == 1:
            text += "; shared drift " + _drift_words(self.drift)
        elif self.drift is not None and per_family:
            names = list(families) if families is not None else [f"family {i}" for i in range(len(self.drift))]
            text += "; drift per family: " + "; ".join(f"{name}: {_drift_words(m)}" for name, m in zip(names, self.drift))
        return text

    def drift_table(self, families=None) -> pd.DataFrame | None:
        """Each family's drift (posterior mean of offset, slope change and tilt), one row per
        family, or None without a drift per family. ``families``: the fit's family names."""
        if self.drift is None or self.drift.ndim == 1:
            return None
        names = list(families) if families is not None else [f"family {i}" for i in range(len(self.drift))]
        columns = ["offset", "slope change", "tilt"][:self.drift.shape[1]]
        return pd.DataFrame(self.drift, index=pd.Index(names, name="family"), columns=columns)

    def drift_of(self, family: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean (R, k) and covariance (R, k, k) of the drift of rows of the given family indices.

        A shared drift is every row's. With a drift per family a row of a family not in the fit
        (index -1) gets the drift's prior, mean 0 and variance ``E[kappa^2], E[tau^2]
        (, E[eta^2])`` under the grid posterior: a new family may bend either way, by as much
        as the fitted families' scatter says.
        """
        family = np.asarray(family, dtype=int)
        if self.drift is None:
            raise ValueError("this extrapolation error has no drift")
        if self.drift.ndim == 1:
            k = len(self.drift)
            return (np.broadcast_to(self.drift, (len(family), k)),
                    np.broadcast_to(self.drift_cov, (len(family), k, k)))
        mean = np.concatenate([self.drift, np.zeros((1, self.drift.shape[1]))])
        cov = np.concatenate([self.drift_cov, np.diag(self.scale_moments()[:self.drift.shape[1]])[None]])
        return mean[family], cov[family]  # index -1 picks the prior row

    def scale_moments(self) -> np.ndarray:
        """``E[kappa^2], E[tau^2](, E[eta^2])`` under the grid posterior."""
        grids = (GRID, GRID, TILT_GRID)[:self.weights.ndim]
        return np.array([float(self._marginal(i) @ g**2) for i, g in enumerate(grids)])

    def scale_draws(self, rng: np.random.Generator, n_draws: int) -> np.ndarray:
        """(n_draws, 3) draws of ``(kappa, tau, eta)`` from the grid posterior; eta 0 without a
        tilt term."""
        pick = rng.choice(self.weights.size, size=n_draws, p=self.weights.ravel())
        index = np.unravel_index(pick, self.weights.shape)
        out = np.zeros((n_draws, 3))
        for axis, grid in enumerate((GRID, GRID, TILT_GRID)[:self.weights.ndim]):
            out[:, axis] = grid[index[axis]]
        return out

    def tilt_position(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Rows' tilt position ``u`` relative to the fitted runs' median; None without a tilt
        term."""
        u = tilt_values(inputs, self.by)
        return None if u is None or self.tilt_center is None else u - self.tilt_center

    def key_distance(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log key of rows beyond the largest fitted key (0 inside the data): the drift's
        distance."""
        return np.maximum(np.log(key_values(inputs, self.by)) - self.reference, 0.0)

    @property
    def axis_frontier(self) -> dict[str, float]:
        """Largest fitted log size by axis, the axes the scatter's distance is measured on:
        :attr:`frontier`, or the key alone (``reference``) for fits saved without it."""
        return {self.by: self.reference} if self.frontier is None else dict(self.frontier)

    def distance(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log distance of rows beyond the fitted runs, the largest over the axes of
        :attr:`axis_frontier` (0 inside the data): the scatter's distance."""
        front = self.axis_frontier
        return distance_beyond(log_sizes(inputs, tuple(front)), np.array(list(front.values())))

    def log_offsets(self, inputs: Mapping[str, np.ndarray], n_draws: int, seed: int,
                    family: np.ndarray | None = None) -> np.ndarray:
        """Draws of ``delta`` for the rows, shape (n_draws, rows), one ``z1, z2, z3`` per draw.

        ``family`` (the rows' family indices, -1 for a new family) picks each row's drift where
        there is one per family; without it every row is read as a new family's.
        """
        rng = np.random.default_rng([int(seed), 7])
        kappa, tau, eta = self.scale_draws(rng, n_draws).T
        z1, z2 = rng.standard_normal((2, n_draws))
        d = self.distance(inputs)[None, :]
        u = self.tilt_position(inputs) if self.weights.ndim == 3 else None
        g = edge_weight(d, self.onset)
        delta = (kappa * z1)[:, None] * g + (tau * z2)[:, None] * d
        if u is not None:
            # drawn after z1, z2, so the offset and slope terms do not depend on the tilt's presence
            z3 = rng.standard_normal(n_draws)
            delta = delta + (eta * z3)[:, None] * u[None, :] * g
        if self.drift is not None:
            # drawn last, so the scatter terms are the same draws with or without a drift
            m = self._drift_draws(rng, n_draws, d.shape[1], family)  # (n_draws, rows, k)
            k = self.key_distance(inputs)[None, :]
            gk = edge_weight(k, self.onset)
            delta = delta + m[..., 0] * gk + m[..., 1] * k
            if m.shape[-1] == 3:
                delta = delta + m[..., 2] * u[None, :] * gk
        return delta

    def _drift_draws(self, rng, n_draws: int, n_rows: int, family) -> np.ndarray:
        """Draws of each row's drift, (n_draws, rows, k): one per family (and per draw)."""
        if self.drift.ndim == 1:
            m = rng.multivariate_normal(self.drift, self.drift_cov, size=n_draws, method="eigh")
            return np.broadcast_to(m[:, None, :], (n_draws, n_rows, m.shape[1]))
        family = np.full(n_rows, -1) if family is None else np.asarray(family, dtype=int)
        mean, cov = self.drift_of(family)
        out = np.empty((n_draws, n_rows, mean.shape[1]))
        for f in np.unique(family):  # rows of one family share their draw of its drift
            at = np.flatnonzero(family == f)
            draw = rng.multivariate_normal(mean[at[0]], cov[at[0]], size=n_draws, method="eigh")
            out[:, at, :] = draw[:, None, :]
        return out

    def to_dict(self) -> dict:
        """JSON-ready form (kept in the fit's config, so it is saved with the fit)."""
        return {"by": self.by, "reference": self.reference,
                "weights": [float(f"{w:.6g}") for w in self.weights.ravel()],
                "shape": list(self.weights.shape), "tilt_center": self.tilt_center,
                "n_points": self.n_points, "cutoffs": list(self.cutoffs),
                "drift": None if self.drift is None else np.asarray(self.drift, dtype=float).tolist(),
                "drift_cov": None if self.drift_cov is None else np.asarray(self.drift_cov).tolist(),
                "nested_r_hat": self.nested_r_hat, "onset": self.onset,
                "frontier": None if self.frontier is None else {k: float(v) for k, v in self.frontier.items()}}

    @classmethod
    def from_dict(cls, data: Mapping) -> ExtrapolationErrorModel:
        # fits saved before the tilt term hold a (kappa, tau) grid and no shape
        shape = tuple(data.get("shape", (GRID.size, GRID.size)))
        weights = np.asarray(data["weights"], dtype=float).reshape(shape)
        center, drift = data.get("tilt_center"), data.get("drift")
        return cls(data["by"], float(data["reference"]), weights / weights.sum(),
                   int(data["n_points"]), tuple(float(c) for c in data["cutoffs"]),
                   None if center is None else float(center),
                   None if drift is None else np.asarray(drift, dtype=float),
                   None if drift is None else np.asarray(data["drift_cov"], dtype=float),
                   data.get("nested_r_hat"), float(data.get("onset", 0.0)),
                   None if data.get("frontier") is None else {str(k): float(v) for k, v in data["frontier"].items()})


def _median(marginal: np.ndarray, grid: np.ndarray) -> float:
    return float(grid[np.searchsorted(np.cumsum(marginal), 0.5)])


def _drift_words(drift: np.ndarray) -> str:
    return ", ".join(f"{name} {value:+.3g}" for name, value in zip(("offset", "slope change", "tilt"), drift))


def apply(error: ExtrapolationErrorModel | None, draws: np.ndarray, inputs: Mapping[str, np.ndarray],
          seed: int, family: np.ndarray | None = None) -> np.ndarray:
    """Multiply predictive draws (S, R) by the extrapolation error's draws (``family``: the rows'
    family indices, see :meth:`ExtrapolationErrorModel.log_offsets`).

    ``inputs`` holds every law input (rows are encoded against the law), and the error's key was
    checked against the same law when it was calibrated, so the distance is always computable.
    """
    if error is None:
        return draws
    return draws * np.exp(error.log_offsets(inputs, draws.shape[0], seed, family))
