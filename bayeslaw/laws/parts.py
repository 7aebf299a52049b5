"""Parsing the tables of a law file: inputs, parameters and the likelihood.

Each reader takes the raw TOML value and its key path and returns a validated dataclass of
:mod:`bayeslaw.laws.types`, or raises :class:`~bayeslaw.core.errors.LawSpecError` through
:class:`~bayeslaw.laws.fields.Fields`, so every message names the law file and the key path.
"""

from __future__ import annotations

from typing import Any

from bayeslaw.laws.fields import Fields, shown
from bayeslaw.laws.priors import parse_prior
from bayeslaw.laws.types import (
    DEFAULT_POOL_SCALE,
    LIKELIHOODS,
    POOLINGS,
    SPACES,
    Center,
    InputSpec,
    Likelihood,
    ParamSpec,
)

PARAM_KEYS = ("prior", "pooling", "pool_scale", "center", "description")
INPUT_KEYS = ("unit", "positive", "description")
CENTER_EXAMPLE = '{ input = "N", slope = "alpha" }'

#: default prior of ``sigma_trend``: |t| < 0.82 with 90% probability, the noise changing by at most
#: ~x7 per decade of the input
TREND_PRIOR = {"dist": "Normal", "loc": 0.0, "scale": 0.5}

#: the likelihood's default priors (the catalogue's choices)
DEFAULT_SIGMA = {"prior": {"dist": "HalfNormal", "scale": 0.05}}
DEFAULT_DF = {"prior": {"dist": "Gamma", "concentration": 2.0, "rate": 0.1}}
DEFAULT_CONCENTRATION = {"prior": {"dist": "Gamma", "concentration": 2.0, "rate": 0.02}}


def parse_inputs(raw: Any, where: str, fields: Fields) -> dict[str, InputSpec]:
    """``[inputs]``: a table of input tables, e.g. ``N = { unit = "parameters" }``."""
    if not isinstance(raw, dict) or not raw:
        raise fields.error("inputs", f"[inputs] of {where} must declare at least one input, got {shown(raw)}")
    inputs = {}
    for key, spec in raw.items():
        path = f"inputs.{key}"
        noun = f"input {key!r} of {where}"
        fields.table(spec, path, noun, '{ unit = "parameters" }')
        fields.keys(spec, path, noun, INPUT_KEYS)
        unit = fields.string(spec.get("unit", ""), f"{path}.unit", f"unit of {noun}")
        positive = fields.boolean(spec.get("positive", True), f"{path}.positive", f"positive of {noun}")
        fields.string(spec.get("description", ""), f"{path}.description", f"description of {noun}")
        inputs[key] = InputSpec(key, unit, positive)
    return inputs


def parse_param(name: str, spec: Any, path: str, where: str, inputs: dict[str, InputSpec],
                fields: Fields) -> ParamSpec:
    """A parameter table: prior, pooling, pool_scale, optional centring and description."""
    noun = f"parameter {name!r} of {where}"
    if not isinstance(spec, dict):
        raise fields.error(path, f"{noun} must be a table with a prior, got {shown(spec)}")
    fields.keys(spec, path, noun, PARAM_KEYS)
    if "prior" not in spec:
        raise fields.error(f"{path}.prior", f"{noun} has no prior")
    prior = parse_prior(spec["prior"], f"{where}, parameter {name!r}", fields=fields, path=f"{path}.prior")
    owner = f" of parameter {name!r} in {where}"
    pooling = fields.name(spec.get("pooling", "shared"), f"{path}.pooling", "pooling", POOLINGS, owner)
    pool_scale = fields.number(spec.get("pool_scale", DEFAULT_POOL_SCALE), f"{path}.pool_scale",
                               f"pool_scale{owner}", positive=True)
    center = None
    if "center" in spec:
        center = _parse_center(spec["center"], f"{path}.center", owner, inputs, fields)
    description = fields.string(spec.get("description", ""), f"{path}.description", f"description{owner}")
    return ParamSpec(name, prior, pooling, pool_scale, center, description)


def _parse_center(c: Any, path: str, owner: str, inputs: dict[str, InputSpec], fields: Fields) -> Center:
    noun = f"center{owner}"
    fields.table(c, path, noun, CENTER_EXAMPLE)
    fields.keys(c, path, noun, ("input", "slope", "sign"))
    if not {"input", "slope"} <= set(c):
        raise fields.error(path, f"{noun} needs input and slope, like {CENTER_EXAMPLE}")
    name = fields.string(c["input"], f"{path}.input", f"center input{owner}")
    if name not in inputs or not inputs[name].positive:
        raise fields.error(f"{path}.input", f"{noun} names {name!r}, not a positive input")
    slope = fields.string(c["slope"], f"{path}.slope", f"center slope{owner}")
    sign = fields.number(c.get("sign", 1), f"{path}.sign", f"center sign{owner}")
    if sign not in (1.0, -1.0):
        raise fields.error(f"{path}.sign", f"center sign{owner} must be 1 or -1, got {shown(c['sign'])}")
    return Center(name, slope, sign)


