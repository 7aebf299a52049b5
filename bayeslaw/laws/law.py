"""Law specifications: parse and validate a TOML law file; the shipped catalogue.

A law is declarative data: a formula (compiled by :mod:`bayeslaw.laws.expr`, never evaluated as
Python), its inputs with units, one prior and pooling rule per parameter, the likelihood and
derived quantities. See ``models/chinchilla.toml`` for an annotated example.

Every value is checked at this boundary: its type (a string "no" is not a boolean), finite
numbers, allowed names, proper priors, and a formula that is finite at prior draws over a design
of inputs (:mod:`bayeslaw.laws.check`). A refusal is one :class:`~bayeslaw.core.errors.LawSpecError`
that names the law file and the key path, e.g. ``(params.E.prior.scale in law file 'x.toml')``.
"""

from __future__ import annotations

import keyword
import os
import sys
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

from bayeslaw.core.errors import LawSpecError
from bayeslaw.laws.check import check_values
from bayeslaw.laws.expr import FUNCTIONS, compile_formula
from bayeslaw.laws.fields import Fields, shown
from bayeslaw.laws.parts import TREND_PRIOR, parse_inputs, parse_likelihood, parse_param
from bayeslaw.laws.types import (
    DEFAULT_POOL_SCALE,
    INTERNAL_NAMES,
    INTERNAL_SUFFIXES,
    LIKELIHOODS,
    POOLINGS,
    RESERVED,
    SPACES,
    Center,
    InputSpec,
    Law,
    Likelihood,
    ParamSpec,
)

__all__ = ["DEFAULT_POOL_SCALE", "LIKELIHOODS", "POOLINGS", "RESERVED", "SPACES", "TREND_PRIOR", "Center",
           "InputSpec", "Law", "Likelihood", "ParamSpec", "catalogue_dir", "list_laws", "load_law", "parse_law",
           "with_noise_trend"]

TOP_KEYS = ("name", "description", "reference", "formula", "inputs", "params", "likelihood", "derived")


def _is_name(text: Any) -> bool:
    return (isinstance(text, str) and text.isidentifier() and not text.startswith("_")
            and not keyword.iskeyword(text) and unicodedata.normalize("NFKC", text) == text)


def _taken(ident: str) -> str | None:
    """Why a law may not name its own input, parameter or derived quantity ``ident``, or None:
    the likelihood's, the functions' and the model builder's names would be overwritten (a
    duplicate site in the sampler, or a summary row that shows another quantity)."""
    if ident in RESERVED:
        return "a likelihood parameter's name"
    if ident in FUNCTIONS:
        return "a function's name"
    if ident in INTERNAL_NAMES:
        return "the name of one of the sampler's own quantities"
    suffix = next((s for s in INTERNAL_SUFFIXES if ident.endswith(s)), None)
    if suffix is not None:
        return f"it ends in '{suffix}', which the sampler appends to a parameter's own quantities"
    return None


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
        raise LawSpecError(f"noise trend input {shown(input_name)} is not a valid name")
    if not any(spec.name == input_name and spec.positive for spec in law.inputs):
        raise LawSpecError(f"sigma_trend of law {law.name!r} names {input_name!r}, not a positive input of the law")
    table = f'[likelihood.sigma_trend]\ninput = "{input_name}"'
    try:
        return parse_law(law.source.rstrip("\n") + f"\n\n{table}\n",
                         source=f"<law {law.name!r} with a noise trend on {input_name!r}>")
    except LawSpecError:  # TOML cannot add a table to a likelihood written inline or by dotted keys
        raise LawSpecError(f"law {law.name!r} writes its likelihood on one line, to which a noise trend cannot be "
                           f"added; write it as a [likelihood] table, or give it a [likelihood.sigma_trend] table with "
                           f"input = \"{input_name}\" in the law file") from None


