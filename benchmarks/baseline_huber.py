"""Point-fit baseline: the Hoffmann et al. (2022) / Epoch AI (Besiroglu et al. 2024) Huber fit.

Fits ``L(N, D) = E + A / N**alpha + B / D**beta`` the way the Chinchilla paper and Epoch's replication
do, so bayeslaw can be compared against the method practitioners actually use:

- log-sum-exp parameterisation ``log L_hat = LSE(a - alpha log N, b - beta log D, e)`` with
  ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``;
- objective: the sum over runs of ``Huber_delta(LSE(...) - log loss)`` with ``delta = 1e-3``;
- L-BFGS-B (analytic gradient) from every point of a grid of initial values, keeping the best;
- uncertainty by a nonparametric bootstrap over runs (Epoch's method).

NumPy, SciPy and pandas only: no bayeslaw import and no JAX, so the baseline stays independent of the
code it is compared against. Run ``python benchmarks/baseline_huber.py`` to fit Epoch's Chinchilla
points and print estimates with bootstrap intervals.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

PARAMS = ("E", "A", "B", "alpha", "beta")
# Optimisation vector order, as in Epoch's notebook: theta = (a, b, e, alpha, beta).
THETA = ("a", "b", "e", "alpha", "beta")

# Hoffmann/Epoch grid (alpha, beta 0..2 step .5; e -1..1.5 step .5; a, b 0..30 step 5): 7350 starts.
FULL_GRID = {
    "a": np.arange(0.0, 30.1, 5.0),
    "b": np.arange(0.0, 30.1, 5.0),
    "e": np.arange(-1.0, 1.51, 0.5),
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
}
# A coarse sub-grid (18 starts). On the 240 Chinchilla points 15 of its 18 starts reach the
# full-grid optimum (a third of the 7350 full-grid starts do), and it found the same optimum as
# 400 full-grid starts on each of 7 bootstrap resamples tried; ~1/400 of the cost of "full".
COARSE_GRID = {
    "a": np.array([0.0, 10.0, 20.0]),
    "b": np.array([0.0, 10.0, 20.0]),
    "e": np.array([0.0, 1.0]),
    "alpha": np.array([0.5]),
    "beta": np.array([0.5]),
}
# Tighter than L-BFGS-B's defaults (gtol 1e-5): with delta = 1e-3 each run adds at most ~1e-3 to
# the gradient, so the defaults can stop short; on the Chinchilla points they agree to 4 digits.
LBFGS_OPTIONS = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-10}
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_grid(grid: str | Mapping[str, Any] | np.ndarray | None) -> np.ndarray:
    """Return the initial points as an array of shape (n_starts, 5) in ``THETA`` order.

    Parameters
    ----------
    grid : {"full", "coarse"}, mapping, array or None
        ``"full"`` is the Hoffmann/Epoch grid, ``"coarse"`` a small grid for speed; a mapping gives
        the values per name in ``THETA`` (their Cartesian product is taken); an array of shape
        (k, 5) is used as is; None gives no grid points.
    """
    if grid is None:
        return np.empty((0, 5))
    if isinstance(grid, str):
        if grid not in ("full", "coarse"):
            raise ValueError(f"grid must be 'full', 'coarse', a mapping or an array, got {grid!r}")
        grid = FULL_GRID if grid == "full" else COARSE_GRID
    if isinstance(grid, Mapping):
        missing = [k for k in THETA if k not in grid]
        if missing:
            raise ValueError(f"grid mapping lacks {missing}; it needs keys {list(THETA)}")
        axes = [np.atleast_1d(np.asarray(grid[k], dtype=float)) for k in THETA]
        return np.array(list(itertools.product(*axes)), dtype=float)
    arr = np.atleast_2d(np.asarray(grid, dtype=float))
    if arr.shape[1] != 5:
        raise ValueError(f"grid array must have shape (k, 5) in order {THETA}, got {arr.shape}")
    return arr


def _check_inputs(N, D, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = [np.asarray(x, dtype=float).ravel() for x in (N, D, loss)]
    if len({a.size for a in arrays}) != 1 or arrays[0].size == 0:
        raise ValueError(
            f"N, D and loss must be non-empty and of equal length, got sizes "
            f"{[a.size for a in arrays]}"
        )
    for name, a in zip(("N", "D", "loss"), arrays):
        if not np.all(np.isfinite(a) & (a > 0)):
            raise ValueError(f"{name} must be finite and > 0 in every row")
    return arrays[0], arrays[1], arrays[2]


def huber_objective(
    theta: np.ndarray,
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_loss: np.ndarray,
    delta: float = 1e-3,
    weights: np.ndarray | None = None,
    tau: float = 0.5,
) -> tuple[float, np.ndarray]:
    """Summed Huber loss of the log-space residuals and its gradient with respect to ``theta``.

    Parameters
    ----------
    theta : ndarray, shape (5,)
        ``(a, b, e, alpha, beta)``.
    log_n, log_d, log_loss : ndarray
        Logs of parameters, tokens and loss per run.
    delta : float
        Huber threshold.
    weights : ndarray, optional
        Per-row multipliers of the Huber terms; a bootstrap resample is written as counts.
    tau : float
        Quantile of log loss the fit aims at: runs above the law weigh ``2 tau``, runs below
        ``2 (1 - tau)`` (kyo-takano's ``chinchilla`` weighs a run below ten times one above, tau
        ~1/11, a fit of the runs' lower envelope). 0.5, the default, is the plain Huber loss.

    Returns
    -------
    tuple
        ``(value, gradient)``.
    """
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    # Hand-rolled log-sum-exp: scipy.special.logsumexp's overhead dominates at this size.
    m = terms.max(axis=0)
    w = np.exp(terms - m)
    s = w.sum(axis=0)
    lse = m + np.log(s)
    w /= s  # softmax weights: d LSE / d term
    r = lse - log_loss
    absr = np.abs(r)
    small = absr <= delta
    hub = np.where(small, 0.5 * r**2, delta * (absr - 0.5 * delta))
    dr = np.clip(r, -delta, delta)  # derivative of Huber with respect to r
    if weights is not None:
        hub = hub * weights
        dr = dr * weights
    if tau != 0.5:
        side = np.where(r < 0, 2.0 * tau, 2.0 * (1.0 - tau))  # r < 0: the run lies above the law
        hub = hub * side
        dr = dr * side
    # Plain elementwise sums rather than np.dot, to keep BLAS (see _single_threaded_blas) out of it.
    g = dr * w
    grad = np.array(
        [g[0].sum(), g[1].sum(), g[2].sum(), -(g[0] * log_n).sum(), -(g[1] * log_d).sum()]
    )
    return float(hub.sum()), grad


def _theta_to_params(theta: np.ndarray) -> dict[str, float]:
    a, b, e, alpha, beta = (float(x) for x in theta)
    return {
        "E": np.exp(e),
        "A": np.exp(a),
        "B": np.exp(b),
        "alpha": alpha,
        "beta": beta,
        "a": a,
        "b": b,
        "e": e,
    }


def _params_to_theta(params: Mapping[str, float]) -> np.ndarray:
    if all(k in params for k in THETA):
        return np.array([params[k] for k in THETA], dtype=float)
    return np.array(
        [
            np.log(params["A"]),
            np.log(params["B"]),
            np.log(params["E"]),
            params["alpha"],
            params["beta"],
        ],
        dtype=float,
    )


@contextlib.contextmanager
def _single_threaded_blas():
    """Pin every loaded OpenBLAS to one thread for the duration (restored afterwards).

    L-BFGS-B's 5-parameter linear algebra gains nothing from threads, and OpenBLAS's thread
    hand-offs made the fits 25-40x slower on a busy machine. A small stand-in for threadpoolctl
    (not a dependency here); on systems without /proc/self/maps it does nothing.
    """
    restore = []
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        paths = set()
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("", "64_"):
            get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
            if get is None or set_ is None:
                get = getattr(lib, "openblas_get_num_threads", None)
                set_ = getattr(lib, "openblas_set_num_threads", None)
            if get is not None and set_ is not None:
                restore.append((set_, get()))
                set_(1)
                break
    try:
        yield
    finally:
        for set_, n in restore:
            set_(n)


def _multistart(starts, log_n, log_d, log_loss, delta, weights=None,
                tau=0.5) -> tuple[np.ndarray, float]:
    best_theta, best_val = None, np.inf
    with _single_threaded_blas():
        for x0 in starts:
            res = minimize(
                huber_objective,
                x0,
                args=(log_n, log_d, log_loss, delta, weights, tau),
                jac=True,
                method="L-BFGS-B",
                options=LBFGS_OPTIONS,
            )
            if np.isfinite(res.fun) and res.fun < best_val:
                best_theta, best_val = res.x, float(res.fun)
    if best_theta is None:
        raise RuntimeError("no start point gave a finite objective")
    return best_theta, best_val


def fit_huber(
    N, D, loss, *, delta: float = 1e-3, grid="full", init: Mapping[str, float] | None = None,
    tau: float = 0.5,
) -> dict[str, float]:
    """Fit ``L = E + A/N**alpha + B/D**beta`` by the Hoffmann/Epoch multi-start Huber method.

    Parameters
    ----------
    N, D, loss : array_like
        Parameters, training tokens and final loss per run (all > 0).
    delta : float
        Huber threshold on log-loss residuals (1e-3 as in Hoffmann et al.).
    grid : {"full", "coarse"}, mapping, array or None
        Initial points, see :func:`make_grid`.
    init : mapping, optional
        An extra start (keys ``E, A, B, alpha, beta`` or ``a, b, e, alpha, beta``), e.g. a previous fit.
    tau : float
        Quantile of log loss the fit aims at (see :func:`huber_objective`); 0.5 is Hoffmann's fit.

    Returns
    -------
    dict
        ``E, A, B, alpha, beta, a, b, e``, the minimised ``objective`` and ``n_starts``.
    """
    n, d, y = _check_inputs(N, D, loss)
    starts = _starts(grid, init)
    theta, val = _multistart(starts, np.log(n), np.log(d), np.log(y), delta, tau=tau)
    return {**_theta_to_params(theta), "objective": val, "n_starts": len(starts)}


def _starts(grid, init) -> np.ndarray:
    starts = make_grid(grid)
    if init is not None:
        starts = np.vstack([_params_to_theta(init)[None, :], starts])
    if len(starts) == 0:
        raise ValueError("no start points: give a grid, an init, or both")
    return starts


def predict_huber(params: Mapping[str, float], N, D) -> np.ndarray:
    """Law value ``E + A/N**alpha + B/D**beta`` at each (N, D) for one parameter set."""
    n, d = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return params["E"] + params["A"] / n ** params["alpha"] + params["B"] / d ** params["beta"]


def bootstrap_huber(
    N,
    D,
    loss,
    *,
    n_boot: int = 200,
    seed: int = 0,
    delta: float = 1e-3,
    grid="coarse",
    init: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Nonparametric bootstrap: resample runs with replacement and refit, ``n_boot`` times.

    By default every refit starts from the grid alone (``init=None``), as Epoch did: a warm start
    from the full-data optimum is faster but lets every replicate fall into the same basin, which
    can make the intervals too narrow when the objective is multimodal (B and beta trade off
    strongly on the Chinchilla points). For a quick warm-started bootstrap pass
    ``init=fit_huber(...)`` and ``grid=None``; passing both an init and a grid uses both.

    Returns
    -------
    pandas.DataFrame
        One row per replicate: ``replicate, E, A, B, alpha, beta, a, b, e, objective, n_starts``.
    """
    n, d, y = _check_inputs(N, D, loss)
    log_n, log_d, log_y = np.log(n), np.log(d), np.log(y)
    starts = _starts(grid, init)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_boot):
        # Resampling as counts per row is the same objective as refitting the resampled rows.
        counts = np.bincount(rng.integers(0, n.size, n.size), minlength=n.size).astype(float)
        theta, val = _multistart(starts, log_n, log_d, log_y, delta, weights=counts)
        rows.append(
            {"replicate": i, **_theta_to_params(theta), "objective": val, "n_starts": len(starts)}
        )
    return pd.DataFrame(rows)


