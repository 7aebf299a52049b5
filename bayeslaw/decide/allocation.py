"""Compute-optimal allocation: the model size and tokens that minimise the loss at a FLOP budget.

For a FLOP budget ``C = k N D`` (:func:`flops_constant` reads ``k`` from a formula such as
``"6*N*D"``), :func:`optimal_allocation` gives the posterior of the loss-minimising model size N*,
tokens D*, tokens per parameter and the loss at the optimum, per posterior draw, so every answer
carries the posterior's uncertainty. The optimum has a closed form for the Chinchilla law
(:func:`closed_form_optimum`); for any other law it is a vectorised 1-D search over log N on the
budget line (:func:`numerical_optimum`). The draws of one family's parameters
(:func:`parameter_draws`) and the budget check are shared with the rest of :mod:`bayeslaw.decide`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayeslaw.core import runtime
from bayeslaw.core.errors import PredictionError
from bayeslaw.core.numbers import is_real, real_array
from bayeslaw.data.family_labels import family_name
from bayeslaw.laws.expr import compile_formula
from bayeslaw.modeling.build import family_draws
from bayeslaw.results import extrapolation_error as extrap
from bayeslaw.results.draws import check_ci_prob, check_seed, interval_columns
from bayeslaw.results.fit import NEW_FAMILY, require_fit
from bayeslaw.results.sizes import below, beyond

QUANTITIES = ("N_opt", "D_opt", "tokens_per_param", "loss")
METHODS = ("auto", "closed", "numerical")
#: the Chinchilla law as written in models/chinchilla.toml (whitespace removed)
_CHINCHILLA = "E+exp(a-alpha*log(N))+exp(b-beta*log(D))"
_GRID = 257  # grid points over log N before golden-section refinement
_GOLDEN_STEPS = 60


# -- FLOP formula ---------------------------------------------------------------------------------

def flops_constant(flops: str | float) -> float:
    """The constant ``k`` of a FLOP formula ``C = k * N * D``.

    Parameters
    ----------
    flops : str or float
        A formula in N and D such as ``"6*N*D"`` (compiled by :mod:`bayeslaw.laws.expr`, never
        evaluated as Python), or the constant ``k`` itself.

    Raises
    ------
    PredictionError
        If the formula is not of the form ``k * N * D`` with ``k > 0``.
    """
    if is_real(flops):
        k = float(flops)
    elif isinstance(flops, str):
        f = compile_formula(flops, ["N", "D"], what="flops formula")
        probes = np.array([[1.0, 1.0], [1e9, 2e10], [3e6, 5e12], [7e11, 4e8]])
        # NumPy, not JAX: eager JAX compiles a kernel per distinct operation (seconds for a long formula)
        values = np.asarray(f.numpy({"N": probes[:, 0], "D": probes[:, 1]}), dtype=float) * np.ones(len(probes))
        k = values[0]
        ratio = values / (k * probes[:, 0] * probes[:, 1]) if k != 0 else np.array([np.nan])
        if not k > 0 or not np.all(np.isfinite(ratio)) or not np.allclose(ratio, 1.0, rtol=1e-6):
            raise PredictionError(f"flops formula {flops!r} must have the form k*N*D with a constant k > 0, "
                                  "e.g. '6*N*D'")
    else:
        raise PredictionError(f"flops must be a formula string like '6*N*D' or a number, got {flops!r}")
    if not np.isfinite(k) or k <= 0:
        raise PredictionError(f"flops constant must be positive, got {k:g}")
    return k


# -- parameter draws ------------------------------------------------------------------------------

def _family_index(fit, family: str | None) -> int:
    """The fit's index of ``family`` read as ``Fit.predict`` reads a row's family (1.0 is the
    family '1'; None, NaN and '(new)' a new family), or -1 for a new family."""
    if family is None or family == NEW_FAMILY or (is_real(family) and np.isnan(family)):
        return -1
    lookup = {name: i for i, name in enumerate(fit.families)}
    name = family_name(family, lookup) if isinstance(family, str) or is_real(family) else None
    if name not in lookup:
        raise PredictionError(f"unknown family {family!r}; known families: {', '.join(fit.families)} "
                              "(family=None predicts for a new family)")
    return lookup[name]


def parameter_draws(fit, family: str | None = None, seed: int = 0) -> dict[str, jnp.ndarray]:
    """Draws of every parameter for one family, or a new one drawn from the population: name -> (S,)."""
    index = jnp.asarray([_family_index(fit, family)])
    params = family_draws(fit.plan, fit._flat_samples, index, fit._logref_jnp, jax.random.PRNGKey(int(seed)))
    return {k: v[:, 0] for k, v in params.items()}


# -- optimal allocation ---------------------------------------------------------------------------

def _budgets(compute, name: str = "compute", what: str = "FLOP budgets", *, distinct: bool = False) -> np.ndarray:
    """``compute`` as a 1-D array of positive finite numbers (text, true/false and complex
    numbers refused: '1e21' passed here and failed elsewhere, 1e21+5e20j lost its imaginary
    part); else a PredictionError naming the argument ``name``. ``distinct``: a value given
    twice is refused too (a table with every row twice under one index)."""
    values = real_array(compute)  # True is not a budget of 1 FLOP, nor '1e21' a number
    if values is None or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise PredictionError(f"{name} must be one or more positive {what}, got {compute!r}")
    wide = runtime.outside_float32(values)
    if wide.any():  # 1e-320 FLOPs gave N* = 0 and NaN rows
        first = float(values[wide][0])
        raise PredictionError(f"{name} {first:g} {runtime.float32_problem(first)}")
    if distinct and len(np.unique(values)) < len(values):
        twice = sorted({float(c) for c in values if np.sum(values == c) > 1})
        raise PredictionError(f"{name}: {', '.join(f'{c:g}' for c in twice)} given more than once; give each once")
    return values


def _check_law(law, fixed: Mapping[str, float] | None) -> dict[str, float]:
    if fixed is not None and not isinstance(fixed, Mapping):  # dict([1]) was a raw TypeError
        raise PredictionError(f"inputs must be a dict of input name -> value, got {fixed!r}")
    fixed = dict(fixed or {})
    names = law.input_names
    if "N" not in names or "D" not in names:
        raise PredictionError(f"law {law.name!r} has inputs {', '.join(names)}; compute-optimal allocation "
                              "needs inputs N (parameters) and D (tokens)")
    extra = [n for n in names if n not in ("N", "D")]
    missing = [n for n in extra if n not in fixed]
    if missing:
        raise PredictionError(f"law {law.name!r} has input {missing[0]!r} besides N and D; give its value, "
                              f"e.g. inputs={{{missing[0]!r}: ...}}")
    unknown = [n for n in fixed if n not in extra]
    if unknown:
        allowed = f"its inputs besides N and D: {', '.join(extra)}" if extra else "it has no inputs besides N and D"
        raise PredictionError(f"inputs has key {unknown[0]!r}, not an input of law {law.name!r} to fix "
                              f"({allowed})")
    out = {}
    for n in extra:
        try:
            out[n] = float(fixed[n])
        except (TypeError, ValueError):
            out[n] = float("nan")
        if not np.isfinite(out[n]):
            raise PredictionError(f"inputs[{n!r}] must be a finite number, got {fixed[n]!r}")
    return out


def is_chinchilla(law) -> bool:
    """Whether the law is the Chinchilla form, for which the optimum has a closed form."""
    return "".join(law.formula.text.split()) == _CHINCHILLA


def closed_form_optimum(params: Mapping[str, jnp.ndarray], budget: jnp.ndarray) -> tuple:
    """Chinchilla optimum for ``budget = C / k`` (= N * D): returns (N*, D*), each (S, B).

    With ``G = (alpha A / (beta B))^(1/(alpha+beta))``: ``N* = G x^(beta/(alpha+beta))`` and
    ``D* = x / N*``, where ``x = C / k``. Computed in logs (A = exp(a), B = exp(b)).
    """
    alpha, beta = params["alpha"][:, None], params["beta"][:, None]
    log_g = (jnp.log(alpha) + params["a"][:, None] - jnp.log(beta) - params["b"][:, None]) / (alpha + beta)
    log_x = jnp.log(budget)[None, :]
    log_n = log_g + beta / (alpha + beta) * log_x
    return jnp.exp(log_n), jnp.exp(log_x - log_n)


def numerical_optimum(law, params: Mapping[str, jnp.ndarray], budget: jnp.ndarray,
                      fixed: Mapping[str, float]) -> tuple:
    """Minimise the law along ``N * D = budget`` per draw: dense grid over log N, then golden section.

    Returns (N*, D*), each (S, B). The search covers 1 <= N <= budget (so D >= 1 too).
    """
    env_fixed = {k: jnp.asarray(v) for k, v in fixed.items()}
    theta = {k: v[:, None, None] for k, v in params.items() if k in law.params}
    log_x = jnp.log(budget)[None, :, None]

    def loss(log_n):  # log_n: (S or 1, B, G)
        env = dict(env_fixed, **theta, N=jnp.exp(log_n), D=jnp.exp(log_x - log_n))
        value = law.formula(env)
        return jnp.where(jnp.isfinite(value), value, jnp.inf)

    grid = jnp.linspace(0.0, 1.0, _GRID)[None, None, :] * log_x
    values = loss(grid)
    best = jnp.argmin(values, axis=-1)
    step = log_x[..., 0] / (_GRID - 1)
    centre = jnp.take_along_axis(jnp.broadcast_to(grid, values.shape), best[..., None], axis=-1)[..., 0]
    lo, hi = jnp.maximum(centre - step, 0.0), jnp.minimum(centre + step, log_x[..., 0])
    ratio = (np.sqrt(5.0) - 1) / 2
    for _ in range(_GOLDEN_STEPS):
        c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        left = loss(c[..., None])[..., 0] < loss(d[..., None])[..., 0]
        lo, hi = jnp.where(left, lo, c), jnp.where(left, d, hi)
    log_n = (lo + hi) / 2
    return jnp.exp(log_n), jnp.exp(log_x[..., 0] - log_n)


def allocation_draws(fit, compute, *, family: str | None = None, flops: str | float = "6*N*D",
                     inputs: Mapping[str, float] | None = None, method: str = "auto",
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Posterior draws of the compute-optimal allocation: quantity -> (S, B).

    Quantities: ``N_opt``, ``D_opt``, ``tokens_per_param`` (D*/N*) and ``loss`` (the law at the
    optimum, without run noise, times the fit's extrapolation error beyond its runs as
    ``Fit.predict(kind="law")`` has it: :func:`optimum_rows`). Arguments as in
    :func:`optimal_allocation`.
    """
    require_fit(fit)
    seed = check_seed(seed)
    if method not in METHODS:
        raise PredictionError(f"method must be one of: {', '.join(METHODS)}; got {method!r}")
    law = fit.law
    fixed = _check_law(law, inputs)
    closed = is_chinchilla(law)
    if method == "closed" and not closed:
        raise PredictionError(f"law {law.name!r} has no closed-form optimum; use method='numerical'")
    budgets = _budgets(compute)
    params = parameter_draws(fit, family, seed)
    budget = jnp.asarray(budgets / flops_constant(flops))
    if closed and method != "numerical":
        n_opt, d_opt = closed_form_optimum(params, budget)
    else:
        n_opt, d_opt = numerical_optimum(law, params, budget, fixed)
    env = {k: jnp.asarray(v) for k, v in fixed.items()}
    env.update({k: v[:, None] for k, v in params.items() if k in law.params}, N=n_opt, D=d_opt)
    out = {"N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": d_opt / n_opt, "loss": law.formula(env)}
    out = {k: np.asarray(v) for k, v in out.items()}
    if fit.extrapolation is not None:
        # each budget's error at its median optimum (its distance and tilt beyond the data): the
        # error is a smooth function of both, and the optimum's spread over draws is narrow beside it
        families = np.full(len(budgets), _family_index(fit, family))
        out["loss"] = extrap.apply(fit.extrapolation, out["loss"], optimum_rows(out, fixed), seed, families)
    return out


