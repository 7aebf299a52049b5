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
from bayeslaw.results.fit import Fit
from bayeslaw.results.idata import SITES_GROUP, target_variable
from bayeslaw.results.persist import read_netcdf


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
        raise BayeslawError(f"cannot load fit '{path}': its contents are inconsistent "
                            f"({type(exc).__name__}: {exc})".splitlines()[0]) from None


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
    return Fit(plan=plan, table=table, logref=json.loads(attrs["logref"]), samples=samples,
               sample_stats=stats, timings=json.loads(attrs["timings"]), config=config,
               versions=json.loads(attrs["versions"]), run_index=run_index)
