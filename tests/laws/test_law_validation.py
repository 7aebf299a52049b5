"""Law-file validation: each class of bad input and its exact message.

Every message ends with the key path and the law file, ``(params.a.prior.scale in law file
<string>)``; the classes are wrong types, non-finite numbers, values outside the allowed names,
priors that are not proper distributions, unknown keys, unreadable files and formulas that are not
finite at prior draws.
"""

from __future__ import annotations

import tomllib

import pytest

import bayeslaw as bl
from bayeslaw.core.errors import LawSpecError

GOOD = """
name = "toy"
description = "a toy law"
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
[likelihood]
dist = "StudentT"
df = { prior = { dist = "Gamma", concentration = 2.0, rate = 0.1 } }
[derived]
A = "exp(a)"
"""

NORMAL_A = "Normal prior in law 'toy', parameter 'a'"


def at(path: str) -> str:
    return f"({path} in law file <string>)"


def edited(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def refuses(text: str, message: str) -> None:
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(text)
    assert str(info.value) == message


def test_the_base_law_is_valid():
    law = bl.parse_law(GOOD)
    assert law.params["a"].pooling == "partial" and law.inputs[0].positive


TYPES = [
    ('description = "a toy law"', 'description = ["a"]',
     f"description of law 'toy' must be a string, got an array {at('description')}"),
    ('name = "toy"', "name = 7", f"law name must be a string, got 7 {at('name')}"),
    ('name = "toy"', 'name = "to y"', f"law name 'to y' must be letters, digits, '_' or '-' {at('name')}"),
    ('formula = "E + exp(a - alpha * log(N))"', "formula = 3",
     f"formula of law 'toy' must be a string, got 3 {at('formula')}"),
    ('N = { unit = "parameters" }', 'N = "parameters"',
     "input 'N' of law 'toy' must be a table like { unit = \"parameters\" }, got 'parameters' "
     f"{at('inputs.N')}"),
    ('N = { unit = "parameters" }', "N = { unit = { a = 1 } }",
     f"unit of input 'N' of law 'toy' must be a string, got a table {at('inputs.N.unit')}"),
    ('N = { unit = "parameters" }', 'N = { unit = "parameters", positive = "no" }',
     f"positive of input 'N' of law 'toy' must be true or false, got 'no' {at('inputs.N.positive')}"),
    ('N = { unit = "parameters" }', 'N = { unit = "parameters", positive = 0 }',
     f"positive of input 'N' of law 'toy' must be true or false, got 0 {at('inputs.N.positive')}"),
    ('pooling = "partial"', 'pooling = ["partial"]',
     f"pooling of parameter 'a' in law 'toy' must be a string, got an array {at('params.a.pooling')}"),
    ("loc = 0, scale = 1", 'loc = 0, scale = "1"',
     f"argument 'scale' of {NORMAL_A} must be a number, got '1' {at('params.a.prior.scale')}"),
    ("loc = 0, scale = 1", "loc = 0, scale = true",
     f"argument 'scale' of {NORMAL_A} must be a number, got true {at('params.a.prior.scale')}"),
    ('input = "N"', 'input = ["N"]',
     f"center input of parameter 'a' in law 'toy' must be a string, got an array {at('params.a.center.input')}"),
    ('slope = "alpha"', 'slope = "alpha", sign = true',
     f"center sign of parameter 'a' in law 'toy' must be a number, got true {at('params.a.center.sign')}"),
    ('A = "exp(a)"', "A = 1", f"derived quantity 'A' of law 'toy' must be a string, got 1 {at('derived.A')}"),
    ('[params.a]\nprior = { dist = "Normal", loc = 0, scale = 1 }\ncenter = { input = "N", slope = "alpha" }\n'
     'pooling = "partial"\n', '[params]\na = "Normal"\n',
     f"parameter 'a' of law 'toy' must be a table with a prior, got 'Normal' {at('params.a')}"),
    ('dist = "StudentT"', 'dist = ["StudentT"]',
     f"likelihood of law 'toy' must be a string, got an array {at('likelihood.dist')}"),
    ('df = { prior = { dist = "Gamma", concentration = 2.0, rate = 0.1 } }', 'df = "4"',
     f"likelihood df of law 'toy' must be a number, got '4' {at('likelihood.df')}"),
]

FINITE = [
    ("loc = 0, scale = 1", "loc = 0, scale = nan",
     f"argument 'scale' of {NORMAL_A} must be a finite number, got nan {at('params.a.prior.scale')}"),
    ("loc = 0, scale = 1", "loc = 0, scale = inf",
     f"argument 'scale' of {NORMAL_A} must be a finite number, got inf {at('params.a.prior.scale')}"),
    ("loc = 0, scale = 1", "loc = inf, scale = 1",
     f"argument 'loc' of {NORMAL_A} must be a finite number, got inf {at('params.a.prior.loc')}"),
    ("loc = 0, scale = 1", "loc = -nan, scale = 1",
     f"argument 'loc' of {NORMAL_A} must be a finite number, got nan {at('params.a.prior.loc')}"),
    ('pooling = "partial"', 'pooling = "partial"\npool_scale = nan',
     f"pool_scale of parameter 'a' in law 'toy' must be a finite number, got nan {at('params.a.pool_scale')}"),
    ('df = { prior = { dist = "Gamma", concentration = 2.0, rate = 0.1 } }', "df = inf",
     f"likelihood df of law 'toy' must be a finite number, got inf {at('likelihood.df')}"),
    ('df = { prior = { dist = "Gamma", concentration = 2.0, rate = 0.1 } }', "df = nan",
     f"likelihood df of law 'toy' must be a finite number, got nan {at('likelihood.df')}"),
    ("loc = 0, scale = 1", "loc = 0, scale = 1e999",  # TOML reads an overflowing float as inf
     f"argument 'scale' of {NORMAL_A} must be a finite number, got inf {at('params.a.prior.scale')}"),
]

ALLOWED = [
    ('pooling = "partial"', 'pooling = "some"',
     f"pooling 'some' of parameter 'a' in law 'toy' is not one of: shared, partial, none, correlated "
     f"{at('params.a.pooling')}"),
    ('dist = "Normal", loc = 0', 'dist = "Cauchyish", loc = 0',
     "unknown prior distribution 'Cauchyish' in law 'toy', parameter 'a'; valid: Beta, Exponential, Gamma, "
     f"HalfCauchy, HalfNormal, LogNormal, Normal, StudentT, TruncatedNormal, Uniform {at('params.a.prior.dist')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', "{ loc = 0, scale = 1 }",
     "prior of law 'toy', parameter 'a' names no distribution (dist = ...); valid: Beta, Exponential, Gamma, "
     f"HalfCauchy, HalfNormal, LogNormal, Normal, StudentT, TruncatedNormal, Uniform {at('params.a.prior.dist')}"),
    ('dist = "StudentT"', 'dist = "Poisson"',
     f"likelihood 'Poisson' of law 'toy' is not one of: StudentT, Normal, Beta, Binomial {at('likelihood.dist')}"),
    ('dist = "StudentT"', 'dist = "StudentT"\nspace = "log2"',
     f"likelihood space 'log2' of law 'toy' is not one of: log, linear {at('likelihood.space')}"),
    ('dist = "StudentT"\ndf = { prior = { dist = "Gamma", concentration = 2.0, rate = 0.1 } }',
     'dist = "Beta"\nspace = "log"',
     f"likelihood space 'log' of law 'toy' is not one of: linear {at('likelihood.space')}"),
    ('slope = "alpha"', 'slope = "alpha", sign = 2',
     f"center sign of parameter 'a' in law 'toy' must be 1 or -1, got 2 {at('params.a.center.sign')}"),
    ('input = "N"', 'input = "D"',
     f"center of parameter 'a' in law 'toy' names 'D', not a positive input {at('params.a.center.input')}"),
    ('slope = "alpha"', 'slope = "beta"',
     f"center slope 'beta' of parameter 'a' in law 'toy' is not another parameter {at('params.a.center.slope')}"),
    ('[params.E]', '[params.sigma]\nprior = { dist = "Normal", loc = 0, scale = 1 }\n[params.E]',
     f"'sigma' in law 'toy' is reserved (a likelihood parameter's name); rename it {at('params.sigma')}"),
    ('N = { unit = "parameters" }', 'N = { unit = "parameters" }\nE = {}',
     f"'E' in law 'toy' is declared both as an input and a parameter {at('params.E')}"),
    ('A = "exp(a)"', 'N = "exp(a)"', f"derived quantity 'N' of law 'toy' needs a new valid name {at('derived.N')}"),
]

PROPER = [
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "Uniform", low = 2, high = 0.1 }',
     f"Uniform prior in law 'toy', parameter 'a' needs low < high, got low=2, high=0.1 {at('params.a.prior.high')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "Gamma", concentration = 2, rate = 0 }',
     f"argument 'rate' of Gamma prior in law 'toy', parameter 'a' must be positive, got 0 {at('params.a.prior.rate')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "Gamma", concentration = -1, rate = 1 }',
     "argument 'concentration' of Gamma prior in law 'toy', parameter 'a' must be positive, got -1 "
     f"{at('params.a.prior.concentration')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "Normal", loc = 0, scale = -1 }',
     f"argument 'scale' of {NORMAL_A} must be positive, got -1 {at('params.a.prior.scale')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "Beta", concentration1 = 0, concentration0 = 1 }',
     "argument 'concentration1' of Beta prior in law 'toy', parameter 'a' must be positive, got 0 "
     f"{at('params.a.prior.concentration1')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "TruncatedNormal", loc = 0, scale = 1, low = 1, high = 1 }',
     "TruncatedNormal prior in law 'toy', parameter 'a' needs low < high, got low=1, high=1 "
     f"{at('params.a.prior.high')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "TruncatedNormal", loc = 0, scale = 1, high = -inf }',
     "argument 'high' of TruncatedNormal prior in law 'toy', parameter 'a' must be a finite number, got -inf "
     f"{at('params.a.prior.high')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "TruncatedNormal", loc = 0, scale = 1, low = 50 }',
     "TruncatedNormal prior in law 'toy', parameter 'a' has no probability between low=50 and high=inf "
     f"(loc=0, scale=1) {at('params.a.prior')}"),
    ('{ dist = "Normal", loc = 0, scale = 1 }', '{ dist = "Normal", loc = 0 }',
     f"Normal prior in law 'toy', parameter 'a' needs scale {at('params.a.prior')}"),
    # the likelihood's scales: a prior reaching below 0 left the sampler without a finite start,
    # and the error blamed the runs table
    ("rate = 0.1 }", "rate = 0.1, shift = -100 }",
     ("prior Gamma(concentration=2, rate=0.1, shift=-100) of likelihood df of law 'toy' reaches below 0 (down to "
      "-100); df must be positive: give a prior on positive values (HalfNormal, LogNormal, Gamma or Exponential "
      f"with shift >= 0) {at('likelihood.df.prior')}")),
    ('dist = "StudentT"\n', 'dist = "StudentT"\nsigma = { prior = { dist = "Normal", loc = 0, scale = 0.05 } }\n',
     ("prior Normal(loc=0, scale=0.05) of likelihood sigma of law 'toy' reaches below 0 (down to -inf); sigma "
      "must be positive: give a prior on positive values (HalfNormal, LogNormal, Gamma or Exponential with shift "
      f">= 0) {at('likelihood.sigma.prior')}")),
    ('dist = "StudentT"\n', 'dist = "StudentT"\nsigma = { prior = { dist = "Uniform", low = -1, high = 1 } }\n',
     ("prior Uniform(low=-1, high=1) of likelihood sigma of law 'toy' reaches below 0 (down to -1); sigma must "
      "be positive: give a prior on positive values (HalfNormal, LogNormal, Gamma or Exponential with shift >= 0) "
      f"{at('likelihood.sigma.prior')}")),
]

