"""The extrapolation error's nested fits: batched short chains, or full refits where those do not mix.

:mod:`bayeslaw.infer.extrapolation` refits the law below nested cutoffs of a fit's own runs. By
default all nested fits are short HMC chains in one compiled program
(:mod:`bayeslaw.infer.nested_fits`); ``method="mcmc"`` refits each by a refit function
(``bl.fit``) with the fit's own settings. The short chains have a fixed trajectory length, which
does not cross every nested posterior (a small table's curved ridge, a few families' funnel):
given a refit function, a nested fit whose chains did not mix is redone by it, as ``bl.fit``
falls back from its own HMC to NUTS.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from bayeslaw.core import progress as progress_bars
from bayeslaw.core.errors import ConvergenceWarning, FitError
from bayeslaw.infer.nested_fits import DRAWS, nested_fits
from bayeslaw.results.diagnostics import largest_r_hat

#: largest R-hat of a nested fit before it is refitted (given a refit function) or warned about.
#: Two chains of 250 draws give a noisy R-hat (1.03-1.05 for chains that agree), so the bar is
#: the one for chains clearly apart.
NESTED_R_HAT_LIMIT = 1.1


def make_nested_fits(fit, below: list[np.ndarray], method: str, seed: int, progress: bool | None,
                     refit: Callable | None, fit_kwargs: dict) -> list:
    """The nested fits on the rows ``below[k]``: short HMC chains from each nested mode (one
    batched program, :mod:`bayeslaw.infer.nested_fits`) or full refits by ``refit`` (``bl.fit``) with
    the fit's own settings."""
    if method == "batched":
        return nested_fits(fit, np.stack(below), seed=seed)
    if refit is None:
        raise FitError("method='mcmc' needs refit=, the function that fits a law (bayeslaw.fit)")
    table, config = fit.table, fit.config
    settings = {"chains": config["chains"], "draws": config["draws"], "warmup": config["warmup"],
                "target_accept": config.get("target_accept", 0.8), "run": config.get("run") or False,
                "extrapolation": False}
    if table.group is not None:
        settings["pooling"] = dict(fit.plan.pooling_map)
    settings.update(fit_kwargs)
    frame = table.frame.reset_index(drop=True)
    out = []
    with progress_bars.bar(len(below), f"{fit.law.name}: nested refits", progress) as meter:
        for rows in below:
            out.append(refit(fit.law, frame[rows], target=table.target_name, group=table.group,
                               seed=seed, **settings))
            meter.update()
    return out


def refit_unconverged(fit, nested: list, below: list[np.ndarray], seed: int, progress: bool | None,
                      refit: Callable, fit_kwargs: dict) -> list:
    """``nested`` with each batched nested fit whose largest R-hat exceeds
    :data:`NESTED_R_HAT_LIMIT` replaced by a full refit (``refit``, i.e. ``bl.fit`` with its
    NUTS fallback, the fit's settings but at most :data:`~bayeslaw.infer.nested_fits.DRAWS`
    draws per chain), as ``bl.fit`` itself falls back from its HMC: the short chains' fixed
    trajectory length does not cross every nested posterior (a small table's curved ridge, a
    few families' funnel), and an error measured on chains that did not mix would rest on them."""
    bad = [k for k, one in enumerate(nested) if nested_r_hat(one) > NESTED_R_HAT_LIMIT]
    if not bad:
        return nested
    # as many draws per chain as the batched chains keep: a nested fit gives only the median and
    # the central 68% of its held-out runs' predictions
    settings = {"draws": min(fit.config.get("draws", DRAWS), DRAWS), **fit_kwargs}
    with warnings.catch_warnings():  # a refit still apart is warned about by the error's measurement
        warnings.simplefilter("ignore", ConvergenceWarning)
        redone = make_nested_fits(fit, [below[k] for k in bad], "mcmc", seed, progress, refit, settings)
    out = list(nested)
    for k, one in zip(bad, redone):
        out[k] = one
    return out


def nested_r_hat(nested) -> float:
    """A nested fit's largest R-hat: recorded by the batched chains, computed for a refit."""
    if "max_r_hat" in nested.config:
        return float(nested.config["max_r_hat"])
    return largest_r_hat(nested.diagnostics())
