"""isoFLOP profiles (Chinchilla's Approach 2) with posterior uncertainty, and classic sweep grids.

For each FLOP budget the loss of the runs is fitted by a parabola in log N; its vertex is the
budget's compute-optimal model size N*(C). A power law ``N* = G C^e`` through the budgets' optima
gives the allocation exponents. Everything is exact Monte Carlo from conjugate posteriors (no
MCMC): see :func:`isoflop`. Approach 3 (a fitted law) is :func:`bayeslaw.optimal_allocation`;
:meth:`~bayeslaw.decide.isoflop_fit.IsoflopFit.compare` (the result, in
:mod:`bayeslaw.decide.isoflop_fit`) puts the two side by side.
"""

from __future__ import annotations

import warnings

import numpy as np

from bayeslaw.core.errors import DataError, DataWarning, PredictionError
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.data.columns import check_columns, numeric_column, warn_repeated_rows
from bayeslaw.data.frames import as_frame
from bayeslaw.decide.allocation import flops_constant
from bayeslaw.decide.isoflop_design import BUDGET_TOLERANCE, group_budgets
from bayeslaw.decide.isoflop_fit import IsoflopFit
from bayeslaw.decide.isoflop_regression import parabola_draws, pooled_noise
from bayeslaw.results.draws import check_ci_prob, check_seed

#: the most posterior draws per budget (each budget's draws are held in memory at once)
MAX_DRAWS = 1_000_000


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
        far from the optimum bend away from a parabola in log N, which biases the vertex: with
        None, a budget whose runs within 4x of its best (5 or more) give an optimum or a loss at
        it that differs from every run's is warned about (see :func:`_check_shape`).
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
    if not is_integer(draws) or not 10 <= draws <= MAX_DRAWS:  # 10**12 was a raw MemoryError
        raise PredictionError(f"draws must be a whole number from 10 to {MAX_DRAWS}, got {draws!r}")
    frame = as_frame(runs).copy()
    noun = "the runs table"
    if not (is_real(tolerance) and 0 < tolerance < np.inf):
        raise PredictionError(f"tolerance must be a positive number of decades, got {tolerance!r}")
    if window is not None and not (is_real(window) and 1 < window < np.inf):
        raise PredictionError(f"window must be a factor greater than 1, got {window!r}")
    for name, value in (("by", by), ("target", target)):  # a list was a raw TypeError
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{name} must be a column name (str), got {value!r}")
    if by == "N":  # first: the roles below would name N the budget alone
        raise DataError(f"column 'N' of {noun} is given two roles: model size 'N' and budget 'N'")
    has_by = by in frame.columns
    roles = {"N": "model size 'N'", by: f"budget '{by}'", **({} if has_by else {"D": "tokens 'D'"})}
    if target in roles:  # the loss fitted against log N would be N itself, or the budget
        raise DataError(f"column '{target}' of {noun} is given two roles: {roles[target]} and target '{target}'")
    if not has_by and by != "C":
        check_columns(frame, ["N", by, target], noun)
    if not has_by and "D" not in frame.columns:
        raise DataError(f"the runs table has neither a '{by}' nor a 'D' column; isoflop needs N, "
                        f"{target} and the budget {by} or the tokens D (present: "
                        f"{', '.join(map(str, frame.columns))})")
    check_columns(frame, ["N", by if has_by else "D", target], noun)
    n = numeric_column(frame, "N", True, noun)
    y = numeric_column(frame, target, False, noun)
    warn_repeated_rows(frame, ["N", by if has_by else "D", target], noun)
    if has_by:
        budget = numeric_column(frame, by, True, noun)
        if "D" in frame.columns:
            _check_flops(budget / (n * numeric_column(frame.copy(), "D", True, noun)), k, by)
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
        # a budget column of exact FLOP counts (one per run) makes no profiles; k N D grouped can
        hint = ""
        if has_by and "D" in frame.columns and len(values) > len(frame) / 2:
            hint = (f"; the '{by}' column gives most runs a budget of their own: without it (by='C' "
                    f"and no C column) isoflop groups runs whose {k:g}*N*D agree within {tolerance:g} decades")
        raise DataError(f"isoflop needs at least 2 budgets with 3 or more distinct N to fit exponents; "
                        f"found {len(kept)} ({found}) of {len(values)} budget{'s' * (len(values) != 1)}"
                        + (f": {why}" if why else "") + hint)
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
    result = IsoflopFit(frame.assign(_budget=budget)[used], by, target, k, np.array(kept), coefs,
                        centres, ranges, ci_prob, rng)
    if window is None:
        _check_shape(selected, kept, result, by, rng)
    below = [f"{by}={c:.4g} ({m:.3g})" for c, (_, y_b), m
             in zip(kept, selected, result.budgets["loss_median"], strict=True) if (y_b > 0).all() and m <= 0]
    if below:  # a positive target's minimum below zero: the parabola's vertex lies far from its runs
        warnings.warn(f"isoflop: the {target} at the optimum is below zero at budgets {_listed(below)}, while "
                      f"every run there is above it: the runs at those budgets do not form a valley, and their "
                      f"optima are not to be trusted", DataWarning, stacklevel=2)
    return result


