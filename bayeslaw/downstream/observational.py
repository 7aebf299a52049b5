"""Observational scaling laws (Ruan, Maddison, Hashimoto 2024) from a table of public models.

* :func:`~bayeslaw.downstream.pca.capability_pca` (in :mod:`bayeslaw.downstream.pca`): the
  paper's principal capability measures, the plain baseline and the source of the loadings' order.
* :func:`fit_observational`: a Bayesian version in one NumPyro model:

  - low-rank factors ``Y[m, j] ~ Normal(mu_j + Lambda_j . S_m, sigma_j)`` on the observed entries
    only (missing benchmarks are simply absent from the likelihood); Lambda is lower-triangular
    with a positive diagonal, which fixes rotation and sign; each factor is led (given its positive
    diagonal entry) by the benchmark PCA loads most heavily on it;
  - family compute efficiency ``S_m ~ Normal(alpha_f + beta_f * (log C_m - c), tau)`` with
    alpha_f, beta_f partially pooled across families (a model without a FLOPs figure gets a
    standard-normal prior instead);
  - a sigmoid link from capabilities to a target benchmark,
    ``target_m ~ Normal(floor + (1 - floor) * top * sigmoid(w . S_m + b), sigma_t)``, fitted on the
    models whose target is given (e.g. those below a FLOPs cutoff, the paper's holdout);
  - an extrapolation error of the link, measured by nested fits that hold out the fitted models
    of largest compute: a model whose target was not fitted is off by
    ``bias + kappa * z1 + tau * max(eta - eta_max, 0) * z2`` (accuracy units; ``eta = w . S + b``,
    ``eta_max`` the fitted models' largest; :mod:`bayeslaw.downstream.observational_error`).
    The bias is there because the misses are one-sided (on obsscaling's MMLU the nested fits
    under-predict most models above their cutoffs), and a symmetric error wide enough for those
    over-covers the rest. The in-sample noise ``sigma_t`` is learned mostly from small models at
    the chance floor and says nothing about the far larger misses of stronger models
    (``benchmarks/README.md``).

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

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.core.numbers import is_integer
from bayeslaw.data.columns import (
    is_missing,
    listed_rows,
    parse_numbers,
    positive_or_missing,
    warn_repeated_rows,
)
from bayeslaw.data.frames import as_frame
from bayeslaw.downstream.base import ModelFit, sample
from bayeslaw.downstream.inputs import (
    check_accuracy,
    check_chance,
    check_folds,
    check_share,
    row_numbers,
    train_mask,
)
from bayeslaw.downstream.observational_error import BIAS_GRID, NESTED_QUANTILES, link_error
from bayeslaw.downstream.pca import leaders
from bayeslaw.results.draws import check_kind, check_seed
from bayeslaw.results.extrapolation_error import GRID

#: the paper's default holdout cutoff: Llama-2-7B's training compute, 8.4e22 FLOPs
FLOPS_CUTOFF = 8.4e22
#: smallest target noise (accuracy units) the link's likelihood allows
NOISE_FLOOR = 0.01


def _make_model(k: int, n_bench: int, n_fam: int, ceiling: float | None, order: np.ndarray):
    position, cols = np.tril_indices(n_bench, m=k)
    diag = position == cols
    rows = np.asarray(order)[position]  # position r of the triangle is benchmark order[r]

    def model(data):
        # positive diagonal: fixes each factor's sign. |raw| rather than a half-normal site: on
        # the log scale of a positive site a loading shrinking to 0 (the capabilities growing to
        # match) is a funnel where chains part
        raw = numpyro.sample("loading_raw", dist.Normal(0.0, 0.3).expand([rows.size]).to_event(1))
        raw = jnp.where(diag, jnp.abs(raw), raw)
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
        top = numpyro.sample("top", dist.Beta(6.0, 1.5)) if ceiling is None else ceiling
        # a noise floor of 1 point (re-evaluation noise of a score): the posterior's lower tail
        # below it was where the sampler diverged (obsscaling MMLU: 40 divergences at sigma 0.008)
        sigma_t = numpyro.deterministic("sigma_target", NOISE_FLOOR + numpyro.sample("sigma_extra", dist.HalfNormal(0.1)))
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
        return [(name, site, labels) for name, site, labels in [
                ("loading", "loading", bench_factor), ("alpha", "alpha", factors), ("beta", "beta", factors),
                ("alpha_sd", "alpha_sd", None), ("beta_sd", "beta_sd", None), ("tau", "tau", None),
                ("beta_family", "beta_family", fam_factor), ("w", "w", factors), ("b", "b", None),
                ("top", "top", None), ("sigma_target", "sigma_target", None)]
                if name != "top" or "top" in self.samples]

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:
        """Draws (S, R) of the target for rows of the fitted table given by position (``row``)."""
        kind, frame, seed = check_kind(kind), self._row_frame(rows), check_seed(seed)
        if "row" not in frame.columns:
            raise PredictionError("rows need a 'row' column: positions of models in the fitted table")
        (position,) = row_numbers(frame, {"row": False})
        bad = (position != np.round(position)) | (position < 0) | (position >= self.info["n_models"])
        if bad.any():  # 1.7 and True were model 1
            raise PredictionError(f"column 'row' of the prediction rows must hold positions of models in the fitted "
                                  f"table, whole numbers from 0 to {self.info['n_models'] - 1}: "
                                  f"{listed_rows(frame.index[bad])} ({', '.join(f'{v:g}' for v in position[bad][:5])})")
        idx = position.astype(int)
        eta = self.linear_predictor(idx)
        chance = self.info["chance"]
        top = self.flat("top")[:, None] if "top" in self.samples else self.info["ceiling"]
        p = chance + (1 - chance) * top * (1 / (1 + np.exp(-eta)))
        if kind == "observed":
            rng = np.random.default_rng([int(seed), 5])
            p = p + self.flat("sigma_target")[:, None] * rng.standard_normal(p.shape)
        error = self.info.get("link_error")
        if error is not None:
            rng = np.random.default_rng([int(seed), 13])
            weights = np.asarray(error["weights"], dtype=float)
            pick = rng.choice(weights.size, size=p.shape[0], p=weights.ravel() / weights.sum())
            cell = np.unravel_index(pick, weights.shape)
            kappa, tau, bias = GRID[cell[0]], GRID[cell[1]], BIAS_GRID[cell[2]]
            z1, z2 = rng.standard_normal((2, p.shape[0]))
            d = np.maximum(eta - error["reference"], 0.0)
            # the error applies to every model whose target was not fitted, as in the nested fits
            # that measured it (most of their held-out models lie inside the fitted range of eta);
            # its slope term grows beyond that range
            unfitted = ~np.isin(idx, self.info.get("fitted_rows", []))
            p = p + ((bias + kappa * z1)[:, None] + (tau * z2)[:, None] * d) * unfitted
        return np.clip(p, 0.0, 1.0)

    def linear_predictor(self, idx) -> np.ndarray:
        """Draws (S, R) of the link's linear predictor ``w . S + b`` of the rows at positions ``idx``."""
        s = self.flat("capability")[:, np.asarray(idx, int), :]
        return np.einsum("srk,sk->sr", s, self.flat("w")) + self.flat("b")[:, None]

    def loadings(self) -> pd.DataFrame:
        """Posterior mean loadings (benchmarks x factors)."""
        return pd.DataFrame(self.flat("loading").mean(0), index=self.info["benchmarks"],
                            columns=[f"PC{i + 1}" for i in range(self.info["k"])])


