"""Prior medians in closed form: the data-independent start of the damped Newton mode search
(``fit_many``, and ``bl.fit`` for law models).

NumPyro's ``init_to_median`` takes the median of 15 prior draws. Drawing needs each prior's
sampler, and the Gamma sampler (the Student-t ``df`` prior of every catalogue law) is a
rejection loop: compiling the draws took ~2.6 s of a cold ``fit_many``. The priors a law file
can name (see :data:`bayeslaw.laws.priors.DISTRIBUTIONS`) and the pooling sites the model adds all
have a median in closed form or, for the Gamma and the Beta, an approximation within 0.5% of it
for the catalogue's priors (below), so no draw is needed. The start only has to be a sensible
interior point: the mode search moves on from it. A site whose distribution is not covered
falls back to ``init_to_median``.
"""

from __future__ import annotations

import math
from functools import partial

import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.infer import init_to_median

#: the median of the standard half-normal, sqrt(2) * erfinv(1/2)
HALF_NORMAL_MEDIAN = 0.6744897501960817


def _gamma_median(concentration, rate):
    """Wilson-Hilferty: k (1 - 1/(9k))^3 / rate, 0.4% above the median at k = 2 (the catalogue's
    df prior), 1.3% at k = 1, 3.4% at k = 0.5; below k = 0.3, where it fails, the mean."""
    k = jnp.asarray(concentration)
    approx = k * (1.0 - 1.0 / (9.0 * k)) ** 3
    return jnp.where(k >= 0.3, approx, k) / rate


def _beta_median(a, b):
    """Kerman's (a - 1/3) / (a + b - 2/3) for a, b >= 1: 0.5% off for Beta(2, 6) and 0.2% for
    Beta(6, 1.5) (the accuracy laws' floor and top priors), at most ~4% at a = 1; the mean
    where either is below 1 (a U- or J-shaped prior, where any interior start serves)."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    return jnp.where((a >= 1) & (b >= 1), (a - 1 / 3) / (a + b - 2 / 3), a / (a + b))


def median(fn):
    """Median of a univariate (possibly batched) NumPyro distribution, or None when not covered.

    Parameters
    ----------
    fn : numpyro.distributions.Distribution
        A prior as a NumPyro model builds it: one of the law-file priors, possibly shifted,
        expanded over a plate, or made ``Independent``.

    Returns
    -------
    jax.Array or None
        The median with the distribution's batch shape; None where no closed form is known.
    """
    if isinstance(fn, (dist.Independent, dist.MaskedDistribution)):
        inner = median(fn.base_dist)
        return None if inner is None else jnp.broadcast_to(inner, fn.shape())
    if isinstance(fn, dist.ExpandedDistribution):
        inner = median(fn.base_dist)
        return None if inner is None else jnp.broadcast_to(inner, fn.batch_shape)
    if isinstance(fn, dist.TransformedDistribution):
        inner = median(fn.base_dist)
        # a scalar bijection is monotone, so it maps the median to the median
        if inner is None or any(t.domain.event_dim for t in fn.transforms):
            return None
        for t in fn.transforms:
            inner = t(inner)
        return inner
    value = _leaf_median(fn)
    return None if value is None else jnp.broadcast_to(value, fn.batch_shape)


def _leaf_median(fn):
    """Median of one of the law-file distributions (parameters possibly batched), or None."""
    if isinstance(fn, (dist.Normal, dist.StudentT, dist.Cauchy)):
        return fn.loc
    if isinstance(fn, dist.LogNormal):
        return jnp.exp(fn.loc)
    if isinstance(fn, dist.HalfNormal):
        return HALF_NORMAL_MEDIAN * fn.scale
    if isinstance(fn, dist.HalfCauchy):
        return fn.scale
    if isinstance(fn, dist.Exponential):
        return math.log(2.0) / fn.rate
    if isinstance(fn, dist.Uniform):
        return 0.5 * (fn.low + fn.high)
    if isinstance(fn, dist.Gamma):
        return _gamma_median(fn.concentration, fn.rate)
    if isinstance(fn, dist.Beta):
        return _beta_median(fn.concentration1, fn.concentration0)
    if isinstance(fn, (dist.LeftTruncatedDistribution, dist.RightTruncatedDistribution,
                       dist.TwoSidedTruncatedDistribution)):
        return fn.icdf(0.5 * jnp.ones(fn.batch_shape))
    return None


def init_to_closed_form_median(site=None):
    """NumPyro init strategy: each latent site at its prior's closed-form median (constrained
    space), falling back to ``init_to_median`` (15 prior draws) for anything :func:`median`
    does not cover."""
    if site is None:
        return partial(init_to_closed_form_median)  # numpyro expects a partial
    if site["type"] == "sample" and not site["is_observed"] and site["value"] is None:
        value = median(site["fn"])
        if value is not None:
            sample_shape = site["kwargs"].get("sample_shape") or ()
            return jnp.broadcast_to(value, tuple(sample_shape) + jnp.shape(value))
    return init_to_median(site)
