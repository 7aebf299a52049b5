"""Accuracy against training compute for the downstream models (the ladder and observational fits).

:func:`plot_accuracy` draws observed accuracies against compute with, per family (group), the
posterior median curve, the credible band of the curve (``kind="law"``) and the wider
posterior-predictive band of a new model (``kind="observed"``), extended
:data:`bayeslaw.plot.EXTEND_DECADES` beyond the largest observed compute. The capability-factor
loadings of an observational fit are drawn by :mod:`bayeslaw.plot.loadings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, PredictionError
from bayeslaw.data.columns import parse_numbers
from bayeslaw.downstream.inputs import row_numbers
from bayeslaw.downstream.ladder import LadderFit
from bayeslaw.downstream.observational import ObservationalFit
from bayeslaw.plot.fit import EXTEND_DECADES, _color_cycle
from bayeslaw.results.draws import check_ci_prob, check_seed

_GRID_POINTS = 80


def _frame(rows, name: str) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True)
    if isinstance(rows, Mapping):
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in rows.items()})
    raise PredictionError(f"{name} must be a DataFrame or a mapping of columns, got {type(rows).__name__}")


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A plotted column as floats, missing values NaN; text is a PredictionError naming the rows."""
    try:
        return parse_numbers(frame, column, "the plotted rows")
    except DataError as exc:
        raise PredictionError(str(exc)) from None


