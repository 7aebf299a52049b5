"""The result of :func:`bayeslaw.isoflop`: the budgets' optima, the power laws through them, and
predictions at new budgets, next to Approach 3 on demand.

Everything here works on exact posterior draws: the per-budget parabola coefficients the
fitting function draws, and the line through their vertices
(:func:`bayeslaw.decide.isoflop_regression.line_draws`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError, DataWarning
from bayeslaw.decide.allocation import _budgets, allocation_draws
from bayeslaw.decide.isoflop_regression import MIN_FINITE, line_draws
from bayeslaw.results.draws import check_ci_prob, check_kind, check_seed, interval_columns

#: a budget is warned about when more than this share of its draws has no minimum inside its runs
WARN_SHARE = 0.01


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

    def prediction_draws(self, compute, kind: str = "law", seed: int = 0) -> dict[str, np.ndarray]:
        """Draws of N* and D* at budgets ``compute``: name -> (S, B), ``kind`` as in :meth:`predict`."""
        check_kind(kind)
        check_seed(seed)
        budgets = _budgets(compute)
        d = self._exponent_draws()
        log_n = np.log(d["N_opt coefficient"])[:, None] + d["N_opt exponent"][:, None] * np.log(budgets)[None, :]
        if kind == "observed":
            z = np.random.default_rng(seed).standard_normal(log_n.shape)
            log_n = log_n + self.scatter[:, None] * z
        n_opt = np.exp(log_n)
        return {"N_opt": n_opt, "D_opt": budgets / (self.k * n_opt)}

    def predict(self, compute, kind: str = "law", ci_prob: float | None = None,
                seed: int = 0) -> pd.DataFrame:
        """N* and D* at new FLOP budgets from the fitted power laws, with intervals.

        Parameters
        ----------
        compute : float or sequence of float
            FLOP budgets (positive, finite).
        kind : {"law", "observed"}
            ``"law"`` (default): the power law itself. ``"observed"``: where a new budget's own
            optimum lies, the power law plus the scatter of the fitted budgets' optima around it
            (``N_opt scatter``, drawn with ``seed``). On simulated sweeps whose budgets scatter
            10-20% off the law, the 90% intervals of "observed" held the optimum of a budget 2x
            beyond the largest 83-91% of the time, those of "law" 75-84%; but the wider
            intervals scored 1-7% worse by the interval score in five of six such settings,
            hence not the default (benchmarks/isoflop_scatter.py).
        ci_prob : float, optional
            Interval probability (default: the fit's).
        seed : int
            Seed of the scatter draws (``kind="observed"``).

        Returns
        -------
        DataFrame indexed by (compute, quantity) with mean, sd, median, lower, upper, laid out
        like :func:`bayeslaw.optimal_allocation`; ``attrs`` holds ``ci_prob`` and ``kind``.
        """
        ci_prob = self.ci_prob if ci_prob is None else check_ci_prob(ci_prob)
        budgets = _budgets(compute)
        frames = []
        for q, x in self.prediction_draws(budgets, kind=kind, seed=seed).items():
            frame = pd.DataFrame(interval_columns(x, ci_prob))
            frame.insert(0, "quantity", q)
            frame.insert(0, "compute", budgets)
            frames.append(frame)
        out = pd.concat(frames).set_index(["compute", "quantity"]).sort_index(level=0, sort_remaining=False)
        out.attrs.update(ci_prob=ci_prob, kind=kind)
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