def _check_flops(ratio: np.ndarray, k: float, by: str) -> None:
    """Warn when the runs' own budget column is not ``k N D``: D* = C / (k N*) would then not be
    the tokens these runs were trained on (a flops='2*N*D' on a table of 6 N D budgets triples it)."""
    seen = float(np.median(ratio))
    if abs(np.log(seen / k)) > np.log(1.25):
        warnings.warn(f"isoflop: column '{by}' of the runs is {seen:.3g}*N*D (median over the runs), but "
                      f"flops is {k:g}*N*D: D* = {by} / ({k:g} N*) is not the tokens of these runs; give "
                      f"flops='{seen:.3g}*N*D'", DataWarning, stacklevel=3)


#: the window the shape check refits each budget in (a factor of N either side of its best run)
CHECK_WINDOW = 4.0


def _check_shape(selected: list, kept: list, result: IsoflopFit, by: str, rng) -> None:
    """Warn where a budget's sweep is not a parabola in log N as far as it reaches: the parabola
    through its runs within :data:`CHECK_WINDOW` of the lowest-loss one (at least 5 of them, its
    own posterior) and the one through every run disagree about the optimum N* or the loss at it
    (the 95% interval of their difference, the two posteriors' draws paired independently,
    excludes 0). A sweep that reaches far off the optimum bends away from a parabola, which
    moves both; real sweeps do."""
    flagged = []
    for b, ((log_n, y), c) in enumerate(zip(selected, kept, strict=True)):
        near = np.abs(log_n - log_n[np.argmin(y)]) <= np.log(CHECK_WINDOW)
        if near.all() or near.sum() < 5 or len(np.unique(log_n[near])) < 3:
            continue
        c0, c1, c2 = parabola_draws(log_n[near], y[near], len(result.log_n_opt), rng).T
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
        pairs = {"N*": (log_n[near].mean() + u, result.log_n_opt[:, b]),
                 "loss": (c0 + c1 * u + c2 * u * u, result.loss_opt[:, b])}
        differ = []
        for name, (near_draws, all_draws) in pairs.items():
            diff = near_draws - all_draws
            if np.isfinite(diff).mean() < 0.5:
                break
            lo, hi = np.nanquantile(diff, [0.025, 0.975])
            if lo > 0 or hi < 0:
                differ.append(name)
        if differ:
            n_all, n_near = (np.exp(np.nanmedian(x)) for x in pairs["N*"][::-1])
            l_all, l_near = (np.nanmedian(x) for x in pairs["loss"][::-1])
            flagged.append(f"{by}={c:.4g} (N* {n_all:.3g} and loss {l_all:.4g} from every run, {n_near:.3g} "
                           f"and {l_near:.4g} from those within {CHECK_WINDOW:g}x)")
    if flagged:
        shown = "; ".join(flagged[:3]) + (f"; and {len(flagged) - 3} more" if len(flagged) > 3 else "")
        warnings.warn(f"isoflop: the profiles at budgets {shown} are not parabolas in log N "
                      f"over the whole sweep, which moves their optima and the loss at them; "
                      f"window={CHECK_WINDOW:g} fits each budget near its optimum", DataWarning, stacklevel=3)


def _listed(budgets: list[str], most: int = 4) -> str:
    """The first few budget labels of an error message, and how many more there are."""
    more = f", and {len(budgets) - most} more" if len(budgets) > most else ""
    return ", ".join(budgets[:most]) + more
