"""The ``bayeslaw`` command line: its parser, the choice of JAX platform and the entry point.

Bad input of any kind prints one line ``bayeslaw: error: <message>`` to stderr and exits with
status 2; nothing is written then. Outputs go to a temporary file in the target folder that is
renamed into place, so a file is either complete or absent. Every output folder is checked
before any work. The library is imported inside :func:`main`, after argument parsing.

Each sub-command lives in its own module of :mod:`bayeslaw.cli` (``laws`` and ``fit`` in
:mod:`~bayeslaw.cli.fit`, ``predict`` and ``plot`` in :mod:`~bayeslaw.cli.predict`, ...); the
options several share are in :mod:`bayeslaw.cli.options`, the checks of the input in
:mod:`bayeslaw.cli.args` and the writing and printing of the outputs in :mod:`bayeslaw.cli.output`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys

from bayeslaw.cli.args import EXIT_ERROR, CliError, _fail
from bayeslaw.core import interrupts
from bayeslaw.core.env import check_flags

#: the modules of the sub-commands, in the order of ``bayeslaw --help``; each adds its commands
#: with ``add_parser(subparsers)`` and stores each command's function as the default ``handler``
_COMMANDS = ("fit", "predict", "compare", "backtest", "downstream", "report", "plan", "suggest",
             "isoflop")
_DEVICES = ("cpu", "gpu", "tpu")
#: JAX's concrete platform names by the ``--device`` kind they belong to (others are their own kind)
_PLATFORM_KIND = {"cuda": "gpu", "rocm": "gpu"}


class _StoreOnce(argparse._StoreAction):
    """argparse's ``store``, refusing what it would take silently: an empty value (handlers read
    ``args.x or default`` and took ``--flops ''`` for the default) and an option given twice
    (argparse keeps the last: ``--where A --where B`` filtered by B alone). Records the
    destinations given in ``args.given``, for handlers that refuse options their mode ignores."""

    def __call__(self, parser, namespace, values, option_string=None):
        name = option_string or self.metavar or self.dest.upper()
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and not value.strip():
                parser.error(f"bad {name} value {value!r}: it is empty")
        _once(parser, namespace, self.dest, option_string)
        super().__call__(parser, namespace, values, option_string)


def _once(parser, namespace, dest: str, option_string: str | None) -> None:
    """Record ``dest`` in ``args.given``; refuse an option given twice, or two options that set
    the same thing (``--progress --no-progress``)."""
    given = namespace.__dict__.setdefault("given", set())
    options = namespace.__dict__.setdefault("given_options", {})
    if option_string is not None and dest in given:
        first = options.get(dest, option_string)
        if first == option_string:
            parser.error(f"{option_string} is given twice; give it once")
        parser.error(f"{first} and {option_string} are both given; give one")
    given.add(dest)
    options[dest] = option_string


class _StoreTrueOnce(argparse._StoreTrueAction):
    """``store_true`` given once (a repeated flag passed, though the README says it is refused)."""

    def __call__(self, parser, namespace, values, option_string=None):
        _once(parser, namespace, self.dest, option_string)
        super().__call__(parser, namespace, values, option_string)


class _StoreFalseOnce(argparse._StoreFalseAction):
    """``store_false`` given once, as :class:`_StoreTrueOnce`."""

    def __call__(self, parser, namespace, values, option_string=None):
        _once(parser, namespace, self.dest, option_string)
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, like every other error of the tool.

    A value that starts with a minus and a digit (``--compute -1e23``, ``-1e23,1e24``) is a value,
    not an option, so the option's own check words the error; argparse before Python 3.13 takes
    only plain ``-12`` and ``-1.5`` so and would say "expected one argument". Single values are
    stored by :class:`_StoreOnce`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d|^-(inf|infinity|nan)$", re.IGNORECASE)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)
        self.register("action", "store_true", _StoreTrueOnce)
        self.register("action", "store_false", _StoreFalseOnce)

    def error(self, message: str):
        _fail(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bayeslaw`` command, with every sub-command of :data:`_COMMANDS`
    and the ``--device`` and progress options each one but ``laws`` takes."""
    from importlib import metadata

    try:
        version = metadata.version("bayeslaw")
    except metadata.PackageNotFoundError:
        version = "unknown"
    parser = _Parser(prog="bayeslaw", description="Bayesian scaling-law estimation: fit a law "
                     "to training runs, predict planned runs with intervals, plot the fit.")
    parser.add_argument("--version", action="version", version=f"bayeslaw {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        importlib.import_module(f"{__package__}.{module}").add_parser(sub)
    for name, command in sub.choices.items():
        if name == "laws":
            continue
        try:
            command.add_argument("--device", choices=_DEVICES, help="JAX platform to run on, as "
                                 "numpyro.set_platform (default: JAX's choice, an accelerator if "
                                 "present)")
        except argparse.ArgumentError:  # the sub-command defines its own --device
            pass
        _progress_options(command)
    return parser


def _progress_options(command: argparse.ArgumentParser) -> None:
    """``--progress``/``--no-progress``; default: bars only when stderr is a terminal."""
    shown = command.add_mutually_exclusive_group()
    shown.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show progress bars on stderr even when it is not a terminal "
                       "(default: shown on a terminal; BAYESLAW_PROGRESS=0/1 sets the default)")
    shown.add_argument("--no-progress", dest="progress", action="store_false",
                       help="hide progress bars")