UNKNOWN_KEYS = [
    ('name = "toy"', 'name = "toy"\ncolour = 1',
     "unknown key 'colour' in the law file; valid: derived, description, formula, inputs, likelihood, name, params, "
     f"reference {at('colour')}"),
    ('pooling = "partial"', 'pooling = "partial"\nprir = 1',
     "unknown key 'prir' in parameter 'a' of law 'toy'; valid: center, description, pool_scale, pooling, prior "
     f"{at('params.a.prir')}"),
    ('N = { unit = "parameters" }', 'N = { units = "parameters" }',
     f"unknown key 'units' in input 'N' of law 'toy'; valid: description, positive, unit {at('inputs.N.units')}"),
    ("loc = 0, scale = 1", "loc = 0, sd = 1",
     f"unknown argument 'sd' for {NORMAL_A}; valid: loc, scale {at('params.a.prior.sd')}"),
    ('dist = "StudentT"', 'dist = "StudentT"\nnoise = 1',
     "unknown key 'noise' in [likelihood] of law 'toy'; valid: concentration, df, dist, sigma, sigma_trend, space, "
     f"trials {at('likelihood.noise')}"),
    ('slope = "alpha"', 'slope = "alpha", ref = 1',
     f"unknown key 'ref' in center of parameter 'a' in law 'toy'; valid: input, sign, slope {at('params.a.center.ref')}"),
    ('dist = "StudentT"', 'dist = "StudentT"\nconcentration = 1',
     f"likelihood key 'concentration' of law 'toy' does not apply to StudentT {at('likelihood.concentration')}"),
]

