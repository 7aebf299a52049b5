"""Prior specifications: a whitelist of NumPyro distributions named in law files.

A prior is written in TOML as ``{ dist = "LogNormal", loc = 0.5, scale = 0.6 }``. Only the
distributions and keyword names listed in :data:`DISTRIBUTIONS` are accepted, so a law file can
never name arbitrary Python objects. ``Gamma`` and ``Exponential`` take an optional ``shift``:
``{ dist = "Gamma", concentration = 2, rate = 0.1, shift = 1 }`` is 1 + Gamma(2, 0.1), with
support above 1 (the Student-t ``df`` prior of the catalogue laws).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform

from bayeslaw.core.errors import LawSpecError
from bayeslaw.core.numbers import is_real
from bayeslaw.core.runtime import float32_problem
from bayeslaw.laws.fields import Fields, as_float, shown

#: name -> (NumPyro class, required keywords, optional keywords with defaults)
DISTRIBUTIONS: dict[str, tuple[type, tuple[str, ...], dict[str, float]]] = {
    "Normal": (dist.Normal, ("loc", "scale"), {}),
    "LogNormal": (dist.LogNormal, ("loc", "scale"), {}),
    "HalfNormal": (dist.HalfNormal, ("scale",), {}),
    "HalfCauchy": (dist.HalfCauchy, ("scale",), {}),
    "TruncatedNormal": (dist.TruncatedNormal, ("loc", "scale"), {"low": -math.inf, "high": math.inf}),
    "Uniform": (dist.Uniform, ("low", "high"), {}),
    "Gamma": (dist.Gamma, ("concentration", "rate"), {"shift": 0.0}),
    "Exponential": (dist.Exponential, ("rate",), {"shift": 0.0}),
    "StudentT": (dist.StudentT, ("df", "loc", "scale"), {}),
    "Beta": (dist.Beta, ("concentration1", "concentration0"), {}),
}


@dataclass(frozen=True)
class Prior:
    """A validated prior: distribution name and numeric keyword arguments."""

    dist: str
    args: tuple[tuple[str, float], ...]

    def build(self) -> dist.Distribution:
        """Return the NumPyro distribution object."""
        cls = DISTRIBUTIONS[self.dist][0]
        kwargs = {k: v for k, v in self.args if math.isfinite(v)}
        shift = kwargs.pop("shift", 0.0)
        if self.dist == "TruncatedNormal":
            kwargs.setdefault("low", None)
            kwargs.setdefault("high", None)
        base = cls(**kwargs)
        return dist.TransformedDistribution(base, AffineTransform(shift, 1.0, domain=base.support)) if shift else base

    @property
    def support(self) -> constraints.Constraint:
        """The support of the distribution (decides the pooling space)."""
        return self.build().support

    @property
    def lowest(self) -> float:
        """The lower end of the support: -inf for Normal and StudentT, ``low`` for Uniform and
        TruncatedNormal, ``shift`` (default 0) for the distributions on positive values."""
        args = dict(self.args)
        if self.dist in ("Normal", "StudentT"):
            return -math.inf
        if self.dist in ("Uniform", "TruncatedNormal"):
            return args.get("low", -math.inf)
        return args.get("shift", 0.0)

    def describe(self) -> str:
        """Short human-readable text, e.g. ``LogNormal(loc=0.5, scale=0.6)``."""
        inner = ", ".join(f"{k}={v:g}" for k, v in self.args)
        return f"{self.dist}({inner})"


def parse_prior(spec: Any, where: str, *, fields: Fields | None = None, path: str = "prior") -> Prior:
    """Validate a prior table from a law file: a whitelisted distribution with finite arguments
    that make it proper (scales, rates and concentrations above zero, ``low < high``).

    Parameters
    ----------
    spec : dict
        The TOML table, e.g. ``{"dist": "Normal", "loc": 0, "scale": 1}``.
    where : str
        Location used in error messages, e.g. ``"law 'chinchilla', parameter 'alpha'"``.
    fields : Fields, optional
        The law file's reader: messages then end with the key path and the file's name.
    path : str
        Key path of the table in the law file, e.g. ``"params.alpha.prior"``.

    Raises
    ------
    LawSpecError
        Naming the distribution, the argument and (with ``fields``) the file and key path.
    """

    def fail(key: str, sentence: str) -> LawSpecError:
        at = f"{path}.{key}" if key else path
        return fields.error(at, sentence) if fields is not None else LawSpecError(sentence)

    if not isinstance(spec, dict):
        raise fail("", f"prior of {where} must be a table like {{ dist = \"Normal\", loc = 0, scale = 1 }}, "
                       f"got {shown(spec)}")
    name = spec.get("dist")
    valid = ", ".join(sorted(DISTRIBUTIONS))
    if name is None:
        raise fail("dist", f"prior of {where} names no distribution (dist = ...); valid: {valid}")
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise fail("dist", f"unknown prior distribution {shown(name)} in {where}; valid: {valid}")
    _, required, optional = DISTRIBUTIONS[name]
    given = {k: v for k, v in spec.items() if k != "dist"}
    unknown = sorted(set(given) - set(required) - set(optional))
    if unknown:
        valid = ", ".join(required + tuple(optional))
        raise fail(unknown[0], f"unknown argument {unknown[0]!r} for {name} prior in {where}; valid: {valid}")
    missing = [k for k in required if k not in given]
    if missing:
        raise fail("", f"{name} prior in {where} needs {', '.join(missing)}")
    args = []
    for key in required + tuple(k for k in optional if k in given):
        value = given[key]
        if not is_real(value):
            raise fail(key, f"argument {key!r} of {name} prior in {where} must be a number, got {shown(value)}")
        number = as_float(value)
        open_end = (key, number) in (("low", -math.inf), ("high", math.inf)) and name == "TruncatedNormal"
        if not math.isfinite(number) and not open_end:
            raise fail(key, f"argument {key!r} of {name} prior in {where} must be a finite number, got {shown(value)}")
        if math.isfinite(number) and (why := float32_problem(number)) is not None:
            raise fail(key, f"argument {key!r} of {name} prior in {where}, {shown(value)}, {why}")
        if key in _POSITIVE and number <= 0:
            raise fail(key, f"argument {key!r} of {name} prior in {where} must be positive, got {number:g}")
        args.append((key, number))
    values = dict(args)
    if name in ("Uniform", "TruncatedNormal"):
        low, high = values.get("low", -math.inf), values.get("high", math.inf)
        if not low < high:
            raise fail("high", f"{name} prior in {where} needs low < high, got low={low:g}, high={high:g}")
        if name == "TruncatedNormal" and _normal_mass(values["loc"], values["scale"], low, high) <= 0:
            raise fail("", f"{name} prior in {where} has no probability between low={low:g} and high={high:g} "
                           f"(loc={values['loc']:g}, scale={values['scale']:g})")
    prior = Prior(name, tuple(args))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a huge argument cast to float32
            prior.build()
    except (ValueError, TypeError, ArithmeticError) as exc:  # numpyro's own argument checks
        raise fail("", f"invalid {prior.describe()} prior in {where}: {exc}") from None
    return prior


#: prior arguments that must be above zero for the distribution to be proper
_POSITIVE = ("scale", "rate", "concentration", "concentration0", "concentration1", "df")


def normal_cdf(z: float) -> float:
    """The standard normal CDF from ``erfc``: accurate far in the lower tail, where
    ``1 + erf(z)`` cancels to zero."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _normal_mass(loc: float, scale: float, low: float, high: float) -> float:
    """Probability of Normal(loc, scale) between low and high, from the nearer tail (so two far
    bounds on the same side still give their tiny but non-zero mass when it is representable)."""
    a, b = (low - loc) / scale, (high - loc) / scale
    if a > 0:  # both bounds above the mean: the upper tail
        return normal_cdf(-a) - normal_cdf(-b)
    return normal_cdf(b) - normal_cdf(a)
