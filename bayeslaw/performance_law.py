"""Performance Law (Wu & Tang 2024, arXiv:2408.09895) with a posterior on its weights.

The paper predicts MMLU of a dense model from its number of layers ``N``, hidden size ``h``,
FFN (intermediate) size ``d`` and training tokens ``T`` (trillions) with a linear law in logs,
after a data-saturation clip ``T' = min(T, S)`` (``S``, the model size in billions, read as the
most trillions of tokens a model of that size benefits from), and discounts models whose
training was unstable (the paper ties this to training precision and depth)::

    u   = w0 + w1 log N + w2 log h + w3 log d + w4 log T'
    MMLU = clip(u * lambda^unstable, chance, 1)

The paper fixes the weights from a regression on ~10 models; here they (and lambda) get a
posterior, so every prediction has an interval. Caveat: the equation was checked against the
paper's summary of its variables and the ``T' = min(T, S)`` clip; the exact weights and the
precise form of the instability discount could not be re-read from the paper text in this
environment, so the discount is the single multiplicative factor above, learned from data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from .downstream import ModelFit, check_accuracy, sample
from .errors import DataError, PredictionError

COLUMNS = ("layers", "hidden", "ffn", "tokens_T", "params_B")
FEATURES = ("log_layers", "log_hidden", "log_ffn", "log_tokens_sat")


def design(frame: pd.DataFrame) -> np.ndarray:
    """Feature matrix (R, 4): logs of layers, hidden, FFN size and T' = min(T, S)."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"table has no column {missing[0]!r}; the Performance Law needs: {', '.join(COLUMNS)}")
    values = frame[list(COLUMNS)].to_numpy(float)
    bad = ~np.all(np.isfinite(values) & (values > 0), axis=1)
    if bad.any():
        raise DataError(f"columns {', '.join(COLUMNS)} must be positive numbers: rows "
                        + ", ".join(str(v) for v in frame.index[bad][:5]))
    layers, hidden, ffn, tokens, size = values.T
    return np.column_stack([np.log(layers), np.log(hidden), np.log(ffn), np.log(np.minimum(tokens, size))])


def _model(data):
    w0 = numpyro.sample("w0", dist.Normal(0.5, 0.5))
    w = numpyro.sample("w", dist.Normal(jnp.zeros(len(FEATURES)), 0.2).to_event(1))
    lam = numpyro.sample("discount", dist.Beta(9.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.1))
    u = w0 + data["z"] @ w
    mean = u * jnp.where(data["unstable"], lam, 1.0)
    numpyro.sample("obs", dist.Normal(mean, sigma), obs=data["y"])


@dataclass
class PerformanceLawFit(ModelFit):
    """Posterior of the Performance Law; ``predict`` rows need the columns in :data:`COLUMNS`."""

    def quantities(self):
        return [("w0", "w0", None), ("w", "w", list(FEATURES)), ("discount", "discount", None),
                ("sigma", "sigma", None)]

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:
        frame = self._row_frame(rows)
        try:
            x = design(frame)
        except DataError as exc:
            raise PredictionError(str(exc)) from None
        z = (x - self.info["mean"]) / self.info["scale"]
        unstable = np.asarray(frame["unstable"], bool) if "unstable" in frame else np.zeros(len(frame), bool)
        mean = jnp.asarray(self.flat("w0"))[:, None] + jnp.asarray(self.flat("w")) @ jnp.asarray(z).T
        mean = mean * jnp.where(jnp.asarray(unstable)[None, :], jnp.asarray(self.flat("discount"))[:, None], 1.0)
        if kind == "observed":
            mean = mean + jnp.asarray(self.flat("sigma"))[:, None] * jax.random.normal(jax.random.PRNGKey(seed), mean.shape)
        return np.asarray(jnp.clip(mean, self.info["chance"], 1.0))


def fit_performance_law(models: pd.DataFrame, target: str = "mmlu", *, chance: float = 0.25,
                        unstable: str | None = None, chains: int = 4, draws: int = 1000, warmup: int = 1000,
                        seed: int = 0, target_accept: float = 0.9) -> PerformanceLawFit:
    """Fit the Performance Law's weights with a posterior.

    Parameters
    ----------
    models : DataFrame
        One row per model with ``layers``, ``hidden``, ``ffn``, ``tokens_T`` (trillions),
        ``params_B`` (billions) and the ``target`` score in [0, 1].
    unstable : str, optional
        Boolean column flagging models whose training the discount applies to.
    chance : float
        Floor of the clip (MMLU: 0.25).
    """
    if target not in models.columns:
        raise DataError(f"table has no column {target!r} (the target score)")
    x = design(models)
    y = models[target].to_numpy(float)
    check_accuracy(y, target, models.index)
    if not np.all(np.isfinite(y)):
        raise DataError(f"column '{target}' has missing values: rows "
                        + ", ".join(str(v) for v in models.index[~np.isfinite(y)][:5]))
    flag = np.asarray(models[unstable], bool) if unstable else np.zeros(len(models), bool)
    mean, scale = x.mean(0), x.std(0) + 1e-12
    data = {"z": (x - mean) / scale, "y": y, "unstable": flag}
    out = sample(_model, data, sites=["w0", "w", "discount", "sigma"], chains=chains, draws=draws,
                 warmup=warmup, seed=seed, target_accept=target_accept)
    return PerformanceLawFit(**out, info={"mean": mean, "scale": scale, "chance": float(chance)})


def load_not_just_scaling(data_dir, target: str = "mmlu_hendrycksTest_5shot_mean57") -> pd.DataFrame:
    """Models of ``not_just_scaling/model_table.csv`` in Performance-Law columns.

    The table has no layer count; it is estimated as total parameters / per-layer parameters
    (4 h^2 attention + 3 h d gated or 2 h d plain FFN), ignoring embeddings, and rounded.
    Instruction-tuned models and rows with missing fields are dropped.
    """
    t = pd.read_csv(Path(data_dir) / "model_table.csv")
    t = t[~t["is_instruction_tuned"].astype(str).str.lower().eq("true")]
    gated = t["activation"].astype(str).str.lower().isin(["silu", "swiglu", "geglu", "swish"])
    per_layer = 4 * t["dimension"] ** 2 + np.where(gated, 3, 2) * t["dimension"] * t["ffn_dim"]
    out = pd.DataFrame({"model": t["id"], "layers": np.round(t["total_params"] / per_layer),
                        "hidden": t["dimension"], "ffn": t["ffn_dim"],
                        "tokens_T": t["pretraining_summary_total_tokens_billions"] / 1000.0,
                        "params_B": t["total_params"] / 1e9, "mmlu": t[target]})
    out = out.replace([np.inf, -np.inf], np.nan).dropna()
    return out[(out[list(COLUMNS)] > 0).all(axis=1)].reset_index(drop=True)
