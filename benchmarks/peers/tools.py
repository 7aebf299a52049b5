"""The tools the peer harness compares, one function each: ``tool(train, test, ctx) -> dict``.

A result has ``point`` (one prediction per held-out unit), ``intervals`` (``{level: (lower,
upper)}`` for the levels in :data:`peers.metrics.LEVELS`, or None), ``draws`` (S x R predictive
draws, or None), ``seconds`` (wall time of fit and prediction) and ``info`` (tool-specific
facts). A tool that cannot run returns ``{"skip": reason}``.

Multi-family data sets: bayeslaw fits the families jointly (``group=``); the point-fit tools fit
each family on its own where every family has at least :data:`MIN_FAMILY_ROWS` fitted rows, else
all rows pooled (what a user of a point fit would do).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import baseline_huber as bh
import numpy as np
import pandas as pd

from peers.metrics import LEVELS

MIN_FAMILY_ROWS = 10
#: MCMC settings of --quick; the default run uses bl.fit's own defaults
QUICK_MCMC = {"chains": 2, "draws": 300, "warmup": 300}
RUNNER = Path(__file__).with_name("runner.py")
PEER_PYTHON_ENV = "BAYESLAW_PEER_PYTHON"


@dataclass
class Context:
    """What a tool knows besides the rows: the law's inputs, the family column, the settings.

    ``bayeslaw_kwargs`` is a dict of extra ``bl.fit`` keyword arguments (``"law"`` names the law,
    default ``"chinchilla"``; a ``"run"`` whose column the data set lacks is dropped), or a
    callable ``(dataset, train) -> dict`` for per-data-set settings. ``cache`` is shared by the
    tools of one split (the two Huber variants reuse one bootstrap).
    """

    dataset: str
    group: str | None = None
    law_inputs: tuple[str, ...] = ("N", "D")
    quick: bool = False
    seed: int = 0
    bayeslaw_kwargs: dict | Callable[[str, pd.DataFrame], dict] | None = None
    n_boot: int | None = None  # Huber bootstraps; None: 20 under quick, else 100
    cache: dict = field(default_factory=dict)


def _families(train: pd.DataFrame, test: pd.DataFrame, group: str | None):
    """(train part, test mask) per family, or one pooled pair (see the module docstring)."""
    if group is None or train[group].nunique() < 2 or (train.groupby(group).size() < MIN_FAMILY_ROWS).any():
        return [(train, np.ones(len(test), bool))]
    return [(sub, (test[group] == key).to_numpy()) for key, sub in train.groupby(group)]


def _intervals_from_draws(draws: np.ndarray) -> dict:
    out = {}
    for level in LEVELS:
        tail = (1 - level) / 2
        out[level] = tuple(np.quantile(draws, [tail, 1 - tail], axis=0))
    return out


# -- bayeslaw ---------------------------------------------------------------------------------------

def bayeslaw_default(train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    """``bl.fit(law, train, group=...)`` then ``predict(kind="observed")`` at each level, all
    defaults (``QUICK_MCMC`` under --quick); draws from ``Fit.predictive_draws``."""
    import bayeslaw as bl

    extra = ctx.bayeslaw_kwargs(ctx.dataset, train) if callable(ctx.bayeslaw_kwargs) else dict(ctx.bayeslaw_kwargs or {})
    law = extra.pop("law", "chinchilla")
    if "run" in extra and extra["run"] not in train.columns:
        extra.pop("run")
    group = ctx.group if ctx.group and train[ctx.group].nunique() > 1 else None
    kwargs = {**(QUICK_MCMC if ctx.quick else {}), **extra}
    cols = list(ctx.law_inputs) + ([group] if group else [])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bl.fit(law, train, group=group, seed=ctx.seed, **kwargs)
        rows = test[cols]
        intervals, point = {}, None
        for level in LEVELS:
            pred = fit.predict(rows, kind="observed", ci_prob=level, seed=ctx.seed)
            intervals[level] = (pred["lower"].to_numpy(), pred["upper"].to_numpy())
            point = pred["median"].to_numpy()
        draws = fit.predictive_draws(rows, kind="observed", seed=ctx.seed)
    seconds = time.perf_counter() - start
    diag = fit.diagnostics()
    info = {"fit_kwargs": {k: v for k, v in kwargs.items()}, "law": str(law), "group": group,
            "sampler": fit.config.get("sampler_used"), "divergences": int(fit.divergences),
            "max_r_hat": float(diag["r_hat"].max()), "min_ess_bulk": float(diag["ess_bulk"].min()),
            "timings": {k: float(v) for k, v in fit.timings.items()}}
    nested_r_hat = getattr(fit.extrapolation, "nested_r_hat", None)
    if nested_r_hat is not None:
        info["nested_r_hat"] = float(nested_r_hat)
    return {"point": point, "intervals": intervals, "draws": np.asarray(draws), "seconds": seconds,
            "info": info}


# -- Huber + bootstrap --------------------------------------------------------------------------------

def huber_point(train: pd.DataFrame, test: pd.DataFrame, group: str | None = None) -> np.ndarray:
    """The Huber (delta 1e-3) optimum's prediction of each test row, per family as in
    :func:`_families` (the point fit beside each row of the calibration report)."""
    point = np.empty(len(test))
    for sub, mask in _families(train, test, group):
        fit = bh.fit_huber(sub["N"], sub["D"], sub["loss"], grid="coarse")
        point[mask] = bh.predict_huber(fit, test.loc[mask, "N"].astype(float), test.loc[mask, "D"].astype(float))
    return point


def _huber_fits(train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    """Huber optimum, bootstrap draws of the law and log residuals, per family; cached per split."""
    if "huber" in ctx.cache:
        return ctx.cache["huber"]
    n_boot = ctx.n_boot or (20 if ctx.quick else 100)
    grid = "coarse"  # baseline_huber.COARSE_GRID: reaches the full grid's optimum on the Chinchilla points at 1/400 of the cost
    start = time.perf_counter()
    point = np.empty(len(test))
    law_draws = np.empty((n_boot, len(test)))
    residuals = []  # (mask, residuals of that family's fitted rows)
    for sub, mask in _families(train, test, ctx.group):
        fit = bh.fit_huber(sub["N"], sub["D"], sub["loss"], grid=grid)
        boot = bh.bootstrap_huber(sub["N"], sub["D"], sub["loss"], n_boot=n_boot, seed=ctx.seed)
        rows = test[mask]
        point[mask] = bh.predict_huber(fit, rows["N"], rows["D"])
        law_draws[:, mask] = np.stack([bh.predict_huber(r, rows["N"], rows["D"])
                                       for r in boot[list(bh.PARAMS)].to_dict("records")])
        residuals.append((mask, np.log(sub["loss"].to_numpy()) - np.log(bh.predict_huber(fit, sub["N"], sub["D"]))))
    # a bootstrap refit that failed (too few distinct sizes drawn, no finite optimum) predicts NaN:
    # it is dropped, as a user's notebook would, and counted
    finite = np.all(np.isfinite(law_draws), axis=1)
    ctx.cache["huber"] = {"point": point, "draws": law_draws[finite], "residuals": residuals,
                          "seconds": time.perf_counter() - start,
                          "info": {"n_boot": n_boot, "n_boot_failed": int((~finite).sum()), "grid": grid,
                                   "per_family": len(residuals) > 1}}
    return ctx.cache["huber"]


def huber_bootstrap(train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    """Huber (delta 1e-3) grid fit; intervals from a bootstrap of the law (parameters only)."""
    base = _huber_fits(train, test, ctx)
    draws = base["draws"]
    return {"point": base["point"], "intervals": _intervals_from_draws(draws), "draws": draws,
            "seconds": base["seconds"], "info": base["info"]}


def huber_bootstrap_residual(train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    """As :func:`huber_bootstrap`, each bootstrap prediction times exp(a resampled log residual of
    the family's fitted rows)."""
    base = _huber_fits(train, test, ctx)
    start = time.perf_counter()
    rng = np.random.default_rng(ctx.seed)
    draws = base["draws"].copy()
    for mask, res in base["residuals"]:
        draws[:, mask] *= np.exp(rng.choice(res, size=(draws.shape[0], int(mask.sum()))))
    return {"point": base["point"], "intervals": _intervals_from_draws(draws), "draws": draws,
            "seconds": base["seconds"] + time.perf_counter() - start, "info": base["info"]}


# -- peers in their own interpreter -------------------------------------------------------------------

def peer_python() -> Path | None:
    """The interpreter of the peers' virtual environment: $BAYESLAW_PEER_PYTHON, else a
    ``peervenv312`` folder beside the repository or beside its parent."""
    if os.environ.get(PEER_PYTHON_ENV):
        return Path(os.environ[PEER_PYTHON_ENV])
    repo = Path(__file__).resolve().parents[2]
    for base in (repo.parent, repo.parent.parent):
        candidate = base / "peervenv312" / "bin" / "python"
        if candidate.exists():
            return candidate
    return None


def _external(tool: str, train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    python = peer_python()
    if python is None or not python.exists():
        return {"skip": f"no peer interpreter (set {PEER_PYTHON_ENV} or make ../peervenv312)"}
    fits, masks = [], []
    for sub, mask in _families(train, test, ctx.group):
        # simple-scaling-laws requires fixed N and D within a training run (its run is repeated
        # evaluations of one model), so each row, checkpoints included, is its own run
        run = pd.Series(np.arange(len(sub)), index=sub.index)
        rows = test[mask]
        fits.append({"train": {"N": sub["N"].tolist(), "D": sub["D"].tolist(), "loss": sub["loss"].tolist(),
                               "run": run.astype(str).tolist()},
                     "test": {"N": rows["N"].tolist(), "D": rows["D"].tolist()}})
        masks.append(mask)
    request = {"tool": tool, "seed": ctx.seed, "n_draws": 200 if ctx.quick else 1000,
               "grid_points": 2 if ctx.quick else 3, "fits": fits}
    start = time.perf_counter()
    proc = subprocess.run([str(python), str(RUNNER)], input=json.dumps(request), capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": ""})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return {"skip": f"{tool} runner failed: {tail[:200]}"}
    answer = json.loads(proc.stdout)
    point = np.empty(len(test))
    draws = None
    for mask, item in zip(masks, answer["fits"]):
        point[mask] = item["point"]
        if "draws" in item:
            if draws is None:
                draws = np.empty((len(item["draws"]), len(test)))
            draws[:, mask] = np.asarray(item["draws"], float)
    info = {"version": answer["version"], "per_family": len(fits) > 1,
            "params": [item.get("params") for item in answer["fits"]]}
    if tool == "chinchilla":
        info["grid_points_per_axis"] = request["grid_points"]
    else:
        info["n_draws"] = request["n_draws"]
    return {"point": point, "intervals": None if draws is None else _intervals_from_draws(draws),
            "draws": draws, "seconds": seconds, "info": info}


def simple_scaling_laws(train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    """simple-scaling-laws (PyPI): default law and bootstrap, new-run predictive draws."""
    return _external("ssl", train, test, ctx)


def chinchilla_package(train: pd.DataFrame, test: pd.DataFrame, ctx: Context) -> dict:
    """kyo-takano's ``chinchilla`` (PyPI): its point fit, no interval."""
    return _external("chinchilla", train, test, ctx)


TOOLS: dict[str, Callable] = {
    "bayeslaw": bayeslaw_default,
    "huber": huber_bootstrap,
    "huber_resid": huber_bootstrap_residual,
    "ssl": simple_scaling_laws,
    "chinchilla_pkg": chinchilla_package,
}
