"""isoFLOP profiles (Chinchilla's Approach 2) with posterior uncertainty, and classic sweep grids.

For each FLOP budget the loss of the runs is fitted by a parabola in log N; its vertex is the
budget's compute-optimal model size N*(C). A power law ``N* = G C^e`` through the budgets' optima
gives the allocation exponents. Everything is exact Monte Carlo from conjugate posteriors (no
MCMC): see :func:`isoflop`. Approach 3 (a fitted law) is :func:`bayeslaw.optimal_allocation`;
:meth:`IsoflopFit.compare` puts the two side by side.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, DataWarning, PredictionError
from bayeslaw.data.columns import check_columns, numeric_column
from bayeslaw.data.frames import as_frame
from bayeslaw.decide.allocation import _budgets, allocation_draws, flops_constant
from bayeslaw.decide.isoflop_design import BUDGET_TOLERANCE, group_budgets
from bayeslaw.decide.isoflop_regression import MIN_FINITE, line_draws, parabola_draws, pooled_noise
from bayeslaw.results.draws import check_ci_prob, check_seed, interval_columns

#: a budget is warned about when more than this share of its draws has no minimum inside its runs
WARN_SHARE = 0.01


def isoflop(runs, *, by: str = "C", target: str = "loss", flops: str | float = "6*N*D",
            window: float | None = None, tolerance: float = BUDGET_TOLERANCE, ci_prob: float = 0.9,
            draws: int = 4000, seed: int = 0) -> IsoflopFit:
    """Fit isoFLOP profiles (Chinchilla's Approach 2) with posterior uncertainty.

    Parameters
    ----------
    runs : DataFrame or what :func:`bayeslaw.data.frames.as_frame` accepts
        One row per run with ``N`` (parameters), the ``target`` and either ``D`` (tokens) or the
        budget column ``by``.
    by : str
        Column holding each run's FLOP budget; runs with equal values form one profile. When
        ``by="C"`` and there is no C column, C = k N D (k from ``flops``) and runs whose log10 C
        agree within ``tolerance`` decades (from the smallest of the group) form one budget,
        labelled by their geometric-mean C.
    target : str
        The loss column (default ``"loss"``): any finite numbers (the parabola is fitted on the
        target's own scale, so a negated metric or an excess loss works too).
    flops : str or float
        FLOP formula ``k*N*D`` (default ``"6*N*D"``), used for C when absent and D* = C / (k N*).
    window : float, optional
        Fit each budget's parabola only to the runs whose N is within this factor of the
        budget's lowest-loss run (e.g. 4: from N/4 to 4N); budgets left with fewer than 3
        distinct N are skipped with a warning. None (default) uses every run. Sweeps that reach
        far from the optimum bend away from a parabola in log N, which biases the vertex.
    tolerance : float
        Grouping tolerance in decades of C when C is computed (default 0.05).
    ci_prob : float
        Interval probability of the tables (default 0.9).
    draws : int
        Posterior draws per budget (default 4000).
    seed : int
        Seed of the draws.

    Returns
    -------
    IsoflopFit

    Notes
    -----
    Per budget, ``loss = c0 + c1 x + c2 x^2`` with x = ln N centred on the budget's runs is fitted
    by conjugate Bayesian linear regression (normal-inverse-gamma posterior, draws of (c, sigma)
    exact), under a weak prior on the noise variance; budgets of 3 or 4 runs, too few to learn
    their own noise, borrow the variance pooled over all budgets' residuals (relative to each
    budget's mean loss) as a prior worth 2 residuals. Each draw with c2 > 0 gives ln N* =
    the vertex; draws with c2 <= 0, or a vertex more than the sampled ln N range beyond it,
    have no optimum (NaN), and a vertex outside the sampled sizes is warned about
    (:class:`bayeslaw.DataWarning`) naming the budget (``budgets["p_no_optimum"]`` gives the
    share). The exponents come from the line ln N* = a + e ln C through the budgets' optima, each
    known up to its posterior, which also learns how far the budgets scatter around the power law
    (a sweep tunes each budget apart): see :func:`bayeslaw.decide.isoflop_regression.line_draws`.

    Raises
    ------
    DataError
        For a missing or non-numeric column, non-positive N, D or C, or fewer than 2 budgets
        with at least 3 distinct N (budgets with fewer are skipped with a ``DataWarning``).
    """
    ci_prob, seed, k = check_ci_prob(ci_prob), check_seed(seed), flops_constant(flops)
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 10:
        raise PredictionError(f"draws must be a whole number of at least 10, got {draws!r}")
    frame = as_frame(runs).copy()
    noun = "the runs table"
    if not (isinstance(tolerance, int | float) and tolerance > 0):
        raise PredictionError(f"tolerance must be a positive number of decades, got {tolerance!r}")
    if window is not None and not (isinstance(window, int | float) and window > 1):
        raise PredictionError(f"window must be a factor greater than 1, got {window!r}")
    has_by = by in frame.columns
    if not has_by and by != "C":
        check_columns(frame, ["N", by, target], noun)
    if not has_by and "D" not in frame.columns:
        raise DataError(f"the runs table has neither a '{by}' nor a 'D' column; isoflop needs N, "
                        f"{target} and the budget {by} or the tokens D (present: "
                        f"{', '.join(map(str, frame.columns))})")
    check_columns(frame, ["N", by if has_by else "D", target], noun)
    n = numeric_column(frame, "N", True, noun)
    y = numeric_column(frame, target, False, noun)
    if has_by:
        budget = numeric_column(frame, by, True, noun)
    else:
        budget = group_budgets(k * n * numeric_column(frame, "D", True, noun), tolerance)
    rng = np.random.default_rng(seed)
    values, used, skipped, sparse = np.unique(budget), np.zeros(len(frame), dtype=bool), [], []
    selected, kept = [], []
    for c in values:
        rows = budget == c
        if len(np.unique(n[rows])) < 3:  # e.g. a table that mixes a sweep with one-off runs
            sparse.append(f"{by}={c:.4g}")
            continue
        if window is not None:
            best = n[rows][np.argmin(y[rows])]
            rows &= (n >= best / window) & (n <= best * window)
            if len(np.unique(n[rows])) < 3:
                skipped.append(f"{by}={c:.4g}")
                continue
        selected.append((np.log(n[rows]), y[rows]))
        kept.append(c)
        used |= rows
    if sparse:
        warnings.warn(f"isoflop: budgets {', '.join(sparse)} have fewer than 3 distinct N (a parabola "
                      "needs 3); skipped", DataWarning, stacklevel=2)
    if skipped:
        warnings.warn(f"isoflop: budgets {', '.join(skipped)} have fewer than 3 distinct N within "
                      f"window {window:g} of their lowest-loss run; skipped", DataWarning, stacklevel=2)
    if len(kept) < 2:
        found = ", ".join(f"{by}={c:.4g}" for c in kept) or "none"
        why = "; ".join(part for part in (
            f"{len(sparse)} with fewer than 3 distinct N ({_listed(sparse)})" if sparse else "",
            f"{len(skipped)} with fewer than 3 distinct N within window {window:g} ({_listed(skipped)})"
            if skipped else "")
            if part)
        raise DataError(f"isoflop needs at least 2 budgets with 3 or more distinct N to fit exponents; "
                        f"found {len(kept)} ({found}) of {len(values)} budget{'s' * (len(values) != 1)}"
                        + (f": {why}" if why else ""))
    noise = pooled_noise(selected)
    if noise is None:
        warnings.warn("isoflop: every budget has exactly 3 runs, which a parabola fits without a residual: "
                      "the run-to-run noise cannot be learnt and the intervals are the weak prior's, "
                      "far too wide (add runs, or replicates of a size, to some budget)", DataWarning,
                      stacklevel=2)
        noise = [None] * len(selected)
    coefs = np.stack([parabola_draws(log_n, y_b, draws, rng, v)
                      for (log_n, y_b), v in zip(selected, noise, strict=True)])
    centres = np.array([log_n.mean() for log_n, _ in selected])
    ranges = np.array([(log_n.min(), log_n.max()) for log_n, _ in selected])
    return IsoflopFit(frame.assign(_budget=budget)[used], by, target, k, np.array(kept), coefs,
                      centres, ranges, ci_prob, rng)


def _listed(budgets: list[str], most: int = 4) -> str:
    """The first few budget labels of an error message, and how many more there are."""
    more = f", and {len(budgets) - most} more" if len(budgets) > most else ""
    return ", ".join(budgets[:most]) + more


class IsoflopFit:
    """isoFLOP profiles fitted by :func:`isoflop`: per-budget optima and the fitted exponents.

    Attributes
    ----------
    budgets : DataFrame
        One row per budget: ``C``, ``n_runs``, ``p_no_optimum`` (share of draws with no vertex
        or one outside the sampled N), and median/lower/upper of ``N_opt``, ``D_opt``, ``loss``.
    """

    def __init__(self, runs, by, target, k, compute, coefs, centres, ranges, ci_prob, rng):
        self.runs, self.by, self.target, self.k = runs, by, target, k
        self.compute, self.coefs, self.centres, self.ranges = compute, coefs, centres, ranges
        self.ci_prob = ci_prob
        c0, c1, c2 = (coefs[..., i] for i in range(3))  # (B, S)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
        log_n = centres[:, None] + u
        lo, hi = ranges[:, :1], ranges[:, 1:]
        width = hi - lo
        outside = ~((log_n >= lo) & (log_n <= hi))  # NaN (no vertex) counts as outside
        far = (log_n < lo - width) | (log_n > hi + width)
        log_n = np.where(far, np.nan, log_n)
        u = log_n - centres[:, None]
        self.log_n_opt = log_n.T  # (S, B)
        self.loss_opt = (c0 + c1 * u + c2 * u * u).T
        self.p_outside = outside.mean(axis=1)
        flagged = [f"{by}={c:.4g} ({p:.0%}, {none:.0%} with curvature <= 0)" for c, p, none
                   in zip(compute, self.p_outside, (c2 <= 0).mean(axis=1), strict=True) if p > WARN_SHARE]
        if flagged:
            warnings.warn(f"isoflop: draws with no minimum inside the sampled N range at budgets "
                          f"{'; '.join(flagged)}: these optima are extrapolated or undefined",
                          DataWarning, stacklevel=3)
        self.intercept, self.exponent, self.scatter = line_draws(np.log(compute), self.log_n_opt, rng)
        if not np.isfinite(self.exponent).any():
            raise DataError(f"isoflop: fewer than 2 budgets have a minimum in at least {MIN_FINITE:.0%} of "
                            "their posterior draws; the runs do not bracket the optimum (see the "
                            "budgets' p_no_optimum)")
        self.budgets = self._budget_table(ci_prob)

    def _q(self, x: np.ndarray, ci_prob: float) -> dict[str, np.ndarray]:
        tail = (1 - ci_prob) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lower, median, upper = np.nanquantile(x, [tail, 0.5, 1 - tail], axis=0)
        return {"median": median, "lower": lower, "upper": upper}

    def _budget_table(self, ci_prob: float) -> pd.DataFrame:
        out = pd.DataFrame({"C": self.compute,
                            "n_runs": [int((self.runs["_budget"] == c).sum()) for c in self.compute],
                            "p_no_optimum": self.p_outside})
        n_opt = np.exp(self.log_n_opt)
        parts = {"N_opt": n_opt, "D_opt": self.compute / (self.k * n_opt), "loss": self.loss_opt}
        for name, x in parts.items():
            for stat, v in self._q(x, ci_prob).items():
                out[f"{name}_{stat}"] = v
        return out

    def _exponent_draws(self) -> dict[str, np.ndarray]:
        e, a = self.exponent, self.intercept  # all finite: the constructor refused the rest
        return {"N_opt exponent": e, "N_opt coefficient": np.exp(a),
                "D_opt exponent": 1.0 - e, "D_opt coefficient": np.exp(-a) / self.k}

    def summary(self, ci_prob: float | None = None) -> pd.DataFrame:
        """The power laws ``N* = G C^e`` and ``D* = C / (k N*) = (1 / (k G)) C^(1-e)``: median,
        lower and upper of each exponent and coefficient (rows), over the joint draws; and
        ``N_opt scatter``, the sd of the budgets' ln N* around the power law (a sd of 0.1 puts a
        typical budget's optimum 10% off it; 0 with 2 budgets, where it cannot be learnt)."""
        ci_prob = self.ci_prob if ci_prob is None else check_ci_prob(ci_prob)
        draws = {**self._exponent_draws(), "N_opt scatter": self.scatter}
        rows = {name: interval_columns(x, ci_prob) for name, x in draws.items()}
        out = pd.DataFrame(rows).T[["median", "lower", "upper", "mean", "sd"]].astype(float)
        out.index.name = "quantity"
        out.attrs["ci_prob"] = ci_prob
        return out

    def prediction_draws(self, compute) -> dict[str, np.ndarray]:
        """Draws of N* and D* on the fitted power law at budgets ``compute``: name -> (S, B)."""
        budgets = _budgets(compute)
        d = self._exponent_draws()
        n_opt = d["N_opt coefficient"][:, None] * budgets[None, :] ** d["N_opt exponent"][:, None]
        return {"N_opt": n_opt, "D_opt": budgets / (self.k * n_opt)}

    def predict(self, compute, ci_prob: float | None = None) -> pd.DataFrame:
        """N* and D* at new FLOP budgets from the fitted power laws, with intervals.

        Returns a DataFrame indexed by (compute, quantity) with mean, sd, median, lower, upper,
        laid out like :func:`bayeslaw.optimal_allocation`.
        """
        ci_prob = self.ci_prob if ci_prob is None else check_ci_prob(ci_prob)
        budgets = _budgets(compute)
        frames = []
        for q, x in self.prediction_draws(budgets).items():
            frame = pd.DataFrame(interval_columns(x, ci_prob))
            frame.insert(0, "quantity", q)
            frame.insert(0, "compute", budgets)
            frames.append(frame)
        out = pd.concat(frames).set_index(["compute", "quantity"]).sort_index(level=0, sort_remaining=False)
        out.attrs["ci_prob"] = ci_prob
        return out

    def compare(self, fit, compute=None, *, family: str | None = None, seed: int = 0) -> pd.DataFrame:
        """Approach 2 (these profiles) next to Approach 3 (``fit``, a law in N and D, through
        :func:`bayeslaw.optimal_allocation`) at the budgets ``compute`` (default: the fitted ones).

        Returns a DataFrame indexed by (compute, quantity) for N_opt and D_opt with
        ``approach2_*`` and ``approach3_*`` median/lower/upper and ``ratio`` (approach 2 median
        over approach 3 median). ``attrs["exponents"]`` holds both approaches' N* exponent
        (median, lower, upper); approach 3's is the slope of ln N* between the smallest and the
        largest budget, per posterior draw.
        """
        budgets = self.compute if compute is None else _budgets(compute)
        two = self.prediction_draws(budgets)
        three = allocation_draws(fit, budgets, family=family, flops=self.k, seed=seed)
        rows = []
        for q in ("N_opt", "D_opt"):
            s2, s3 = self._q(two[q], self.ci_prob), self._q(three[q], self.ci_prob)
            for i, c in enumerate(budgets):
                row = {"compute": c, "quantity": q}
                row.update({f"approach2_{k}": v[i] for k, v in s2.items()})
                row.update({f"approach3_{k}": v[i] for k, v in s3.items()})
                row["ratio"] = s2["median"][i] / s3["median"][i]
                rows.append(row)
        out = pd.DataFrame(rows).set_index(["compute", "quantity"]).sort_index(level=0, sort_remaining=False)
        ends = np.array([budgets.min(), budgets.max()])
        if ends[1] <= ends[0]:
            ends = ends * np.array([1.0, 10.0])
        ends_n = allocation_draws(fit, ends, family=family, flops=self.k, seed=seed)["N_opt"]
        e3 = np.diff(np.log(ends_n), axis=1)[:, 0] / np.log(ends[1] / ends[0])
        e2 = self._exponent_draws()["N_opt exponent"]
        out.attrs.update(ci_prob=self.ci_prob, exponents={
            "approach2": {k: float(v) for k, v in self._q(e2, self.ci_prob).items()},
            "approach3": {k: float(v) for k, v in self._q(e3, self.ci_prob).items()}})
        return out
