"""A law's values at prior draws over a design of inputs: checked when the law is loaded.

Law files declare units, not ranges, so the design takes each input's range from the start of
its unit (first match in :data:`RANGES`): ``parameters`` 1e6-1e12, ``tokens`` 2e7-2e13,
``FLOP`` 1.2e14-1.2e26, ``bits`` 4-16, ``items`` 100-10,000, ``tokens per parameter`` 1-1000,
any other unit (epochs, ratios, none) 1-16. The design has :data:`N_DESIGN` runs that scale
together (point i of every input at the same fraction of its log range), as a ladder of runs
does. The catalogue tests (``tests/laws/test_catalogue.py``) use the same design.

:func:`check_values` draws :data:`N_DRAWS` seeded values from each parameter's prior (undoing the
centring at the design's geometric-mean input, as the model does) and evaluates the formula with
NumPy, so loading a law compiles nothing. A formula that is infinite or NaN at some design run
for more than :data:`MAX_BAD_SHARE` of the draws (``E / 0``, ``log(E - 2)``) is refused; so is one
that is not positive where the likelihood takes its log (``space = "log"``), and a derived
quantity that is not finite. The share allows a heavy-tailed prior a rare overflow. ``law`` is
a :class:`~bayeslaw.laws.law.Law` (not imported here, even for annotations: law.py imports this
module, and imports run one way).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from bayeslaw.laws.fields import Fields
from bayeslaw.laws.priors import normal_cdf

if TYPE_CHECKING:
    from bayeslaw.laws.priors import Prior

#: design ranges by the start of an input's unit (first match wins); other units get 1-16
RANGES: list[tuple[str, tuple[float, float]]] = [
    ("parameters", (1e6, 1e12)), ("tokens per parameter", (1.0, 1000.0)), ("tokens", (2e7, 2e13)),
    ("FLOP", (1.2e14, 1.2e26)), ("bits", (4.0, 16.0)), ("items", (100.0, 10000.0))]
OTHER_RANGE = (1.0, 16.0)
N_DESIGN = 7
N_DRAWS = 200
SEED = 0
MAX_BAD_SHARE = 0.1


def input_range(unit: str) -> tuple[float, float]:
    """The design range of an input with this unit."""
    return next((r for prefix, r in RANGES if unit.startswith(prefix)), OTHER_RANGE)


def design(law, n: int = N_DESIGN) -> dict[str, np.ndarray]:
    """``n`` design runs: every input geometrically spaced over its unit's range, together."""
    t = np.linspace(0, 1, n)
    out = {}
    for spec in law.inputs:
        lo, hi = input_range(spec.unit)
        out[spec.name] = np.exp(np.log(lo) + t * (np.log(hi) - np.log(lo)))
    return out


