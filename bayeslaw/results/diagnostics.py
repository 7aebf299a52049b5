"""Convergence diagnostics: rank-normalised R-hat, bulk and tail ESS (as ArviZ), and warnings."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayeslaw.core.errors import ConvergenceWarning
from bayeslaw.results.rank import rank_diagnostics

RHAT_LIMIT = 1.01  # Vehtari et al. (2021)
ESS_PER_CHAIN = 100
#: target acceptances a diverging fit climbs: ``sampler="auto"`` redraws at them
#: (:data:`bayeslaw.infer.sampler.RETRY_ACCEPTS`) and the divergence warning suggests the next one
ACCEPT_LADDER = (0.95, 0.99, 0.999)
#: fewer draws per chain than this, or one chain, and R-hat and ESS are not computed
MIN_DRAWS = 4
#: what a one-chain run is told, by a single fit's warnings and by a batch's
ONE_CHAIN = ("R-hat cannot be computed with 1 chain, so convergence is not checked; "
             "run at least 2 chains (e.g. chains=4)")


def diagnose(draws: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """R-hat and ESS of every element of every array (chains, draws, ...).

    Returns
    -------
    DataFrame indexed by quantity (``alpha``, ``E_family[2]``) with columns r_hat, ess_bulk,
    ess_tail.
    """
    arrays = {k: np.asarray(v) for k, v in draws.items()}
    first = next(iter(arrays.values()))
    rows = [(f"{k}[{i}]" if v.ndim > 2 else k) for k, v in arrays.items() for i in range(int(np.prod(v.shape[2:])))]
    if first.shape[0] < 2 or first.shape[1] < MIN_DRAWS:  # not judged: see unjudged
        return pd.DataFrame({"r_hat": np.nan, "ess_bulk": np.nan, "ess_tail": np.nan},
                            index=pd.Index(rows, name="quantity"))
    blocks = [np.moveaxis(v.reshape(v.shape[:2] + (-1,)), 2, 0) for v in arrays.values()]
    r_hat, ess_bulk, ess_tail = rank_diagnostics(np.concatenate(blocks))
    return pd.DataFrame({"r_hat": r_hat, "ess_bulk": ess_bulk, "ess_tail": ess_tail},
                        index=pd.Index(rows, name="quantity"))


def largest_r_hat(diag: pd.DataFrame) -> float:
    """The largest R-hat of a :func:`diagnose` table, NaN where none could be computed (a
    quantity without an R-hat, e.g. a constant, does not hide the others')."""
    r_hat = diag["r_hat"].to_numpy(dtype=float)
    return float(np.nanmax(r_hat)) if np.isfinite(r_hat).any() else float("nan")


def quantity_labels(plan, families, quantities) -> dict[str, str]:
    """Names the summary shows for the quantities :func:`diagnose` reports on a fit's sites.

    ``alpha`` -> ``alpha``, ``alpha_sd`` -> ``alpha_sd (population)``, ``a_ref`` (the sampled
    site of a parameter centred on an input) -> ``a (population)``, ``a_ref_z[2]`` or
    ``a_ref_family[2]`` -> ``a (moe)`` for the third family; other quantities keep their names.
    """
    labels: dict[str, str] = {}
    for spec in plan.ordered_params():
        name, site, pooling = spec.name, plan.site(spec.name), plan.pooling_map[spec.name]
        labels[site] = name if pooling == "shared" else f"{name} (population)"
        labels[f"{site}_sd"] = f"{name}_sd (population)"
        for suffix in ("z", "u", "family"):
            for j, family in enumerate(families):
                labels[f"{site}_{suffix}[{j}]"] = f"{name} ({family})"
    return {q: labels.get(q, q) for q in quantities}


def unjudged(diag: pd.DataFrame, chains: int) -> list[str]:
    """What the diagnostics could not check, so that nobody reads silence as success."""
    if chains < 2:
        return [ONE_CHAIN]
    if diag["r_hat"].isna().all():
        return [(f"R-hat and ESS cannot be computed from fewer than {MIN_DRAWS} draws per chain; "
                 "draw more")]
    if diag["r_hat"].isna().any():
        first = diag.index[diag["r_hat"].isna().to_numpy()][0]
        return [(f"R-hat cannot be computed for {first}: its draws do not vary within a chain "
                 "(a stuck chain); check the model and draw more")]
    return []


def problems(diag: pd.DataFrame, divergences: int, chains: int, target_accept: float,
             labels: Mapping[str, str] | None = None) -> list[str]:
    """Plain-language problems with the sampler's output, each saying what to do.

    ``labels`` renames the quantities of ``diag`` in the messages (see :func:`quantity_labels`).
    What could not be computed is not a problem here; see :func:`unjudged`.
    """
    if labels:
        diag = diag.rename(index=dict(labels))
    found = []
    if chains > 1 and diag["r_hat"].notna().any():
        worst = diag["r_hat"].idxmax()
        if diag.loc[worst, "r_hat"] > RHAT_LIMIT:
            found.append(
                f"R-hat reaches {diag.loc[worst, 'r_hat']:.3f} for {worst} (limit {RHAT_LIMIT}): the chains "
                "disagree; draw more (e.g. warmup=2000, draws=2000) or tighten the priors/pooling"
            )
    for kind, noisy in (("bulk", "intervals are noisy"),
                        ("tail", "the interval ends (5% and 95% quantiles) are noisy")):
        ess = diag[f"ess_{kind}"]
        if ess.notna().any() and ess.min() < ESS_PER_CHAIN * chains:
            found.append(f"{kind} ESS is only {ess.min():.0f} for {ess.idxmin()} (want >= {ESS_PER_CHAIN} "
                         f"per chain): {noisy}; increase draws")
    if divergences:
        found.append(
            f"{divergences} divergent transitions after warmup: the sampler could not explore part of the "
            f"posterior; {divergence_remedy(target_accept)}"
        )
    return found


def divergence_remedy(target_accept: float) -> str:
    """What a diverging fit is told to do: the next rung of :data:`ACCEPT_LADDER` above its
    ``target_accept``, or, at the top, to share parameters (the geometry itself must change)."""
    higher = next((a for a in ACCEPT_LADDER if a > target_accept), None)
    if higher is not None:
        return (f"raise target_accept (now {target_accept:g}, try {higher:g}) or share parameters "
                "that few families inform")
    return f"target_accept is already {target_accept:g}: share parameters that few families inform"


def warn_if_unreliable(diag: pd.DataFrame, divergences: int, chains: int, target_accept: float,
                       labels: Mapping[str, str] | None = None) -> None:
    """Emit one ConvergenceWarning per problem found and per check that could not be made."""
    if labels:
        diag = diag.rename(index=dict(labels))
    for message in unjudged(diag, chains) + problems(diag, divergences, chains, target_accept):
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
