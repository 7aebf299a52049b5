"""Quantization: drop by bits and size recovered; fixed-memory comparison; exact errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayeslaw.core.errors import DataError, DataWarning, PredictionError
from bayeslaw.downstream.quantization import fit_quantization

pytestmark = pytest.mark.heavy  # real posteriors: run with -m heavy (CI does)


def _synthetic(seed=0):
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(0.5), np.log(70), 80))
    acc = 0.25 + 0.75 * 0.85 / (1 + np.exp(-1.2 * (np.log(n * 1e9) - np.log(10e9)))) + rng.normal(0, 0.02, 80)
    curve = pd.DataFrame({"params_B": n, "accuracy": np.clip(acc, 0, 1)})
    nq = np.exp(rng.uniform(np.log(1), np.log(70), 40))
    bits = np.where(np.arange(40) % 2 == 0, 4, 8)
    drop = np.where(bits == 4, -0.02, -0.004) + rng.normal(0, 0.003, 40)
    return curve, pd.DataFrame({"params_B": nq, "bits": bits, "delta": drop})


@pytest.fixture(scope="module")
def fit():
    curve, pairs = _synthetic()
    return fit_quantization(curve, pairs, chains=2, warmup=300, draws=300, seed=0)


def test_drop_by_bits_recovered(fit):
    # a z-score, not "truth inside the 95% interval": this data set's 4-bit drops average 2.06
    # standard errors below the truth, so that interval's edge sits on it and Monte Carlo noise
    # decided (upper bound -0.02004 seen); a tail quantile is also the noisiest summary
    d = fit.summary().xs("drop", level="parameter")
    z = (d["mean"] - pd.Series({"4bit": -0.02, "8bit": -0.004})) / d["sd"]
    assert np.all(np.abs(z) < 3), z.to_dict()
    assert np.all(d["sd"] < 0.002)  # and the drops are pinned down, not just wide


def test_larger_4bit_model_wins_at_fixed_memory_on_the_steep_part(fit):
    out = fit.prob_quantized_wins([10.0], bits=4)
    assert out["prob_quantized_wins"].iloc[0] > 0.95  # 5B at 16 bit vs 20B at 4 bit


def test_errors(fit):
    curve, pairs = _synthetic()
    pairs.loc[0, "bits"] = 3
    with pytest.raises(DataError) as info:
        fit_quantization(curve, pairs)
    assert str(info.value) == "column 'bits' in the pairs table must be 4 or 8: row 0 (3)"
    with pytest.raises(PredictionError) as info:
        fit.predict({"params_B": [7.0], "bits": [2]})
    assert str(info.value) == ("column 'bits' of the prediction rows must be 16, 4 or 8 (the widths the fit has "
                               "pairs of): row 0 (2)")


def test_a_bit_width_without_pairs_is_warned_about_and_not_predicted():
    """With 4-bit pairs alone, 8-bit answers came from the drop's prior without a word."""
    curve, pairs = _synthetic()
    with pytest.warns(DataWarning) as record:
        fit = fit_quantization(curve, pairs[pairs["bits"] == 4], chains=1, warmup=100, draws=100, seed=0)
    assert [str(w.message) for w in record if w.category is DataWarning] == [
        "the pairs table has no 8-bit rows: the 8-bit drop rests on its prior alone, and predictions at 8 bits "
        "are refused"]
    with pytest.raises(PredictionError, match=re.escape("bits must be 4 (the widths the fit has pairs of), got 8")):
        fit.prob_quantized_wins([16.0], bits=8)
