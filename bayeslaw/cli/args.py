"""Checks of the ``bayeslaw`` command line's input: key=value lists, FLOP budgets, output paths,
data specs.

Bad input raises :class:`CliError`, whose message :func:`_fail` prints as the one line
``bayeslaw: error: <message>`` before exiting with status :data:`EXIT_ERROR`. Output paths are
checked here before any work; writing them is :mod:`bayeslaw.cli.output`'s job. The options
themselves, and the checks argparse makes as it parses them, are :mod:`bayeslaw.cli.options`'.
Only the standard library is imported at module level, so ``bayeslaw --help`` stays fast.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

EXIT_ERROR = 2
#: as bayeslaw.laws.law.POOLINGS (not imported: --help stays fast)
_POOLINGS = ("shared", "partial", "none", "correlated")


class CliError(Exception):
    """Bad command-line input found by the command line itself (bad token, unwritable path)."""


def one_line(message) -> str:
    """The first line of an error ``message``, the command line's one-line error; where the
    message goes on to show a formula with a caret under the offending part (a law file's
    formula or prior), the line says where: ``... at column 31: '*'``."""
    lines = str(message).strip().splitlines()
    if not lines:
        return "failed"
    first = lines[0]
    if len(lines) >= 3 and lines[1].startswith("  ") and set(lines[2].strip()) == {"^"}:
        column = lines[2].index("^") - 2
        shown = lines[1][2 + column:2 + column + lines[2].count("^")].strip()
        first += f" at column {column + 1}" + (f": '{shown}'" if shown else " (the end)")
    return first


def _fail(message: str):
    """Print :func:`one_line` of ``message`` as the tool's error and exit with status 2."""
    print(f"bayeslaw: error: {one_line(message)}", file=sys.stderr)
    sys.exit(EXIT_ERROR)


# -- parsing of lists given as options --------------------------------------------------------


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
            if key in out and out[key] != value:
                raise CliError(f"{bad}: {key!r} is given twice ({out[key]}, {value})")
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


def with_family(points: list[dict], texts: list[str], option: str, group: str | None,
                family: str | None) -> list[dict]:
    """``--family`` added to points parsed from ``option``'s ``texts``; a point that names another
    family is refused (one family or the other silently won before)."""
    if family is None or not group:
        return points
    for text, point in zip(texts, points, strict=True):
        if group in point and point[group] != family:
            raise CliError(f"bad {option} value {text!r}: it names family {point[group]!r} and --family names "
                           f"{family!r}; give the family once")
    return [{group: family, **point} for point in points]


def is_fit_file(path: str) -> bool:
    """Whether ``path`` names a saved fit: a ``.nc`` file, in any case (``fit.NC`` too)."""
    return Path(path).suffix.lower() == ".nc"


def named_fit(item: str) -> tuple[str, str]:
    """``NAME=FILE.nc`` -> ``(NAME, FILE.nc)``; ``FILE.nc`` is named by its stem, and anything else
    (a law name to fit) by itself (``compare`` and ``suggest --with``). An existing file, or a
    path whose part before the first ``=`` holds a folder (``sweep/lr=0.1/fit.nc``), is a file,
    not NAME=FILE."""
    name, eq, path = item.partition("=")
    if eq and not Path(item).is_file() and "/" not in name and os.sep not in name:
        if not name.strip() or not path.strip():
            raise CliError(f"bad fit {item!r}: give NAME=FILE.nc with a name and a file, or FILE.nc alone")
        return name.strip(), path
    return (Path(item).stem if is_fit_file(item) else item), item


def parse_budgets(text: str, option: str = "--compute") -> list[float]:
    """``"1e23,1e24"`` -> [1e23, 1e24]; every budget a positive finite number (``option`` names
    the option in messages)."""
    out = []
    for token in text.split(","):
        token = token.strip()
        try:
            value = float(token)
        except ValueError:
            raise CliError(f"bad {option} value {text!r}: {token!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise CliError(f"bad {option} value {text!r}: {token!r} is not a positive FLOP budget")
        out.append(value)
    return out


# -- output paths -----------------------------------------------------------------------------


def check_output(path: str, option: str, inputs: tuple = ()) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    Refused: a missing or read-only folder, a folder given as the file, an existing file that is
    read-only or not a regular file (:func:`bayeslaw.core.atomic.check_folder`), and a path that
    names one of ``inputs`` (files the command reads). A temporary file is created in the folder
    and removed again, which catches a read-only file system.
    """
    from bayeslaw.core.atomic import check_folder

    target = check_folder(path, what=f"write {option}", error=CliError)
    folder = target.parent
    bad = f"cannot write {option} '{path}'"
    if target.exists():
        for source in inputs:
            if source is not None and Path(source).exists() and target.samefile(source):
                raise CliError(f"{bad}: it is an input of this command")
    try:
        fd, probe = tempfile.mkstemp(prefix=".bl-", suffix=".probe", dir=folder)
    except OSError as exc:
        raise CliError(f"{bad}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)
    return target


def check_plot_path(path: str, option: str = "--plot", inputs: tuple = ()) -> Path:
    """An output path for a figure, with a format matplotlib can write (see :func:`check_output`)."""
    from matplotlib.backend_bases import FigureCanvasBase

    target = check_output(path, option, inputs)
    fmt = target.suffix.lstrip(".").lower() or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise CliError(f"cannot write {option} '{path}': unknown image format {fmt!r}; "
                       f"use one of: {', '.join(sorted(supported))}")
    return target


# -- data and options -------------------------------------------------------------------------


def read_data(spec: str):
    """The runs of ``DATA``: ``dataset:NAME`` for a registered data set, else a CSV path."""
    import bayeslaw as bl
    from bayeslaw.data.runs import read_runs

    if spec.startswith("dataset:"):
        return bl.load_dataset(spec.removeprefix("dataset:"))
    return read_runs(spec)


def refuse_unused(args, options: dict[str, str], why: str) -> None:
    """Refuse an option the command's mode does not read (it would change nothing, unsaid).

    ``options`` maps each such option's destination to its flag (``{"chains": "--chains"}``);
    ``args.given`` holds the destinations the user typed (``main._StoreOnce``); ``why`` says
    what the options are for, e.g. ``"set how laws are fitted to --data"``.
    """
    typed = [flag for dest, flag in options.items() if dest in getattr(args, "given", ())]
    if typed:
        raise CliError(f"{' and '.join(typed)} {why}; leave {'it' if len(typed) == 1 else 'them'} out")


def check_family(fit, family: str | None) -> None:
    """Refuse a ``--family`` the fit does not know (None: a new family), before any work."""
    if family is not None and family not in fit.families:
        raise CliError(f"bad --family value {family!r}: not a family of the fit; known: "
                       f"{', '.join(fit.families)} (leave --family out for a new family)")


def _rows_frame(points: list[dict]):
    """Row dicts (possibly with different keys) -> one DataFrame; absent family = new family."""
    from bayeslaw.data.frames import as_frame

    return as_frame(points, "prediction rows")
