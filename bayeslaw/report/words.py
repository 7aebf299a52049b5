"""Plain language for the report: parameter names and meanings, sampler diagnostics in words.

A reader of a planning report knows E, A, alpha, B, beta and the compute-optimal exponents, not
the sampled sites (``a_ref``, ``E_u[3]``). Meanings come from the law file's parameter
descriptions; the few quantities a law file does not describe (the noise, the derived
exponents) get a fixed sentence here.
"""

from __future__ import annotations

import re

import numpy as np

from bayeslaw.plot._common import reader_name
from bayeslaw.results.diagnostics import ESS_PER_CHAIN, RHAT_LIMIT, problems

#: meanings of quantities law files usually leave undescribed
FALLBACK_MEANINGS = {
    "sigma": "run-to-run noise: the typical scatter of a run's {target} around the law "
             "(on the log scale, so about a relative scatter)",
    "df": "tail weight of the noise (Student-t degrees of freedom): small values allow outlying "
          "runs; above about 30 it is nearly normal",
    "sigma_trend": "how the noise changes with model size: scale \u221d (N / N_ref)^sigma_trend",
}
_POOLING_WORDS = {
    "shared": "one value for all families",
    "partial": "varies by family (value: a typical family)",
    "correlated": "varies by family, jointly with others (value: a typical family)",
    "none": "fitted separately per family",
}


def meaning(law, param: str, target: str = "loss") -> str:
    """One-line meaning of a parameter or derived quantity, from the law file where it has one."""
    spec = law.all_params().get(param)
    text = spec.description if spec is not None else ""
    while re.search(r"\([^()]*\)", text):  # drop "(prior on a - alpha*log(N_ref))" asides, nested too
        text = re.sub(r"\s*\([^()]*\)", "", text)
    text = text.strip()
    name, exp = reader_name(law, param) if spec is not None else (param, False)
    if exp:  # "log A, the model-size amplitude" describes A itself as "the model-size amplitude"
        text = re.sub(rf"^log\s+{re.escape(name)}\s*,\s*", "", text)
    if not text:
        text = law.derived_descriptions.get(param, "") or FALLBACK_MEANINGS.get(param, "")
        if not text and param in law.derived:
            text = f"derived: {law.derived[param].text}"
    text = text.replace("{target}", target)
    return text[:1].upper() + text[1:] if text else ""


def parameter_rows(fit, ci_prob: float) -> list[dict]:
    """Rows of the plain parameter table: name, median, interval, how it varies, meaning.

    Law parameters in the law's order (log amplitudes shown as their exponential, ``a`` as
    ``A``), then the noise, then derived quantities not shown yet. Values are the population
    (typical family) value for parameters that vary by family, and one row per family for a
    parameter fitted separately per family (pooling ``none``: no population).
    """
    pop = fit.population_values()
    derived = fit.derived_values(pop)
    tail = (1 - ci_prob) / 2
    target = fit.table.target_name or "target"
    rows, shown, per_family = [], set(), None
    for param, spec in fit.law.all_params().items():
        if param not in pop:  # fitted separately per family: no population value, a row per family
            if fit.plan.pooling_map.get(param) != "none":
                continue
            per_family = fit.family_values() if per_family is None else per_family
            name, exp = reader_name(fit.law, param)
            for j, family in enumerate(fit.families):
                values = np.exp(per_family[param][:, j]) if exp else per_family[param][:, j]
                lo, med, hi = np.quantile(values, [tail, 0.5, 1 - tail])
                rows.append({"name": f"{name} ({family})", "median": med, "lower": lo, "upper": hi,
                             "varies": _POOLING_WORDS["none"], "meaning": meaning(fit.law, param, target)})
            shown.add(name)
            continue
        name, exp = reader_name(fit.law, param)
        values = np.exp(pop[param]) if exp else pop[param]
        pooling = fit.plan.pooling_map.get(param, "shared")
        lo, med, hi = np.quantile(values, [tail, 0.5, 1 - tail])
        rows.append({"name": name, "median": med, "lower": lo, "upper": hi,
                     "varies": _POOLING_WORDS.get(pooling, pooling) if len(fit.families) > 1 else "",
                     "meaning": meaning(fit.law, param, target)})
        shown.add(name)
    for name, values in derived.items():
        if name in shown:
            continue
        lo, med, hi = np.quantile(values, [tail, 0.5, 1 - tail])
        uses = fit.law.derived[name].names
        varies = any(fit.plan.pooling_map.get(p, "shared") != "shared" for p in uses)
        rows.append({"name": name, "median": med, "lower": lo, "upper": hi,
                     "varies": ("varies by family (value: a typical family)" if varies else
                                "one value for all families") if len(fit.families) > 1 else "",
                     "meaning": meaning(fit.law, name, target)})
    return rows


def site_names(fit) -> dict[str, str]:
    """Reader names of the sampled sites' base names: ``a_ref`` -> ``A``."""
    out = {}
    for param in fit.law.all_params():
        out[fit.plan.site(param)] = reader_name(fit.law, param)[0]
    return out


def reader_quantity(fit, quantity: str) -> str:
    """A diagnostics row (``a_ref_u[3]``) in reader terms (``A of family moe``)."""
    names = site_names(fit)
    match = re.fullmatch(r"(.+?)(_sd|_u|_z|_family)?(?:\[(\d+)\])?", quantity)
    base, suffix, index = match.group(1), match.group(2), match.group(3)
    if base not in names:
        return quantity
    name = names[base]
    if suffix == "_sd":
        return f"the between-family spread of {name}"
    if suffix in ("_u", "_z", "_family") and index is not None and int(index) < len(fit.families):
        return f"{name} of family {fit.families[int(index)]}"
    return name


def diagnostics_words(fit) -> tuple[bool, list[str], dict]:
    """Whether the sampler converged, the problems in words, and the headline numbers.

    Returns
    -------
    (ok, problems, numbers): ``numbers`` has max_r_hat, min_ess_bulk, min_ess_tail, divergences, chains,
    draws (per chain) and the sampler used.
    """
    diag = fit.diagnostics()
    chains = int(np.asarray(next(iter(fit.samples.values()))).shape[0])
    readable = diag.rename(index=lambda q: reader_quantity(fit, q))
    found = problems(readable, fit.divergences, chains, float(fit.config.get("target_accept", 0.8)))
    numbers = {"max_r_hat": float(diag["r_hat"].max()), "min_ess_bulk": float(diag["ess_bulk"].min()),
               "min_ess_tail": float(diag["ess_tail"].min()),
               "divergences": fit.divergences, "chains": chains, "draws": fit.num_draws // max(chains, 1),
               "sampler": fit.config.get("sampler_used", "?"), "rhat_limit": RHAT_LIMIT,
               "ess_wanted": ESS_PER_CHAIN * chains}
    return not found, found, numbers
