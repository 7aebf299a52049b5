"""Law specifications: parse and validate a TOML law file; the shipped catalogue.

A law is declarative data: a formula (compiled by :mod:`bayeslaw.expr`, never evaluated as
Python), its inputs with units, one prior and pooling rule per parameter, the likelihood and
derived quantities. See ``models/chinchilla.toml`` for an annotated example.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import LawSpecError
from .expr import FUNCTIONS, Formula, compile_formula
from .priors import Prior, parse_prior

POOLINGS = ("shared", "partial", "none", "correlated")
LIKELIHOODS = ("StudentT", "Normal", "Beta", "Binomial")
SPACES = ("log", "linear")
#: names the likelihood owns; a law may not use them for its own parameters or inputs
RESERVED = ("sigma", "sigma_trend", "df", "concentration")

_TOP_KEYS = {"name", "description", "reference", "formula", "inputs", "params", "likelihood", "derived"}
_PARAM_KEYS = {"prior", "pooling", "pool_scale", "center", "description"}
_DEFAULT_POOL_SCALE = 0.5


@dataclass(frozen=True)
class InputSpec:
    """One input column of the law (e.g. N, parameters)."""

    name: str
    unit: str = ""
    positive: bool = True


@dataclass(frozen=True)
class Center:
    """Sample ``param`` at a reference scale of ``input`` instead of at input = 1.

    The formula term is ``exp(param - sign * slope * log(input))``; the sampler sees
    ``param_ref = param - sign * slope * log(input_ref)``, which is nearly uncorrelated with the
    slope when ``input_ref`` is the geometric mean of the data (log input centred at zero).
    """

    input: str
    slope: str
    sign: float = 1.0


@dataclass(frozen=True)
class ParamSpec:
    """A parameter: its prior, pooling across families and optional centring."""

    name: str
    prior: Prior
    pooling: str = "shared"
    pool_scale: float = _DEFAULT_POOL_SCALE
    center: Center | None = None
    description: str = ""


@dataclass(frozen=True)
class Likelihood:
    """Observation model (see :mod:`bayeslaw.likelihood`).

    ``StudentT``/``Normal``: ``space(y) ~ dist(space(law), sigma)`` (Student-t has ``df`` too);
    with ``sigma_trend`` the scale of row i is ``sigma * (x_i / x_ref) ** sigma_trend`` for the
    input ``trend_input`` (``x_ref`` its geometric mean in the fitted runs), so noise may shrink
    (negative trend) or grow with model size;
    ``Beta``: accuracy ~ Beta with mean = law and ``concentration``; ``Binomial``: correct answers
    ~ Binomial(items, law), with ``trials`` naming the input that holds the item count.
    """

    dist: str
    space: str
    sigma: ParamSpec | None = None
    df: ParamSpec | float | None = None
    concentration: ParamSpec | None = None
    trials: str | None = None
    sigma_trend: ParamSpec | None = None
    trend_input: str | None = None

    @property
    def params(self) -> dict[str, ParamSpec]:
        """The likelihood's own learned parameters."""
        out = {"sigma": self.sigma, "sigma_trend": self.sigma_trend, "df": self.df,
               "concentration": self.concentration}
        return {k: v for k, v in out.items() if isinstance(v, ParamSpec)}


@dataclass(frozen=True)
class Law:
    """A validated scaling law. Build with :func:`load_law` or :func:`parse_law`."""

    name: str
    description: str
    reference: str
    formula: Formula
    inputs: tuple[InputSpec, ...]
    params: dict[str, ParamSpec]
    likelihood: Likelihood
    derived: dict[str, Formula] = field(default_factory=dict)
    source: str = ""
    #: one-line meaning of each derived quantity that the law file describes
    derived_descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def all_params(self) -> dict[str, ParamSpec]:
        """Law parameters followed by the likelihood's own (sigma, and df when learned)."""
        out = dict(self.params)
        out.update(self.likelihood.params)
        return out


def _is_name(text: Any) -> bool:
    return isinstance(text, str) and text.isidentifier() and not text.startswith("_")