def trend_input(spec: Any, where: str, inputs: dict[str, InputSpec], fields: Fields) -> str:
    """The input named by ``sigma_trend = { input = "N" }``: a positive input of the law."""
    path = "likelihood.sigma_trend"
    if not isinstance(spec, dict) or "input" not in spec:
        raise fields.error(path, f'sigma_trend of {where} must be a table like {{ input = "N" }}, got {shown(spec)}')
    name = fields.string(spec["input"], f"{path}.input", f"sigma_trend input of {where}")
    if name not in inputs or not inputs[name].positive:
        raise fields.error(f"{path}.input", f"sigma_trend of {where} names {name!r}, not a positive input of the law")
    return name


def _positive(spec: ParamSpec, path: str, where: str, fields: Fields) -> ParamSpec:
    """``spec`` (the likelihood's sigma, df or concentration), refused where its prior reaches
    below 0: the likelihood is undefined there, and a sampler that finds no finite start would
    blame the data."""
    lowest = spec.prior.lowest
    if lowest < 0:
        raise fields.error(f"{path}.prior", f"prior {spec.prior.describe()} of likelihood {spec.name} of {where} "
                           f"reaches below 0 (down to {lowest:g}); {spec.name} must be positive: give a prior on "
                           "positive values (HalfNormal, LogNormal, Gamma or Exponential with shift >= 0)")
    return spec


def parse_likelihood(spec: Any, where: str, inputs: dict[str, InputSpec], fields: Fields) -> Likelihood:
    """``[likelihood]``: the observation model and its own parameters (defaults when absent)."""
    spec = {} if spec is None else spec
    fields.table(spec, "likelihood", f"[likelihood] of {where}")
    valid = ("dist", "space", "sigma", "sigma_trend", "df", "concentration", "trials")
    fields.keys(spec, "likelihood", f"[likelihood] of {where}", valid)
    name = fields.name(spec.get("dist", "StudentT"), "likelihood.dist", "likelihood", LIKELIHOODS, f" of {where}")
    bounded = name in ("Beta", "Binomial")
    allowed = ("linear",) if bounded else SPACES
    space = fields.name(spec.get("space", "linear" if bounded else "log"), "likelihood.space", "likelihood space",
                        allowed, f" of {where}")
    allowed_keys = {"StudentT": {"sigma", "sigma_trend", "df"}, "Normal": {"sigma", "sigma_trend"},
                    "Beta": {"concentration"}, "Binomial": {"trials"}}[name] | {"dist", "space"}
    extra = sorted(set(spec) - allowed_keys)
    if extra:
        raise fields.error(f"likelihood.{extra[0]}", f"likelihood key {extra[0]!r} of {where} does not apply to {name}")
    out: dict[str, Any] = {}
    if name in ("StudentT", "Normal"):
        out["sigma"] = _positive(parse_param("sigma", spec.get("sigma", DEFAULT_SIGMA), "likelihood.sigma", where,
                                             {}, fields), "likelihood.sigma", where, fields)
        if "sigma_trend" in spec:
            raw = spec["sigma_trend"]
            out["trend_input"] = trend_input(raw, where, inputs, fields)
            rest = {k: v for k, v in raw.items() if k != "input"}
            rest.setdefault("prior", TREND_PRIOR)
            out["sigma_trend"] = parse_param("sigma_trend", rest, "likelihood.sigma_trend", where, {}, fields)
    if name == "StudentT":
        raw = spec.get("df", DEFAULT_DF)
        if isinstance(raw, dict):
            out["df"] = _positive(parse_param("df", raw, "likelihood.df", where, {}, fields), "likelihood.df",
                                  where, fields)
        else:
            out["df"] = fields.number(raw, "likelihood.df", f"likelihood df of {where}", positive=True)
    if name == "Beta":
        out["concentration"] = _positive(parse_param("concentration", spec.get("concentration", DEFAULT_CONCENTRATION),
                                                     "likelihood.concentration", where, {}, fields),
                                         "likelihood.concentration", where, fields)
    if name == "Binomial":
        trials = spec.get("trials")
        if not isinstance(trials, str) or trials not in inputs:
            got = f", got {shown(trials)}" if trials is not None else ""
            raise fields.error("likelihood.trials", f'Binomial likelihood of {where} needs trials = "<input>" '
                               f"naming the input with item counts{got}")
        out["trials"] = trials
    return Likelihood(name, space, **out)
