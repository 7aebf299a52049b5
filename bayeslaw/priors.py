"""Prior specifications: a whitelist of NumPyro distributions named in law files.

A prior is written in TOML as ``{ dist = "LogNormal", loc = 0.5, scale = 0.6 }``. Only the
distributions and keyword names listed in :data:`DISTRIBUTIONS` are accepted, so a law file can
never name arbitrary Python objects. ``Gamma`` and ``Exponential`` take an optional ``shift``:
``{ dist = "Gamma", concentration = 2, rate = 0.1, shift = 1 }`` is 1 + Gamma(2, 0.1), with
support above 1 (the Student-t ``df`` prior of the catalogue laws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform

from .errors import LawSpecError

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

    def describe(self) -> str:
        """Short human-readable text, e.g. ``LogNormal(loc=0.5, scale=0.6)``."""
        inner = ", ".join(f"{k}={v:g}" for k, v in self.args)
        return f"{self.dist}({inner})"


def parse_prior(spec: Any, where: str) -> Prior:
    """Validate a prior table from a law file.

    Parameters
    ----------
    spec : dict
        The TOML table, e.g. ``{"dist": "Normal", "loc": 0, "scale": 1}``.
    where : str
        Location used in error messages, e.g. ``"law 'chinchilla', parameter 'alpha'"``.
    """
    if not isinstance(spec, dict):
        raise LawSpecError(f"prior of {where} must be a table like {{ dist = \"Normal\", loc = 0, scale = 1 }}")
    name = spec.get("dist")
    if name not in DISTRIBUTIONS:
        valid = ", ".join(sorted(DISTRIBUTIONS))
        raise LawSpecError(f"unknown prior distribution {name!r} in {where}; valid: {valid}")
    _, required, optional = DISTRIBUTIONS[name]
    given = {k: v for k, v in spec.items() if k != "dist"}
    unknown = sorted(set(given) - set(required) - set(optional))
    if unknown:
        valid = ", ".join(required + tuple(optional))
        raise LawSpecError(f"unknown argument {unknown[0]!r} for {name} prior in {where}; valid: {valid}")
    missing = [k for k in required if k not in given]
    if missing:
        raise LawSpecError(f"{name} prior in {where} needs {', '.join(missing)}")
    args = []
    for key in required + tuple(k for k in optional if k in given):
        value = given.get(key, optional.get(key))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LawSpecError(f"argument {key!r} of {name} prior in {where} must be a number, got {value!r}")
        args.append((key, float(value)))
    for key, value in args:
        if key in ("scale", "rate", "concentration", "concentration0", "concentration1", "df") and value <= 0:
            raise LawSpecError(f"argument {key!r} of {name} prior in {where} must be positive, got {value:g}")
    prior = Prior(name, tuple(args))
    try:
        prior.build()
    except (ValueError, TypeError) as exc:  # numpyro validates e.g. scale > 0
        raise LawSpecError(f"invalid {prior.describe()} prior in {where}: {exc}") from None
    return prior
