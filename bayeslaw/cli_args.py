"""Checks of the ``bayeslaw`` command line's input: key=value lists, output paths, data specs.

Bad input raises :class:`CliError`, whose message :func:`_fail` prints as the one line
``bayeslaw: error: <message>`` before exiting with status :data:`EXIT_ERROR`. Output paths are
checked here before any work; writing them is :mod:`bayeslaw.cli_output`'s job. Only the
standard library is imported at module level, so ``bayeslaw --help`` stays fast.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

EXIT_ERROR = 2
#: as bayeslaw.law.POOLINGS (not imported: --help stays fast)
_POOLINGS = ("shared", "partial", "none", "correlated")


class CliError(Exception):
    """Bad command-line input found by the command line itself (bad token, unwritable path)."""


def _fail(message: str):
    """Print the first line of ``message`` as the tool's one-line error and exit with status 2."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "failed"
    print(f"bayeslaw: error: {first}", file=sys.stderr)
    sys.exit(EXIT_ERROR)


# -- parsing of key=value lists -------------------------------------------------------------


def _pairs(text: str, option: str) -> list[tuple[str, str]]:
    """Split ``k=v,k=v`` into pairs; no evaluation of any kind."""
    out, seen = [], set()
    for token in text.split(","):
        token = token.strip()
        key, eq, value = token.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise CliError(f"bad {option} value {text!r}: {token!r} is not key=value")
        if key in seen:
            raise CliError(f"bad {option} value {text!r}: {key!r} is given twice")
        seen.add(key)
        out.append((key, value))
    return out


def parse_pooling(texts: list[str], params: list[str]) -> dict[str, str]:
    """``["alpha=partial,beta=none"]`` -> {"alpha": "partial", "beta": "none"}."""
    out: dict[str, str] = {}
    for text in texts:
        bad = f"bad --pooling value {text!r}"
        for key, value in _pairs(text, "--pooling"):
            if key not in params:
                raise CliError(f"{bad}: {key!r} is not a parameter of the law; "
                               f"parameters: {', '.join(params)}")
            if value not in _POOLINGS:
                raise CliError(f"{bad}: {value!r} is not one of: {', '.join(_POOLINGS)}")
            out[key] = value
    return out


def parse_point(text: str, option: str, inputs: dict[str, bool], group: str | None,
                families: list[str] | None) -> dict:
    """``"N=7e10,D=1.4e12,family=dense"`` -> a row dict for ``Fit.predict``.

    ``inputs`` maps each law input to whether it must be positive. The family may be given as
    ``family=`` or under the fit's group column name; empty means a new family.
    """
    row: dict = {}
    bad = f"bad {option} value {text!r}"
    valid = list(inputs) + (["family"] if group else [])
    for key, value in _pairs(text, option):
        if group and key in ("family", group):
            if families is not None and value and value not in families:
                raise CliError(f"{bad}: unknown family {value!r}; known: "
                               f"{', '.join(families)} (leave it empty for a new family)")
            row[group] = value
            continue
        if key not in inputs:
            hint = " (the fit has no --group, so no family)" if key == "family" else ""
            raise CliError(f"{bad}: unknown key {key!r}; valid: {', '.join(valid)}{hint}")
        try:
            number = float(value)
        except ValueError:
            raise CliError(f"{bad}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise CliError(f"{bad}: {value!r} is not a finite number")
        if inputs[key] and number <= 0:
            raise CliError(f"{bad}: {key} must be positive, got {value!r}")
        row[key] = number
    missing = [name for name in inputs if name not in row]
    if missing:
        raise CliError(f"{bad}: missing {', '.join(missing)} (needed: {', '.join(inputs)})")
    return row


# -- output paths -----------------------------------------------------------------------------


def check_output(path: str, option: str) -> Path:
    """Refuse an output path whose folder is missing or unwritable (before any work is done)."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise CliError(f"cannot write {option} '{path}': folder '{folder}' does not exist")
    if target.is_dir():
        raise CliError(f"cannot write {option} '{path}': it is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"cannot write {option} '{path}': folder '{folder}' is not writable")
    return target


def check_plot_path(path: str, option: str = "--plot") -> Path:
    """An output path for a figure, with a format matplotlib can write."""
    from matplotlib.backend_bases import FigureCanvasBase

    target = check_output(path, option)
    fmt = target.suffix.lstrip(".").lower() or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise CliError(f"cannot write {option} '{path}': unknown image format {fmt!r}; "
                       f"use one of: {', '.join(sorted(supported))}")
    return target


# -- data and options -------------------------------------------------------------------------


def _read_data(spec: str):
    """The runs of ``DATA``: ``dataset:NAME`` for a registered data set, else a CSV path."""
    import bayeslaw as bl
    from bayeslaw.data import read_runs

    if spec.startswith("dataset:"):
        return bl.load_dataset(spec.removeprefix("dataset:"))
    return read_runs(spec)


def _check_ci_prob(value: float) -> float:
    """``--ci-prob`` itself when strictly between 0 and 1, else a :class:`CliError`."""
    if not 0 < value < 1:
        raise CliError(f"bad --ci-prob value '{value:g}': must be between 0 and 1")
    return value


def _rows_frame(points: list[dict]):
    """Row dicts (possibly with different keys) -> one DataFrame; absent family = new family."""
    import pandas as pd

    return pd.DataFrame(points)
