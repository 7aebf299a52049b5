"""Performance Law (Wu & Tang 2024, arXiv:2408.09895) with a posterior on its weights.

The law predicts the MMLU score of a dense model from its number of layers ``N``, hidden size
``h``, FFN (intermediate) size ``d`` and training tokens ``T`` (trillions), with the data
clipped at saturation, ``T' = min(T, S)`` (``S``: model size in billions), and an instability
discount ``delta`` that multiplies every input inside the logarithms::

    delta = exp(-((10/d + 20/h) * gamma * N)^2)          gamma >= 1: 'precision loss' (default 1)
    u     = b + w1 log(delta N) + w2 log(delta h) + w3 log(delta d) + w4 log(delta T')
    MMLU  = max(u, chance), softly capped above 0.9 by 0.9 + 0.1 tanh(10 u - 9)

What is verified, and against what:

* Verified against the authors' own implementation (``plan.py`` of
  github.com/wuch15/performance-law-planner, the paper's training-plan generator): the four log
  inputs, ``T' = min(T, S)`` with ``T`` in trillions and ``S`` in billions, the form of the
  discount (the ``delta`` above, inside every log), the floor at 25 and the soft cap above 90 (in
  percent there; fractions here), and the published weights :data:`PAPER_WEIGHTS`.
* Not verified: the paper's own text could not be read here (only its abstract and third-party
  summaries were found), so the equation numbers, whether the paper's version of the weights
  differs from the planner's, and how the paper sets ``gamma`` for a given precision are unchecked.
  The planner's size formula (fixed 8 KV heads, 150K vocabulary) is not used: ``S`` comes from
  the data.

Differences from the paper: the weights get a posterior instead of one regression; ``gamma`` is
1 for every model except those flagged unstable, whose common ``gamma`` is learned; a model at
chance is treated as censored (its latent score is only known to be below the floor); every
score carries an evaluation noise ``tau``; the floor is learned about ``chance`` (the
37 not_just_scaling models below 0.3 average 0.26, not 0.25); above it the scores scatter
about the law as a Student t (``sigma``, :data:`DF` degrees of freedom).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from jax.scipy.stats import norm

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.data.columns import listed_rows, parse_numbers, warn_repeated_rows
from bayeslaw.data.files import read_folder_file, require_layout
from bayeslaw.data.frames import as_frame
from bayeslaw.downstream.base import ModelFit, sample
from bayeslaw.downstream.inputs import (
    check_accuracy,
    check_chance,
    check_share,
    flag_column,
    require_rows,
)
from bayeslaw.results.draws import check_kind, check_seed

COLUMNS = ("layers", "hidden", "ffn", "tokens_T", "params_B")
FEATURES = ("log_layers", "log_hidden", "log_ffn", "log_tokens_sat")
#: the columns each feature is computed from, as messages name them
_SOURCES = dict(zip(FEATURES, ("column 'layers'", "column 'hidden'", "column 'ffn'",
                               "columns 'tokens_T' and 'params_B' (T' = min(T, S))"), strict=True))
#: the authors' point fit, MMLU in percent: weights on log N, log h, log d, log T' and intercept
#: (plan.py of github.com/wuch15/performance-law-planner)
PAPER_WEIGHTS = (13.95018192, 0.23072027, -0.48523402, 5.39801689)
PAPER_INTERCEPT = 9.195410648934768
CAP = 0.9  # above this the law is bent towards 1 (the paper's soft cap at 90 points)
#: degrees of freedom of the law's scatter: a few models far off the law (phi-1.5's textbook
#: data: 0.44 at 1.3B parameters) would otherwise widen every interval (Normal: sigma 0.155 with
#: it, 0.094 without; 80% intervals covered 94% in the leave-one-organisation-out benchmark)
DF = 4.0


def _inputs(frame: pd.DataFrame, noun: str) -> np.ndarray:
    """The columns in :data:`COLUMNS` as a float matrix (R, 5); a missing column, or a text,
    missing or non-positive cell, is a DataError naming ``noun``, the column and the rows (text
    was a raw 'could not convert string to float')."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"table has no column {missing[0]!r}; the Performance Law needs: {', '.join(COLUMNS)}")
    values = np.column_stack([parse_numbers(frame, c, noun) for c in COLUMNS])
    bad = ~np.all(np.isfinite(values) & (values > 0), axis=1)
    if bad.any():
        raise DataError(f"columns {', '.join(COLUMNS)} must be positive numbers: rows "
                        + ", ".join(str(v) for v in frame.index[bad][:5]))
    return values


