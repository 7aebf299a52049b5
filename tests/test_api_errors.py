"""Bad arguments to the library's entry points raise bayeslaw's own errors, before any work."""

from __future__ import annotations

import re

import pytest

import bayeslaw as bl

RUNS = {"N": [1e8, 2e8, 4e8], "D": [1e9, 2e9, 4e9], "loss": [3.0, 2.9, 2.8]}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": 3}, "target must be a column name (str), got 3"),
    ({"group": ["family"]}, "group must be a column name (str) or None, got ['family']"),
    ({"run": 1}, "run must be a column name (str), False or None, got 1"),
    ({"pooling": ["alpha"]}, "pooling must be 'auto', None or a dict of parameter -> mode, got list"),
    ({"pooling": "none"}, "pooling must be 'auto', None or a dict of parameter -> mode, got 'none'"),
    ({"centered": "yes"}, "centered must be True, False or None, got 'yes'"),
    ({"seed": 2**70}, f"seed must be a whole number from 0 to 4294967295 (32 bits), got {2**70}"),
    ({"chains": 0}, "chains must be a positive integer, got 0"),
])
def test_fit_refuses_bad_arguments_up_front(kwargs, message):
    with pytest.raises(bl.FitError, match=re.escape(message)):
        bl.fit("chinchilla", RUNS, **kwargs)


def test_load_fit_refuses_a_non_path():
    with pytest.raises(bl.BayeslawError, match=re.escape("load_fit takes the path of a fit file, got int")):
        bl.load_fit(3)


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_fit_path_or_law_name_says_it_is_empty(name):
    """'' was read as the current folder: "cannot load fit '.': it is a folder", "law file '' is a folder"."""
    with pytest.raises(bl.BayeslawError) as info:
        bl.load_fit(name)
    assert str(info.value) == "cannot load fit: the fit path is empty"
    with pytest.raises(bl.LawSpecError) as info:
        bl.load_law(name)
    assert str(info.value) == "law name is empty; give a catalogue name (e.g. chinchilla) or a path to a .toml file"


@pytest.mark.parametrize("seed", [2**70, -1, 1.5, True])
def test_predict_refuses_a_bad_seed(family_fit, seed):
    with pytest.raises(bl.PredictionError, match=re.escape(
            f"seed must be a whole number from 0 to 4294967295, got {seed!r}")):
        family_fit.predict({"N": 1e9, "D": 1e10}, seed=seed)
