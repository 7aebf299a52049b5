"""Typed reading of law-file values: every refusal names the law file and the key path.

A law file is TOML, so a value may arrive as a string, an integer, a float (``nan`` and ``inf``
included), a boolean, an array, a table or a date. :class:`Fields` checks each value for the type
the law needs before anything uses it, so a wrong type is one :class:`~bayeslaw.core.errors.LawSpecError`
such as::

    prior scale must be a finite number, got nan (params.E.prior.scale in law file 'my.toml')

instead of a ``TypeError`` deep inside parsing or a value silently replaced by a default.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from typing import Any

from bayeslaw.core import runtime
from bayeslaw.core.errors import LawSpecError
from bayeslaw.core.numbers import is_real

_SHOWN_CHARS = 40
_MAX_PATH = 120


def as_float(value: float) -> float:
    """A TOML integer or float as a float; an integer too large for one is ``inf`` (refused by
    the caller's finiteness check) rather than an ``OverflowError``."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _digits(value: int) -> str:
    """Decimal digits of an int as a message gives them: counted, or estimated from its bit
    length where ``str()`` refuses the int (Python's limit of 4300 digits)."""
    if abs(value).bit_length() < 14000:
        return str(len(str(abs(value))))
    return f"about {int(abs(value).bit_length() * math.log10(2)) + 1}"


def shown(value: Any) -> str:
    """A TOML value as an error message shows it: strings quoted (cut at 40 characters),
    ``true``/``false``, numbers as written, and the kind of anything bigger."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value[:_SHOWN_CHARS])
        return text if len(value) <= _SHOWN_CHARS else text[:-1] + "...'"
    if isinstance(value, int):
        if abs(value) < 10**15:
            return str(value)
        return f"{value:.6g}" if abs(value) < 10**308 else f"an integer of {_digits(value)} digits"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return "a date/time"
    return type(value).__name__


class Fields:
    """Reads values of one law file, raising :class:`LawSpecError` that name the file and key.

    Parameters
    ----------
    source : str
        Names the file in messages, e.g. ``"'models/chinchilla.toml'"`` or ``"<string>"``.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, sentence: str) -> LawSpecError:
        """``sentence (path in law file source)``: the one format of every law-file message.

        Keys come from the file, so the path's unprintable characters (a line break, a NUL) are
        escaped and a long path is cut: the message stays one readable line.
        """
        path = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in path)
        if len(path) > _MAX_PATH:
            path = path[: _MAX_PATH - 3] + "..."
        return LawSpecError(f"{sentence} ({path} in law file {self.source})")

    def table(self, value: Any, path: str, noun: str, example: str = "") -> dict:
        """A TOML table; ``example`` shows what one looks like."""
        if not isinstance(value, dict):
            like = f" like {example}" if example else ""
            raise self.error(path, f"{noun} must be a table{like}, got {shown(value)}")
        return value

    def keys(self, table: dict, path: str, noun: str, valid: Iterable[str]) -> None:
        """Refuse a key outside ``valid``, listing the valid ones."""
        valid = sorted(valid)
        unknown = sorted(set(table) - set(valid))
        if unknown:
            key = f"{path}.{unknown[0]}" if path else unknown[0]
            raise self.error(key, f"unknown key {shown(unknown[0])} in {noun}; valid: {', '.join(valid)}")

    def string(self, value: Any, path: str, noun: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"{noun} must be a string, got {shown(value)}")
        return value

    def name(self, value: Any, path: str, noun: str, choices: Iterable[str], owner: str = "") -> str:
        """A string that must be one of ``choices``: ``{noun} 'x'{owner} is not one of: ...``."""
        choices = list(choices)
        text = self.string(value, path, f"{noun}{owner}")
        if text not in choices:
            raise self.error(path, f"{noun} {shown(text)}{owner} is not one of: {', '.join(choices)}")
        return text

    def boolean(self, value: Any, path: str, noun: str) -> bool:
        """A TOML boolean: the string ``"no"`` is refused, not read as true."""
        if not isinstance(value, bool):
            raise self.error(path, f"{noun} must be true or false, got {shown(value)}")
        return value

    def number(self, value: Any, path: str, noun: str, *, positive: bool = False) -> float:
        """A finite integer or float (``nan`` and ``inf`` refused), optionally above zero."""
        if not is_real(value):
            raise self.error(path, f"{noun} must be a number, got {shown(value)}")
        number = as_float(value)
        if not math.isfinite(number):
            raise self.error(path, f"{noun} must be a finite number, got {shown(value)}")
        if (why := runtime.float32_problem(number)) is not None:
            raise self.error(path, f"{noun} {shown(value)} {why}")
        if positive and number <= 0:
            raise self.error(path, f"{noun} must be positive, got {shown(value)}")
        return number