def design(frame: pd.DataFrame, noun: str = "the table") -> np.ndarray:
    """Feature matrix (R, 4): logs of layers, hidden, FFN size and T' = min(T, S)."""
    layers, hidden, ffn, tokens, size = _inputs(frame, noun).T
    return np.column_stack([np.log(layers), np.log(hidden), np.log(ffn), np.log(np.minimum(tokens, size))])


def instability(frame: pd.DataFrame, noun: str = "the table") -> np.ndarray:
    """``k = (10/d + 20/h) N`` per row; the discount is ``log delta = -(gamma k)^2``."""
    layers, hidden, ffn, _, _ = _inputs(frame, noun).T
    return (10.0 / ffn + 20.0 / hidden) * layers


def _cap(u, xp=jnp):
    """The paper's soft cap: identity up to :data:`CAP`, then bent towards 1 (slope 1 at CAP)."""
    return xp.where(u > CAP, CAP + (1 - CAP) * xp.tanh((u - CAP) / (1 - CAP)), u)


def paper_law(frame: pd.DataFrame, gamma: float = 1.0, chance: float = 0.25) -> np.ndarray:
    """MMLU (fraction) predicted by the published weights :data:`PAPER_WEIGHTS`, no fitting.

    Parameters
    ----------
    frame : DataFrame
        Rows with the columns in :data:`COLUMNS`.
    gamma : float
        The discount's 'precision loss', at least 1 (the authors' planner defaults to 1).
    chance : float
        Floor of the score.
    """
    w = np.asarray(PAPER_WEIGHTS) / 100
    u = design(frame) @ w + PAPER_INTERCEPT / 100 - w.sum() * (gamma * instability(frame)) ** 2
    return np.maximum(_cap(u, np), chance)


def censored_log_lik(y, m, sigma, tau, floor, df: float = DF):
    """log p(y) of a score censored at the floor: ``y = max(L, floor) + tau e``, ``L = m + sigma t``.

    ``t`` is Student t (``df``), ``e`` standard normal: a model whose latent score ``L`` is below
    the floor scores the floor plus evaluation noise. The part above the floor, the t density
    convolved with the noise, is taken as ``f_t(y) Phi((y - floor) / tau)``, exact as
    ``tau / sigma -> 0`` (the density is then smooth in every parameter, the floor included).
    """
    below = dist.StudentT(df).cdf((floor - m) / sigma)
    at_floor = jnp.log(jnp.maximum(below, 1e-30)) + norm.logpdf(y, floor, tau)
    above = dist.StudentT(df, m, sigma).log_prob(y) + norm.logcdf((y - floor) / tau)
    return jnp.logaddexp(at_floor, above)


def _latent(w0, w, gamma, data):
    """Linear score u per row; every log input carries log delta, so the sum of raw weights does."""
    gam = jnp.where(data["unstable"], gamma, 1.0)
    log_delta = -(gam * data["k"]) ** 2
    return w0 + data["z"] @ w + jnp.sum(w / data["scale"]) * log_delta


def _model(data):
    w0 = numpyro.sample("w0", dist.Normal(0.5, 0.5))
    w = numpyro.sample("w", dist.Normal(jnp.zeros(len(FEATURES)), 0.2).to_event(1))
    gamma = 1.0 + numpyro.sample("gamma_excess", dist.HalfNormal(3.0))
    numpyro.deterministic("gamma", gamma)
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.1))
    tau = numpyro.sample("tau", dist.HalfNormal(0.02))
    m = _cap(_latent(w0, w, gamma, data))
    floor = numpyro.sample("floor", dist.Normal(data["chance"], 0.02))
    numpyro.factor("obs", censored_log_lik(data["y"], m, sigma, tau, floor).sum())