FORMULAS = [
    ('formula = "E + exp(a - alpha * log(N))"', 'formula = "E / 0 + exp(a - alpha * log(N))"',
     "formula of law 'toy' is not a finite positive number (space = \"log\" takes its log) at 100% of 200 prior "
     "draws over the design inputs N = 1e+06..1e+12, e.g. inf at E=1.76, a=4.12, alpha=0.216, N=1e+06 "
     f"{at('formula')}"),
    ('formula = "E + exp(a - alpha * log(N))"', 'formula = "log(E - 2) + exp(a - alpha * log(N))"',
     "formula of law 'toy' is not a finite positive number (space = \"log\" takes its log) at 85% of 200 prior "
     "draws over the design inputs N = 1e+06..1e+12, e.g. nan at E=1.76, a=4.12, alpha=0.216, N=1e+06 "
     f"{at('formula')}"),
    ('formula = "E + exp(a - alpha * log(N))"', 'formula = "E - 3 + exp(a - alpha * log(N))"',
     "formula of law 'toy' is not a finite positive number (space = \"log\" takes its log) at 84% of 200 prior "
     "draws over the design inputs N = 1e+06..1e+12, e.g. -0.0972 at E=1.76, a=4.12, alpha=0.216, N=1e+08 "
     f"{at('formula')}"),
    ('A = "exp(a)"', 'A = "exp(a) / (alpha - alpha)"',
     "derived quantity 'A' of law 'toy' is not finite at 100% of 200 prior draws, e.g. inf at a=4.12, "
     f"alpha=0.216 {at('derived.A')}"),
    ("[params.E]\nprior = { dist = \"LogNormal\", loc = 0.5, scale = 0.5 }",
     "[params.E]\nprior = { dist = \"LogNormal\", loc = 800, scale = 0.5 }",
     "prior LogNormal(loc=800, scale=0.5) of parameter 'E' in law 'toy' gives non-finite draws (100% of 200) "
     f"{at('params.E.prior')}"),
]


