"""A one-page HTML report of a fit, for sharing a planning decision.

:func:`write_report` writes one self-contained file: the law, the data,
the planning figure, a plain-language parameter table, the sampler diagnostics in words, the
planned runs with how far each lies beyond the data, the compute-optimal allocation and the
calibration evidence. Figures are embedded as base64 PNG; the page loads nothing from the
network and needs no JavaScript. Every text that comes from the user (law, family and column
names, descriptions) is escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from html import escape
from importlib import metadata
from pathlib import Path

import numpy as np

from bayeslaw.core import runtime
from bayeslaw.core.atomic import check_folder, write_atomically
from bayeslaw.core.errors import BayeslawError, PredictionError
from bayeslaw.decide.allocation import optimal_allocation
from bayeslaw.evaluate.backtest import Backtest
from bayeslaw.plot._common import has_nd, planned_frame
from bayeslaw.report import sections as s
from bayeslaw.report.style import CSS
from bayeslaw.results.draws import check_ci_prob
from bayeslaw.results.sizes import key_values

__all__ = ["check_html_name", "render_report", "write_report"]

_DPI = 100


def figure_tag(fig, alt: str) -> str:
    """A matplotlib figure as an ``<img>`` with its PNG inlined (base64 data URI)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<figure><img alt="{escape(alt, quote=True)}" src="data:image/png;base64,{data}"></figure>'


def _budgets(fit, planned) -> list[float]:
    """Budgets of the allocation table: the planned runs' compute, else 10x and 100x the largest run's."""
    inputs = {k: np.asarray(v, float) for k, v in fit.table.inputs.items()}
    largest = float(key_values(inputs, "C").max())
    if len(planned):
        plan_c = key_values({k: planned[k].to_numpy(float) for k in ("N", "D")}, "C")
        wide = runtime.outside_float32(plan_c)
        if wide.any():  # optimal_allocation's own message named "compute", which the user never gave
            i = int(np.flatnonzero(wide)[0])
            row = planned.iloc[i]
            raise PredictionError(f"planned run {planned.index[i]!r} of at (N={row['N']:g}, D={row['D']:g}) needs "
                                  f"compute {plan_c[i]:.3g}, which {runtime.float32_problem(plan_c[i])}: the "
                                  "report's compute-optimal allocation cannot be solved at it")
        return sorted({float(f"{c:.3g}") for c in plan_c})
    return [float(f"{largest * 10:.2g}"), float(f"{largest * 100:.2g}")]


def _allocation_families(fit) -> list:
    """Whose compute-optimal allocation to show: a new family drawn from the population (None), or
    each fitted family when some law parameter is fitted separately per family (no population)."""
    apart = len(fit.families) > 1 and "none" in fit.plan.pooling_map.values()
    return list(fit.families) if apart else [None]