def _need(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PredictionError(f"{name} have no column {missing[0]!r}; needed: {', '.join(columns)}; "
                              f"columns: {', '.join(map(str, frame.columns))}")


def _short(n: float) -> str:
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def _bands(draws: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # accuracies live in [0, 1]; the observational model's Normal noise can step outside
    tail = (1 - ci_prob) / 2
    lo, med, hi = np.quantile(np.clip(draws, 0.0, 1.0), [tail, 0.5, 1 - tail], axis=0)
    return lo, med, hi


class _Ladder:
    """Groups hold N (each model size by default) while D, and so C = 6ND, grows."""

    heldout_groups = False  # held-out targets are larger models: no curve of their own

    def __init__(self, fit: LadderFit, rows: pd.DataFrame, x: str, group: str | None):
        if x != "C":
            raise PredictionError(f"the ladder is plotted against compute C = 6*N*D; x must be 'C', got {x!r}")
        self.fit, self.target = fit, fit.info["accuracy"]
        _need(rows, ["N", "D", self.target] + ([group] if group else []), "rows")
        self.group = group

    def points(self, frame: pd.DataFrame):
        _need(frame, ["N", "D", self.target], "rows")
        N, D = row_numbers(frame, {"N": True, "D": True}, "the plotted rows")
        # held-out targets need no group column: they get no curve of their own
        labels = (frame[self.group].astype(str) if self.group in frame.columns
                  else pd.Series([f"N={_short(n)}" for n in N], dtype=object))
        return 6 * N * D, _numbers(frame, self.target), labels.to_numpy()

    def curve_rows(self, frame: pd.DataFrame, members: np.ndarray, grid: np.ndarray) -> pd.DataFrame:
        n_hold = float(np.exp(np.mean(np.log(frame["N"].to_numpy(float)[members]))))
        return pd.DataFrame({"N": np.full(grid.size, n_hold), "D": grid / (6 * n_hold)})

    def heldout_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        # held-out runs sit at model sizes no group holds: each gets its own predictive interval
        return frame[["N", "D"]].astype(float)

    def draws(self, rows: pd.DataFrame, kind: str, seed: int) -> np.ndarray:
        return self.fit.predictive_draws(rows, kind=kind, seed=seed)

    def floor(self) -> tuple[float, str]:
        value = float(np.median(self.fit.flat("floor")))
        return value, f"floor (posterior median {value:.3g})"


class _Observational:
    """Families follow their compute-efficiency line: capability = alpha_f + beta_f (log C - c)."""

    heldout_groups = True  # a family's held-out (larger) models extend its curve's range

    def __init__(self, fit: ObservationalFit, rows: pd.DataFrame, x: str, group: str | None):
        self.fit, self.x, self.group, self.target = fit, x, group or "family", fit.info["target"]
        if x not in rows.columns:
            raise PredictionError(f"rows have no compute column {x!r}; pass x='<column of training FLOPs>' "
                                  f"(columns: {', '.join(map(str, rows.columns))})")
        _need(rows, [x, self.group, self.target], "rows")

    def points(self, frame: pd.DataFrame):
        _need(frame, [self.x, self.group, self.target], "rows")
        labels = frame[self.group].astype(str).to_numpy()
        known = self.fit.info["families"]
        unknown = sorted(set(labels) - set(known))
        if unknown:
            raise PredictionError(f"unknown family {unknown[0]!r} in column {self.group!r}; "
                                  f"families in the fit: {', '.join(known)}")
        c = _numbers(frame, self.x)
        c = np.where(np.isfinite(c) & (c > 0), c, np.nan)  # a model without a FLOPs figure has no x
        return c, _numbers(frame, self.target), labels

    def curve_rows(self, frame: pd.DataFrame, members: np.ndarray, grid: np.ndarray) -> pd.DataFrame:
        j = self.fit.info["families"].index(str(frame[self.group].iloc[np.flatnonzero(members)[0]]))
        return pd.DataFrame({"family": np.full(grid.size, j), "C": grid})

    def heldout_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        # nothing extra: a held-out model's compute-only prediction is its family's band
        return pd.DataFrame({"family": np.zeros(0, int), "C": np.zeros(0)})

    def draws(self, rows: pd.DataFrame, kind: str, seed: int) -> np.ndarray:
        fit, j = self.fit, rows["family"].to_numpy(int)
        xg = np.log(rows["C"].to_numpy(float)) - fit.info["c_ref"]
        w = fit.flat("w")  # the link only sees capability through s . w, so work with that projection
        a_w = np.einsum("sfk,sk->sf", fit.flat("alpha_family"), w)[:, j]
        b_w = np.einsum("sfk,sk->sf", fit.flat("beta_family"), w)[:, j]
        logits = a_w + b_w * xg[None, :] + fit.flat("b")[:, None]
        rng = np.random.default_rng(seed)
        if kind == "observed":  # a new model: capability scatter tau * z, z ~ N(0, I), so z . w ~ N(0, |w|^2)
            scale = fit.flat("tau") * np.linalg.norm(w, axis=1)
            logits = logits + scale[:, None] * rng.standard_normal(logits.shape)
        chance = fit.info["chance"]
        p = chance + (1 - chance) * fit.flat("top")[:, None] / (1 + np.exp(-logits))
        if kind == "observed":
            p = p + fit.flat("sigma_target")[:, None] * rng.standard_normal(p.shape)
        return p

    def floor(self) -> tuple[float, str] | None:
        chance = self.fit.info["chance"]
        return (chance, f"chance ({chance:.3g})") if chance > 0 else None


def plot_accuracy(fit, rows, *, x: str = "C", heldout=None, group: str | None = None,
                  families: Sequence[str] | None = None, ci_prob: float = 0.9, seed: int = 0, ax=None):
    """Plot accuracy against training compute with per-family posterior bands (log x axis).

    Parameters
    ----------
    fit : LadderFit or ObservationalFit
        From :func:`bayeslaw.downstream.fit_ladder` or :func:`bayeslaw.downstream.fit_observational`.
        The fits do not keep their data, so the observed points come from ``rows``.
    rows : DataFrame
        Observed models or checkpoints. Ladder: ``N``, ``D`` and the fitted accuracy column;
        observational: the compute column ``x``, the family column and the target.
    x : str
        Ladder: must be ``"C"``, compute ``6 * N * D``. Observational: the column of training
        FLOPs (``fit_observational``'s ``flops``); models without a positive value are not drawn.
    heldout : DataFrame, optional
        Held-out rows (same columns), drawn as highlighted stars. For the ladder each also gets
        its own posterior-predictive interval (its model size is in no group); for the
        observational model its family's band is its compute-only prediction.
    group : str, optional
        Ladder: column whose groups are curves (default: one curve per distinct ``N``), each
        holding N at its geometric mean while D grows. Observational: the family column
        (default ``"family"``).
    families : sequence of str, optional
        Groups to draw curves for (default: every group in ``rows`` and ``heldout``).
    ci_prob : float
        Probability of both bands (default 0.9).
    seed : int
        Seed of the predictive noise draws.
    ax : matplotlib Axes, optional
        Axes to draw on; by default a new figure is made with ``matplotlib.pyplot``.

    Returns
    -------
    matplotlib.axes.Axes
        Per family: the median line (labelled with the family), the credible band of the curve
        (label ``_law band <family>``) and the predictive band (``_band <family>``), both clipped
        to [0, 1]. For the observational model the band follows the family's compute-efficiency
        line (capability = alpha_f + beta_f (log C - c), scatter tau for a new model), as the
        paper extrapolates; ``fit.predict({"row": ...})`` instead uses a model's own benchmarks
        and is narrower. The floor (ladder: posterior median of ``floor``; observational: the
        ``chance`` given to the fit, when above 0) is a dashed line; a dotted line marks the
        largest observed compute.

    Raises
    ------
    PredictionError
        For another kind of fit, a missing column, a bad ``x``, an unknown family or a bad
        ``ci_prob``.
    """
    ci_prob, seed = check_ci_prob(ci_prob), check_seed(seed)
    frame = _frame(rows, "rows")
    if isinstance(fit, LadderFit):
        model = _Ladder(fit, frame, x, group)
    elif isinstance(fit, ObservationalFit):
        model = _Observational(fit, frame, x, group)
    else:
        raise PredictionError("plot_accuracy draws a LadderFit or an ObservationalFit, "
                              f"got {type(fit).__name__}")
    cx, acc, labels = model.points(frame)
    held = _frame(heldout, "heldout") if heldout is not None else frame.iloc[:0]
    hx, hacc, hlabels = model.points(held)
    if not np.isfinite(cx).any():
        raise PredictionError(f"no row has a positive compute in column {x!r}")
    if not model.heldout_groups:
        hlabels = np.full(len(hlabels), None, dtype=object)
    present = list(dict.fromkeys(str(v) for v, c in zip(np.r_[labels, hlabels], np.r_[cx, hx])
                                 if v is not None and np.isfinite(c)))
    chosen = present if families is None else list(dict.fromkeys(
        str(f) for f in ([families] if isinstance(families, str) else families)))
    for name in chosen:
        if name not in present:
            raise PredictionError(f"unknown family {name!r}; families with compute in rows: {', '.join(present)}")
    if not chosen:
        raise PredictionError("families is empty; give at least one family in rows")
    if ax is None:
        import matplotlib.pyplot as plt  # only here: callers passing an Axes never touch pyplot

        _, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    both = pd.concat([frame, held], ignore_index=True)
    all_x, all_labels = np.r_[cx, hx], np.r_[labels, hlabels]
    top = max(np.log10(np.nanmax(cx)) + EXTEND_DECADES, np.log10(np.nanmax(all_x)) + 0.05)
    colors = [c["color"] for c in _color_cycle()]
    shown = [acc[np.isfinite(acc)], hacc[np.isfinite(hacc)]]
    # one predictive call per kind for every curve and held-out row (the ladder's draws run JAX ops,
    # which compile once per array shape)
    pieces, grids = [], []
    for name in chosen:
        members = (all_labels == name) & np.isfinite(all_x)
        grids.append(np.logspace(np.log10(np.nanmin(all_x[members])), top, _GRID_POINTS))
        pieces.append(model.curve_rows(both, members, grids[-1]))
    pieces.append(model.heldout_rows(held))
    batch = pd.concat(pieces, ignore_index=True)
    wide = _bands(model.draws(batch, "observed", seed), ci_prob)
    narrow = _bands(model.draws(batch, "law", seed), ci_prob)
    for pos, (name, grid) in enumerate(zip(chosen, grids)):
        color = colors[pos % len(colors)]
        at = slice(pos * _GRID_POINTS, (pos + 1) * _GRID_POINTS)
        ax.fill_between(grid, wide[0][at], wide[2][at], color=color, alpha=0.15, linewidth=0, label=f"_band {name}")
        ax.fill_between(grid, narrow[0][at], narrow[2][at], color=color, alpha=0.3, linewidth=0,
                        label=f"_law band {name}")
        ax.plot(grid, narrow[1][at], color=color, label=name)
        mine = (labels == name) & np.isfinite(cx) & np.isfinite(acc)
        ax.scatter(cx[mine], acc[mine], s=12, color=color, alpha=0.8, label=f"_points {name}")
        shown += [wide[0][at], wide[2][at]]
    n_extra = len(pieces[-1])
    if n_extra:
        lo, med, hi = (band[len(batch) - n_extra:] for band in wide)
        shown += [lo, hi]  # the held-out runs' intervals stay inside the axes
        ax.errorbar(hx, med, yerr=[med - lo, hi - med], fmt="_", color="k", capsize=3, markersize=10,
                    label=f"held-out prediction ({ci_prob:.0%})")
    if len(held):
        ok = np.isfinite(hx) & np.isfinite(hacc)
        if model.heldout_groups:  # stars only for the families drawn
            ok &= np.isin(hlabels, chosen)
        face = [colors[chosen.index(v) % len(colors)] if model.heldout_groups else "gold" for v in hlabels[ok]]
        ax.scatter(hx[ok], hacc[ok], s=90, marker="*", c=face, edgecolors="k", zorder=5,
                   label="held out (actual)")
    floor = model.floor()
    if floor is not None:
        ax.axhline(floor[0], color="0.4", linestyle="--", linewidth=1, label=floor[1])
        shown.append(np.atleast_1d(floor[0]))
    ax.axvline(np.nanmax(cx), color="0.6", linestyle=":", linewidth=1)
    values = np.concatenate(shown)
    ax.set_ylim(max(0.0, values.min() - 0.03), min(1.0, values.max() + 0.03))
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6ND (FLOPs)" if isinstance(fit, LadderFit)
                  else f"training compute '{x}' (FLOPs)")
    target = model.target
    ax.set_ylabel(target)
    ax.set_title(f"{target}: median, {ci_prob:.0%} credible band of the curve (dark) "
                 "and of a new model (light)", fontsize=9)
    ax.legend(fontsize=7, ncols=2 if len(chosen) > 4 else 1)
    return ax