def _parse_param(name: str, spec: Any, where: str, inputs: dict[str, InputSpec]) -> ParamSpec:
    if not isinstance(spec, dict):
        raise LawSpecError(f"parameter {name!r} of {where} must be a table with a prior")
    unknown = sorted(set(spec) - _PARAM_KEYS)
    if unknown:
        raise LawSpecError(
            f"unknown key {unknown[0]!r} for parameter {name!r} of {where}; valid: {', '.join(sorted(_PARAM_KEYS))}"
        )
    if "prior" not in spec:
        raise LawSpecError(f"parameter {name!r} of {where} has no prior")
    prior = parse_prior(spec["prior"], f"{where}, parameter {name!r}")
    pooling = spec.get("pooling", "shared")
    if pooling not in POOLINGS:
        raise LawSpecError(f"pooling {pooling!r} of parameter {name!r} in {where} is not one of: {', '.join(POOLINGS)}")
    pool_scale = spec.get("pool_scale", _DEFAULT_POOL_SCALE)
    if isinstance(pool_scale, bool) or not isinstance(pool_scale, (int, float)) or pool_scale <= 0:
        raise LawSpecError(f"pool_scale of parameter {name!r} in {where} must be a positive number")
    center = None
    if "center" in spec:
        c = spec["center"]
        if not isinstance(c, dict) or set(c) - {"input", "slope", "sign"} or not {"input", "slope"} <= set(c):
            raise LawSpecError(
                f"center of parameter {name!r} in {where} must be a table like {{ input = \"N\", slope = \"alpha\" }}"
            )
        if c["input"] not in inputs or not inputs[c["input"]].positive:
            raise LawSpecError(f"center of parameter {name!r} in {where} names {c['input']!r}, not a positive input")
        sign = c.get("sign", 1)
        if sign not in (1, -1):
            raise LawSpecError(f"center sign of parameter {name!r} in {where} must be 1 or -1")
        center = Center(c["input"], c["slope"], float(sign))
    return ParamSpec(name, prior, pooling, float(pool_scale), center, str(spec.get("description", "")))


#: default prior of ``sigma_trend``: |t| < 0.82 with 90% probability, the noise changing by at most
#: ~x7 per decade of the input
TREND_PRIOR = {"dist": "Normal", "loc": 0.0, "scale": 0.5}


def _parse_trend(spec: Any, where: str, inputs: dict[str, InputSpec]) -> tuple[ParamSpec, str]:
    """``sigma_trend = { input = "N", prior = {...} }``: the noise scale's power of one input."""
    if not isinstance(spec, dict) or "input" not in spec:
        raise LawSpecError(f"sigma_trend of {where} must be a table like {{ input = \"N\" }}")
    name = spec["input"]
    if name not in inputs or not inputs[name].positive:
        raise LawSpecError(f"sigma_trend of {where} names {name!r}, not a positive input of the law")
    rest = {k: v for k, v in spec.items() if k != "input"}
    rest.setdefault("prior", TREND_PRIOR)
    return _parse_param("sigma_trend", rest, where, {}), str(name)


def with_noise_trend(law: Law, input_name: str) -> Law:
    """The same law with a noise scale that follows a power of ``input_name`` (``sigma_trend``).

    The law's TOML text gains a ``[likelihood.sigma_trend]`` table, so a saved fit records it.

    Raises
    ------
    LawSpecError
        If the law already has a trend, its likelihood has no ``sigma`` or the input is unknown.
    """
    if law.likelihood.sigma_trend is not None:
        raise LawSpecError(f"law {law.name!r} already has a sigma_trend (on {law.likelihood.trend_input!r})")
    if law.likelihood.sigma is None:
        raise LawSpecError(f"law {law.name!r} has a {law.likelihood.dist} likelihood, which has no sigma to trend")
    if not _is_name(input_name):
        raise LawSpecError(f"noise trend input {input_name!r} is not a valid name")
    text = law.source.rstrip("\n") + f'\n\n[likelihood.sigma_trend]\ninput = "{input_name}"\n'
    return parse_law(text, source=f"law {law.name!r} with a noise trend on {input_name!r}")


