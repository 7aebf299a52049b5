"""Shared machinery of the downstream models (ladder, observational, Performance Law, quantization).

These models need more than a law file (latent factors, two chained steps, masked benchmark
matrices), so each module writes its own NumPyro model and hands it to :func:`sample`, which runs
it through :func:`bayeslaw.fit`'s machinery: the runtime policy, a jittered MAP start
(:mod:`bayeslaw.infer.start`), the NUTS runner and chain policy (:mod:`bayeslaw.infer.nuts`),
timings and a convergence warning. The result is a :class:`ModelFit`, whose ``summary`` and
``predict`` follow :class:`bayeslaw.Fit` (same columns, ``kind`` and ``ci_prob`` vocabulary).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd

from bayeslaw.core import runtime
from bayeslaw.data.frames import as_frame
from bayeslaw.infer.nuts import dim_of, mass_matrix, sample_nuts
from bayeslaw.infer.settings import check_settings
from bayeslaw.infer.start import map_start
from bayeslaw.results.diagnostics import diagnose, warn_if_unreliable
from bayeslaw.results.draws import DrawsMixin, check_ci_prob, check_kind, interval_columns

#: dense mass matrix up to this many unconstrained dimensions for the downstream models, diagonal
#: above; their latent blocks (factors, benchmark matrices) are far larger than a law fit's, and
#: they were tuned with this limit, below :data:`bayeslaw.infer.nuts.DENSE_MAX_DIM`
DENSE_MAX_DIM = 150


def sample(model: Callable, data: Mapping, *, sites: list[str], chains: int = 4, draws: int = 1000,
           warmup: int = 1000, seed: int = 0, target_accept: float = 0.8, map_init: bool = True,
           progress_bar: bool = False, dense_max_dim: int = DENSE_MAX_DIM) -> dict:
    """Run NUTS on ``model(data)`` through the same runner and MAP start as :func:`bayeslaw.fit`.

    Parameters
    ----------
    model : callable
        NumPyro model taking one argument, ``data``.
    data : mapping
        Model data; arrays become JAX arrays, Python scalars stay static.
    sites : list of str
        The quantities whose R-hat and ESS drive the convergence warning.
    chains, draws, warmup, seed, target_accept
        As in :func:`bayeslaw.fit` (checked the same way).
    map_init : bool
        Start the chains at the jittered MAP point (:func:`bayeslaw.infer.start.map_start`, by
        BFGS); False: NumPyro's default start with a diagonal mass matrix.
    progress_bar : bool
        NumPyro's progress bar.
    dense_max_dim : int
        Dense mass matrix up to this many unconstrained dimensions, diagonal above
        (see :data:`DENSE_MAX_DIM`).

    Returns
    -------
    dict
        ``samples`` (by site, chains x draws x ...), ``sample_stats`` (``diverging``,
        ``num_steps``), ``timings`` (``compile_s``, ``init_s``, ``sampling_s``, ``total_s``) and
        ``config`` (the settings, ``chain_method`` and ``dense_mass``).
    """
    chains, draws, warmup, seed, target_accept = check_settings(chains, draws, warmup, seed, target_accept)
    runtime.configure()
    data = {k: (v if isinstance(v, (int, float, bool)) else jax.numpy.asarray(v)) for k, v in data.items()}
    key_init, key_run = jax.random.split(jax.random.PRNGKey(int(seed)))
    with runtime.stopwatch() as t_init:
        starts = map_start(model, (data,), chains, key_init) if map_init else None
    dense = False if starts is None else mass_matrix(None, dim_of(starts), dense_max_dim)
    samples, stats, method, t_mcmc = sample_nuts(model, (data,), starts, key_run, dense, chains,
                                                 warmup, draws, target_accept, progress_bar)
    runtime.release_compiled()
    timings = {"compile_s": t_init["compile"] + t_mcmc["compile"], "init_s": t_init["run"],
               "sampling_s": t_mcmc["run"], "total_s": t_init["total"] + t_mcmc["total"]}
    config = {"chains": chains, "draws": draws, "warmup": warmup, "seed": int(seed),
              "target_accept": target_accept, "chain_method": method, "dense_mass": dense}
    diag = diagnose({k: samples[k] for k in sites if k in samples})
    warn_if_unreliable(diag, int(stats["diverging"].sum()), chains, target_accept)
    return {"samples": samples, "sample_stats": stats, "timings": timings, "config": config}


@dataclass
class ModelFit(DrawsMixin):
    """Posterior draws of a downstream model, with ``summary`` and ``predict`` like :class:`Fit`.

    Subclasses set :attr:`quantities` (how to name summary rows) and implement
    :meth:`predictive_draws`.
    """

    samples: dict
    sample_stats: dict
    timings: dict
    config: dict
    info: dict = field(default_factory=dict)

    #: summary rows: (parameter name, site, labels of its trailing axis or None)
    def quantities(self) -> list[tuple[str, str, list[str] | None]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS of the summarised quantities."""
        return diagnose({site: self.samples[site] for _, site, _ in self.quantities()})

    def summary(self, ci_prob: float = 0.9) -> pd.DataFrame:
        """Posterior summary indexed by (parameter, label), with the columns of :meth:`Fit.summary`.

        ``label`` is ``(shared)`` for a scalar, else the family, benchmark or factor the value
        belongs to.
        """
        ci_prob = check_ci_prob(ci_prob)
        chains = np.asarray(next(iter(self.samples.values()))).shape[0]
        rows, arrays = [], []
        for name, site, labels in self.quantities():
            draws = self.flat(site)
            if labels is None:
                rows.append((name, "(shared)"))
                arrays.append(draws)
            else:
                draws = draws.reshape(draws.shape[0], -1)
                for j, label in enumerate(labels):
                    rows.append((name, str(label)))
                    arrays.append(draws[:, j])
        stacked = np.stack(arrays, axis=1)
        frame = pd.DataFrame(interval_columns(stacked, ci_prob),
                             index=pd.MultiIndex.from_tuples(rows, names=["parameter", "family"]))
        diag = diagnose({str(i): a.reshape(chains, -1) for i, a in enumerate(arrays)})
        for col in ("r_hat", "ess_bulk", "ess_tail"):
            frame[col] = diag[col].to_numpy()
        frame.attrs["ci_prob"] = ci_prob
        return frame

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _row_frame(self, rows) -> pd.DataFrame:
        return as_frame(rows, "prediction rows").reset_index(drop=True)

    def predict(self, rows, kind: str = "observed", ci_prob: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """Predict rows with intervals: ``kind="law"`` the curve, ``"observed"`` a new measurement.

        Returns the rows' own columns followed by mean, sd, median, lower, upper.
        """
        ci_prob = check_ci_prob(ci_prob)
        check_kind(kind)
        frame = self._row_frame(rows)
        draws = self.predictive_draws(frame, kind=kind, seed=seed)
        out = frame.copy()
        for col, values in interval_columns(draws, ci_prob).items():
            out[col] = values
        out.attrs.update(ci_prob=ci_prob, kind=kind)
        return out


def interval_scores(observed: np.ndarray, draws: np.ndarray, levels=(0.8, 0.95)) -> dict:
    """MAE of the posterior median (in accuracy points, x100) and coverage of central intervals."""
    observed = np.asarray(observed, dtype=float)
    median = np.median(draws, axis=0)
    out = {"mae_points": float(np.mean(np.abs(median - observed)) * 100), "n": int(observed.size)}
    for p in levels:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        out[f"coverage_{round(p * 100)}"] = float(np.mean((observed >= lo) & (observed <= hi)))
    return out
