"""The validated form of a law file: plain frozen dataclasses (parsing is in :mod:`bayeslaw.laws.law`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bayeslaw.laws.expr import Formula
from bayeslaw.laws.priors import Prior

POOLINGS = ("shared", "partial", "none", "correlated")
LIKELIHOODS = ("StudentT", "Normal", "Beta", "Binomial")
SPACES = ("log", "linear")
#: names the likelihood owns; a law may not use them for its own parameters or inputs
RESERVED = ("sigma", "sigma_trend", "df", "concentration")
#: site names the model builder owns (run effects, checkpoints, correlated pooling, the target)
INTERNAL_NAMES = ("obs", "run_sd", "run_z", "corr", "corr_chol", "corr_z", "ckpt_excess", "ckpt_power")
#: suffixes the model builder appends to a parameter's name for its own sites (``E_sd`` and
#: ``E_family`` of a pooled E, ``b_ref`` of a centred b, ``E_population`` in a saved fit): any
#: parameter may be pooled or centred by a per-fit override, so no law name may end so
INTERNAL_SUFFIXES = ("_ref", "_sd", "_u", "_z", "_family", "_population")

DEFAULT_POOL_SCALE = 0.5


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
    pool_scale: float = DEFAULT_POOL_SCALE
    center: Center | None = None
    description: str = ""


@dataclass(frozen=True)
class Likelihood:
    """Observation model (see :mod:`bayeslaw.modeling.likelihood`).

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
