"""Read a fit written by :func:`bayeslaw.results.persist.save_fit` back into a :class:`Fit`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayeslaw.core import runtime
from bayeslaw.core._arviz import az
from bayeslaw.core.errors import BayeslawError
from bayeslaw.data.runs import RunsTable
from bayeslaw.laws.law import parse_law
from bayeslaw.modeling.build import ModelPlan
from bayeslaw.results.fit import Fit, sampled_sites
from bayeslaw.results.idata import SITES_GROUP, target_variable
from bayeslaw.results.persist import read_netcdf

#: sites with one value per family (partial pooling's offsets, pooling "none")
FAMILY_SUFFIXES = ("_u", "_z", "_family")


def load_fit(path: str | os.PathLike) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Raises
    ------
    BayeslawError
        When the file is missing, damaged, edited (its checksum does not match), of another
        format version, or was not written by bayeslaw; one line naming the file.
    """
    if not isinstance(path, str | os.PathLike):
        raise BayeslawError(f"load_fit takes the path of a fit file, got {type(path).__name__}")
    if not os.fspath(path).strip():
        raise BayeslawError("cannot load fit: the fit path is empty")
    runtime.configure()  # predictions run at the same precision as the fit, with the cache
    path = Path(path)
    if not path.is_file():
        what = ("it is a folder" if path.is_dir() else "it is not a regular file (a pipe or a device)"
                if path.exists() else "no such file")
        raise BayeslawError(f"cannot load fit '{path}': {what}")
    idata = read_netcdf(path)
    try:
        return _fit_from(idata, path)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise _inconsistent(path, f" ({type(exc).__name__}: {exc})".splitlines()[0]) from None


def _inconsistent(path: Path, what: str) -> BayeslawError:
    """The one-line error for a fit file whose contents do not make one fit; ``what`` follows
    the words "its contents are inconsistent" (": a reason", or " (an exception)")."""
    return BayeslawError(f"cannot load fit '{path}': its contents are inconsistent{what}")


def _fit_from(idata: az.InferenceData, path: Path) -> Fit:
    """The :class:`Fit` stored in ``idata`` (checked by :func:`read_netcdf`)."""
    attrs = dict(idata.posterior.attrs)
    law = parse_law(attrs["law_text"], source=f"<the law saved in fit file '{path}'>")
    families = tuple(json.loads(attrs["families"]))
    pooling = tuple(json.loads(attrs["pooling"]).items())
    config = json.loads(attrs["config"])
    plan = ModelPlan(law, pooling, len(families), bool(config.get("centered", True)), int(config.get("n_runs", 0)))
    run_index = np.asarray(idata.constant_data["run_index"]) if "run_index" in idata.constant_data else None
    inputs = {i.name: np.asarray(idata.constant_data[i.name]) for i in law.inputs}
    target_name, group = json.loads(attrs["target"]), json.loads(attrs["group"])
    target = np.asarray(idata.observed_data[target_variable(target_name)])
    family_index = np.asarray(idata.constant_data["family_index"]).astype(np.int32)
    index = pd.Index(json.loads(attrs["row_labels"]))
    problem = _index_problem(plan, len(index), family_index, run_index)
    if problem:
        raise _inconsistent(path, f": {problem}")
    frame = pd.DataFrame({**inputs, target_name: target}, index=index)
    if group is not None:
        frame[group] = [families[i] for i in family_index]
    if run_index is not None and config.get("run"):  # refits (compare, family_test) group rows by it
        frame[config["run"]] = [f"run {i}" for i in run_index]
    table = RunsTable(frame=frame, inputs=inputs, target=target, family_index=family_index,
                      families=families, target_name=target_name, group=group)
    sites = idata[SITES_GROUP]
    samples = {k: np.asarray(sites[k]) for k in sites.data_vars}
    stats = {k: np.asarray(idata.sample_stats[k]) for k in idata.sample_stats.data_vars}
    problem = _inconsistency(plan, table, samples, run_index)
    if problem:
        raise _inconsistent(path, f": {problem}")
    return Fit(plan=plan, table=table, logref=json.loads(attrs["logref"]), samples=samples,
               sample_stats=stats, timings=json.loads(attrs["timings"]), config=config,
               versions=json.loads(attrs["versions"]), run_index=run_index)


def _index_problem(plan: ModelPlan, rows: int, family_index: np.ndarray, run_index) -> str | None:
    """What is wrong with a fit file's family and run indices (one per row, each naming one of
    the fit's families and runs), or None; the rest of :func:`_inconsistency`'s checks need them."""
    if plan.n_runs and run_index is None:
        return f"the fit has {plan.n_runs} runs but no 'run_index'"
    for name, values, count in (("family_index", family_index, plan.n_families),
                                ("run_index", run_index, plan.n_runs)):
        if values is None:
            continue
        if len(values) != rows:
            return f"'{name}' has {len(values)} values for {rows} rows"
        if len(values) and (values.min() < 0 or values.max() >= count):
            return f"'{name}' holds values outside 0..{count - 1}"
    return None


def _inconsistency(plan: ModelPlan, table: RunsTable, samples: dict, run_index) -> str | None:
    """What in a fit file's draws and rows cannot belong to one fit, or None.

    The checksum finds an edited or damaged file, but not one written with a checksum recomputed
    over wrong contents (by hand, or by another tool): a family or run index past the fit's
    families or runs, draws that are not finite, a site of the wrong shape or missing. Such a file
    would load and then fail in a prediction with a message about something else (a non-finite
    draw reads as an input beyond what the law can evaluate), so it is refused here, by name.
    """
    for name, values in {**table.inputs, table.target_name: table.target}.items():
        if not np.all(np.isfinite(np.asarray(values, dtype=float))):
            return f"'{name}' holds values that are not finite numbers"
    # a prediction reads every family's values of a pooled parameter, a derived site
    per_family = [f"{plan.site(spec.name)}_family" for spec in plan.ordered_params()
                  if plan.pooling_map[spec.name] != "shared"]
    lead = None
    for name in dict.fromkeys(sampled_sites(plan, samples) + per_family):
        if name not in samples:
            return f"the draws of site '{name}' are missing"
        draws = samples[name]
        if draws.ndim < 2 or (lead is not None and draws.shape[:2] != lead):
            return f"site '{name}' has draws of shape {draws.shape}, the others {lead} (chains, draws)"
        lead = draws.shape[:2]
        per, width = (("run", plan.n_runs) if name == "run_z" else ("family", plan.n_families)
                      if name.endswith(FAMILY_SUFFIXES) else (None, None))
        if per and draws.shape[2:3] != (width,):
            return f"site '{name}' has draws of shape {draws.shape}, not one per {per} ({width})"
        if not np.all(np.isfinite(draws)):
            return f"site '{name}' holds draws that are not finite numbers"
    return None
