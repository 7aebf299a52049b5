"""Precision as a covariate: the accuracy drop of 4/8-bit models, and the fixed-memory question.

Two likelihoods in one NumPyro model:

* the 16-bit accuracy curve of pretrained models, ``acc16(N) = floor + (1 - floor) * top *
  sigmoid(k * (log N - m))`` (Student-t noise: leaderboard entries are heterogeneous);
* the drop of a quantized copy of the same model, ``drop_b(N) = d_b + s_b * (log N - log N_ref)``
  for each bit width b (4, 8), from paired rows (Student-t noise).

:meth:`QuantizationFit.prob_quantized_wins` answers "at a fixed memory budget, does a larger
b-bit model beat a smaller 16-bit one?" (Badshah et al. 2024 report that it usually does): with
M GB, a 16-bit model has M/2 billion parameters, a b-bit one M/(b/8); the probability is over
posterior draws of the two laws (``kind="law"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from bayeslaw.core.errors import DataError, DataWarning, PredictionError
from bayeslaw.core.numbers import is_real
from bayeslaw.data.columns import (
    check_columns,
    listed_rows,
    numeric_column,
    parse_numbers,
    warn_repeated_rows,
)
from bayeslaw.data.files import read_folder_file, require_layout
from bayeslaw.data.frames import as_frame
from bayeslaw.downstream.base import ModelFit, sample
from bayeslaw.downstream.inputs import (
    check_accuracy,
    check_chance,
    check_share,
    positive_values,
    require_rows,
    row_numbers,
)
from bayeslaw.results.draws import check_kind, check_seed

BITS = (4, 8)
_DF = 3.0


def _model(data):
    floor = data["chance"]
    top = numpyro.sample("top", dist.Beta(6.0, 1.5))
    k = numpyro.sample("k", dist.LogNormal(0.0, 1.0))
    m = numpyro.sample("m", dist.Normal(data["lnN_ref"], 3.0))
    sigma16 = numpyro.sample("sigma16", dist.HalfNormal(0.1))
    mean16 = floor + (1 - floor) * top * jax.nn.sigmoid(k * (data["lnN16"] - m))
    numpyro.sample("acc16_obs", dist.StudentT(_DF, mean16, sigma16), obs=data["acc16"])
    with numpyro.plate("bits", len(BITS)):
        d = numpyro.sample("drop", dist.Normal(0.0, 0.05))
        s = numpyro.sample("drop_slope", dist.Normal(0.0, 0.02))
    sigma_d = numpyro.sample("sigma_drop", dist.HalfNormal(0.05))
    mean_d = d[data["bit_index"]] + s[data["bit_index"]] * (data["lnNq"] - data["lnN_ref"])
    numpyro.sample("drop_obs", dist.StudentT(_DF, mean_d, sigma_d), obs=data["delta"])


@dataclass
class QuantizationFit(ModelFit):
    """Posterior of the 16-bit curve and the per-bit-width drop; rows need ``params_B`` and ``bits``."""

    def quantities(self):
        labels = [f"{b}bit" for b in BITS]
        return [("top", "top", None), ("k", "k", None), ("m", "m", None), ("sigma16", "sigma16", None),
                ("drop", "drop", labels), ("drop_slope", "drop_slope", labels), ("sigma_drop", "sigma_drop", None)]

    def _law(self, params_B: np.ndarray, bits: np.ndarray) -> jnp.ndarray:
        lnN = jnp.asarray(np.log(params_B * 1e9))[None, :]
        f = lambda n: jnp.asarray(self.flat(n))
        floor = self.info["chance"]
        acc = floor + (1 - floor) * f("top")[:, None] * jax.nn.sigmoid(f("k")[:, None] * (lnN - f("m")[:, None]))
        out = acc
        for j, b in enumerate(BITS):
            drop = f("drop")[:, j:j + 1] + f("drop_slope")[:, j:j + 1] * (lnN - self.info["lnN_ref"])
            out = jnp.where(jnp.asarray(bits == b)[None, :], acc + drop, out)
        return out

    def predictive_draws(self, rows, kind: str = "observed", seed: int = 0) -> np.ndarray:
        """Accuracy draws (S, R) of a model of ``params_B`` billion parameters at ``bits``."""
        kind, frame, seed = check_kind(kind), self._row_frame(rows), check_seed(seed)
        params_B, bits = row_numbers(frame, {"params_B": True, "bits": True})
        known = (16, *self.info["bits"])
        bad = ~np.isin(bits, known)
        if bad.any():  # 4.7 was predicted as 4 bits
            raise PredictionError(f"column 'bits' of the prediction rows must be {_widths(known)} (the widths "
                                  f"the fit has pairs of): {listed_rows(frame.index[bad])} "
                                  f"({', '.join(f'{v:g}' for v in bits[bad][:5])})")
        mean = self._law(params_B, bits)
        if kind == "law":
            return np.asarray(mean)
        k16, _ = jax.random.split(jax.random.PRNGKey(int(seed)))
        noise16 = dist.StudentT(_DF).sample(k16, mean.shape) * jnp.asarray(self.flat("sigma16"))[:, None]
        return np.asarray(mean + noise16)

    def prob_quantized_wins(self, memory_gb, bits: int = 4) -> pd.DataFrame:
        """P(a b-bit model filling ``memory_gb`` beats a 16-bit model filling the same memory).

        Weights only: 16-bit = 2 bytes per parameter, b-bit = b/8 bytes. Returns one row per
        budget with both models' sizes, their expected accuracies and the probability.
        """
        if not (is_real(bits) and bits in self.info["bits"]):
            raise PredictionError(f"bits must be {_widths(self.info['bits'])} (the widths the fit has pairs of), "
                                  f"got {bits!r}")
        bits, mem = int(bits), positive_values(memory_gb, "memory_gb", "gigabytes")
        n16, nq = mem / 2.0, mem / (bits / 8.0)
        a16 = np.asarray(self._law(n16, np.full(mem.size, 16)))
        aq = np.asarray(self._law(nq, np.full(mem.size, bits)))
        return pd.DataFrame({"memory_gb": mem, "params_B_16bit": n16, f"params_B_{bits}bit": nq,
                             "acc_16bit": a16.mean(0), f"acc_{bits}bit": aq.mean(0),
                             "prob_quantized_wins": (aq > a16).mean(0)})


def fit_quantization(curve: pd.DataFrame, pairs: pd.DataFrame, *, chance: float = 0.25, chains: int = 4,
                     draws: int = 1000, warmup: int = 1000, seed: int = 0,
                     target_accept: float = 0.9) -> QuantizationFit:
    """Fit the 16-bit curve and the quantization drop jointly.

    Parameters
    ----------
    curve : DataFrame
        16-bit models: ``params_B`` (billions, > 0) and ``accuracy`` in [0, 1].
    pairs : DataFrame
        Quantized rows: ``params_B``, ``bits`` (4 or 8) and ``delta`` (accuracy minus the same
        model's 16-bit accuracy, as a fraction).
    chance : float
        Chance accuracy of the benchmark (the curve's floor).
    """
    curve, pairs = _checked(curve, "curve", {"params_B": True, "accuracy": False}), \
        _checked(pairs, "pairs", {"params_B": True, "bits": False, "delta": False})
    check_accuracy(curve["accuracy"].to_numpy(), "accuracy", curve.index)
    chance = check_share(chance, "chance")
    require_rows(curve, 4, "the curve table")  # top, k, m and the noise
    require_rows(pairs, 2, "the pairs table")
    warn_repeated_rows(curve, ["params_B", "accuracy"], "the curve table", "models")
    warn_repeated_rows(pairs, ["params_B", "bits", "delta"], "the pairs table", "pairs")
    off = np.abs(pairs["delta"].to_numpy()) > 1
    if off.any():  # a drop of 2.0 is 200 points: percent given where fractions are meant
        raise DataError(f"column 'delta' in the pairs table is an accuracy difference in [-1, 1] (a fraction, not "
                        f"percent): {listed_rows(pairs.index[off])}")
    bad = ~np.isin(pairs["bits"].to_numpy(), BITS)
    if bad.any():
        raise DataError(f"column 'bits' in the pairs table must be 4 or 8: "
                        f"{listed_rows(pairs.index[bad])} ({', '.join(f'{v:g}' for v in pairs['bits'][bad][:5])})")
    check_chance(curve["accuracy"].to_numpy(), chance, "accuracy", "the curve table")
    fitted = sorted({int(b) for b in pairs["bits"]})
    for width in sorted(set(BITS) - set(fitted)):
        warnings.warn(f"the pairs table has no {width}-bit rows: the {width}-bit drop rests on its prior alone, "
                      f"and predictions at {width} bits are refused", DataWarning, stacklevel=2)
    lnN16 = np.log(curve["params_B"].to_numpy(float) * 1e9)
    lnNq = np.log(pairs["params_B"].to_numpy(float) * 1e9)
    lnN_ref = float(np.mean(lnNq))
    data = {"chance": float(chance), "lnN16": lnN16, "acc16": curve["accuracy"].to_numpy(float),
            "lnNq": lnNq, "bit_index": np.array([BITS.index(int(b)) for b in pairs["bits"]]),
            "delta": pairs["delta"].to_numpy(float), "lnN_ref": lnN_ref}
    out = sample(_model, data, sites=["top", "k", "m", "drop", "drop_slope"], chains=chains, draws=draws,
                 warmup=warmup, seed=seed, target_accept=target_accept)
    return QuantizationFit(**out, info={"chance": float(chance), "lnN_ref": lnN_ref, "bits": fitted})


def _widths(bits) -> str:
    """'4, 8 or 16'."""
    names = [str(b) for b in bits]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _checked(rows, name: str, columns: dict[str, bool]) -> pd.DataFrame:
    """A copy of the ``name`` table with ``columns`` (name -> must be positive) as finite floats;
    a missing column, text, a missing or infinite value, or a size <= 0 is a DataError naming the
    table, the column and the rows."""
    frame, noun = as_frame(rows, f"{name} table").copy(), f"the {name} table"
    check_columns(frame, list(columns), noun)
    for column, positive in columns.items():
        numeric_column(frame, column, positive, noun)
    return frame


def load_openllm(data_dir, benchmark: str = "MMLU") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curve, pairs) from ``quantization_openllm``: 16-bit pretrained models and 4/8-bit pairs.

    Scores are converted from percent to fractions; entries with an unknown size (0 B) or a
    missing value are dropped. A score outside [0, 100], a difference outside [-100, 100], or a
    score column whose values all lie in [0, 1] (fractions, not percent) is a DataError naming the
    file, the column and the rows. A missing folder, file or layout column is a DataError naming it; an unknown
    ``benchmark``, a cell of a used row that is not a number or is infinite, or a file left with no
    rows is a DataError naming the file, the column and the row (0 = the first row below the header).
    """
    data_dir = Path(data_dir)
    snap = read_folder_file(data_dir, "open_llm_leaderboard_v1_snapshot.csv", "quantization")
    noun = f"open_llm_leaderboard_v1_snapshot.csv of '{data_dir}'"
    _check_layout(snap, ["Model", "Type", "Precision", "#Params (B)"], benchmark, benchmark, noun, data_dir)
    pre = snap[snap["Type"].astype(str).str.contains("pretrained") & snap["Precision"].isin(["float16", "bfloat16"])]
    pre = pre.assign(**{c: _finite(pre, c, noun) for c in ("#Params (B)", benchmark)})
    pre = pre[pre["#Params (B)"] > 0]
    _check_percent(pre, benchmark, noun)
    pre = pre.groupby("Model", as_index=False).agg(params_B=("#Params (B)", "first"), score=(benchmark, "mean"))
    curve = pd.DataFrame({"model": pre["Model"], "params_B": pre["params_B"].astype(float),
                          "accuracy": pre["score"] / 100.0}).dropna().reset_index(drop=True)
    if curve.empty:
        raise DataError(f"{noun} has no 16-bit pretrained models with a size and a {benchmark} score")
    raw = read_folder_file(data_dir, "precision_pairs.csv", "quantization")
    noun, delta = f"precision_pairs.csv of '{data_dir}'", f"delta_{benchmark}_vs_16bit_mean"
    _check_layout(raw, ["Model", "bits", "params_B_16bit_row"], delta, benchmark, noun, data_dir)
    raw = raw[np.isin(_finite(raw, "bits", noun), BITS)]
    raw = raw.assign(**{c: _finite(raw, c, noun) for c in ("params_B_16bit_row", delta)})
    raw = raw[raw["params_B_16bit_row"] > 0]
    _check_percent(raw, delta, noun, difference=True)
    pairs = pd.DataFrame({"model": raw["Model"], "params_B": raw["params_B_16bit_row"],
                          "bits": raw["bits"].astype(int), "delta": raw[delta] / 100.0}).dropna().reset_index(drop=True)
    if pairs.empty:
        raise DataError(f"{noun} has no 4- or 8-bit rows with a size and a '{delta}' value")
    return curve, pairs


def _check_percent(frame: pd.DataFrame, column: str, noun: str, *, difference: bool = False) -> None:
    """Refuse a column of scores in percent outside [0, 100] (``difference``: of differences in
    points outside [-100, 100]), naming the file's column, rows and values before the rows are
    regrouped by model; and a column of scores that all lie in [0, 1]: fractions, which the
    division by 100 made accuracies far below chance, fitted without a word."""
    values = frame[column].to_numpy(float)
    given, low = np.isfinite(values), -100 if difference else 0
    off = given & ((values < low) | (values > 100))
    what = "differences in percentage points" if difference else "scores in percent"
    if off.any():
        raise DataError(f"column '{column}' in {noun} holds {what} and must lie in [{low}, 100]: "
                        + listed_rows(f"{label} ({v:g})" for label, v in zip(frame.index[off], values[off])))
    if not difference and given.any() and np.all(values[given] <= 1):
        raise DataError(f"column '{column}' in {noun} holds {what}, but every value lies in [0, 1]: they look like "
                        "fractions (write 30 for 30%): " + listed_rows(
                            f"{label} ({v:g})" for label, v in zip(frame.index[given], values[given])))


def _check_layout(frame: pd.DataFrame, layout: list[str], score: str, benchmark: str, noun: str, folder) -> None:
    """A missing layout column: the folder is not this layout; a missing score column: an unknown
    benchmark."""
    require_layout(frame, layout, folder, "quantization")
    if score not in frame.columns:
        raise DataError(f"unknown benchmark {benchmark!r}: {noun} has no column '{score}'")


def _finite(frame: pd.DataFrame, column: str, noun: str) -> np.ndarray:
    """A column as floats, missing values NaN; text or an infinite value is a DataError naming the row."""
    values = parse_numbers(frame, column, noun)
    if np.isinf(values).any():
        raise DataError(f"column '{column}' in {noun} has infinite values: {listed_rows(frame.index[np.isinf(values)])}")
    return values
