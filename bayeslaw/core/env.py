"""On/off environment variables, read one way: ``BAYESLAW_X64``, ``BAYESLAW_NO_CACHE``,
``BAYESLAW_PROGRESS``.

Each takes 1/0, true/false, yes/no or on/off (any case); empty or unset means "not set". Any
other value is refused naming the variable: ``BAYESLAW_X64=no`` once meant float64 (only "0" and
"false" were off) and ``BAYESLAW_NO_CACHE=false`` turned the cache off. Only the standard library
is imported.
"""

from __future__ import annotations

import os

from bayeslaw.core.errors import FitError

#: every on/off variable bayeslaw reads
FLAGS = ("BAYESLAW_X64", "BAYESLAW_NO_CACHE", "BAYESLAW_PROGRESS")
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def env_flag(name: str) -> bool | None:
    """The on/off value of environment variable ``name``; None when it is unset or empty.

    Raises
    ------
    FitError
        For any other value, naming the variable and the values it takes.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if raw.lower() in _ON:
        return True
    if raw.lower() in _OFF:
        return False
    raise FitError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def check_flags() -> None:
    """Refuse a bad value of any of :data:`FLAGS` now, whether or not this call reads it: a
    ``BAYESLAW_PROGRESS=bogus`` was refused only by commands that happened to draw a bar."""
    for name in FLAGS:
        env_flag(name)
