"""Outputs of the ``bayeslaw`` command line: atomic file writes, the fit plot, printed tables.

Every file is written to a temporary file in the target folder and renamed into place, so it is
either complete or absent; a failed write raises :class:`~bayeslaw.cli.args.CliError`. Only the
standard library is imported at module level, so ``bayeslaw --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from bayeslaw.cli.args import CliError
from bayeslaw.core.atomic import write_atomically

# -- output files -----------------------------------------------------------------------------


def atomic_write(target: Path, write) -> None:
    """:func:`bayeslaw.core.atomic.write_atomically` with the command line's error (one line, exit 2)."""
    write_atomically(target, write, error=CliError)


def save_plot(fit, target: Path, x: str | None, ci_prob: float, at=None) -> None:
    """Draw :func:`bayeslaw.plot.plot_decision` (with the planned runs ``at``) on a pyplot-free
    figure and save it atomically; ``x`` None is training compute C for laws in N and D."""
    from matplotlib.figure import Figure

    from bayeslaw.plot import plot_decision

    fig = Figure(figsize=(8.5, 6.8), layout="constrained")
    plot_decision(fit, at, x=x, ci_prob=ci_prob, fig=fig)
    fmt = target.suffix.lstrip(".").lower() or "png"
    atomic_write(target, lambda tmp: fig.savefig(tmp, format=fmt, dpi=100))


# -- printing ---------------------------------------------------------------------------------


def _num(value: float) -> str:
    """A number with 4 significant digits."""
    return f"{value:.4g}"


def format_summary(summary) -> str:
    """A parameter summary with 4 significant digits, R-hat to 3 decimals, ESS as integers,
    followed by a legend: one line per parameter saying what it is (from ``meaning``)."""
    legend = summary.attrs.get("legend") or {}
    summary = summary.drop(columns=["meaning"], errors="ignore")
    text = summary.copy().astype(object)
    for col in ("mean", "sd", "median", "lower", "upper"):
        text[col] = [_num(v) for v in summary[col]]
    text["r_hat"] = [f"{v:.3f}" for v in summary["r_hat"]]
    for col in ("ess_bulk", "ess_tail"):
        text[col] = [f"{v:.0f}" for v in summary[col]]
    if not legend:
        return text.to_string()
    width = max(len(name) for name in legend)
    lines = [f"  {name.ljust(width)}  {meaning}" for name, meaning in legend.items()]
    return text.to_string() + "\nwhere\n" + "\n".join(lines)


_TIMING_LABELS = {"compile_s": "compile", "init_s": "mode search", "sampling_s": "sampling",
                  "extrapolation_s": "extrapolation error", "other_s": "other"}


def format_timings(timings: dict) -> str:
    """``Timings: 59.1 s = compile 3.2 s + mode search 0.4 s + ...``: the parts add up."""
    parts = [f"{label} {timings[key]:.1f} s" for key, label in _TIMING_LABELS.items() if key in timings]
    return f"Timings: {timings['total_s']:.1f} s = " + " + ".join(parts)


def format_extrapolation(error, families, target: str) -> str:
    """The extrapolation error's scales in one line, then with a drift per family a table of the
    families' drifts (one line each: a sentence naming every family's drift grows unreadable)."""
    text = f"{error.describe(families, per_family=False)} (log {target})"
    table = error.drift_table(families)
    if table is None:
        return text
    body = table.to_string(float_format=lambda v: f"{v:+.3g}")
    return f"{text}; drift per family (posterior mean, log {target}):\n" + "\n".join(
        "  " + line for line in body.splitlines())


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
    for col in (c for c in frame.columns if c.startswith("beyond_")):
        text[col] = [f"{v:.2f}" for v in frame[col]]
    if "tail_k" in frame:
        text["tail_k"] = [f"{v:.2f}" for v in frame["tail_k"]]
    out = text.to_string(index=False)
    if "tail_k" in frame and (frame["mean"].isna() | frame["sd"].isna()).any():
        from bayeslaw.results.tails import MEAN_K_LIMIT, SD_K_LIMIT

        out += (f"\nnan: the predictive's tail is too heavy for a mean (tail_k >= {MEAN_K_LIMIT}) "
                f"or an sd (tail_k >= {SD_K_LIMIT}); use the median and the interval")
    return out


def format_diagnostics(notes: list[str]) -> str:
    """The Diagnostics line that ends ``bayeslaw fit`` and ``bayeslaw downstream``, one indented
    line per warning after it, so that silence is never mistaken for a check that was not made."""
    head = "Diagnostics: " + ("no problems found (R-hat, ESS, divergences)" if not notes
                              else f"{len(notes)} warning(s)")
    return "\n".join([head] + [f"  warning: {note}" for note in notes])


def position_notes(subject: str, beyond: dict[str, float], below: dict[str, float], interval: str) -> list[str]:
    """The notes on where ``subject`` (a planned run, a budget's optimum) lies: beyond the largest
    fitted run and below the smallest, each in decades per input (only those above 0).
    ``interval`` names what carries the extrapolation error (``"its interval"``)."""
    notes = []
    for side, decades, tail in (
            ("beyond the largest", beyond, f"{interval} includes the extrapolation error where one was measured"),
            ("below the smallest", below, f"the law was not checked there and {interval} carries no extrapolation "
                                          "error")):
        far = {name: value for name, value in decades.items() if value > 0}
        if far:
            parts = ", ".join(f"{name} by {value:.2g} decades" for name, value in far.items())
            notes.append(f"note: {subject} lies {side} fitted run in {parts}; {tail}")
    return notes


def describe_beyond(frame) -> list[str]:
    """One sentence per predicted row that lies beyond the fitted runs, in decades per input, and
    one per row below the smallest fitted run (``attrs["below"]`` of ``Fit.predict``'s frame)."""
    cols = [c for c in frame.columns if c.startswith("beyond_")]
    below = frame.attrs.get("below", {})
    lines = []
    for i, row in enumerate(frame.reset_index(drop=True).itertuples(index=False)):
        lines += position_notes(f"planned run {i + 1}", {c[len("beyond_"):]: getattr(row, c) for c in cols},
                                {name: float(values[i]) for name, values in below.items()}, "its interval")
    return lines