def render_report(fit, at=None, *, backtest=None, ci_prob: float = 0.9, seed: int = 0,
                  title: str | None = None) -> str:
    """The report as an HTML string (see :func:`write_report` for the arguments)."""
    from matplotlib.figure import Figure

    from bayeslaw.plot.calibration import coverage_table, plot_calibration
    from bayeslaw.plot.decision import plot_decision
    from bayeslaw.plot.forest import plot_family_forest, varying_params
    from bayeslaw.plot.frontier import plot_frontier

    ci_prob = check_ci_prob(ci_prob)
    planned = planned_frame(fit, at)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    if backtest is not None and not isinstance(backtest, Backtest):
        raise TypeError(f"backtest must be a result of bayeslaw.backtest, got {type(backtest).__name__}")
    two = has_nd(fit.law)
    solved = two and set(fit.law.input_names) == {"N", "D"}  # the allocation needs N and D alone
    budgets = _budgets(fit, planned) if solved else []  # checked before any figure is drawn
    parts = [s.law_section(fit), s.data_section(fit)]
    fig = plot_decision(fit, planned, ci_prob=ci_prob, seed=seed, x="C" if two else fit.law.input_names[0],
                        fig=Figure(figsize=(9, 7), layout="constrained"))
    parts.append(s.fit_section([figure_tag(fig, "runs, fitted law and planned runs against compute")],
                               len(planned)))
    forest = None
    if len(fit.families) > 1 and varying_params(fit):
        n = len(varying_params(fit))
        fig = plot_family_forest(fit, ci_prob=ci_prob, fig=Figure(figsize=(2.6 * n + 1.6, 0.32 * len(fit.families) + 1.8),
                                                                  layout="constrained"))
        forest = figure_tag(fig, "per-family parameter intervals")
    parts.append(s.parameters_section(fit, ci_prob, forest))
    parts.append(s.diagnostics_section(fit))
    law = obs = None
    if len(planned):
        law = fit.predict(planned, kind="law", ci_prob=ci_prob, seed=seed)
        obs = fit.predict(planned, kind="observed", ci_prob=ci_prob, seed=seed)
    parts.append(s.predictions_section(fit, planned, law, obs, ci_prob))
    if solved:
        families = _allocation_families(fit)
        frames = {f: optimal_allocation(fit, budgets, family=f, ci_prob=ci_prob, seed=seed) for f in families}
        fig = Figure(figsize=(10, 4 * len(families)), layout="constrained")
        for family, (left, right) in zip(families, fig.subplots(len(families), 2, squeeze=False)):
            plot_frontier(fit, family=family, ci_prob=ci_prob, at=planned, ax=left)
            plot_frontier(fit, quantity="tokens_per_param", family=family, ci_prob=ci_prob, at=planned, ax=right)
        parts.append(s.allocation_section(fit, frames, budgets, ci_prob,
                                          [figure_tag(fig, "compute-optimal model size and tokens per parameter")]))
    else:
        parts.append(s.allocation_section(fit, None, [], ci_prob, []))
    coverage = figure = None
    if backtest is not None:
        coverage = coverage_table(backtest)
        fig = Figure(figsize=(5, 4.6), layout="constrained")
        plot_calibration(backtest, ax=fig.add_subplot())
        figure = figure_tag(fig, "backtest calibration")
    parts.append(s.calibration_section(fit, backtest, coverage, figure))
    return _page(fit, parts, title)


def _page(fit, parts: list[str], title: str | None) -> str:
    try:
        version = metadata.version("bayeslaw")
    except metadata.PackageNotFoundError:
        version = "unknown"
    title = title or f"{fit.law.name} fit of {len(fit.table.frame)} runs"
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    toc = " · ".join(f'<a href="#{k}">{escape(v)}</a>' for k, v in s.SECTIONS.items())
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{escape(title)}</h1>\n<p class=\"muted\">bayeslaw {escape(version)} report, {when}</p>\n"
            f"<nav>{toc}</nav>\n{body}\n</main>\n</body>\n</html>\n")


def check_html_name(path: str | os.PathLike, what: str) -> None:
    """Refuse a report file not named .html or .htm: an HTML page saved as report.png or
    report.pdf opens as a broken file (``what`` names the path in the message, e.g. ``"--out"``)."""
    if Path(path).suffix.lower() not in (".html", ".htm"):
        raise BayeslawError(f"cannot write {what} '{path}': the report is an HTML page; give a .html or .htm file")


def write_report(fit, path: str | os.PathLike, at=None, *, backtest=None, ci_prob: float = 0.9,
                 seed: int = 0, title: str | None = None) -> Path:
    """Write a self-contained HTML report of a fit (figures embedded, no network, no scripts).

    Parameters
    ----------
    fit : Fit
        A fit from :func:`bayeslaw.fit` or :func:`bayeslaw.load_fit`.
    path : str or path
        The HTML file to write; it is written to a temporary file beside it and renamed into
        place, so it is either complete or absent.
    at : dict, list of dicts or DataFrame, optional
        Planned runs, as for :meth:`Fit.predict` (e.g. ``[{"N": 7e10, "D": 1.4e12}]``): drawn on
        the figure and tabled with their intervals and their distance beyond the data.
    backtest : Backtest, optional
        A result of :func:`bayeslaw.backtest` whose coverage is reported as calibration evidence.
    ci_prob : float
        Probability of every interval (default 0.9).
    seed : int
        Seed of the predictive draws.
    title : str, optional
        Page title (default: law and number of runs).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    BayeslawError
        When the file is not named .html or .htm (an HTML page saved as report.png or report.pdf
        opens as a broken file), the folder does not exist or the file cannot be written;
        PredictionError for a bad planned run.
    """
    check_html_name(path, "report")
    check_folder(path, what="write report")  # before rendering, which takes seconds
    text = render_report(fit, at, backtest=backtest, ci_prob=ci_prob, seed=seed, title=title)
    return write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"),
                            what="write report")
