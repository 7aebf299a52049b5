"""The planning figure: loss against compute, iso-lines of the law, planned runs with intervals.

For a law in N and D the runs are drawn against training compute C = 6ND (or N, or D), coloured
by tokens per parameter D/N on a log colour scale. The fitted law is drawn as iso-lines at a few
fixed D/N ratios spanning the data, each with its credible band (the law) and the middle one
also with the predictive band (a new run). The region beyond the largest fitted run is shaded
as extrapolation, every planned run is a point with its predictive interval, and a residual
panel shows observed / fitted against the same axis, each run against its own family's law.
"""

from __future__ import annotations

import numpy as np

from bayeslaw.core.errors import PredictionError
from bayeslaw.plot._common import (
    CMAP,
    CURVE_MARGIN,
    PLAN_COLOR,
    check_family,
    check_key,
    family_rows,
    has_nd,
    key_label,
    plan_families,
    plan_label,
    planned_frame,
    shade_extrapolation,
    target_label,
)
from bayeslaw.plot.fit import plain_log_ticks
from bayeslaw.plot.residuals import Batch, draw_residuals, run_rows
from bayeslaw.results.draws import check_ci_prob
from bayeslaw.results.fit import NEW_FAMILY
from bayeslaw.results.sizes import key_values

_GRID_POINTS = 150


def default_ratios(fit) -> list[float]:
    """D/N of the iso-lines: the 10%, 50% and 90% quantiles of the runs' D/N, to 2 digits."""
    ratio = np.asarray(fit.table.inputs["D"]) / np.asarray(fit.table.inputs["N"])
    picked = np.exp(np.quantile(np.log(ratio), [0.1, 0.5, 0.9]))
    return sorted({float(f"{r:.2g}") for r in picked})


def iso_rows(fit, x: str, grid: np.ndarray, ratio: float | None, held: dict) -> dict:
    """Input columns along ``grid`` of the key ``x`` at a fixed D/N ``ratio`` (None: no ratio)."""
    if ratio is None:
        return {x: grid, **{k: np.full(grid.size, v) for k, v in held.items()}}
    if x == "C":
        n = np.sqrt(grid / (6.0 * ratio))
    elif x == "N":
        n = grid
    else:  # x == "D"
        n = grid / ratio
    return {"N": n, "D": ratio * n, **{k: np.full(grid.size, v) for k, v in held.items()}}


def _checked_ratios(ratios) -> list[float]:
    """The D/N ratios to draw, sorted; anything but positive finite numbers is a PredictionError."""
    try:
        values = np.atleast_1d(np.asarray(ratios, dtype=float))
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise PredictionError(f"ratios must be one or more positive D/N ratios, got {ratios!r}")
    return sorted(values.tolist())


def _cmap():
    import matplotlib as mpl
    from matplotlib.colors import ListedColormap

    # viridis without its palest yellow end, so the brightest iso-line stays readable on white
    return ListedColormap(mpl.colormaps[CMAP](np.linspace(0.0, 0.85, 256)), name="bayeslaw_dn")


def _dodge(keys: np.ndarray) -> np.ndarray:
    """Spread planned runs that share a key a little apart (x 1.12 each), so none hides another."""
    out = keys.astype(float).copy()
    for i in range(len(keys)):
        same = np.flatnonzero(np.isclose(keys[:i], keys[i], rtol=1e-3))
        out[i] *= 1.12 ** len(same)
    return out