def optimum_rows(draws: Mapping[str, np.ndarray], fixed: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Each budget's median optimum (N*, D*) as a row of the law's inputs (other inputs at their
    ``fixed`` values): where the extrapolation error and ``beyond`` measure a budget's distance
    from the fitted runs."""
    with np.errstate(all="ignore"):
        rows = {"N": np.nanmedian(draws["N_opt"], axis=0), "D": np.nanmedian(draws["D_opt"], axis=0)}
    return {**rows, **{k: np.full(len(rows["N"]), float(v)) for k, v in fixed.items()}}


def optimal_allocation(fit, compute, *, family: str | None = None, flops: str | float = "6*N*D",
                       ci_prob: float = 0.9, inputs: Mapping[str, float] | None = None,
                       method: str = "auto", seed: int = 0) -> pd.DataFrame:
    """Posterior of the compute-optimal model size and tokens for one or many FLOP budgets.

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs N and D.
    compute : float or sequence of float
        Training FLOP budget(s) C.
    family : str, optional
        A fitted family; None (default) for a new family drawn from the population, as in
        :meth:`Fit.predict`.
    flops : str or float
        FLOP formula ``k*N*D`` (default ``"6*N*D"``) or the constant ``k``.
    ci_prob : float
        Interval probability (default 0.9).
    inputs : dict, optional
        Values of the law's other inputs (e.g. ``{"P": 16}`` for the precision law).
    method : {"auto", "closed", "numerical"}
        ``auto`` uses the closed form for the Chinchilla law and the numerical optimum otherwise.
    seed : int
        Seed for the new family's draws.

    Returns
    -------
    DataFrame indexed by (compute, quantity) with mean, sd, median, lower, upper; quantities
    ``N_opt``, ``D_opt``, ``tokens_per_param`` and ``loss`` (the law's value at the optimum,
    with the extrapolation error beyond the fitted runs where the fit has one). ``attrs``:
    ``ci_prob``, ``family``, ``compute`` (the budgets, ascending, as the table has them) and
    ``beyond``, per input the decades each budget's median optimum lies beyond the largest fitted
    value (0 inside the data), as ``Fit.predict``'s ``beyond_<input>`` columns, and ``below`` by
    input name, the decades below the smallest; both in the order of ``compute``.
    """
    ci_prob = check_ci_prob(ci_prob)
    budgets = np.sort(_budgets(compute, distinct=True))  # the table's order, which attrs follow
    draws = allocation_draws(fit, budgets, family=family, flops=flops, inputs=inputs, method=method, seed=seed)
    frames = []
    for q in QUANTITIES:
        stats = interval_columns(draws[q], ci_prob)
        frame = pd.DataFrame(stats)
        frame.insert(0, "quantity", q)
        frame.insert(0, "compute", budgets)
        frames.append(frame)
    out = pd.concat(frames).set_index(["compute", "quantity"]).sort_index(level=0, sort_remaining=False)
    rows = optimum_rows(draws, _check_law(fit.law, inputs))
    far = {k: np.asarray(v, dtype=float) for k, v in beyond(fit.table.inputs, rows).items()}
    index = _family_index(fit, family)
    out.attrs.update(ci_prob=ci_prob, family=NEW_FAMILY if index < 0 else fit.families[index], compute=budgets,
                     beyond=far, below=below(fit.table.inputs, rows))
    return out