@dataclass
class PerformanceLawFit(ModelFit):
    """Posterior of the Performance Law; ``predict`` rows need the columns in :data:`COLUMNS`.

    An optional boolean ``unstable`` column applies the learned ``gamma``; other rows use 1.
    """

    def quantities(self):
        return [("w0", "w0", None), ("w", "w", list(FEATURES)), ("gamma", "gamma", None),
                ("sigma", "sigma", None), ("tau", "tau", None), ("floor", "floor", None)]

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:
        """Draws (S, R) of the score of each row (``kind="law"``: the law floored, no noise)."""
        kind, frame, seed = check_kind(kind), self._row_frame(rows), check_seed(seed)
        noun = "the prediction rows"
        try:
            x, k = design(frame, noun), instability(frame, noun)
            unstable = flag_column(frame, "unstable", noun) if "unstable" in frame else np.zeros(len(frame), bool)
        except DataError as exc:
            raise PredictionError(str(exc)) from None
        if unstable.any() and not self.info.get("unstable"):  # gamma would be its prior's draws
            raise PredictionError("the fit had no unstable models to learn their discount from (fit with "
                                  f"unstable=<column>); the prediction rows flag {listed_rows(frame.index[unstable])}")
        data = {"z": jnp.asarray((x - self.info["mean"]) / self.info["scale"]), "k": jnp.asarray(k),
                "scale": jnp.asarray(self.info["scale"]), "unstable": jnp.asarray(unstable)}
        u = jax.vmap(lambda w0, w, g: _latent(w0, w, g, data))(
            jnp.asarray(self.flat("w0")), jnp.asarray(self.flat("w")), jnp.asarray(self.flat("gamma")))
        m = _cap(u)
        floor = jnp.asarray(self.flat("floor"))[:, None]
        if kind == "law":
            return np.asarray(jnp.maximum(m, floor))
        k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
        sigma = jnp.asarray(self.flat("sigma"))[:, None]
        tau = jnp.asarray(self.flat("tau"))[:, None]
        latent = m + sigma * jax.random.t(k1, DF, m.shape)
        scores = jnp.maximum(latent, floor) + tau * jax.random.normal(k2, m.shape)
        return np.asarray(jnp.clip(scores, 0.0, 1.0))


