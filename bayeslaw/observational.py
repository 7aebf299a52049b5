"""Observational scaling laws (Ruan, Maddison, Hashimoto 2024) from a table of public models.

* :func:`capability_pca`: the paper's principal capability measures from a benchmark matrix with
  missing values (iterative low-rank imputation, then PCA on the completed, centred matrix).
* :func:`fit_observational`: a Bayesian version in one NumPyro model:

  - low-rank factors ``Y[m, j] ~ Normal(mu_j + Lambda_j . S_m, sigma_j)`` on the observed entries
    only (missing benchmarks are simply absent from the likelihood); Lambda is lower-triangular
    with a positive diagonal, which fixes rotation and sign;
  - family compute efficiency ``S_m ~ Normal(alpha_f + beta_f * (log C_m - c), tau)`` with
    alpha_f, beta_f partially pooled across families (a model without a FLOPs figure gets a
    standard-normal prior instead);
  - a sigmoid link from capabilities to a target benchmark,
    ``target_m ~ Normal(floor + (1 - floor) * top * sigmoid(w . S_m + b), sigma_t)``, fitted on the
    models whose target is given (e.g. those below a FLOPs cutoff, the paper's holdout).

Prediction for a model of the table (by its row position) uses its inferred capabilities, as the
paper does: the cheap base benchmarks are observed for every model, the target only for some.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from .downstream import ModelFit, check_accuracy, sample
from .errors import DataError, PredictionError

#: the paper's default holdout cutoff: Llama-2-7B's training compute, 8.4e22 FLOPs
FLOPS_CUTOFF = 8.4e22


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


def _make_model(k: int, n_bench: int, n_fam: int):
    rows, cols = np.tril_indices(n_bench, m=k)
    diag = rows == cols

    def model(data):
        raw = numpyro.sample("loading_raw", dist.Normal(0.0, 0.3).expand([rows.size]).to_event(1))
        raw = jnp.where(diag, jnp.abs(raw), raw)  # positive diagonal: fixes each factor's sign
        lam = numpyro.deterministic("loading", jnp.zeros((n_bench, k)).at[rows, cols].set(raw))
        mu = numpyro.sample("mu", dist.Normal(0.5, 0.3).expand([n_bench]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(0.1).expand([n_bench]).to_event(1))
        a_pop = numpyro.sample("alpha", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
        b_pop = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
        a_sd = numpyro.sample("alpha_sd", dist.HalfNormal(1.0))
        b_sd = numpyro.sample("beta_sd", dist.HalfNormal(0.3))
        a_z = numpyro.sample("alpha_z", dist.Normal(0.0, 1.0).expand([n_fam, k]).to_event(2))
        b_z = numpyro.sample("beta_z", dist.Normal(0.0, 1.0).expand([n_fam, k]).to_event(2))
        a_f = numpyro.deterministic("alpha_family", a_pop + a_sd * a_z)
        b_f = numpyro.deterministic("beta_family", b_pop + b_sd * b_z)
        tau = numpyro.sample("tau", dist.HalfNormal(1.0))
        fam, x, has_c = data["family"], data["logc"], data["has_c"]
        loc = jnp.where(has_c[:, None], a_f[fam] + b_f[fam] * x[:, None], 0.0)
        scale = jnp.where(has_c[:, None], tau, 1.0)
        z = numpyro.sample("s_z", dist.Normal(0.0, 1.0).expand([fam.shape[0], k]).to_event(2))
        s = numpyro.deterministic("capability", loc + scale * z)
        mean = mu + s @ lam.T
        y = jnp.where(data["observed"], data["y"], 0.0)
        ll = dist.Normal(mean, sigma).log_prob(y)
        numpyro.factor("benchmarks", jnp.sum(jnp.where(data["observed"], ll, 0.0)))
        w = numpyro.sample("w", dist.Normal(0.0, 2.0).expand([k]).to_event(1))
        b = numpyro.sample("b", dist.Normal(0.0, 2.0))
        top = numpyro.sample("top", dist.Beta(6.0, 1.5))
        sigma_t = numpyro.sample("sigma_target", dist.HalfNormal(0.1))
        p = data["chance"] + (1 - data["chance"]) * top * jax.nn.sigmoid(s @ w + b)
        t = jnp.where(data["has_t"], data["target"], 0.0)
        numpyro.factor("target", jnp.sum(jnp.where(data["has_t"], dist.Normal(p, sigma_t).log_prob(t), 0.0)))

    return model


@dataclass
class ObservationalFit(ModelFit):
    """Posterior of the factor model; ``predict`` takes row positions (``{"row": [...]}``)."""

    def quantities(self):
        info = self.info
        factors = [f"PC{i + 1}" for i in range(info["k"])]
        bench_factor = [f"{b}:{f}" for b in info["benchmarks"] for f in factors]
        fam_factor = [f"{fam}:{f}" for fam in info["families"] for f in factors]
        return [("loading", "loading", bench_factor), ("alpha", "alpha", factors), ("beta", "beta", factors),
                ("alpha_sd", "alpha_sd", None), ("beta_sd", "beta_sd", None), ("tau", "tau", None),
                ("beta_family", "beta_family", fam_factor), ("w", "w", factors), ("b", "b", None),
                ("top", "top", None), ("sigma_target", "sigma_target", None)]

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:
        """Draws (S, R) of the target for rows of the fitted table given by position (``row``)."""
        frame = self._row_frame(rows)
        if "row" not in frame.columns:
            raise PredictionError("rows need a 'row' column: positions of models in the fitted table")
        idx = np.asarray(frame["row"], int)
        if np.any((idx < 0) | (idx >= self.info["n_models"])):
            raise PredictionError(f"row positions must be in [0, {self.info['n_models']})")
        s = jnp.asarray(self.flat("capability"))[:, idx, :]
        logits = jnp.einsum("srk,sk->sr", s, jnp.asarray(self.flat("w"))) + jnp.asarray(self.flat("b"))[:, None]
        chance = self.info["chance"]
        p = chance + (1 - chance) * jnp.asarray(self.flat("top"))[:, None] * jax.nn.sigmoid(logits)
        if kind == "observed":
            p = p + jnp.asarray(self.flat("sigma_target"))[:, None] * jax.random.normal(jax.random.PRNGKey(seed), p.shape)
        return np.asarray(p)

    def loadings(self) -> pd.DataFrame:
        """Posterior mean loadings (benchmarks x factors)."""
        return pd.DataFrame(self.flat("loading").mean(0), index=self.info["benchmarks"],
                            columns=[f"PC{i + 1}" for i in range(self.info["k"])])


def fit_observational(models: pd.DataFrame, benchmarks: list[str], target: str, *, family: str = "family",
                      flops: str = "flops", k: int = 2, chance: float = 0.0, train: np.ndarray | None = None,
                      chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0,
                      target_accept: float = 0.85) -> ObservationalFit:
    """Fit the Bayesian observational scaling model.

    Parameters
    ----------
    models : DataFrame
        One row per model: ``family``, ``flops`` (training FLOPs, may be missing), the
        ``benchmarks`` columns (accuracies in [0, 1], may be missing) and the ``target``.
    train : bool array, optional
        Models whose target is fitted (default: every model with a target value). The
        paper's holdout is ``models[flops] < FLOPS_CUTOFF``.
    k : int
        Number of capability factors (the paper uses 3).
    chance : float
        Floor of the sigmoid link.
    """
    need = [family, flops, target, *benchmarks]
    missing = [c for c in need if c not in models.columns]
    if missing:
        raise DataError(f"models table has no column {missing[0]!r}")
    frame = models.reset_index(drop=True)
    y = frame[benchmarks].to_numpy(float)
    for j, name in enumerate(benchmarks):
        check_accuracy(y[:, j], name, frame.index)
    t = frame[target].to_numpy(float)
    check_accuracy(t, target, frame.index)
    if not 1 <= k <= len(benchmarks):
        raise DataError(f"k must be between 1 and the number of benchmarks ({len(benchmarks)}), got {k!r}")
    has_t = np.isfinite(t) if train is None else np.asarray(train, bool) & np.isfinite(t)
    c = frame[flops].to_numpy(float)
    has_c = np.isfinite(c) & (c > 0)
    logc = np.where(has_c, np.log(np.where(has_c, c, 1.0)), 0.0)
    c_ref = float(np.mean(logc[has_c])) if has_c.any() else 0.0
    fams, fam_idx = np.unique(frame[family].astype(str), return_inverse=True)
    data = {"y": np.nan_to_num(y), "observed": np.isfinite(y), "family": fam_idx,
            "logc": np.where(has_c, logc - c_ref, 0.0), "has_c": has_c, "target": np.nan_to_num(t),
            "has_t": has_t, "chance": float(chance)}
    model = _make_model(k, len(benchmarks), len(fams))
    out = sample(model, data, sites=["loading_raw", "alpha", "beta", "w", "b", "top"], chains=chains,
                 draws=draws, warmup=warmup, seed=seed, target_accept=target_accept)
    info = {"k": k, "benchmarks": list(benchmarks), "families": list(fams), "n_models": len(frame),
            "chance": float(chance), "c_ref": c_ref, "target": target}
    return ObservationalFit(**out, info=info)


def load_obsscaling(data_dir) -> pd.DataFrame:
    """``base_llm_benchmark_eval.csv`` with the BTLM-3B token error fixed (627 B, not 627 T tokens).

    Columns: model, family, params_B, tokens_T, flops (FLOPs, not 1e21) and the 8 benchmarks.
    """
    from pathlib import Path

    t = pd.read_csv(Path(data_dir) / "base_llm_benchmark_eval.csv")
    btlm = t["Model"] == "cerebras/btlm-3b-8k-base"
    t.loc[btlm, "Pretraining Data Size (T)"] = 0.627
    t.loc[btlm, "FLOPs (1E21)"] = 6 * t.loc[btlm, "Model Size (B)"] * 0.627
    out = t.rename(columns={"Model": "model", "Model Family": "family", "Model Size (B)": "params_B",
                            "Pretraining Data Size (T)": "tokens_T"})
    out["flops"] = t["FLOPs (1E21)"] * 1e21
    return out.drop(columns=["FLOPs (1E21)"])
