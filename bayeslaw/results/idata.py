"""A fit as ArviZ InferenceData, by the law's names, ready for ArviZ's own functions.

Groups and names:

* ``posterior``: every quantity of :func:`bayeslaw.modeling.quantities.quantities` except log amplitudes
  the law reports as ``exp`` of themselves (``A`` is there, ``a`` is not). A quantity common to
  all families has dims (chain, draw); a per-family one (chain, draw, family), the ``family``
  coordinate holding the family names, and its population value is ``<name>_population``.
  Correlations are ``corr_<p>_<q>``.
* ``posterior_predictive``, ``observed_data``, ``log_likelihood``: the target, named by its
  column (``loss``; :func:`target_variable`), over a ``run`` dimension whose coordinate holds the rows' labels; one
  simulated replicate of every fitted row per draw (with the fitted run offsets of a checkpoint
  fit), and the pointwise log density in the likelihood's space (log target for a log-space
  law: fits compared by ``az.compare`` must share the target and the space).
* ``constant_data``: the law's inputs (and family and run indices) over ``run``.
* ``sample_stats``: ``diverging``, ``num_steps``, ``step_size``.
* ``bayeslaw_sites``: the sampler's own sites (``a_ref``, ``E_u``, ...), from which
  :func:`bayeslaw.load_fit` rebuilds the fit.
"""

from __future__ import annotations

import jax
import numpy as np

from bayeslaw.core._arviz import az
from bayeslaw.modeling.build import observed_draws
from bayeslaw.modeling.quantities import exp_of, quantities

SITES_GROUP = "bayeslaw_sites"


def _corr_name(name: str) -> str:
    """``corr(alpha, a)`` -> ``corr_alpha_a``."""
    return name.replace("(", "_").replace(", ", "_").replace(")", "")


def posterior_quantities(fit) -> tuple[dict, dict]:
    """Posterior variables (chain, draw, ...) by the law's names, and their dims."""
    chains = np.asarray(next(iter(fit.samples.values()))).shape[0]
    hidden = set(exp_of(fit.law))
    variables, dims = {}, {}

    def put(name, draws, per_family):
        variables[name] = np.asarray(draws).reshape((chains, -1) + np.shape(draws)[1:])
        dims[name] = ["family"] if per_family else []

    for q in quantities(fit):
        if q.name in hidden:
            continue
        name = _corr_name(q.name) if q.name.startswith("corr(") else q.name
        if q.family is None:  # shared, or a population-level quantity (between-family sd)
            put(name, q.population, False)
            continue
        put(name, q.family, True)
        if q.population is not None:
            put(f"{name}_population", q.population, False)
    return variables, dims


def in_sample_draws(fit, seed: int = 0) -> np.ndarray:
    """One simulated replicate of every fitted row per posterior draw, (chains, draws, rows)."""
    params, x, mean = fit.fitted_means()  # the fitted runs' own offsets included
    key = jax.random.PRNGKey(int(seed))
    draws = np.asarray(observed_draws(fit.plan, params, mean, key, x, fit._logref_jnp))
    chains = np.asarray(next(iter(fit.samples.values()))).shape[0]
    return draws.reshape(chains, -1, draws.shape[-1])


def target_variable(target_name: str | None) -> str:
    """The target's variable name in the groups: its column name, ``y`` without one, ``/``
    (which netCDF refuses in names: a column ``val/loss`` fitted, then failed to save) as ``_``,
    and ``y`` before a name of dots alone (``.`` and ``..`` are HDF5's own names); the column's
    own name is kept in the saved fit's attributes."""
    name = (target_name or "y").replace("/", "_")
    return name if name.strip(".") else f"y{name}"


def run_labels(table) -> list[str]:
    """The rows' labels as text, or their positions when labels repeat."""
    labels = [str(v) for v in table.frame.index]
    return labels if len(set(labels)) == len(labels) else [str(i) for i in range(len(labels))]


def to_inference_data(fit, meta: dict | None = None) -> az.InferenceData:
    """Build the InferenceData of ``fit`` (see the module docstring); ``meta`` goes into the
    posterior's attributes."""
    table = fit.table
    name = target_variable(table.target_name)
    posterior, dims = posterior_quantities(fit)
    dims = {**dims, name: ["run"]}
    constant = {k: np.asarray(v) for k, v in table.inputs.items()}
    constant["family_index"] = np.asarray(table.family_index)
    if fit.run_index is not None:
        constant["run_index"] = np.asarray(fit.run_index)
    dims.update({k: ["run"] for k in constant})
    idata = az.from_dict(
        posterior=posterior,
        posterior_predictive={name: in_sample_draws(fit, int(fit.config.get("seed", 0)))},
        log_likelihood={name: fit.log_likelihood()},
        observed_data={name: np.asarray(table.target)},
        constant_data=constant,
        sample_stats={k: np.asarray(v) for k, v in fit.sample_stats.items()},
        coords={"family": list(fit.families), "run": run_labels(table)},
        dims=dims,
    )
    sites = az.dict_to_dataset({k: np.asarray(v) for k, v in fit.samples.items()})
    idata.add_groups({SITES_GROUP: sites})
    idata.posterior.attrs.update(meta or {})
    return idata