@pytest.mark.parametrize(("old", "new", "message"), TYPES, ids=[m.split(" (")[-1] for _, _, m in TYPES])
def test_wrong_types_are_refused(old, new, message):
    refuses(edited(old, new), message)


@pytest.mark.parametrize(("old", "new", "message"), FINITE)
def test_non_finite_numbers_are_refused(old, new, message):
    refuses(edited(old, new), message)


@pytest.mark.parametrize(("old", "new", "message"), ALLOWED)
def test_values_outside_the_allowed_names_are_refused(old, new, message):
    refuses(edited(old, new), message)


@pytest.mark.parametrize(("old", "new", "message"), PROPER)
def test_improper_priors_are_refused(old, new, message):
    refuses(edited(old, new), message)


@pytest.mark.parametrize(("old", "new", "message"), UNKNOWN_KEYS)
def test_unknown_keys_are_refused_with_the_valid_ones(old, new, message):
    refuses(edited(old, new), message)


@pytest.mark.parametrize(("old", "new", "message"), FORMULAS)
def test_formulas_not_finite_at_prior_draws_are_refused(old, new, message):
    refuses(edited(old, new), message)


def test_open_truncation_bounds_and_a_rare_overflow_are_accepted():
    law = bl.parse_law(edited('{ dist = "Normal", loc = 0, scale = 1 }',
                              '{ dist = "TruncatedNormal", loc = 0, scale = 1, low = -inf, high = 3 }'))
    assert law.params["a"].prior.args == (("loc", 0.0), ("scale", 1.0), ("low", float("-inf")), ("high", 3.0))
    # log(E - 0.5) is nan only where E < 0.5, ~1% of the LogNormal(0.5, 0.5) prior: a fit can live with it
    bl.parse_law(edited('formula = "E + exp(a - alpha * log(N))"', 'formula = "log(E + 0.5) + exp(a - alpha * log(N))"'))