def fit_performance_law(models: pd.DataFrame, target: str = "mmlu", *, chance: float = 0.25,
                        unstable: str | None = None, chains: int = 4, draws: int = 1000, warmup: int = 1000,
                        seed: int = 0, target_accept: float = 0.9) -> PerformanceLawFit:
    """Fit the Performance Law's weights with a posterior.

    Parameters
    ----------
    models : DataFrame
        One row per model with ``layers``, ``hidden``, ``ffn``, ``tokens_T`` (trillions),
        ``params_B`` (billions) and the ``target`` score in [0, 1] (a fraction, not percent).
    target : str
        Column of the MMLU score.
    chance : float
        Chance score (MMLU: 0.25), the prior mean of the learned floor; scores at the floor are
        treated as censored.
    unstable : str, optional
        Boolean column flagging models trained with a precision loss; their ``gamma`` is learned.
    chains, draws, warmup, seed, target_accept
        Sampler settings, as in :func:`bayeslaw.fit`.

    Returns
    -------
    PerformanceLawFit
    """
    models, chance = as_frame(models, "models table"), check_share(chance, "chance")
    if target not in models.columns:
        raise DataError(f"table has no column {target!r} (the target score)")
    if unstable is not None and unstable not in models.columns:
        raise DataError(f"table has no column {unstable!r} (the unstable flag)")
    x, k = design(models, "the models table"), instability(models, "the models table")
    require_rows(models, x.shape[1] + 3, "the models table")  # the weights, w0, the noise and the floor
    warn_repeated_rows(models, [*COLUMNS, target], "the models table", "models")
    y = parse_numbers(models, target, "the models table")
    check_accuracy(y, target, models.index)
    if not np.all(np.isfinite(y)):
        raise DataError(f"column '{target}' of the models table has missing values: "
                        f"{listed_rows(models.index[~np.isfinite(y)])}")
    check_chance(y, chance, target, "the models table")
    flag = flag_column(models, unstable, "the models table") if unstable else np.zeros(len(models), bool)
    mean, scale = x.mean(0), x.std(0)
    same = np.flatnonzero(scale < 1e-9)
    if same.size:  # its standardised weight was divided by 1e-12: every prediction at the floor
        raise DataError(f"{_SOURCES[FEATURES[same[0]]]} of the models table give every model the same "
                        f"{FEATURES[same[0]]} ({np.exp(mean[same[0]]):.4g}): its weight cannot be learned; "
                        "the Performance Law needs models that differ in layers, hidden, ffn and min(tokens_T, "
                        "params_B)")
    data = {"z": (x - mean) / scale, "k": k, "scale": scale, "y": y, "unstable": flag, "chance": float(chance)}
    out = sample(_model, data, sites=["w0", "w", "gamma_excess", "sigma", "tau", "floor"], chains=chains, draws=draws,
                 warmup=warmup, seed=seed, target_accept=target_accept)
    return PerformanceLawFit(**out, info={"mean": mean, "scale": scale, "chance": float(chance),
                                          "unstable": bool(flag.any())})


def load_not_just_scaling(data_dir, target: str = "mmlu_hendrycksTest_5shot_mean57") -> pd.DataFrame:
    """Models of ``not_just_scaling/model_table.csv`` in Performance-Law columns.

    ``mmlu`` is a fraction (the table's accuracies are in [0, 1]). The table has no layer count;
    it is estimated as total parameters / per-layer parameters (4 h^2 attention + 3 h d gated or
    2 h d plain FFN), ignoring embeddings and grouped KV heads, and rounded: too many layers for
    small models whose parameters are mostly embeddings, too few for grouped-query attention.
    Instruction-tuned models and rows with missing fields are dropped. A missing folder, file or
    layout column is a DataError naming it; an unknown ``target`` column, a cell that is not a number or a table left
    without models is a DataError naming the file (and the column and row).
    """
    t = read_folder_file(data_dir, "model_table.csv", "performance-law")
    noun = f"model_table.csv of '{data_dir}'"
    numbers = ["dimension", "ffn_dim", "total_params", "pretraining_summary_total_tokens_billions"]
    require_layout(t, ["id", "is_instruction_tuned", "activation", *numbers], data_dir, "performance-law")
    if target not in t.columns:
        raise DataError(f"unknown target: {noun} has no column {target!r}")
    t = t[~t["is_instruction_tuned"].astype(str).str.lower().eq("true")]
    t = t.assign(**{c: parse_numbers(t, c, noun) for c in [*numbers, target]})
    gated = t["activation"].astype(str).str.lower().isin(["silu", "swiglu", "geglu", "swish"])
    per_layer = 4 * t["dimension"] ** 2 + np.where(gated, 3, 2) * t["dimension"] * t["ffn_dim"]
    out = pd.DataFrame({"model": t["id"], "layers": np.round(t["total_params"] / per_layer),
                        "hidden": t["dimension"], "ffn": t["ffn_dim"],
                        "tokens_T": t["pretraining_summary_total_tokens_billions"] / 1000.0,
                        "params_B": t["total_params"] / 1e9, "mmlu": t[target]})
    out = out.replace([np.inf, -np.inf], np.nan).dropna()
    out = out[(out[list(COLUMNS)] > 0).all(axis=1)].reset_index(drop=True)
    if out.empty:
        raise DataError(f"{noun} has no base model with every field given and positive")
    return out
