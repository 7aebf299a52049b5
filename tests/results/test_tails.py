"""Prediction tables never show a mean or sd that the draws do not support."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayeslaw.cli.output import format_predictions
from bayeslaw.results.draws import interval_columns, predictive_columns
from bayeslaw.results.tails import tail_k


def test_tail_k_separates_light_from_heavy_tails():
    rng = np.random.default_rng(0)
    s = 4000
    draws = np.stack([rng.normal(size=s), np.exp(0.1 * rng.normal(size=s)),
                      rng.standard_t(1.5, size=s), np.exp(0.5 * rng.standard_t(2, size=s))], axis=1)
    k = tail_k(draws)
    assert k[0] < 0.2 and k[1] < 0.2  # normal, tight log-normal
    assert 0.5 < k[2] < 0.9  # t(1.5): true k = 2/3
    assert k[3] > 1  # exp of a t: no moments at all


def test_tail_k_is_nan_without_enough_draws_or_variation():
    assert np.isnan(tail_k(np.arange(10.0)[:, None])).all()
    assert np.isnan(tail_k(np.ones((1000, 1)))).all()


def test_heavy_tailed_predictive_keeps_median_and_interval_only():
    rng = np.random.default_rng(1)
    s = 4000
    light = np.exp(0.05 * rng.normal(size=s))
    heavy = np.exp(0.3 * rng.standard_t(1.2, size=s))  # like a few-df Student-t noise in log space
    out = predictive_columns(np.stack([light, heavy], axis=1), 0.9)
    assert np.isfinite(out["mean"][0]) and np.isfinite(out["sd"][0]) and out["tail_k"][0] < 0.5
    assert np.isnan(out["mean"][1]) and np.isnan(out["sd"][1]) and out["tail_k"][1] >= 0.7
    for col in ("median", "lower", "upper"):
        assert np.isfinite(out[col]).all()
    assert out["lower"][1] < out["median"][1] < out["upper"][1]


def test_cli_table_says_why_mean_and_sd_are_missing():
    import pandas as pd

    frame = pd.DataFrame({"N": [1e9], "D": [1e10], "family": ["(new)"], "mean": [np.nan], "sd": [np.nan],
                          "median": [0.93], "lower": [0.66], "upper": [1.4], "tail_k": [1.13]})
    text = format_predictions(frame, ["N", "D"])
    assert text.splitlines()[1].split() == ["1e+09", "1e+10", "(new)", "nan", "nan", "0.93", "0.66", "1.4",
                                            "1.13"]
    assert text.splitlines()[2] == ("nan: the predictive's tail is too heavy for a mean (tail_k >= 0.7) or "
                                    "an sd (tail_k >= 0.5); use the median and the interval")


def test_predict_accepts_every_documented_row_form(family_fit):
    rows = [{"N": 3e9, "D": 6e10, "family": "moe"}, {"N": 7e10, "D": 1.4e12}]
    as_list = family_fit.predict(rows, seed=3)
    as_dict = family_fit.predict({"N": [3e9, 7e10], "D": [6e10, 1.4e12], "family": ["moe", None]}, seed=3)
    np.testing.assert_array_equal(as_list["median"].to_numpy(), as_dict["median"].to_numpy())
    assert as_list["family"].tolist() == ["moe", "(new)"]
    assert list(as_list.columns) == ["N", "D", "family", "mean", "sd", "median", "lower", "upper", "tail_k",
                                     "beyond_N", "beyond_D", "beyond_C"]
    # the demo's predictive is light-tailed: mean and sd are given
    assert np.isfinite(as_list[["mean", "sd"]].to_numpy()).all()
    assert (as_list["tail_k"] < 0.5).all()


@pytest.mark.parametrize("rows", [[], [1.0, 2.0], "N=1,D=2"])
def test_predict_refuses_other_row_forms(family_fit, rows):
    import bayeslaw as bl

    with pytest.raises(bl.DataError):
        family_fit.predict(rows)


def test_draws_near_float64s_limit_give_an_infinite_sd_without_a_warning():
    """An allocation for 1e300 FLOPs has sizes near 1e160: their sd overflows, numpy stays quiet."""
    draws = np.geomspace(1e150, 1e165, 200)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = interval_columns(draws, 0.9)
    assert np.isinf(stats["sd"][0]) and np.isfinite(stats["median"][0])
    assert stats["lower"][0] < stats["median"][0] < stats["upper"][0]