def fit_observational(models: pd.DataFrame, benchmarks: list[str], target: str, *, group: str = "family",
                      flops: str = "flops", k: int = 2, chance: float = 0.0, ceiling: float | None = None,
                      train: np.ndarray | None = None,
                      extrapolation_folds: int = 2, chains: int = 4, draws: int = 1000, warmup: int = 1000,
                      seed: int = 0, target_accept: float = 0.85) -> ObservationalFit:
    """Fit the Bayesian observational scaling model.

    Parameters
    ----------
    models : DataFrame
        One row per model: the ``group`` column, ``flops`` (training FLOPs, may be missing), the
        ``benchmarks`` columns (accuracies in [0, 1], may be missing) and the ``target``.
        ``models.attrs["table"]``, where set, is how refusals name the table (e.g. its file).
    group, flops : str
        The model-family column (each family has its own compute efficiency) and the FLOPs column.
    train : bool array or Series, optional
        Models whose target is fitted (default: every model with a target value); a Series is
        matched to ``models`` by its index, anything else by position. The
        paper's holdout is ``models[flops] < FLOPS_CUTOFF``.
    k : int
        Number of capability factors (the paper uses 3).
    chance : float
        Floor of the sigmoid link (the benchmark's random-guess accuracy).
    ceiling : float or None
        Share of the way from ``chance`` to 1 that the link reaches at infinite capability; None
        (default) learns it with a Beta(6, 1.5) prior: the training models rarely reach the top
        of the curve, and a ceiling fixed at 1 sends a steep fitted sigmoid to near-perfect scores
        beyond them (``benchmarks/README.md``).
    extrapolation_folds : int
        Nested fits (0 to 2) measuring the link's extrapolation error (bias, offset and slope
        change): each refits on the fitted models below a quantile (60%, 80%) of log FLOPs and
        predicts those above. 0 turns it off. The error widens (and shifts) the predictions of
        models whose target was not fitted; fitted models keep their in-sample intervals.
    chains, draws, warmup, seed, target_accept
        As in :func:`bayeslaw.fit`; the nested fits run one chain each.
    """
    extrapolation_folds = check_folds(extrapolation_folds, len(NESTED_QUANTILES))
    if isinstance(benchmarks, str) or not all(isinstance(b, str) for b in benchmarks):
        raise DataError(f"benchmarks must be a list of column names, got {benchmarks!r}")
    models, chance = as_frame(models, "models table"), check_share(chance, "chance")
    ceiling = None if ceiling is None else check_share(ceiling, "ceiling", low_open=True, high_open=False)
    if target in benchmarks or len(set(benchmarks)) < len(benchmarks):
        raise DataError(f"benchmarks must be distinct and leave out the target {target!r}, got {list(benchmarks)}")
    need = [group, flops, target, *benchmarks]
    missing = [c for c in need if c not in models.columns]
    if missing:
        raise DataError(f"models table has no column {missing[0]!r}")
    # the command line names the file it read (attrs["table"]), so messages point into that file
    source = models.attrs.get("table")
    frame, noun = models.reset_index(drop=True), str(source or "the models table")
    warn_repeated_rows(frame, need, noun, "models")
    if not is_integer(k) or not 1 <= k <= min(len(benchmarks), len(frame)):
        raise DataError(f"k must be between 1 and the number of benchmarks ({len(benchmarks)}) and of models "
                        f"({len(frame)}), got {k!r}")
    no_group = is_missing(frame[group]).to_numpy()
    if no_group.any():
        raise DataError(f"column '{group}' in {noun} has missing values: {listed_rows(frame.index[no_group])}")
    y = np.column_stack([parse_numbers(frame, name, noun) for name in benchmarks])
    for j, name in enumerate(benchmarks):
        check_accuracy(y[:, j], name, frame.index, noun=source)
        if not np.isfinite(y[:, j]).any():
            raise DataError(f"column '{name}' of {noun} has no score: every benchmark needs at least one")
    t = parse_numbers(frame, target, noun)
    check_accuracy(t, target, frame.index, noun=source)
    check_chance(t, chance, target, noun)
    frame[target] = t  # parsed: the nested fits read it again (a blank cell is missing there too)
    train = train_mask(train, models.index)
    has_t = np.isfinite(t) if train is None else train & np.isfinite(t)
    of_train = " of the training rows" if train is not None else ""
    if not has_t.any():
        raise DataError(f"no model{of_train} has a '{target}' score: nothing to fit the link to")
    if has_t.sum() < 3:  # one model's score was fitted, with NaNs in the standardisation and divergences
        raise DataError(f"{int(has_t.sum())} models{of_train} have a '{target}' score; the link needs at least 3")
    c = positive_or_missing(frame, flops, noun)
    has_c = np.isfinite(c) & (c > 0)
    logc = np.where(has_c, np.log(np.where(has_c, c, 1.0)), 0.0)
    c_ref = float(np.mean(logc[has_c])) if has_c.any() else 0.0
    fams, fam_idx = np.unique(frame[group].astype(str), return_inverse=True)
    data = {"y": np.nan_to_num(y), "observed": np.isfinite(y), "family": fam_idx,
            "logc": np.where(has_c, logc - c_ref, 0.0), "has_c": has_c, "target": np.nan_to_num(t),
            "has_t": has_t, "chance": float(chance)}
    model = _make_model(k, len(benchmarks), len(fams), ceiling, leaders(y, k))
    sites = ["loading_raw", "alpha", "beta", "w", "b"] + (["top"] if ceiling is None else [])
    out = sample(model, data, sites=sites, chains=chains, draws=draws, warmup=warmup, seed=seed,
                 target_accept=target_accept)
    info = {"k": k, "benchmarks": list(benchmarks), "families": list(fams), "n_models": len(frame),
            "chance": float(chance), "ceiling": ceiling, "c_ref": c_ref, "target": target,
            "fitted_rows": np.flatnonzero(has_t).tolist()}
    fitted = ObservationalFit(**out, info=info)
    if extrapolation_folds:
        settings = {"group": group, "flops": flops, "k": k, "chance": chance, "ceiling": ceiling,
                    "chains": 1, "draws": draws, "warmup": warmup, "seed": seed, "target_accept": target_accept}
        def refit(train):
            return fit_observational(frame, benchmarks, target, train=train, extrapolation_folds=0, **settings)

        info["link_error"] = link_error(fitted, frame, benchmarks, target, (has_t, has_c, logc),
                                        extrapolation_folds, refit)
    return fitted