def plot_decision(fit, at=None, *, x: str | None = None, ci_prob: float = 0.9, ratios=None,
                  family: str | None = None, residuals: bool = True, fig=None, seed: int = 0):
    """Draw the runs, the fitted law and the planned runs on the axis the plan is made on.

    Parameters
    ----------
    fit : Fit
        A fit from :func:`bayeslaw.fit` or :func:`bayeslaw.load_fit`.
    at : dict, list of dicts or DataFrame, optional
        Planned runs, as for :meth:`Fit.predict` (e.g. ``{"N": 7e10, "D": 1.4e12}``); each is
        drawn with its median and predictive interval (a new run) and its credible interval
        (the law, thicker). The axes always include them.
    x : str, optional
        Horizontal axis: ``"C"`` (training compute 6ND, the default for laws in N and D), or a
        law input such as ``"N"`` (default for other laws: their first input).
    ci_prob : float
        Probability of every band and interval (default 0.9).
    ratios : sequence of float, optional
        Tokens per parameter (D/N) of the iso-lines; default: 10%, 50% and 90% quantiles of the
        runs' D/N. Ignored for laws without both N and D (one curve, other inputs held at their
        geometric mean over the runs).
    family : str, optional
        Family whose law the curves show: a fitted family or ``"(new)"`` for a family not in
        the fit. Default: the first fitted family among the planned runs, else the family with
        the most runs. Its runs are filled markers, other families' runs open ones.
    residuals : bool
        Add the panel of observed / fitted below (default True).
    fig : matplotlib Figure, optional
        Figure to draw on (it should be empty); default a new ``pyplot`` figure.
    seed : int
        Seed of the predictive draws.

    Returns
    -------
    matplotlib.figure.Figure
        Axes labelled ``"decision"`` (main), ``"residuals"`` and the colour bar (laws in N and
        D). Artists carry labels a reader of the figure can find: ``_runs <family>``,
        ``_runs other families``, ``D/N = r`` (iso-line), ``_credible D/N = r``,
        ``_predictive D/N = r``, ``_planned <run>``, ``extrapolation``.

    Raises
    ------
    PredictionError
        For a bad ``x``, ``family``, ``ci_prob`` or planned run.
    """
    ci_prob = check_ci_prob(ci_prob)
    if x is None:
        x = "C" if has_nd(fit.law) else fit.law.input_names[0]
    x = check_key(fit, x)
    planned = planned_frame(fit, at)
    family = check_family(fit, family, planned)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(8.5, 6.8 if residuals else 5.2), layout="constrained")
    if residuals:
        main, resid = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        main, resid = fig.add_subplot(), None
    main.set_label("decision")
    table = fit.table
    inputs = {k: np.asarray(v, float) for k, v in table.inputs.items()}
    target = np.asarray(table.target, float)
    keys = key_values(inputs, x)
    plan_keys = key_values({k: planned[k].to_numpy(float) for k in fit.law.input_names}, x) \
        if len(planned) else np.empty(0)
    by_ratio = has_nd(fit.law) and x in ("C", "N", "D")
    ratio_name = "tokens per parameter D/N"
    if by_ratio:
        run_ratio = inputs["D"] / inputs["N"]
        ratios = _checked_ratios(ratios) if ratios is not None else default_ratios(fit)
        held = {k: float(np.exp(np.log(v).mean())) for k, v in inputs.items() if k not in ("N", "D")}
        plan_ratio = planned["D"].to_numpy(float) / planned["N"].to_numpy(float) if len(planned) else []
        from matplotlib.colors import LogNorm

        every = np.concatenate([run_ratio, plan_ratio, ratios])
        norm, cmap = LogNorm(every.min() / 1.5, every.max() * 1.5), _cmap()
        colour = lambda r: cmap(norm(r))  # noqa: E731
    else:
        run_ratio, ratios = None, [None]
        held = {k: float(np.exp(np.log(v).mean())) for k, v in inputs.items() if k != x}
        colour = lambda r: "C0"  # noqa: E731
    low = min(keys.min(), plan_keys.min() if plan_keys.size else np.inf)  # a planned run below the data is drawn too
    x_lo = low / 1.6
    x_hi = max(keys.max(), plan_keys.max() if plan_keys.size else 0.0) * CURVE_MARGIN
    grid = np.geomspace(low / 1.3, x_hi / 1.15, _GRID_POINTS)
    ys = [target]

    # -- runs: filled for the family whose curves are drawn, open for the others ----------------
    mine = np.asarray(table.family_index) == (fit.families.index(family) if family != NEW_FAMILY else -2)
    point_colour = cmap(norm(run_ratio)) if by_ratio else "C0"
    several = len(fit.families) > 1
    name_mine = f"_runs {family}" if several else "_runs"
    main.scatter(keys[mine], target[mine], s=20, c=point_colour[mine] if by_ratio else "C0",
                 edgecolors="white", linewidths=0.4, zorder=3, label=name_mine)
    if (~mine).any():
        main.scatter(keys[~mine], target[~mine], s=20, facecolors="none",
                     edgecolors=point_colour[~mine] if by_ratio else "C0", linewidths=0.9, zorder=3,
                     label="_runs other families", alpha=0.85)

    # -- iso-lines of the law with credible bands; the middle one also with its predictive band --
    middle = ratios[len(ratios) // 2]
    blocks = {}
    for i, r in enumerate(ratios):
        blocks[i] = {**iso_rows(fit, x, grid, r, held), **family_rows(fit, family, grid.size)}
    blocks["runs"] = run_rows(fit)
    batch = Batch(fit, blocks, ci_prob, seed)
    for i, r in enumerate(ratios):
        law = batch.stats(i, "law")
        c = colour(r)
        tag = "law" if r is None else f"D/N = {r:g}"
        main.plot(grid, law["median"], color=c, linewidth=1.8, zorder=4, label=tag)
        main.fill_between(grid, law["lower"], law["upper"], color=c, alpha=0.35, linewidth=0,
                          zorder=2, label=f"_credible {tag}")
        ys += [law["lower"], law["upper"]]
        if r == middle:
            obs = batch.stats(i, "observed")
            main.fill_between(grid, obs["lower"], obs["upper"], facecolor=c, alpha=0.12, zorder=1,
                              edgecolor=c, linewidth=0.6, linestyle=":", label=f"_predictive {tag}")

    # -- planned runs: predictive interval (thin, capped) and credible interval (thick) ---------
    if len(planned):
        obs = fit.predict(planned, kind="observed", ci_prob=ci_prob, seed=seed)
        law = fit.predict(planned, kind="law", ci_prob=ci_prob, seed=seed)
        fams = plan_families(fit, planned)
        at_x = _dodge(plan_keys)
        for i, (k, row) in enumerate(zip(at_x, planned.to_dict("records"), strict=True)):
            med, lo, hi = (float(obs[c].iloc[i]) for c in ("median", "lower", "upper"))
            label = plan_label(fit, row, fams[i])
            main.plot([k, k], [law["lower"].iloc[i], law["upper"].iloc[i]], color=PLAN_COLOR,
                      linewidth=4, alpha=0.45, solid_capstyle="butt", zorder=5, label=f"_planned law {label}")
            main.errorbar([k], [med], yerr=[[med - lo], [hi - med]], fmt="D", color=PLAN_COLOR,
                          markersize=6, capsize=4, linewidth=1.2, markeredgecolor="white", zorder=6,
                          label=f"_planned {label}")
            above = i % 2 == 0  # alternate above and below, so runs at one compute do not collide
            main.annotate(f"{label}\n{med:.3g} [{lo:.3g}, {hi:.3g}]", (k, hi if above else lo),
                          xytext=(-5, 5 if above else -5), textcoords="offset points", ha="right",
                          va="bottom" if above else "top", fontsize=7.5, color=PLAN_COLOR, zorder=7,
                          bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none",
                                "alpha": 0.85})
            ys += [np.array([lo, hi])]
    every_y = np.concatenate([np.ravel(v) for v in ys])
    pad = 1.1 if len(planned) else 1.04  # room for the planned runs' labels
    y_lo, y_hi = every_y.min() / pad, every_y.max() * pad
    main.set(xscale="log", yscale="log", xlim=(x_lo, x_hi), ylim=(y_lo, y_hi))
    plain_log_ticks(main.yaxis)
    calibrated = fit.extrapolation is not None
    shade_extrapolation(main, keys.max(), x_hi * 10,
                        text="extrapolation" + (" (calibrated error included)" if calibrated else ""))
    main.set_xlim(x_lo, x_hi)
    main.set_ylabel(target_label(fit))
    where = " for a new family" if family == NEW_FAMILY else f" for family {family}" if several else ""
    main.set_title(f"{fit.law.name}: median law{where} with {ci_prob:.0%} bands", fontsize=10)
    main.legend(handles=_legend(fit, family, ci_prob, by_ratio, len(planned), (~mine).any(),
                                [(colour(r), r) for r in ratios]),
                fontsize=7.5, loc="best", framealpha=0.9)
    if resid is not None:
        draw_residuals(resid, fit, x, batch, point_colour, x_hi, x_lo)
    else:
        main.set_xlabel(key_label(fit, x))
    if by_ratio:
        from matplotlib.cm import ScalarMappable

        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=[a for a in (main, resid) if a is not None],
                           pad=0.01, fraction=0.035, aspect=40)
        bar.set_label(ratio_name)
        bar.ax.set_label("colorbar")
    return fig


def _legend(fit, family, ci_prob, by_ratio, n_planned, others, lines):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    line = "0.25"
    handles = [Line2D([], [], marker="o", linestyle="none", color="0.35", markeredgecolor="white",
                      label="runs" + (f" of {family}" if len(fit.families) > 1 and family != NEW_FAMILY else "")
                      + (" (colour: D/N)" if by_ratio else ""))]
    if others:
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="none",
                              markeredgecolor="0.35", label="runs of other families"))
    handles += [Line2D([], [], color=c, linewidth=1.8, label="median law" + (f" at D/N = {r:g}" if r else ""))
                for c, r in lines]
    handles += [Patch(color=line, alpha=0.35, linewidth=0, label=f"{ci_prob:.0%} credible band (law)"),
                Patch(facecolor=line, alpha=0.15, edgecolor=line, linestyle=":",
                      label=f"{ci_prob:.0%} predictive band (new run)")]
    if n_planned:
        handles.append(Line2D([], [], color=PLAN_COLOR, marker="D", markeredgecolor="white",
                              label=f"planned run: median, {ci_prob:.0%} predictive (thin) and credible (thick)"))
    return handles