def bootstrap_intervals(boot_df: pd.DataFrame, ci_prob: float = 0.95) -> pd.DataFrame:
    """Percentile intervals, mean and standard deviation per parameter from bootstrap refits.

    Returns a DataFrame indexed by parameter (``E, A, B, alpha, beta``) with columns
    ``mean, std, lower, upper``.
    """
    if not 0 < ci_prob < 1:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob}")
    q = [(1 - ci_prob) / 2, (1 + ci_prob) / 2]
    out = {
        p: {
            "mean": boot_df[p].mean(),
            "std": boot_df[p].std(ddof=1),
            "lower": boot_df[p].quantile(q[0]),
            "upper": boot_df[p].quantile(q[1]),
        }
        for p in PARAMS
    }
    return pd.DataFrame.from_dict(out, orient="index")


def bootstrap_prediction_interval(
    boot_df: pd.DataFrame, N, D, *, ci_prob: float = 0.95, residuals=None, seed: int = 0
) -> pd.DataFrame:
    """Percentile interval for the loss of planned runs at (N, D) from bootstrap refits.

    Without ``residuals`` this is an interval for the law's value (parameter uncertainty only).
    With ``residuals`` (log-space residuals ``log loss - log L_hat`` of the full-data fit) each
    replicate's prediction is multiplied by ``exp`` of a randomly drawn residual, adding run-to-run
    scatter so the interval is comparable with a posterior-predictive interval.

    Returns a DataFrame with columns ``N, D, median, lower, upper``, one row per (N, D).
    """
    n, d = np.broadcast_arrays(
        np.atleast_1d(np.asarray(N, float)), np.atleast_1d(np.asarray(D, float))
    )
    preds = np.stack([predict_huber(row, n, d) for row in boot_df[list(PARAMS)].to_dict("records")])
    if residuals is not None:
        rng = np.random.default_rng(seed)
        res = np.asarray(residuals, dtype=float).ravel()
        preds = preds * np.exp(rng.choice(res, size=preds.shape))
    q = [(1 - ci_prob) / 2, (1 + ci_prob) / 2]
    lo, hi = np.quantile(preds, q, axis=0)
    return pd.DataFrame(
        {"N": n, "D": d, "median": np.median(preds, axis=0), "lower": lo, "upper": hi}
    )


