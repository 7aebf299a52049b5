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
    with pytest.raises(LawSpecError, match=re.escape("'sigma' in law 'toy' is reserved (a likelihood parameter's name); rename it")):
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


@pytest.mark.parametrize(("name", "why"), [
    ("obs", "the name of one of the sampler's own quantities"),
    ("run_sd", "the name of one of the sampler's own quantities"),
    ("corr_z", "the name of one of the sampler's own quantities"),
    ("a_ref", "it ends in '_ref', which the sampler appends to a parameter's own quantities"),
    ("E_sd", "it ends in '_sd', which the sampler appends to a parameter's own quantities"),
    ("E_family", "it ends in '_family', which the sampler appends to a parameter's own quantities"),
    ("E_population", "it ends in '_population', which the sampler appends to a parameter's own quantities"),
])
def test_a_parameter_may_not_take_a_name_the_sampler_owns(name, why):
    """'obs', 'a_ref' (a is centred), 'E_sd' and 'E_family' (E partially pooled, in the file or
    by a per-fit override) loaded and then crashed the fit with NumPyro's 'all sites must have
    unique names'; 'E_population' silently overwrote E's population draws in the saved fit."""
    text = GOOD.replace('[params.E]', f'[params.{name}]\nprior = {{ dist = "Normal", loc = 0, scale = 1 }}\n[params.E]')
    text = text.replace('formula = "E + ', f'formula = "{name} + E + ')
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(text)
    assert str(info.value) == f"{name!r} in law 'toy' is reserved ({why}); rename it (params.{name} in law file <string>)"


@pytest.mark.parametrize(("name", "why"), [
    ("sigma", "a likelihood parameter's name"),
    ("exp", "a function's name"),
    ("E_sd", "it ends in '_sd', which the sampler appends to a parameter's own quantities"),
])
def test_a_derived_quantity_may_not_replace_another_quantity(name, why):
    """A derived 'sigma = exp(a)' replaced the noise sigma in the summary and the saved fit."""
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(GOOD + f'[derived]\n{name} = "exp(a)"\n')
    assert str(info.value) == (f"derived quantity {name!r} of law 'toy' is reserved ({why}); rename it "
                               f"(derived.{name} in law file <string>)")
    with pytest.raises(LawSpecError, match=re.escape("derived quantity 'lambda' of law 'toy' needs a new valid name")):
        bl.parse_law(GOOD + '[derived]\nlambda = "exp(a)"\n')


def test_numbers_a_fit_cannot_hold_are_refused_at_load():
    """A 400-digit integer was an OverflowError traceback; a prior scale of 1e-320 loaded and then
    failed 50 s into the fit with 'no starting point ... check the table', blaming the data."""
    huge = GOOD.replace("loc = 0.5, scale = 0.5", "loc = " + "9" * 400 + ", scale = 0.5")
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(huge)
    assert str(info.value) == ("argument 'loc' of LogNormal prior in law 'toy', parameter 'E' must be a finite number, "
                               "got an integer of 400 digits (params.E.prior.loc in law file <string>)")
    tiny = GOOD.replace("loc = 0.5, scale = 0.5", "loc = 0.5, scale = 1e-320")
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(tiny)
    assert "is outside the range of a 32-bit float" in str(info.value) and "params.E.prior.scale" in str(info.value)
    pooled = GOOD.replace('pooling = "partial"', 'pooling = "partial"\npool_scale = ' + "9" * 400)
    with pytest.raises(LawSpecError, match=re.escape("must be a finite number, got ")):
        bl.parse_law(pooled)


def test_integers_beyond_pythons_digit_limit_are_refused():
    """tomllib reads a decimal integer of 4301 digits with a plain ValueError, and str() of a hex
    one that large (in a message) raised the same: both were tracebacks."""
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(GOOD.replace('name = "toy"', 'name = "toy"\nnote = ' + "9" * 4301))
    assert str(info.value) == "law file <string> holds an integer of more than 4300 digits; no law needs one"
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(GOOD.replace("loc = 0.5, scale = 0.5", "loc = 0.5, scale = 0x" + "f" * 3600))
    assert str(info.value) == ("argument 'scale' of LogNormal prior in law 'toy', parameter 'E' must be a finite "
                               "number, got an integer of about 4335 digits (params.E.prior.scale in law file <string>)")


def test_law_names_that_are_no_file_are_one_error(tmp_path, monkeypatch):
    """A 300-character name was 'OSError: File name too long'; a folder ./kaplan hid the
    catalogue's kaplan ('law file 'kaplan' is a folder')."""
    with pytest.raises(LawSpecError, match=re.escape("unknown law 'xxxxxxxx")):
        bl.load_law("x" * 300)
    with pytest.raises(LawSpecError, match=re.escape("does not exist")):
        bl.load_law("x" * 300 + ".toml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kaplan").mkdir()
    assert bl.load_law("kaplan").name == "kaplan"
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(GOOD.replace("[params.E]", "[params.\"ℰ\"]").replace("E + exp", "ℰ + exp"))
    assert str(info.value).startswith("'ℰ' in law 'toy' is not a valid name")
    assert str(info.value).endswith("(params.ℰ in law file <string>)")


def test_an_input_the_law_never_reads_is_refused():
    """It loaded, and every fit then demanded a column of it ('column 'U' is missing')."""
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(GOOD.replace('N = { unit = "parameters" }', 'N = { unit = "parameters" }\nU = { unit = "tokens" }'))
    assert str(info.value) == "input 'U' of law 'toy' is declared but not used in the formula (inputs.U in law file <string>)"