def test_a_linear_space_law_may_be_negative():
    text = edited('formula = "E + exp(a - alpha * log(N))"', 'formula = "E - 3 + exp(a - alpha * log(N))"')
    law = bl.parse_law(text.replace('dist = "StudentT"', 'dist = "StudentT"\nspace = "linear"'))
    assert law.likelihood.space == "linear"


def test_derived_must_be_a_table():
    text = edited('name = "toy"', 'name = "toy"\nderived = 1').replace('[derived]\nA = "exp(a)"\n', "")
    refuses(text, f"[derived] of law 'toy' must be a table like {{ A = \"exp(a)\" }}, got 1 {at('derived')}")


def test_invalid_toml_is_one_error_with_the_file_name():
    bad = 'name = "toy"\nformula = \n'
    with pytest.raises(tomllib.TOMLDecodeError) as toml_error:
        tomllib.loads(bad)
    refuses(bad, f"law file <string> is not valid TOML: {toml_error.value}")
    deep = "x = " + "[" * 100_000
    with pytest.raises(LawSpecError, match=r"^law file <string> is not valid TOML: "):
        bl.parse_law(deep)


def test_files_that_are_not_text_are_one_error_with_the_file_name(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(LawSpecError) as info:
        bl.load_law(binary)
    assert str(info.value) == f"law file {str(binary)!r} is not UTF-8 text (byte 0 is 0x89); a law file is TOML"
    nul = tmp_path / "nul.toml"
    nul.write_bytes(b'name = "toy"\x00\n')
    with pytest.raises(LawSpecError, match=rf"^law file {str(nul)!r} is not valid TOML: "):
        bl.load_law(nul)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(LawSpecError) as info:
        bl.load_law(folder)
    assert str(info.value) == f"law file {str(folder)!r} is a folder; give a .toml file in it"
    with pytest.raises(LawSpecError) as info:
        bl.parse_law(b'name = "toy"')
    assert str(info.value) == "law file <string> must be text (str), got bytes"
    with pytest.raises(LawSpecError) as info:
        bl.load_law(5)
    assert str(info.value) == "a law is a catalogue name, a path to a .toml file or a Law, got int"
    with pytest.raises(LawSpecError) as info:
        bl.load_law("chin\0chilla")
    assert str(info.value) == "law name or path 'chin\\x00chilla' contains a null character"


def test_a_file_source_is_named_in_messages(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(edited("loc = 0, scale = 1", "loc = 0, scale = nan"))
    with pytest.raises(LawSpecError) as info:
        bl.load_law(path)
    assert str(info.value) == (f"argument 'scale' of {NORMAL_A} must be a finite number, got nan "
                               f"(params.a.prior.scale in law file {str(path)!r})")


def test_windows_line_ends_load_as_before(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_bytes(GOOD.replace("\n", "\r\n").encode())
    assert bl.load_law(path).source == GOOD