def _parse_likelihood(spec: Any, where: str, inputs: dict[str, InputSpec]) -> Likelihood:
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise LawSpecError(f"[likelihood] of {where} must be a table")
    valid = {"dist", "space", "sigma", "sigma_trend", "df", "concentration", "trials"}
    unknown = sorted(set(spec) - valid)
    if unknown:
        raise LawSpecError(f"unknown key {unknown[0]!r} in [likelihood] of {where}; valid: {', '.join(sorted(valid))}")
    name = spec.get("dist", "StudentT")
    if name not in LIKELIHOODS:
        raise LawSpecError(f"likelihood {name!r} of {where} is not one of: {', '.join(LIKELIHOODS)}")
    bounded = name in ("Beta", "Binomial")
    space = spec.get("space", "linear" if bounded else "log")
    if space not in SPACES or (bounded and space != "linear"):
        allowed = "linear" if bounded else ", ".join(SPACES)
        raise LawSpecError(f"likelihood space {space!r} of {where} is not one of: {allowed}")
    allowed_keys = {"StudentT": {"sigma", "sigma_trend", "df"}, "Normal": {"sigma", "sigma_trend"},
                    "Beta": {"concentration"},
                    "Binomial": {"trials"}}[name] | {"dist", "space"}
    extra = sorted(set(spec) - allowed_keys)
    if extra:
        raise LawSpecError(f"likelihood key {extra[0]!r} of {where} does not apply to {name}")
    out: dict[str, Any] = {}
    if name in ("StudentT", "Normal"):
        out["sigma"] = _parse_param("sigma", spec.get("sigma", {"prior": {"dist": "HalfNormal", "scale": 0.05}}),
                                    where, {})
        if "sigma_trend" in spec:
            out["sigma_trend"], out["trend_input"] = _parse_trend(spec["sigma_trend"], where, inputs)
    if name == "StudentT":
        raw = spec.get("df", {"prior": {"dist": "Gamma", "concentration": 2.0, "rate": 0.1}})
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            if raw <= 0:
                raise LawSpecError(f"likelihood df of {where} must be positive")
            out["df"] = float(raw)
        else:
            out["df"] = _parse_param("df", raw, where, {})
    if name == "Beta":
        out["concentration"] = _parse_param(
            "concentration", spec.get("concentration", {"prior": {"dist": "Gamma", "concentration": 2.0, "rate": 0.02}}),
            where, {})
    if name == "Binomial":
        trials = spec.get("trials")
        if trials not in inputs:
            raise LawSpecError(f"Binomial likelihood of {where} needs trials = \"<input>\" naming the input with item counts")
        out["trials"] = trials
    return Likelihood(name, space, **out)


