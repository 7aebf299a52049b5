"""The quantities a reader of a fit asks for, by the names the law file gives them.

A fit samples internal sites (``a_ref``, ``E_u``, ``E_sd``, ...); a reader asks for the law's
own parameters (E, alpha, A, beta, B, sigma) and its derived quantities (the compute-optimal
exponents). :func:`quantities` lists every quantity once, with its one-line meaning, its draws
for the population (or the shared value) and per family, and whether it is *internal*: a log
amplitude the law also reports as ``exp`` of itself (``a`` when ``A = exp(a)`` is derived), a
between-family sd, a correlation, the Student-t ``df`` or the run-to-run sd. Both
:meth:`bayeslaw.Fit.summary` and :meth:`bayeslaw.Fit.to_inference_data` are built from this list,
so the table and the ArviZ names agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass
class Quantity:
    """One reader-facing quantity.

    Attributes
    ----------
    name : str
        The law file's name (``E``, ``alpha``, ``A``), or ``E_sd``, ``corr(alpha, a)``, ``run_sd``.
    meaning : str
        One line saying what it is.
    internal : bool
        Shown by ``summary(internal=True)`` only.
    shared : bool
        One value common to all families (then ``family`` is None). False for a population
        value (row ``(population)``), with or without per-family values.
    population : ndarray (S,) or None
        The shared value, or the population value of a pooled quantity (None for pooling "none").
    family : ndarray (S, F) or None
        Per-family values (None when shared, and for between-family sds and correlations).
    """

    name: str
    meaning: str
    internal: bool
    shared: bool
    population: np.ndarray | None
    family: np.ndarray | None


def exp_of(law) -> dict[str, str]:
    """Parameters the law also reports as ``exp`` of themselves: parameter -> derived name."""
    out = {}
    for name, formula in law.derived.items():
        match = re.fullmatch(r"exp\(\s*([A-Za-z_]\w*)\s*\)", formula.text.strip())
        if match and match.group(1) in law.params:
            out.setdefault(match.group(1), name)
    return out


def likelihood_meaning(law, name: str) -> str:
    """One-line meaning of a likelihood parameter (sigma, sigma_trend, df, concentration)."""
    lik = law.likelihood
    space = "log " if lik.space == "log" else ""
    return {
        "sigma": f"scatter of runs around the law (sd of the {space}target)",
        "sigma_trend": f"power of {lik.trend_input} that the scatter follows",
        "df": "tail weight of the scatter (Student-t degrees of freedom; small = heavy tails)",
        "concentration": "precision of the scatter around the law (Beta concentration)",
    }.get(name, name)


def meaning(law, name: str) -> str:
    """The law file's description of a parameter or derived quantity, or a generated one."""
    if name in law.params and law.params[name].description:
        return law.params[name].description
    if name in law.likelihood.params:
        spec = law.likelihood.params[name]
        return spec.description or likelihood_meaning(law, name)
    if name in law.derived:
        return law.derived_descriptions.get(name) or f"= {law.derived[name].text}"
    return name


def quantities(fit) -> list[Quantity]:
    """Every quantity of ``fit`` in reading order (see the module docstring).

    Law parameters come in the law's order, each ``exp``-reported one followed by its
    exponential; then the other derived quantities, the likelihood's parameters, the
    between-family sds, the correlations and the run-to-run sd.
    """
    law, plan = fit.law, fit.plan
    pop, fam = fit.population_values(), fit.family_values()
    pop.update(fit.derived_values(pop))
    fam.update(fit.derived_values(fam))
    pooling = plan.pooling_map
    exps = exp_of(law)
    order: list[str] = []
    for name in law.params:
        order.append(name)
        if name in exps:
            order.append(exps[name])
    order += [d for d in law.derived if d not in order] + list(law.likelihood.params)
    out = []
    for name in order:
        uses = law.derived[name].names if name in law.derived else (name,)
        shared = all(pooling[p] == "shared" for p in uses)
        if name not in pop and name not in fam:
            continue
        internal = name in exps or name == "df"
        out.append(Quantity(name, meaning(law, name), internal, shared, pop.get(name),
                            None if shared else fam.get(name)))
    for name in law.all_params():
        site = f"{plan.site(name)}_sd"
        if site in fit.samples:
            out.append(Quantity(f"{name}_sd", f"between-family sd of {name} (on its prior's "
                                "unconstrained scale)", True, False, fit.flat(site), None))
    if "corr" in fit.samples:
        names = [s.name for s in plan.ordered_params() if pooling[s.name] == "correlated"]
        corr = fit.flat("corr")
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                label = f"corr({names[i]}, {names[j]})"
                text = f"correlation of {names[i]} and {names[j]} across families"
                out.append(Quantity(label, text, True, False, corr[:, i, j], None))
    if "run_sd" in fit.samples:
        out.append(Quantity("run_sd", "sd of a training run's offset from its family's law "
                            "(checkpoint fits)", True, False, fit.flat("run_sd"), None))
    if "ckpt_excess" in fit.samples:
        out.append(Quantity("ckpt_excess", "log-loss excess of a run's first checkpoint over the law "
                            "(an unfinished schedule; none at the final checkpoint)", True, False,
                            fit.flat("ckpt_excess"), None))
        out.append(Quantity("ckpt_power", "how fast the checkpoint excess decays over the run: "
                            "excess * (1 - D/D_final)^power", True, False, fit.flat("ckpt_power"), None))
    return out
