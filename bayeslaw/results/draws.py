"""Posterior draws in general: argument checks, interval summaries and the draws accessors.

Every result that holds posterior draws (the law's :class:`~bayeslaw.results.fit.Fit`, the
downstream models' fits) and every function that summarises draws (predictions, decisions,
figures, reports) needs the same few pieces, kept here so none of them has to import the Fit:

* :func:`check_ci_prob`, :func:`check_seed` and :func:`check_kind` validate the interval
  probability, the seed and the kind of prediction users pass, with one error message for the
  whole package;
* :func:`interval_columns` gives mean, sd, median and equal-tailed interval of draws, and
  :func:`predictive_columns` adds the tail shape of a predictive and drops the mean or sd where
  the tail is too heavy for them (:mod:`bayeslaw.results.tails`);
* :class:`DrawsMixin` gives a result that holds ``samples`` (chains, draws, ...) and
  ``sample_stats`` its number of draws, its divergences and its draws with chains merged.
"""

from __future__ import annotations

import numpy as np

from bayeslaw.core.errors import PredictionError
from bayeslaw.core.numbers import is_integer, is_real
from bayeslaw.results.tails import MEAN_K_LIMIT, SD_K_LIMIT, tail_k

#: what a prediction is of: the law's curve itself, or a new measurement of it (a new run's
#: target, a new budget's optimum), which adds the scatter the fitted ones show around the curve
KINDS = ("law", "observed")


def check_kind(kind: str) -> str:
    """Validate a prediction's ``kind`` (one of :data:`KINDS`)."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise PredictionError(f"kind must be one of: {', '.join(KINDS)}; got {kind!r}")
    return kind


def check_ci_prob(ci_prob: float) -> float:
    """Validate an interval probability."""
    if not is_real(ci_prob) or not 0 < ci_prob < 1:
        raise PredictionError(f"ci_prob must be a number in (0, 1), got {ci_prob!r}")
    return float(ci_prob)


def interval_columns(draws: np.ndarray, ci_prob: float, axis: int = 0) -> dict[str, np.ndarray]:
    """Mean, sd, median and equal-tailed interval bounds of draws along ``axis``.

    Draws near float64's limit (an allocation for a budget of 1e300 FLOPs) give an infinite mean
    or sd, as they should, without numpy's overflow warnings on the way.
    """
    tail = (1 - ci_prob) / 2
    lower, median, upper = np.quantile(draws, [tail, 0.5, 1 - tail], axis=axis)
    with np.errstate(over="ignore", invalid="ignore"):
        mean, sd = draws.mean(axis=axis), draws.std(axis=axis, ddof=1)
    return {"mean": mean, "sd": sd, "median": median, "lower": lower, "upper": upper}


def check_seed(seed) -> int:
    """Validate a prediction seed: a whole number from 0 to 2**32 - 1."""
    if not is_integer(seed) or not 0 <= seed < 2**32:
        raise PredictionError(f"seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}")
    return int(seed)


def predictive_columns(draws: np.ndarray, ci_prob: float) -> dict[str, np.ndarray]:
    """:func:`interval_columns` of predictive draws (S, R) plus ``tail_k``, with the mean and sd
    set to NaN where the tail is too heavy to support them (see :mod:`bayeslaw.results.tails`)."""
    out = interval_columns(draws, ci_prob)
    k = tail_k(draws)
    out["mean"] = np.where(k >= MEAN_K_LIMIT, np.nan, out["mean"])
    out["sd"] = np.where(k >= SD_K_LIMIT, np.nan, out["sd"])
    out["tail_k"] = k
    return out


class DrawsMixin:
    """Accessors shared by every result that holds ``samples`` (chains, draws, ...) and
    ``sample_stats`` with a ``diverging`` flag per draw."""

    samples: dict
    sample_stats: dict

    @property
    def num_draws(self) -> int:
        """Posterior draws over all chains."""
        first = next(iter(self.samples.values()))
        return first.shape[0] * first.shape[1]

    @property
    def divergences(self) -> int:
        """Divergent transitions over all chains."""
        return int(np.asarray(self.sample_stats["diverging"]).sum())

    def flat(self, name: str) -> np.ndarray:
        """Draws of one site with chains and draws merged: shape (S, ...)."""
        if name not in self.samples:
            raise PredictionError(f"no sampled site {name!r}; sites: {', '.join(sorted(self.samples))}")
        value = np.asarray(self.samples[name])
        return value.reshape((-1,) + value.shape[2:])