def parse_law(text: str, *, source: str = "<string>") -> Law:
    """Parse and validate a law from TOML text.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Where it came from, used in error messages.

    Returns
    -------
    Law

    Raises
    ------
    LawSpecError
        With a message naming the offending key, name or token.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LawSpecError(f"law file {source} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise LawSpecError(f"unknown key {unknown[0]!r} in law file {source}; valid: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("name", "formula", "inputs", "params"):
        if key not in doc:
            raise LawSpecError(f"law file {source} has no {key!r}")
    name = doc["name"]
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise LawSpecError(f"law name {name!r} in {source} must be letters, digits, '_' or '-'")
    where = f"law {name!r}"
    inputs: dict[str, InputSpec] = {}
    if not isinstance(doc["inputs"], dict) or not doc["inputs"]:
        raise LawSpecError(f"[inputs] of {where} must declare at least one input")
    for key, spec in doc["inputs"].items():
        spec = spec if isinstance(spec, dict) else {}
        inputs[key] = InputSpec(key, str(spec.get("unit", "")), bool(spec.get("positive", True)))
    if not isinstance(doc["params"], dict) or not doc["params"]:
        raise LawSpecError(f"[params] of {where} must declare at least one parameter")
    params = {k: _parse_param(k, v, where, inputs) for k, v in doc["params"].items()}
    for ident in list(inputs) + list(params):
        if not _is_name(ident):
            raise LawSpecError(f"{ident!r} in {where} is not a valid name (letters, digits, '_', not leading '_')")
        if ident in RESERVED or ident in FUNCTIONS:
            raise LawSpecError(f"{ident!r} in {where} is reserved (likelihood or function name); rename it")
    clash = sorted(set(inputs) & set(params))
    if clash:
        raise LawSpecError(f"{clash[0]!r} in {where} is declared both as an input and a parameter")
    formula = compile_formula(str(doc["formula"]), list(inputs) + list(params), what=f"formula of {where}")
    unused = [p for p in params if p not in formula.names]
    if unused:
        raise LawSpecError(f"parameter {unused[0]!r} of {where} is declared but not used in the formula")
    for spec in params.values():
        if spec.center is not None:
            if spec.center.slope not in params or spec.center.slope == spec.name:
                raise LawSpecError(f"center slope {spec.center.slope!r} of parameter {spec.name!r} in {where} is not another parameter")
            if params[spec.center.slope].center is not None:
                raise LawSpecError(f"center slope {spec.center.slope!r} of parameter {spec.name!r} in {where} is itself centred")
    derived, derived_descriptions = {}, {}
    for key, expr in (doc.get("derived") or {}).items():
        if not _is_name(key) or key in params or key in inputs:
            raise LawSpecError(f"derived quantity {key!r} of {where} needs a new valid name")
        if isinstance(expr, dict):  # { formula = "...", description = "..." }
            extra = sorted(set(expr) - {"formula", "description"})
            if extra or "formula" not in expr:
                problem = f"unknown key {extra[0]!r}" if extra else "no 'formula'"
                raise LawSpecError(f"derived quantity {key!r} of {where}: {problem} "
                                   "(a formula string or a table with 'formula' and 'description')")
            derived_descriptions[key] = str(expr.get("description", ""))
            expr = expr["formula"]
        derived[key] = compile_formula(str(expr), list(params), what=f"derived quantity {key!r} of {where}")
    return Law(
        name=name,
        description=str(doc.get("description", "")),
        reference=str(doc.get("reference", "")),
        formula=formula,
        inputs=tuple(inputs.values()),
        params=params,
        likelihood=_parse_likelihood(doc.get("likelihood"), where, inputs),
        derived=derived,
        source=text,
        derived_descriptions=derived_descriptions,
    )


def catalogue_dir() -> Path:
    """The folder of shipped law files (inside the wheel, or ``models/`` in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if candidate.is_dir():
            return candidate
    raise LawSpecError("the law catalogue is missing from this installation (no models/ folder)")


def list_laws() -> list[str]:
    """Names of the laws in the shipped catalogue, sorted."""
    return sorted(p.stem for p in catalogue_dir().glob("*.toml"))


def load_law(name_or_path: str | os.PathLike | Law) -> Law:
    """Load a law by catalogue name or from a TOML file path.

    Parameters
    ----------
    name_or_path : str, path or Law
        A catalogue name such as ``"chinchilla"`` (see :func:`list_laws`), or a path to a
        ``.toml`` file. A :class:`Law` is returned unchanged.

    Examples
    --------
    >>> import bayeslaw as bl
    >>> bl.load_law("chinchilla").input_names
    ('N', 'D')
    """
    if isinstance(name_or_path, Law):
        return name_or_path
    text_name = os.fspath(name_or_path)
    path = Path(text_name)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise LawSpecError(f"law file {text_name!r} does not exist")
        return parse_law(path.read_text(encoding="utf-8"), source=repr(text_name))
    candidate = catalogue_dir() / f"{text_name}.toml"
    if not candidate.is_file():
        raise LawSpecError(f"unknown law {text_name!r}; catalogue: {', '.join(list_laws())} (or give a path to a .toml file)")
    return parse_law(candidate.read_text(encoding="utf-8"), source=repr(candidate.name))