def fit_huber_families(
    frame: pd.DataFrame,
    group: str,
    *,
    n_col: str = "N",
    d_col: str = "D",
    loss_col: str = "loss",
    delta: float = 1e-3,
    grid="coarse",
) -> pd.DataFrame:
    """Fit the law separately per family (the point-fit way to handle families: no pooling).

    Returns a DataFrame with one row per value of ``frame[group]``: the group value, ``n_runs`` and
    the :func:`fit_huber` result.
    """
    for col in (group, n_col, d_col, loss_col):
        if col not in frame.columns:
            raise ValueError(f"column {col!r} not in frame; columns are {list(frame.columns)}")
    rows = []
    for key, sub in frame.groupby(group, sort=True):
        fit = fit_huber(sub[n_col], sub[d_col], sub[loss_col], delta=delta, grid=grid)
        rows.append({group: key, "n_runs": len(sub), **fit})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> dict:
    """Fit Epoch's Chinchilla points (240 rows with ``epoch_excluded == 0``) and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA / "chinchilla" / "points.csv")
    parser.add_argument("--grid", choices=["full", "coarse"], default="full")
    parser.add_argument("--boot-grid", choices=["full", "coarse"], default="coarse")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    df = pd.read_csv(args.data)
    df = df[df["epoch_excluded"] == 0]
    fit = fit_huber(df["N"], df["D"], df["loss"], grid=args.grid)
    boot = bootstrap_huber(
        df["N"], df["D"], df["loss"], n_boot=args.n_boot, seed=args.seed, grid=args.boot_grid
    )
    ci = bootstrap_intervals(boot)
    print(
        f"Huber fit, {len(df)} runs, {fit['n_starts']} starts ({args.grid} grid), "
        f"objective {fit['objective']:.6g}"
    )
    print(f"{'param':>6} {'estimate':>11} {'boot sd':>10} {'95% low':>10} {'95% high':>10}")
    for p in PARAMS:
        r = ci.loc[p]
        print(f"{p:>6} {fit[p]:>11.5g} {r['std']:>10.4g} {r['lower']:>10.5g} {r['upper']:>10.5g}")
    print(f"({args.n_boot} bootstrap refits, {args.boot_grid} grid)")
    result = {
        "n_runs": len(df),
        "fit": {k: (int(v) if k == "n_starts" else float(v)) for k, v in fit.items()},
        "bootstrap": ci.to_dict(orient="index"),
        "n_boot": args.n_boot,
        "boot_grid": args.boot_grid,
        "seed": args.seed,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
