"""Outputs of the ``bayeslaw`` command line: atomic file writes, the fit plot, printed tables.

Every file is written to a temporary file in the target folder and renamed into place, so it is
either complete or absent; a failed write raises :class:`~bayeslaw.cli_args.CliError`. Only the
standard library is imported at module level, so ``bayeslaw --help`` stays fast.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .cli_args import CliError

# -- output files -----------------------------------------------------------------------------


def atomic_write(target: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``target``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        raise CliError(f"cannot write '{target}': {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process's file-mode creation mask (read by setting it and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_plot(fit, target: Path, x: str | None, ci_prob: float, at=None) -> None:
    """Draw :func:`bayeslaw.plot.plot_decision` (with the planned runs ``at``) on a pyplot-free
    figure and save it atomically; ``x`` None is training compute C for laws in N and D."""
    from matplotlib.figure import Figure

    from .plot import plot_decision

    fig = Figure(figsize=(8.5, 6.8), layout="constrained")
    plot_decision(fit, at, x=x, ci_prob=ci_prob, fig=fig)
    fmt = target.suffix.lstrip(".").lower() or "png"
    atomic_write(target, lambda tmp: fig.savefig(tmp, format=fmt, dpi=100))


# -- printing ---------------------------------------------------------------------------------


def _num(value: float) -> str:
    """A number with 4 significant digits."""
    return f"{value:.4g}"


def format_summary(summary) -> str:
    """A parameter summary with 4 significant digits, R-hat to 3 decimals, ESS as integers."""
    text = summary.copy().astype(object)
    for col in ("mean", "sd", "median", "lower", "upper"):
        text[col] = [_num(v) for v in summary[col]]
    text["r_hat"] = [f"{v:.3f}" for v in summary["r_hat"]]
    for col in ("ess_bulk", "ess_tail"):
        text[col] = [f"{v:.0f}" for v in summary[col]]
    return text.to_string()


def format_predictions(frame, inputs: list[str]) -> str:
    """A prediction table with the inputs and the statistics to 4 significant digits.

    Parameters
    ----------
    frame : pandas.DataFrame
        Predictions as returned by ``Fit.predict`` (maybe with extra columns, printed as they are).
    inputs : list of str
        The law's input columns, formatted like the statistics.

    Returns
    -------
    str
        The table, without the index.
    """
    text = frame.copy().astype(object)
    for col in inputs + ["mean", "sd", "median", "lower", "upper"]:
        if col in frame:
            text[col] = [_num(v) for v in frame[col]]
    return text.to_string(index=False)
