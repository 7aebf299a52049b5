"""The report's sections as HTML fragments; every user-given text passes through ``html.escape``.

Each section is ``<section id="...">`` with an ``<h2>``: law, data, fit, parameters,
diagnostics, predictions, allocation, calibration (the ids the tests and the table of contents
use). Figures arrive as ready ``<img>`` tags (see :func:`bayeslaw.report.figure_tag`).
"""

from __future__ import annotations

import re
from html import escape

import numpy as np

from bayeslaw.plot._common import has_nd, human, plan_families, plan_label
from bayeslaw.report.words import diagnostics_words, parameter_rows, reader_quantity
from bayeslaw.results.sizes import key_values

SECTIONS = {"law": "The law", "data": "The data", "fit": "The fit", "parameters": "Parameters",
            "diagnostics": "Sampler diagnostics", "predictions": "Planned runs",
            "allocation": "Compute-optimal allocation", "calibration": "Calibration evidence"}
#: beyond this many decades of compute past the largest fitted run, a prediction is flagged
FAR_DECADES = 1.0


def e(value) -> str:
    """Escape any value for HTML text or attributes."""
    return escape(str(value), quote=True)


def num(value: float) -> str:
    """Three significant digits, without an exponent between 1000 and a million (1900, not 1.9e+03)."""
    value = float(value)
    if 1e3 <= abs(value) < 1e6:
        return f"{float(f'{value:.3g}'):.0f}"
    return f"{value:.3g}"