def sample_prior(prior: Prior, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from a law-file prior with NumPy (see :data:`bayeslaw.laws.priors.DISTRIBUTIONS`)."""
    a = dict(prior.args)
    with np.errstate(all="ignore"):
        if prior.dist in ("Normal", "LogNormal"):
            z = a["loc"] + a["scale"] * rng.standard_normal(n)
            return np.exp(z) if prior.dist == "LogNormal" else z
        if prior.dist == "HalfNormal":
            return a["scale"] * np.abs(rng.standard_normal(n))
        if prior.dist == "HalfCauchy":
            return a["scale"] * np.abs(rng.standard_cauchy(n))
        if prior.dist == "Uniform":
            return a["low"] + (a["high"] - a["low"]) * rng.random(n)
        if prior.dist in ("Gamma", "Exponential"):
            shape = a.get("concentration", 1.0)
            return a.get("shift", 0.0) + rng.standard_gamma(shape, n) / a["rate"]
        if prior.dist == "StudentT":
            return a["loc"] + a["scale"] * rng.standard_t(a["df"], n)
        if prior.dist == "Beta":
            return rng.beta(a["concentration1"], a["concentration0"], n)
        if prior.dist == "TruncatedNormal":
            return _truncated_normal(a, rng.random(n))
    raise AssertionError(f"no sampler for {prior.dist}")  # DISTRIBUTIONS and this list agree


def _truncated_normal(a: dict[str, float], u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws, from the upper tail's mirror image when the interval lies above loc."""
    unit = NormalDist()
    loc, scale = a["loc"], a["scale"]
    lo, hi = (a.get("low", -np.inf) - loc) / scale, (a.get("high", np.inf) - loc) / scale
    flip = lo > 0
    if flip:
        lo, hi = -hi, -lo
    p_lo, p_hi = normal_cdf(lo), normal_cdf(hi)
    p = np.clip(p_lo + u * (p_hi - p_lo), 1e-300, 1 - 1e-16)
    z = np.clip(np.array([unit.inv_cdf(float(q)) for q in p]), lo, hi)
    return loc + scale * (-z if flip else z)


def prior_draws(law, n: int = N_DRAWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """Seeded draws of every law parameter at the design, centred parameters uncentred."""
    return _uncenter(law, _raw_draws(law, n, seed))


def _raw_draws(law, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: sample_prior(spec.prior, n, rng) for name, spec in law.params.items()}


def _uncenter(law, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``p = p_ref + sign * slope * log(input_ref)``, ``input_ref`` the design's geometric mean."""
    x, values = design(law), dict(raw)
    with np.errstate(all="ignore"):
        for name, spec in law.params.items():
            if spec.center is not None:
                logref = float(np.mean(np.log(x[spec.center.input])))
                values[name] = raw[name] + spec.center.sign * raw[spec.center.slope] * logref
    return values


def check_values(law, fields: Fields) -> None:
    """Refuse a law whose formula or derived quantities are not finite at its prior draws.

    Raises
    ------
    LawSpecError
        Naming the law, the formula, the share of bad draws and one example.
    """
    raw = _raw_draws(law, N_DRAWS, SEED)
    for name, spec in law.params.items():
        share = float(np.mean(~np.isfinite(raw[name])))
        if share > MAX_BAD_SHARE:
            raise fields.error(f"params.{name}.prior", f"prior {spec.prior.describe()} of parameter {name!r} "
                               f"in law {law.name!r} gives non-finite draws ({share:.0%} of {N_DRAWS})")
    params = _uncenter(law, raw)
    x = design(law)
    env = {k: v[:, None] for k, v in params.items()} | {k: v[None, :] for k, v in x.items()}
    log_space = law.likelihood.space == "log"
    ranges = ", ".join(f"{s.name} = {input_range(s.unit)[0]:g}..{input_range(s.unit)[1]:g}" for s in law.inputs)
    checks = [("formula", f"formula of law {law.name!r}", law.formula, log_space, f" over the design inputs {ranges}")]
    checks += [(f"derived.{k}", f"derived quantity {k!r} of law {law.name!r}", f, False, "")
               for k, f in law.derived.items()]
    for path, noun, formula, positive, over in checks:
        value = np.broadcast_to(formula.numpy(env), (N_DRAWS, N_DESIGN))
        good = np.isfinite(value) & (value > 0) if positive else np.isfinite(value)
        bad = ~np.all(good, axis=1)
        if bad.mean() > MAX_BAD_SHARE:
            i = int(np.argmax(bad))
            j = int(np.argmax(~good[i]))
            used = [n for n in formula.names if n in params] + [n for n in formula.names if n in x]
            at = ", ".join(f"{n}={(params[n][i] if n in params else x[n][j]):.3g}" for n in used)
            kind = "a finite positive number (space = \"log\" takes its log)" if positive else "finite"
            raise fields.error(path, f"{noun} is not {kind} at {bad.mean():.0%} of {N_DRAWS} prior draws{over}, "
                               f"e.g. {value[i, j]:.3g} at {at}")
