"""Save and load fits as self-describing netCDF files (ArviZ InferenceData).

The file holds the posterior, the sampler statistics, the observed runs, and in its attributes
the law's TOML text, the pooling used, the family encoding, reference scales, timings and the
versions of the stack, so :func:`load_fit` can predict without the original law file or data.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from . import runtime
from ._arviz import az
from .data import RunsTable
from .errors import BayeslawError
from .idata import SITES_GROUP
from .idata import to_inference_data as idata_of
from .law import parse_law
from .model import ModelPlan
from .results import Fit

FORMAT = "bayeslaw-fit/2"
#: formats load_fit reads: /1 kept the sampler's sites in the posterior and the target as "obs"
_READABLE = ("bayeslaw-fit/1", FORMAT)


def versions() -> dict[str, str]:
    """Versions of bayeslaw and its numerical stack."""
    out = {"python": platform.python_version()}
    for pkg in ("bayeslaw", "jax", "jaxlib", "numpyro", "arviz", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def to_inference_data(fit: Fit) -> az.InferenceData:
    """The fit as ArviZ InferenceData (:mod:`bayeslaw.idata`) with, in the posterior's
    attributes, everything :func:`load_fit` needs to predict without the law file or data."""
    table = fit.table
    meta = {
        "format": FORMAT,
        "law_name": fit.law.name,
        "law_text": fit.law.source,
        "pooling": json.dumps(dict(fit.plan.pooling)),
        "families": json.dumps(list(table.families)),
        "target": json.dumps(table.target_name),
        "group": json.dumps(table.group),
        "logref": json.dumps(fit.logref),
        "timings": json.dumps(fit.timings),
        "config": json.dumps(fit.config),
        "versions": json.dumps(fit.versions or versions()),
        "row_labels": json.dumps([str(v) for v in table.frame.index]),
    }
    return idata_of(fit, meta)


def save_fit(fit: Fit, path: str | os.PathLike) -> None:
    """Write ``fit`` to ``path`` atomically (a temporary file renamed into place)."""
    target = Path(path)
    if not target.parent.is_dir():
        raise BayeslawError(f"cannot save fit to '{target}': folder '{target.parent}' does not exist")
    idata = to_inference_data(fit)
    fd, tmp = tempfile.mkstemp(suffix=".nc.tmp", dir=target.parent)
    os.close(fd)
    try:
        idata.to_netcdf(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a saved fit gets normal permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_fit(path: str | os.PathLike) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Raises
    ------
    BayeslawError
        When the file is missing or was not written by bayeslaw.
    """
    runtime.configure()  # predictions run at the same precision as the fit, with the cache
    path = Path(path)
    if not path.is_file():
        raise BayeslawError(f"cannot load fit '{path}': no such file")
    try:
        idata = az.from_netcdf(str(path))
    except Exception as exc:  # noqa: BLE001  netCDF/HDF5 raise many types for a non-netCDF file
        raise BayeslawError(f"cannot load fit '{path}': not a netCDF file ({type(exc).__name__})") from None
    attrs = dict(idata.posterior.attrs)
    if attrs.get("format") not in _READABLE:
        raise BayeslawError(f"cannot load fit '{path}': not a bayeslaw fit (format {attrs.get('format')!r})")
    law = parse_law(attrs["law_text"], source=f"fit file '{path}'")
    families = tuple(json.loads(attrs["families"]))
    pooling = tuple(json.loads(attrs["pooling"]).items())
    config = json.loads(attrs["config"])
    plan = ModelPlan(law, pooling, len(families), bool(config.get("centered", True)), int(config.get("n_runs", 0)))
    run_index = np.asarray(idata.constant_data["run_index"]) if "run_index" in idata.constant_data else None
    inputs = {i.name: np.asarray(idata.constant_data[i.name]) for i in law.inputs}
    target_name, group = json.loads(attrs["target"]), json.loads(attrs["group"])
    old = attrs["format"] == "bayeslaw-fit/1"
    target = np.asarray(idata.observed_data["obs" if old else (target_name or "y")])
    family_index = np.asarray(idata.constant_data["family_index"]).astype(np.int32)
    index = pd.Index(json.loads(attrs["row_labels"]))
    frame = pd.DataFrame({**inputs, target_name: target}, index=index)
    if group is not None:
        frame[group] = [families[i] for i in family_index]
    table = RunsTable(frame=frame, inputs=inputs, target=target, family_index=family_index,
                      families=families, target_name=target_name, group=group)
    sites = idata.posterior if old else idata[SITES_GROUP]
    samples = {k: np.asarray(sites[k]) for k in sites.data_vars}
    stats = {k: np.asarray(idata.sample_stats[k]) for k in idata.sample_stats.data_vars}
    return Fit(plan=plan, table=table, logref=json.loads(attrs["logref"]), samples=samples,
               sample_stats=stats, timings=json.loads(attrs["timings"]), config=config,
               versions=json.loads(attrs["versions"]), run_index=run_index)
