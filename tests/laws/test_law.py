"""Law files: parsing, validation messages, and the shipped catalogue."""

from __future__ import annotations

import re
import warnings

import numpyro.distributions as dist
import pytest

import bayeslaw as bl
from bayeslaw.core.errors import LawSpecError
from bayeslaw.laws.priors import parse_prior

GOOD = """
name = "toy"
formula = "E + exp(a - alpha * log(N))"
[inputs]
N = { unit = "parameters" }
[params.E]
prior = { dist = "LogNormal", loc = 0.5, scale = 0.5 }
[params.alpha]
prior = { dist = "LogNormal", loc = -1.2, scale = 0.5 }
[params.a]
prior = { dist = "Normal", loc = 0, scale = 1 }
center = { input = "N", slope = "alpha" }
pooling = "partial"
"""


def test_parse_good_law_defaults():
    law = bl.parse_law(GOOD)
    assert law.input_names == ("N",)
    assert list(law.params) == ["E", "alpha", "a"]
    assert law.params["a"].center.input == "N" and law.params["a"].pooling == "partial"
    assert law.params["E"].pooling == "shared"
    assert law.likelihood.dist == "StudentT" and law.likelihood.space == "log"
    assert set(law.all_params()) == {"E", "alpha", "a", "sigma", "df"}


@pytest.mark.parametrize(
    "edit, message",
    [
        (("pooling = \"partial\"", "pooling = \"some\""),
         "pooling 'some' of parameter 'a' in law 'toy' is not one of: shared, partial, none"),
        (("dist = \"Normal\", loc = 0", "dist = \"Cauchyish\", loc = 0"),
         ("unknown prior distribution 'Cauchyish' in law 'toy', parameter 'a'; valid: Beta, Exponential, Gamma, "
          "HalfCauchy, HalfNormal, LogNormal, Normal, StudentT, TruncatedNormal, Uniform")),
        (("loc = 0, scale = 1", "loc = 0, sd = 1"),
         "unknown argument 'sd' for Normal prior in law 'toy', parameter 'a'; valid: loc, scale"),
        (("loc = 0, scale = 1", "loc = 0, scale = -1"),
         "argument 'scale' of Normal prior in law 'toy', parameter 'a' must be positive, got -1"),
        (("slope = \"alpha\"", "slope = \"beta\""),
         "center slope 'beta' of parameter 'a' in law 'toy' is not another parameter"),
        (("input = \"N\"", "input = \"D\""), "center of parameter 'a' in law 'toy' names 'D', not a positive input"),
        (("name = \"toy\"", "name = \"toy\"\ncolour = 1"),
         "unknown key 'colour' in the law file; valid: derived, description, formula, inputs, likelihood, name, params, "
         "reference (colour in law file <string>)"),
    ],
)
def test_bad_law_messages(edit, message):
    with pytest.raises(LawSpecError, match=re.escape(message)):
        bl.parse_law(GOOD.replace(*edit))


def test_unused_and_reserved_names():
    text = GOOD.replace('[params.E]', '[params.k]\nprior = { dist = "Normal", loc = 0, scale = 1 }\n[params.E]')
    with pytest.raises(LawSpecError, match=re.escape("parameter 'k' of law 'toy' is declared but not used in the formula")):
        bl.parse_law(text)
    text = GOOD.replace("[params.E]", '[params.sigma]\nprior = { dist = "Normal", loc = 0, scale = 1 }\n[params.E]')
    with pytest.raises(LawSpecError, match=re.escape("'sigma' in law 'toy' is reserved (likelihood or function name); rename it")):
        bl.parse_law(text)


def test_formula_error_shows_caret():
    text = GOOD.replace('formula = "E + exp(a - alpha * log(N))"', 'formula = "E + exp(a - alpah * log(N))"')
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(text)
    lines = str(info.value).splitlines()
    assert lines[0] == "unknown name 'alpah' in formula of law 'toy' (law file <string>)"
    assert lines[2] == "  " + " " * len("E + exp(a - ") + "^^^^^"


def test_invalid_toml_and_missing_keys():
    with pytest.raises(LawSpecError, match="law file <string> is not valid TOML"):
        bl.parse_law("name = ")
    with pytest.raises(LawSpecError, match=re.escape("law file <string> has no 'formula'")):
        bl.parse_law('name = "x"\n[inputs]\nN = {}\n[params.a]\nprior = { dist = "Normal", loc = 0, scale = 1 }')


def test_load_law_by_name_path_and_errors(tmp_path):
    assert bl.load_law("chinchilla").input_names == ("N", "D")
    path = tmp_path / "toy.toml"
    path.write_text(GOOD)
    assert bl.load_law(path).name == "toy"
    assert bl.load_law(str(path)).name == "toy"
    with pytest.raises(LawSpecError, match=re.escape("unknown law 'chinchila'; catalogue: ")):
        bl.load_law("chinchila")
    with pytest.raises(LawSpecError, match=re.escape(f"law file '{tmp_path / 'nope.toml'}' does not exist")):
        bl.load_law(tmp_path / "nope.toml")
    with pytest.raises(LawSpecError, match=re.escape("unknown law 'name = \"toy\"...'; catalogue: ") + ".*"
                       + re.escape("(or give a path to a .toml file); to give a law's TOML text, use bayeslaw.parse_law")):
        bl.load_law(GOOD)


def test_catalogue_has_the_core_laws():
    assert {"chinchilla", "kaplan", "data_only", "compute"} <= set(bl.list_laws())


def test_shifted_gamma_prior_keeps_student_t_df_above_one():
    prior = parse_prior({"dist": "Gamma", "concentration": 2.0, "rate": 0.1, "shift": 1.0}, "df")
    assert prior.describe() == "Gamma(concentration=2, rate=0.1, shift=1)"
    assert prior.support.lower_bound == 1.0
    built = prior.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpyro: out-of-support value
        assert float(built.log_prob(0.5)) == float("-inf")
    # 1 + Gamma(2, 0.1): the density at 1 + x is Gamma's at x
    assert abs(float(built.log_prob(3.5)) - float(dist.Gamma(2.0, 0.1).log_prob(2.5))) < 1e-6
    with pytest.raises(bl.LawSpecError, match=re.escape("unknown argument 'shift' for Normal prior in a")):
        parse_prior({"dist": "Normal", "loc": 0, "scale": 1, "shift": 1}, "a")