def section(key: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{e(SECTIONS[key])}</h2>\n{body}\n</section>'


def table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; cells are already HTML (escape before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def interval(median: float, lower: float, upper: float, fmt=num) -> str:
    return f"{e(fmt(median))} <span class=\"ci\">[{e(fmt(lower))}, {e(fmt(upper))}]</span>"


def law_section(fit) -> str:
    law = fit.law
    inputs = ", ".join(f"<b>{e(i.name)}</b>" + (f" ({e(i.unit)})" if i.unit else "") for i in law.inputs)
    like = law.likelihood
    noise = f"{e(like.dist)} noise on the {'log of the ' if like.space == 'log' else ''}{e(fit.table.target_name)}"
    parts = [f"<p class=\"formula\">{e(fit.table.target_name)} = {e(law.formula.text)}</p>",
             f"<p><b>{e(law.name)}</b>: {e(law.description)}</p>",
             f"<p>Inputs: {inputs}. Likelihood: {noise}.</p>"]
    if law.derived:
        derived = ", ".join(f"{e(k)} = {e(v.text)}" for k, v in law.derived.items())
        parts.append(f"<p>Derived quantities: {derived}.</p>")
    if getattr(law, "reference", ""):
        parts.append(f"<p class=\"muted\">Reference: {e(law.reference)}</p>")
    return section("law", "\n".join(parts))


def data_section(fit) -> str:
    table_ = fit.table
    inputs = {k: np.asarray(v, float) for k, v in table_.inputs.items()}
    counts = np.bincount(np.asarray(table_.family_index), minlength=len(fit.families))
    fams = ", ".join(f"{e(f)} ({c})" for f, c in zip(fit.families, counts, strict=True))
    units = {i.name: i.unit for i in fit.law.inputs}
    rows = [[f"{e(k)}" + (f" ({e(units[k])})" if units.get(k) else ""), e(human(v.min())), e(human(v.max())),
             e(f"{np.log10(v.max() / v.min()):.1f}")] for k, v in inputs.items()]
    if has_nd(fit.law):
        c = key_values(inputs, "C")
        ratio = inputs["D"] / inputs["N"]
        rows.append(["C = 6ND (FLOPs)", e(f"{c.min():.2g}"), e(f"{c.max():.2g}"), e(f"{np.log10(c.max() / c.min()):.1f}")])
        rows.append(["D/N (tokens per parameter)", e(num(ratio.min())), e(num(ratio.max())),
                     e(f"{np.log10(ratio.max() / ratio.min()):.1f}")])
    y = np.asarray(table_.target, float)
    rows.append([e(table_.target_name), e(num(y.min())), e(num(y.max())), ""])
    grouped = f" grouped by <b>{e(table_.group)}</b>" if table_.group else ""
    body = (f"<p><b>{len(y)}</b> runs{grouped}; {len(fit.families)} "
            f"{'family' if len(fit.families) == 1 else 'families'}: {fams}.</p>"
            + table(["quantity", "smallest", "largest", "decades"], rows))
    return section("data", body)


def fit_section(figures: list[str], n_planned: int) -> str:
    note = ("Planned runs are drawn in red with their intervals." if n_planned else
            "No planned runs were given (add them with <code>--at</code> or <code>at=[...]</code>).")
    return section("fit", f"<p>{note}</p>\n" + "\n".join(figures))


def parameters_section(fit, ci_prob: float, forest: str | None) -> str:
    several = len(fit.families) > 1
    rows = []
    for r in parameter_rows(fit, ci_prob):
        rows.append([f"<b>{e(r['name'])}</b>", interval(r["median"], r["lower"], r["upper"])]
                    + ([e(r["varies"])] if several else []) + [e(r["meaning"])])
    header = ["parameter", f"median [{ci_prob:.0%} interval]"] + (["across families"] if several else []) \
        + ["meaning"]
    body = table(header, rows, "params")
    if forest:
        body += "\n<p>Each family's values:</p>\n" + forest
    return section("parameters", body)


def diagnostics_section(fit) -> str:
    ok, found, n = diagnostics_words(fit)
    head = (f"<p>{n['chains']} chains of {n['draws']} draws ({e(n['sampler'])}). Largest R-hat "
            f"{n['max_r_hat']:.3f} (limit {n['rhat_limit']}), smallest bulk / tail ESS "
            f"{n['min_ess_bulk']:.0f} / {n['min_ess_tail']:.0f} (want at least {n['ess_wanted']}), {n['divergences']} divergent transitions.</p>")
    if np.isnan(n["max_r_hat"]):
        verdict = '<p class="warn"><b>Not judged</b>: one chain (or very few draws) cannot show convergence; ' \
                  "fit with 4 chains.</p>"
    elif ok:
        verdict = ('<p class="ok"><b>Converged.</b> The chains agree, there are enough effective draws and no '
                   "divergences: the intervals below can be read as the posterior's.</p>")
    else:
        items = "".join(f"<li>{e(p)}</li>" for p in found)
        verdict = (f'<p class="warn"><b>Not converged, or not reliably</b>: treat the numbers below with '
                   f"care.</p><ul>{items}</ul>")
    fallback = fit.config.get("hmc_fallback")
    if fallback:
        reason = re.sub(r"(?<=for )([\w\[\]]+)", lambda m: reader_quantity(fit, m.group(1)), fallback.split(":")[0])
        head += (f"<p class=\"muted\">The fast HMC sampler's draws were set aside ({e(reason)}); "
                 "these are NUTS's.</p>")
    return section("diagnostics", verdict + head)


def _beyond(value: float, largest: float) -> str:
    d = np.log10(value / largest)
    return f"+{d:.2f}" if d > 0 else f"inside ({d:.2f})"


def predictions_section(fit, planned, law, obs, ci_prob: float) -> str:
    if not len(planned):
        return section("predictions", "<p>No planned runs were given. Add them with "
                       "<code>bayeslaw report FIT.nc --out report.html --at \"N=7e10,D=1.4e12\"</code> "
                       "or <code>bl.write_report(fit, path, at=[{...}])</code>.</p>")
    inputs = {k: np.asarray(v, float) for k, v in fit.table.inputs.items()}
    keys = list(fit.law.input_names) + (["C"] if has_nd(fit.law) else [])
    largest = {k: key_values(inputs, k).max() for k in keys}
    fams = plan_families(fit, planned)
    rows, far = [], []
    for i, row in enumerate(planned.to_dict("records")):
        values = {k: float(key_values({n: np.array([row[n]]) for n in fit.law.input_names}, k)[0]) for k in keys}
        beyond = [_beyond(values[k], largest[k]) for k in keys]
        if "C" in values and np.log10(values["C"] / largest["C"]) > FAR_DECADES:
            far.append(plan_label(fit, row, fams[i]))
        rows.append([e(plan_label(fit, row, fams[i])),
                     interval(law["median"].iloc[i], law["lower"].iloc[i], law["upper"].iloc[i]),
                     interval(obs["median"].iloc[i], obs["lower"].iloc[i], obs["upper"].iloc[i]),
                     *[e(b) for b in beyond]])
    header = ["planned run", f"law: median [{ci_prob:.0%}]", f"new run: median [{ci_prob:.0%}]",
              *[f"beyond largest {e(k)} (log10)" for k in keys]]
    largest_text = ", ".join(f"{e(k)} = {e(human(v) if k != 'C' else f'{v:.2g}')}" for k, v in largest.items())
    body = (f"<p>\u201claw\u201d is the curve itself (credible interval); \u201cnew run\u201d adds run-to-run "
            f"noise (predictive interval). Distances are decades beyond the largest fitted value of each "
            f"({largest_text}); \u201cinside\u201d means within the data's range.</p>" + table(header, rows))
    if far:
        calibrated = fit.extrapolation is not None
        body += (f'<p class="warn">{e("; ".join(far))}: more than {FAR_DECADES:g} decade of compute beyond the '
                 + ("data. The intervals include the calibrated extrapolation error.</p>" if calibrated else
                    "data, and the intervals assume the law keeps holding there (no extrapolation error "
                    "was calibrated; see Calibration evidence).</p>"))
    return section("predictions", body)


def allocation_section(fit, frames, budgets, ci_prob: float, figures: list[str]) -> str:
    """``frames``: :func:`optimal_allocation` tables by family (None: a new family), or None when
    the law has no N and D or has other inputs."""
    if frames is None and not has_nd(fit.law):
        return section("allocation", f"<p>Law {e(fit.law.name)} does not have inputs N (parameters) and "
                       "D (tokens), so the compute-optimal split of a FLOP budget does not apply.</p>")
    if frames is None:
        others = ", ".join(e(n) for n in fit.law.input_names if n not in ("N", "D"))
        return section("allocation", f"<p>Law {e(fit.law.name)} has inputs besides N and D ({others}); "
                       "the optimum depends on their values: call <code>bl.optimal_allocation(fit, compute, "
                       "inputs={...})</code>.</p>")
    rows = []
    fmt = {"N_opt": human, "D_opt": human, "tokens_per_param": num, "loss": num}
    named = list(frames) != [None]
    for family, frame in frames.items():
        for c in budgets:
            sub = frame.xs(c, level="compute")
            cell = {q: sub.loc[q] for q in sub.index}
            rows.append(([e(family)] if named else []) + [e(f"{c:.2g}")]
                        + [interval(cell[q]["median"], cell[q]["lower"], cell[q]["upper"], fmt[q])
                           for q in ("N_opt", "D_opt", "tokens_per_param", "loss")])
    header = (["family"] if named else []) + ["compute C (FLOPs)", "model size N*", "tokens D*",
                                              "tokens per parameter", "loss at the optimum"]
    whose = ("for each fitted family (parameters fitted separately per family leave no population "
             "to draw a new family from)" if named else "for a new family drawn from the population")
    body = (f"<p>For a FLOP budget C = 6ND, the model size and token count that minimise the law's loss, "
            f"{whose} (median and {ci_prob:.0%} interval).</p>"
            + table(header, rows) + "\n" + "\n".join(figures))
    return section("allocation", body)


def _drift_clause(error) -> str:
    if error.drift is None:
        return ""
    return (f"centre moves by the drift the nested fits share along {error.by}"
            + (" (one per family)" if error.drift.ndim == 2 else "") + " and ")


def calibration_section(fit, backtest, coverage, figure: str | None) -> str:
    """The evidence that the intervals are honest: the fit's calibrated extrapolation error and a
    backtest's coverage of held-out runs (``coverage``: :func:`bayeslaw.plot.calibration.coverage_table`)."""
    parts = []
    error = fit.extrapolation
    if error is not None:
        cutoffs = ", ".join(f"{c:.2g}" for c in error.cutoffs)
        parts.append(f"<p><b>Extrapolation error</b>: measured by {len(error.cutoffs)} nested leave-largest-out "
                     f"refits on {e(error.by)} (cutoffs {e(cutoffs)}) from {error.n_points} held-out predictions: "
                     f"{e(error.describe(fit.families))}. Predictions beyond the largest fitted run include it: their "
                     + _drift_clause(error) + "their intervals widen with the distance"
                     + (" on the farthest of " + e(", ".join(error.frontier)) if error.frontier and len(error.frontier) > 1 else "")
                     + ".</p>")
    if backtest is not None:
        rows = []
        for r in coverage.itertuples():
            verdict = ("consistent" if r.lower <= r.nominal <= r.upper else
                       "too narrow" if r.upper < r.nominal else "too wide")
            rows.append([e(f"{r.nominal:.0%}"), e(f"{r.inside}/{r.n}"), e(f"{r.coverage:.0%}"),
                         e(f"[{r.lower:.0%}, {r.upper:.0%}]"), e(verdict)])
        parts.append(f"<p><b>Backtest</b>: fitted on the {backtest.n_train} runs with {e(backtest.by)} below "
                     f"{backtest.cutoff:.3g}, {len(backtest.table)} larger runs held out and predicted; median "
                     f"absolute relative error {backtest.median_are:.2%}.</p>"
                     + table(["nominal", "inside", "coverage", "90% Jeffreys interval", "verdict"], rows))
        if figure:
            parts.append(figure)
    if not parts:
        parts.append('<p class="warn"><b>Absent.</b> This fit carries no evidence that its intervals hold '
                     "beyond the fitted runs.</p><p>To get it: <code>bayeslaw fit LAW DATA --out fit.nc</code> "
                     "without <code>--no-extrapolation</code> (or <code>bl.calibrate_extrapolation(fit, by=\"C\")</code>) "
                     "fits the law below nested cutoffs, measures how far it misses the larger runs and widens "
                     "predictions beyond the data accordingly; <code>bayeslaw backtest</code> (or <code>bl.backtest</code>, "
                     "then <code>bl.write_report(fit, path, backtest=result)</code>) scores held-out larger runs.</p>")
    return section("calibration", "\n".join(parts))
