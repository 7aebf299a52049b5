"""Which law parameters do a fit's families share? Chosen by how well each choice extrapolates.

A law fitted to several families (training sets, architectures) shares some parameters across
them and lets others vary: the law file's pooling, for the Chinchilla law the exponents shared and
the offsets partially pooled. Whether the families really share the exponents is a property of
the data. Families trained on different data can scale differently, and then one shared
exponent mispredicts every family beyond the runs; families that do share them gain from
pooling. An in-sample comparison (PSIS-LOO, as :func:`bayeslaw.family_test` does) favours the
more flexible model whenever it fits the runs better, which is not what a prediction beyond
them needs.

So each candidate is scored the way the fit is used: by the nested leave-largest-out refits that
measure the extrapolation error (:func:`bayeslaw.infer.extrapolation.measure`), i.e. the log
evidence of each nested fit's held-out larger runs, its error model integrated out (a
leave-future-out Bayes factor). Candidates are the law's own pooling and every law parameter per
family ("apart"); the law's pooling is kept unless the other beats it by :data:`MARGIN`. The
nested fits are short chains (one batched program per candidate), so the choice costs one more
extrapolation measurement, and the winner's measurement is the fit's extrapolation error.

A fit with families apart cannot predict a family it has not seen (no population to draw one
from).

Opt-in (``bl.fit(..., pooling="auto")``), not the default. While the nested fits were Laplace
approximations at the mode, whose evidence moved with the seed, it chose families apart on runs
simulated with shared exponents; with the chains that replaced them it makes no such false
alarm, but it also keeps the law's pooling on nearly every real split measured (gadre's too, the
case it was offered for), so it changes little and costs a second extrapolation measurement
(figures in benchmarks/README.md, "Families apart when their nested refits say so").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayeslaw.core.errors import FitError
from bayeslaw.infer import extrapolation as extrap
from bayeslaw.infer.start import log_reference
from bayeslaw.modeling.build import ModelPlan, make_plan
from bayeslaw.results.extrapolation_error import ExtrapolationErrorModel
from bayeslaw.results.fit import Fit

#: log evidence by which families apart must beat the law's pooling to replace it: a Bayes
#: factor of e^3 ~ 20 ("strong" on Kass and Raftery's scale), so the law's design choice stands
#: unless the runs clearly say otherwise
MARGIN = 3.0
LAW, APART = "law", "apart"
WORDS = {LAW: "the law's pooling", APART: "families apart (every law parameter per family)"}


@dataclass(frozen=True)
class PoolingChoice:
    """Outcome of :func:`choose_pooling`.

    Attributes
    ----------
    chosen : str
        ``"law"`` or ``"apart"``.
    plan : ModelPlan
        The chosen model.
    log_evidence : dict of str to float
        Each candidate's log evidence of the nested fits' held-out runs.
    error : ExtrapolationErrorModel
        The chosen model's measured extrapolation error.
    """

    chosen: str
    plan: ModelPlan
    log_evidence: dict
    error: ExtrapolationErrorModel

    def to_dict(self) -> dict:
        """JSON-ready record (kept in the fit's config)."""
        return {"chosen": self.chosen, "log_evidence": dict(self.log_evidence), "margin": MARGIN}


def apart_plan(plan: ModelPlan) -> ModelPlan:
    """``plan`` with every law parameter independent per family (likelihood parameters kept)."""
    overrides = {**plan.pooling_map, **{name: "none" for name in plan.law.params}}
    return make_plan(plan.law, plan.n_families, overrides, centered=plan.centered, n_runs=plan.n_runs)


def _shell(plan: ModelPlan, table, run_index, seed: int) -> Fit:
    """A fit without draws: what the nested fits need (plan, table, runs, seed); their chains
    start from the curvature at their modes, as there is no full fit's metric."""
    return Fit(plan=plan, table=table, logref=log_reference(plan, table.inputs), samples={},
               sample_stats={}, timings={}, config={"seed": int(seed)}, run_index=run_index)


def choose_pooling(plan: ModelPlan, table, run_index, by: str, seed: int) -> PoolingChoice | None:
    """Score the law's pooling (``plan``) against families apart by the extrapolation evidence
    (None when the law already fits its families apart).

    Raises
    ------
    FitError
        When the extrapolation error cannot be measured on these runs (too few, ...), or the two
        candidates' nested fits did not score the same held-out runs.
    """
    candidates = {LAW: plan, APART: apart_plan(plan)}
    if candidates[APART].pooling == plan.pooling:
        return None
    measured = {}
    for label, candidate in candidates.items():
        try:
            measured[label] = extrap.measure(_shell(candidate, table, run_index, seed), by=by)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            raise FitError(f"cannot measure the extrapolation of {WORDS[label]}: {exc}") from exc
    if measured[LAW][0].n_points != measured[APART][0].n_points:
        raise FitError("the pooling candidates' nested fits scored different held-out runs")
    evidence = {label: float(m[1]) for label, m in measured.items()}
    chosen = APART if evidence[APART] > evidence[LAW] + MARGIN else LAW
    return PoolingChoice(chosen, candidates[chosen], evidence, measured[chosen][0])


__all__ = ["MARGIN", "PoolingChoice", "apart_plan", "choose_pooling"]
