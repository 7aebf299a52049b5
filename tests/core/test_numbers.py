"""One rule for what an argument taking a number accepts (bayeslaw.core.numbers)."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.infer.settings import check_settings


@pytest.mark.parametrize("value", [0, -3, 2**70, np.int64(4), np.uint32(7), np.int8(-1)])
def test_integers_are_integers_and_reals(value):
    assert is_integer(value) and is_real(value)


@pytest.mark.parametrize("value", [1.5, float("nan"), float("inf"), np.float32(0.8), np.float64(-2.0)])
def test_floats_are_reals_not_integers(value):
    assert is_real(value) and not is_integer(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1j, np.complex128(0.8), "4", None,
                                   [4], np.array([4]), Decimal("4"), Fraction(1, 2)])
def test_bools_complex_text_and_containers_are_neither(value):
    assert not is_integer(value) and not is_real(value)


def test_numpy_settings_are_accepted_and_come_back_as_python_numbers():
    """np.int64(4) chains were refused by fit but accepted by predict's seed; the settings are
    stored as JSON, which a NumPy integer does not survive."""
    out = check_settings(np.int64(4), np.int32(300), np.uint16(200), np.int64(7), np.float32(0.9))
    assert out == (4, 300, 200, 7, pytest.approx(0.9))
    assert [type(v) for v in out] == [int, int, int, int, float]


RUNS = {"N": [1e8, 2e8, 4e8], "D": [1e9, 2e9, 4e9], "loss": [3.0, 2.9, 2.8]}


def test_a_complex_number_is_refused_in_one_line_not_a_type_error(tiny_family_fit):
    """np.number admits complex: target_accept and ci_prob reached a comparison, a TypeError."""
    with pytest.raises(bl.FitError, match=re.escape("target_accept must be in [0.5, 1), got np.complex128(0.8+0j)")):
        bl.fit("chinchilla", RUNS, target_accept=np.complex128(0.8))
    with pytest.raises(bl.PredictionError, match=re.escape("ci_prob must be a number in (0, 1), got (0.9+0j)")):
        tiny_family_fit.predict({"N": 1e9, "D": 1e10}, ci_prob=0.9 + 0j)
    with pytest.raises(bl.FitError, match=re.escape("chains must be a positive integer, got np.True_")):
        bl.fit("chinchilla", RUNS, chains=np.bool_(True))
