"""Two-step task scaling ladder (Bhagia et al. 2024): (N, D) -> task loss -> accuracy, fitted jointly.

Step 1, task loss (bits per byte of the correct answer) from model size and tokens::

    L(N, D) = E + A / N^alpha + B / D^beta        (Student-t on log L, final checkpoints)

Step 2, accuracy from task loss, a sigmoid between the floor and a ceiling of at most 1::

    acc(L) = floor + (1 - floor) * top * sigmoid(-k * (z - z0)),   z = (L - mean L) / sd L

fitted on intermediate checkpoints (the paper skips the first 10% of each run). A task loss of
zero means the correct answer gets probability 1, so it is always chosen. The paper adds this
"ideal point" (L = 0, acc = 1) to its step-2 fit as one more data point and bounds the ceiling
at 1; so does :func:`fit_ladder` by default (``ideal="point"``): the point is observed with the
spread of one checkpoint's accuracy (Normal, sd = sqrt(m (1 - m) / (1 + concentration)) at the
ladder's mean accuracy m; with item counts, the binomial sd). It matters because the ladder's
accuracies stay far below the targets', so without it the data cannot tell the ceiling and its
prior sets it (``anchor=None``, a Beta(6, 1.5) prior on its height, is kept for losses whose zero
is not attainable, e.g. C4 loss). ``ideal="pin"`` forces the curve through the point instead::

    acc(L) = floor + (anchor - floor) * sigmoid(-k * (z - z0)) / sigmoid(-k * (z(0) - z0))

which is stricter than the paper and imposes one curvature between the ladder and zero loss
(on MMLU it fell further from the targets than the observed point, ``benchmarks/README.md``).
Both steps are one NumPyro model, so the prediction for a target run chains posterior draws: a
draw of the run's task loss from step 1 goes through a draw of the step-2 sigmoid. The accuracy
interval therefore carries the uncertainty of both steps (and, for ``kind="observed"``, the loss
and accuracy noise of a single run). Accuracy noise is Binomial when item counts are given
(``items=``), Beta otherwise. With ``extrapolation_folds`` the task loss beyond the ladder's
largest run also carries an extrapolation error measured by nested fits of the ladder
(:mod:`bayeslaw.downstream.ladder_error`); it is not the default: on the OLMo ladder it narrowed
the misses of two tasks but widened and moved the others (``benchmarks/README.md``).
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
from bayeslaw.data.columns import (
    numeric_column,
    parse_numbers,
    positive_or_missing,
    warn_repeated_rows,
)
from bayeslaw.data.frames import as_frame
from bayeslaw.downstream import inputs
from bayeslaw.downstream.base import ModelFit, sample
from bayeslaw.downstream.ladder_error import NESTED_QUANTILES, loss_error, nested_settings
from bayeslaw.results.draws import check_kind, check_seed
from bayeslaw.results.extrapolation_error import ExtrapolationErrorModel, apply

LIKELIHOODS = ("auto", "Beta", "Binomial")
IDEAL = ("point", "pin")
_EPS = 1e-6
_DF = 5.0  # Student-t degrees of freedom of the task-loss noise (robust, as Huber is in the paper)


def _curve(z, floor, top, k, z0, z_zero, anchor):
    """Step-2 accuracy at standardised loss ``z``: anchored through (z_zero, anchor) when ``top`` is None."""
    if top is None:
        # ratio of sigmoids in log space: stays finite when the curve is flat near zero loss
        shape = jnp.exp(jax.nn.log_sigmoid(-k * (z - z0)) - jax.nn.log_sigmoid(-k * (z_zero - z0)))
        p = floor + (anchor - floor) * shape
    else:
        p = floor + (1 - floor) * top * jax.nn.sigmoid(-k * (z - z0))
    return jnp.clip(p, _EPS, 1 - _EPS)


def _make_model(binomial: bool, anchored: bool, ideal_point: bool = False):
    """The joint NumPyro model; ``binomial`` (the likelihood), ``anchored`` (no free ceiling) and
    ``ideal_point`` (the anchor observed as one more point instead of pinned) are static."""

    def model(data):
        # step 1: task loss law, amplitudes centred at the geometric-mean N and D of the step-1 runs
        # E is below every observed loss: E = E_frac * min(observed loss)
        E = numpyro.deterministic("E", numpyro.sample("E_frac", dist.Uniform(0.0, 1.0)) * data["loss_min"])
        alpha = numpyro.sample("alpha", dist.LogNormal(-1.2, 0.5))
        beta = numpyro.sample("beta", dist.LogNormal(-1.2, 0.5))
        a_ref = numpyro.sample("a_ref", dist.Normal(data["log_term"], 1.5))
        b_ref = numpyro.sample("b_ref", dist.Normal(data["log_term"], 1.5))
        sigma_loss = numpyro.sample("sigma_loss", dist.HalfNormal(0.05))
        law = (E + jnp.exp(a_ref - alpha * data["lnN1"]) + jnp.exp(b_ref - beta * data["lnD1"]))
        numpyro.sample("loss_obs", dist.StudentT(_DF, jnp.log(law), sigma_loss), obs=jnp.log(data["loss1"]))
        # step 2: accuracy from task loss
        floor = numpyro.sample("floor", dist.Beta(data["floor_a"], data["floor_b"]))
        top = None if anchored else numpyro.sample("top", dist.Beta(6.0, 1.5))
        k = numpyro.sample("k", dist.LogNormal(0.5, 1.0))
        z0 = numpyro.sample("z0", dist.Normal(0.0, 3.0))
        p = _curve(data["z2"], floor, top, k, z0, data["z_zero"], data["anchor"])
        if binomial:
            numpyro.sample("acc_obs", dist.Binomial(total_count=data["items2"], probs=p), obs=data["correct2"])
        else:
            phi = numpyro.sample("concentration", dist.Gamma(2.0, 0.005))
            numpyro.sample("acc_obs", dist.Beta(p * phi, (1 - p) * phi), obs=data["acc2"])
        if ideal_point:
            # one more point with the spread of one checkpoint's accuracy at the ladder's mean
            m, n = data["acc_mean"], (data["items_median"] if binomial else 1 + phi)
            p_zero = _curve(data["z_zero"], floor, top, k, z0, data["z_zero"], data["anchor"])
            numpyro.sample("ideal_obs", dist.Normal(p_zero, jnp.sqrt(m * (1 - m) / n)), obs=data["anchor"])

    return model


@dataclass
class LadderFit(ModelFit):
    """Joint posterior of the two-step ladder; ``predict`` gives accuracies (or task losses)."""

    def quantities(self):
        names = ["E", "alpha", "beta", "a_ref", "b_ref", "sigma_loss", "floor", "top", "k", "z0"]
        if self._anchored:
            names.remove("top")
        if not self.info["binomial"]:
            names.append("concentration")
        return [(n, n, None) for n in names]

    @property
    def _anchored(self) -> bool:
        return "top" not in self.samples

    def _draws(self, name):
        return jnp.asarray(self.flat(name))[:, None]

    @property
    def loss_error(self) -> ExtrapolationErrorModel | None:
        """The task loss's extrapolation error beyond the ladder's largest run (None: not measured)."""
        saved = self.info.get("loss_error")
        return None if saved is None else ExtrapolationErrorModel.from_dict(saved)

    def _accuracy(self, loss):
        """Step-2 law (S, R) at task losses (S, R) or (1, R)."""
        info = self.info
        top = None if self._anchored else self._draws("top")
        z = (loss - info["loss_mean"]) / info["loss_sd"]
        return _curve(z, self._draws("floor"), top, self._draws("k"), self._draws("z0"),
                      -info["loss_mean"] / info["loss_sd"], info.get("anchor"))

    def accuracy_at(self, loss) -> np.ndarray:
        """Draws (S, R) of the step-2 law, the accuracy at the given task losses (no run noise).

        Separates the two steps: ``accuracy_at(observed target loss)`` scores step 2 alone.
        """
        loss = inputs.positive_values(loss, "task losses", "finite numbers", zero=True)
        return np.asarray(self._accuracy(jnp.asarray(loss)[None, :]))

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0,
                         quantity: str = "accuracy") -> np.ndarray:
        """Draws (S, R) of the accuracy (or ``quantity="loss"``, the task loss) of each row."""
        kind, frame, seed = check_kind(kind), self._row_frame(rows), check_seed(seed)
        N, D = inputs.row_numbers(frame, {"N": True, "D": True})
        if quantity not in ("accuracy", "loss"):
            raise PredictionError(f"quantity must be 'accuracy' or 'loss', got {quantity!r}")
        info = self.info
        k_loss, k_acc = jax.random.split(jax.random.PRNGKey(int(seed)))
        d = {n: self._draws(n) for n in ("E", "alpha", "beta", "a_ref", "b_ref", "sigma_loss")}
        lnN = jnp.asarray(np.log(N) - info["lnN_ref"])[None, :]
        lnD = jnp.asarray(np.log(D) - info["lnD_ref"])[None, :]
        loss = (d["E"] + jnp.exp(d["a_ref"] - d["alpha"] * lnN)
                + jnp.exp(d["b_ref"] - d["beta"] * lnD))
        if kind == "observed":
            noise = dist.StudentT(_DF).sample(k_loss, loss.shape)
            loss = loss * jnp.exp(d["sigma_loss"] * noise)
        loss = jnp.asarray(apply(self.loss_error, np.asarray(loss), {"N": N, "D": D}, int(seed)))
        if quantity == "loss":
            return np.asarray(loss)
        p = self._accuracy(loss)
        if kind == "law":
            return np.asarray(p)
        if info["binomial"]:
            items = (inputs.row_numbers(frame, {"items": True})[0] if "items" in frame
                     else np.full(len(frame), info["items"]))
            items = jnp.asarray(np.round(items))[None, :]
            return np.asarray(dist.Binomial(total_count=jnp.broadcast_to(items, p.shape), probs=p).sample(k_acc) / items)
        phi = self._draws("concentration")
        return np.asarray(dist.Beta(p * phi, (1 - p) * phi).sample(k_acc))


def fit_ladder(runs: pd.DataFrame, *, loss: str = "task_loss", accuracy: str = "accuracy",
               step1: str | None = "final", items: str | None = None, likelihood: str = "auto",
               chance: float | None = None, anchor: float | None = 1.0, ideal: str = "point",
               max_step2_rows: int | None = 400, extrapolation_folds: int = 0, chains: int = 4,
               draws: int = 1000, warmup: int = 1000, seed: int = 0, target_accept: float = 0.9) -> LadderFit:
    """Fit the two-step ladder jointly.

    Parameters
    ----------
    runs : DataFrame
        One row per evaluated checkpoint with columns ``N``, ``D``, the task ``loss`` and the
        ``accuracy``. Rows with a missing loss or accuracy are dropped from that step.
    loss, accuracy : str
        Columns of the task loss (e.g. bits per byte) and the accuracy in [0, 1].
    step1 : str or None
        Boolean column marking the rows fitted by step 1 (final checkpoints, as in the paper);
        None fits step 1 on every row. Step 2 always uses every row.
    items : str, optional
        Column with the number of items behind each accuracy: Binomial likelihood.
    likelihood : {"auto", "Beta", "Binomial"}
        ``auto``: Binomial when ``items`` is given, Beta otherwise.
    chance : float, optional
        Known chance accuracy; pins the floor's prior at it (sd 0.01). Default: Beta(2, 6).
    anchor : float or None
        Accuracy at zero task loss (default 1: at zero bits per byte the correct answer has
        probability 1). None leaves step 2 without it (only a Beta(6, 1.5) prior on the ceiling's
        height), for intermediate losses whose zero is unattainable (e.g. C4 loss).
    ideal : {"point", "pin"}
        How the anchor enters step 2. ``point`` (the paper's "ideal point"): one more observation
        of the curve, with the spread of one checkpoint's accuracy, beside a ceiling of at most 1.
        ``pin``: the curve passes through it exactly.
    max_step2_rows : int or None
        Step 2 uses at most this many rows, evenly spaced in the table (None: all). Adjacent
        checkpoints of one run are strongly correlated, so thinning loses little information,
        keeps the step-2 noise from being read as near-zero, and keeps sampling fast.
    extrapolation_folds : int
        Nested fits (0 to 2) measuring the task loss's extrapolation error beyond the largest
        run (:mod:`bayeslaw.downstream.ladder_error`; each refits the ladder with two chains and
        half the draws); 0 (default) leaves predictions with the posterior alone.
    chains, draws, warmup, seed, target_accept
        As in :func:`bayeslaw.fit`.

    Returns
    -------
    LadderFit
    """
    extrapolation_folds = inputs.check_folds(extrapolation_folds, len(NESTED_QUANTILES))
    if likelihood not in LIKELIHOODS:
        raise DataError(f"likelihood must be one of: {', '.join(LIKELIHOODS)}; got {likelihood!r}")
    if likelihood == "auto":
        likelihood = "Binomial" if items is not None else "Beta"
    if likelihood == "Binomial" and items is None:
        raise DataError("the Binomial likelihood needs items='<column with item counts>'")
    runs = as_frame(runs, "runs table")
    if chance is not None:  # before anchor's check, which compares with it
        chance = inputs.check_share(chance, "chance", low_open=True)
    need = ["N", "D", loss, accuracy] + ([step1] if step1 else []) + ([items] if items else [])
    if len(set(need)) < len(need):  # loss="accuracy" fitted the accuracy as its own task loss
        raise DataError(f"loss, accuracy, step1 and items must name different columns, got {need[2:]}")
    missing = [c for c in need if c not in runs.columns]
    if missing:
        raise DataError(f"runs table has no column {missing[0]!r}; columns: {', '.join(map(str, runs.columns))}")
    frame, noun = runs.reset_index(drop=True), "the runs table"
    warn_repeated_rows(frame, need, noun, "checkpoints")
    N, D = numeric_column(frame, "N", True, noun), numeric_column(frame, "D", True, noun)
    L, acc = positive_or_missing(frame, loss, noun), parse_numbers(frame, accuracy, noun)
    inputs.check_accuracy(acc, accuracy, frame.index, open_interval=likelihood == "Beta")
    if chance is not None:
        inputs.check_chance(acc, chance, accuracy, noun)
    inputs.check_ladder_options(ideal, IDEAL, anchor, chance, max_step2_rows)
    in1 = np.isfinite(L) & (inputs.flag_column(frame, step1, noun) if step1 else True)
    in2 = np.isfinite(L) & np.isfinite(acc)
    if max_step2_rows is not None and in2.sum() > max_step2_rows:
        chosen = np.flatnonzero(in2)[np.unique(np.linspace(0, in2.sum() - 1, max_step2_rows).round().astype(int))]
        in2 = np.zeros_like(in2)
        in2[chosen] = True
    if in1.sum() < 5 or in2.sum() < 5:
        raise DataError(f"need at least 5 rows for each step; step 1 has {int(in1.sum())}, step 2 {int(in2.sum())}")
    lnN_ref, lnD_ref = float(np.mean(np.log(N[in1]))), float(np.mean(np.log(D[in1])))
    L2 = L[in2]
    info = {"lnN_ref": lnN_ref, "lnD_ref": lnD_ref, "loss_min": float(np.min(L[in1])),
            "loss_mean": float(L2.mean()), "loss_sd": float(L2.std() or 1.0), "binomial": likelihood == "Binomial",
            "loss": loss, "accuracy": accuracy, "anchor": None if anchor is None else float(anchor),
            "ideal": None if anchor is None else ideal}
    floor_a, floor_b = (2.0, 6.0)
    if chance is not None:  # checked in (0, 1) above
        conc = chance * (1 - chance) / 0.01 ** 2 - 1
        floor_a, floor_b = chance * conc, (1 - chance) * conc
    data = {"lnN1": np.log(N[in1]) - lnN_ref, "lnD1": np.log(D[in1]) - lnD_ref, "loss1": L[in1],
            "loss_min": info["loss_min"], "log_term": float(np.log(0.25 * np.mean(L[in1]))),
            "z2": (L2 - info["loss_mean"]) / info["loss_sd"], "acc2": np.clip(acc[in2], _EPS, 1 - _EPS),
            "floor_a": floor_a, "floor_b": floor_b, "z_zero": -info["loss_mean"] / info["loss_sd"],
            "anchor": 1.0 if anchor is None else float(anchor), "acc_mean": float(np.mean(acc[in2]))}
    if info["binomial"]:
        n_items = parse_numbers(frame, items, noun)[in2]
        correct = np.round(acc[in2] * n_items)
        inputs.check_items(n_items, correct, items, frame.index[in2])
        data.update(items2=n_items, correct2=correct)
        info["items"] = data["items_median"] = float(np.median(n_items))
    pinned = anchor is not None and ideal == "pin"
    sites = ["E_frac", "alpha", "beta", "a_ref", "b_ref", "floor", "k", "z0"] + ([] if pinned else ["top"])
    model = _make_model(info["binomial"], pinned, ideal_point=anchor is not None and ideal == "point")
    out = sample(model, data, sites=sites, chains=chains, draws=draws, warmup=warmup, seed=seed,
                 target_accept=target_accept)
    if extrapolation_folds:
        options = {"loss": loss, "accuracy": accuracy, "step1": step1, "items": items, "likelihood": likelihood,
                   "chance": chance, "anchor": anchor, "ideal": ideal, "max_step2_rows": max_step2_rows,
                   "extrapolation_folds": 0, "target_accept": target_accept,
                   **nested_settings(chains, draws, warmup, seed)}
        error = loss_error(frame, in1, loss, extrapolation_folds, lambda rows: fit_ladder(rows, **options))
        info["loss_error"] = None if error is None else error.to_dict()
    return LadderFit(**out, info=info)