def parse_law(text: str, *, source: str = "<string>") -> Law:
    """Parse and validate a law from TOML text.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Where it came from, used in error messages (``"'models/x.toml'"``).

    Returns
    -------
    Law

    Raises
    ------
    LawSpecError
        With a message naming the law file, the offending key path, name or token.
    """
    fields = Fields(source)
    if not isinstance(text, str):
        raise LawSpecError(f"law file {source} must be text (str), got {type(text).__name__}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LawSpecError(f"law file {source} is not valid TOML: {exc}") from None
    except RecursionError:
        raise LawSpecError(f"law file {source} is not valid TOML: nested too deeply") from None
    except ValueError:  # int() of a decimal integer beyond Python's limit on digits read from text
        raise LawSpecError(f"law file {source} holds an integer of more than {sys.get_int_max_str_digits()} "
                           "digits; no law needs one") from None
    fields.keys(doc, "", "the law file", TOP_KEYS)
    for key in ("name", "formula", "inputs", "params"):
        if key not in doc:
            raise LawSpecError(f"law file {source} has no {key!r}")
    name = fields.string(doc["name"], "name", "law name")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise fields.error("name", f"law name {shown(name)} must be letters, digits, '_' or '-'")
    where = f"law {name!r}"
    description = fields.string(doc.get("description", ""), "description", f"description of {where}")
    reference = fields.string(doc.get("reference", ""), "reference", f"reference of {where}")
    inputs = parse_inputs(doc["inputs"], where, fields)
    raw_params = doc["params"]
    if not isinstance(raw_params, dict) or not raw_params:
        raise fields.error("params", f"[params] of {where} must declare at least one parameter, got {shown(raw_params)}")
    params = {k: parse_param(k, v, f"params.{k}", where, inputs, fields) for k, v in raw_params.items()}
    for kind, names in (("inputs", inputs), ("params", params)):
        for ident in names:
            if not _is_name(ident):
                raise fields.error(f"{kind}.{ident}", f"{ident!r} in {where} is not a valid name "
                                   "(letters, digits, '_', not leading '_')")
            if (why := _taken(ident)) is not None:
                raise fields.error(f"{kind}.{ident}", f"{ident!r} in {where} is reserved ({why}); rename it")
    clash = sorted(set(inputs) & set(params))
    if clash:
        raise fields.error(f"params.{clash[0]}", f"{clash[0]!r} in {where} is declared both as an input and a parameter")
    text_formula = fields.string(doc["formula"], "formula", f"formula of {where}")
    formula = compile_formula(text_formula, list(inputs) + list(params), what=f"formula of {where} (law file {source})")
    unused = [p for p in params if p not in formula.names]
    if unused:
        raise fields.error(f"params.{unused[0]}", f"parameter {unused[0]!r} of {where} is declared but not used in the formula")
    for spec in params.values():
        if spec.center is not None:
            slope = spec.center.slope
            at = f"params.{spec.name}.center.slope"
            if slope not in params or slope == spec.name:
                raise fields.error(at, f"center slope {slope!r} of parameter {spec.name!r} in {where} is not another parameter")
            if params[slope].center is not None:
                raise fields.error(at, f"center slope {slope!r} of parameter {spec.name!r} in {where} is itself centred")
    derived, derived_descriptions = {}, {}
    raw_derived = doc.get("derived", {})
    fields.table(raw_derived, "derived", f"[derived] of {where}", '{ A = "exp(a)" }')
    for key, expr in raw_derived.items():
        if not _is_name(key) or key in params or key in inputs:
            raise fields.error(f"derived.{key}", f"derived quantity {key!r} of {where} needs a new valid name")
        if (why := _taken(key)) is not None:
            raise fields.error(f"derived.{key}", f"derived quantity {key!r} of {where} is reserved ({why}); rename it")
        noun = f"derived quantity {key!r} of {where}"
        if isinstance(expr, dict):  # { formula = "...", description = "..." }
            fields.keys(expr, f"derived.{key}", noun, ("formula", "description"))
            if "formula" not in expr:
                raise fields.error(f"derived.{key}", f"{noun} has no 'formula'")
            derived_descriptions[key] = fields.string(expr.get("description", ""),
                                                      f"derived.{key}.description", noun)
            expr = expr["formula"]
            path = f"derived.{key}.formula"
        else:
            path = f"derived.{key}"
        expr = fields.string(expr, path, noun)
        derived[key] = compile_formula(expr, list(params), what=f"{noun} (law file {source})")
    law = Law(
        name=name,
        description=description,
        reference=reference,
        formula=formula,
        inputs=tuple(inputs.values()),
        params=params,
        likelihood=parse_likelihood(doc.get("likelihood"), where, inputs, fields),
        derived=derived,
        source=text,
        derived_descriptions=derived_descriptions,
    )
    idle = [i for i in inputs if i not in formula.names and i not in (law.likelihood.trend_input, law.likelihood.trials)
            and not any(spec.center is not None and spec.center.input == i for spec in params.values())]
    if idle:  # a fit would demand a column of it and never read it
        raise fields.error(f"inputs.{idle[0]}", f"input {idle[0]!r} of {where} is declared but not used in the formula")
    check_values(law, fields)
    return law


def catalogue_dir() -> Path:
    """The folder of shipped law files (inside the wheel, or ``models/`` in a source checkout)."""
    here = Path(__file__).resolve().parents[1]  # the bayeslaw package
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
    if not isinstance(name_or_path, str | os.PathLike):
        raise LawSpecError(f"a law is a catalogue name, a path to a .toml file or a Law, got {type(name_or_path).__name__}")
    text_name = os.fspath(name_or_path)
    if not isinstance(text_name, str):
        text_name = os.fsdecode(text_name)
    if not text_name.strip():
        raise LawSpecError("law name is empty; give a catalogue name (e.g. chinchilla) or a path to a .toml file")
    if "\0" in text_name:
        raise LawSpecError(f"law name or path {text_name!r} contains a null character")
    path, candidate = Path(text_name), catalogue_dir() / f"{text_name}.toml"
    # a catalogue name is the catalogue's law even where a folder or file of that name is in the
    # working directory (results kept in ./kaplan); a path is one with .toml or no catalogue law
    in_catalogue = _is_name(text_name.replace("-", "_")) and _probe(candidate, Path.is_file)
    if path.suffix == ".toml" or (not in_catalogue and _probe(path, Path.exists)):
        if _probe(path, Path.is_dir):
            raise LawSpecError(f"law file {text_name!r} is a folder; give a .toml file in it")
        if not _probe(path, Path.is_file):
            raise LawSpecError(f"law file {_cut(text_name)!r} does not exist")
        return parse_law(_read(path, repr(text_name)), source=repr(text_name))
    if not in_catalogue:
        first = next((line.strip() for line in text_name.splitlines() if line.strip()), "")
        shown = text_name if len(text_name) <= 60 and "\n" not in text_name else first[:57] + "..."
        hint = ("; to give a law's TOML text, use bayeslaw.parse_law" if "\n" in text_name or "=" in text_name
                else "")
        raise LawSpecError(f"unknown law {shown!r}; catalogue: {', '.join(list_laws())} (or give a path to a "
                           f".toml file){hint}")
    return parse_law(_read(candidate, repr(candidate.name)), source=repr(candidate.name))


def _probe(path: Path, test) -> bool:
    """``test(path)`` (exists, is_file, is_dir), False where the system refuses to look (a name
    longer than a file name may be, e.g. a law's TOML text given as its name)."""
    try:
        return test(path)
    except OSError:
        return False


def _cut(text: str) -> str:
    """A path as messages show it: whole up to 200 characters (a deep folder), else its start."""
    return text if len(text) <= 200 else text[:197] + "..."


def _read(path: Path, source: str) -> str:
    """The text of a law file: unreadable or non-UTF-8 bytes are one LawSpecError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LawSpecError(f"law file {source} cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LawSpecError(f"law file {source} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}); "
                           "a law file is TOML") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as open() in text mode reads it