def _use_cpu_cores() -> None:
    """Expose every CPU core as a JAX device so chains run in parallel (must precede jax import)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        count = max(os.cpu_count() or 1, 4)
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


#: the probe of :func:`check_xla_flags`: start XLA's CPU client in a fresh interpreter (0.2 s;
#: JAX's own start, 1 s, where jaxlib lacks it); a Python error is not the probe's to report
_XLA_PROBE = """
try:
    try:
        import jaxlib.xla_client as xla_client
        xla_client.make_cpu_client()
    except (ImportError, AttributeError):
        from jax.extend import backend
        backend.backends()
except Exception:
    pass
"""


#: the flag :func:`_use_cpu_cores` sets, which XLA always accepts
_OWN_FLAG = re.compile(r"--xla_force_host_platform_device_count=\d+")


def check_xla_flags(user_flags: str) -> None:
    """Refuse ``XLA_FLAGS`` that XLA itself would reject, before this process starts JAX.

    XLA reads the variable in C++ when its first backend starts and ends the process there on a
    flag it does not know (a fatal log line and status 1, past any Python handler). Only when the
    user set the variable, XLA is started first in a child interpreter (a fraction of a second):
    if the child dies, its last line names the flag and the command exits 2 with that line.

    Raises
    ------
    CliError
        When the child cannot start JAX with these flags.
    """
    if all(_OWN_FLAG.fullmatch(token) for token in user_flags.split()):
        return  # unset, or only the core count this module sets itself
    import subprocess

    try:
        child = subprocess.run([sys.executable, "-c", _XLA_PROBE], capture_output=True, text=True,
                               timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return  # the probe could not run: leave the verdict to JAX itself
    if child.returncode == 0:
        return
    lines = [line.strip() for line in child.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"the probe exited with status {child.returncode}"
    detail = re.sub(r"^[FEW]\d{4} [\d:.]+\s+\d+ \S+\] ", "", last)  # XLA's log prefix
    raise CliError(f"XLA_FLAGS={user_flags.strip()!r} is refused by XLA: {detail}")


def start_platforms() -> list[str]:
    """The JAX platforms this process can use, started now so that a platform JAX cannot start
    (``JAX_PLATFORMS=cuda`` without a GPU, a misspelt name) is one line, not a traceback from
    deep inside the first computation."""
    from jax.extend import backend

    try:
        return list(backend.backends())
    except Exception as exc:  # noqa: BLE001  JAX raises RuntimeError, ValueError or AssertionError here
        detail = (str(exc).strip().splitlines() or ["a platform it names is not available on this machine"])[0]
        raise CliError(f"JAX could not start its platforms (JAX_PLATFORMS="
                       f"{os.environ.get('JAX_PLATFORMS', '')!r}): {detail}") from None


def select_device(name: str) -> None:
    """Make ``name`` (cpu, gpu or tpu) JAX's only platform, with ``numpyro.set_platform``.

    Must run before any JAX computation. JAX's backends are probed once to learn which
    platforms this machine has, then cleared, so the chosen platform is the one initialised.

    Raises
    ------
    CliError
        When JAX has no such platform here; the message lists the platforms it has.
    """
    import numpyro
    from jax.extend import backend

    present: dict[str, str] = {}
    for platform in start_platforms():
        present.setdefault(_PLATFORM_KIND.get(platform, platform), platform)
    if name not in present:
        raise CliError(f"--device {name}: JAX has no {name} platform on this machine; "
                       f"platforms present: {', '.join(sorted(present))}")
    backend.clear_backends()
    numpyro.set_platform(present[name])  # it takes concrete names (cuda, rocm), not 'gpu'


def main(argv: list[str] | None = None) -> int:
    """Run the ``bayeslaw`` command; returns the exit status (0 ok, 2 bad input).

    SIGINT and SIGTERM end the process with one line and status 130 or 143 (see
    :mod:`bayeslaw.core.interrupts`).
    """
    with interrupts.guard():
        user_flags = os.environ.get("XLA_FLAGS", "")
        _use_cpu_cores()
        args = build_parser().parse_args(argv)
        args.given = getattr(args, "given", set())  # what the user typed, beside the defaults
        from bayeslaw.core.errors import BayeslawError

        try:
            check_flags()  # every command, before JAX starts
            check_xla_flags(user_flags)
            if getattr(args, "device", None):
                select_device(args.device)
            else:
                start_platforms()
            return args.handler(args)
        except (BayeslawError, CliError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:  # a SIGINT raised by other code than our handler
            interrupts.end(signal.SIGINT)
    return EXIT_ERROR  # not reached: _fail and end exit


def run() -> None:
    """The ``bayeslaw`` command's entry point: :func:`main`, then the process ends at once.

    Ending by :func:`os._exit` once the output is flushed skips the interpreter's teardown of
    JAX (most of a second), in which Python has already restored the default SIGINT action: a
    Ctrl-C then killed the process without its one line. A reader that closes the pipe early
    (``bayeslaw predict ... | head``) ends the command quietly with 141, as SIGPIPE would.
    """
    try:
        try:
            code = main()
        except SystemExit as exc:  # usage errors, --help, --version
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
        sys.stdout.flush()
    except BrokenPipeError:
        code = 128 + signal.SIGPIPE
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
