"""Save and load fits as self-describing netCDF files (ArviZ InferenceData).

The file holds the posterior, the sampler statistics, the observed runs, and in its attributes
the law's TOML text, the pooling used, the family encoding, reference scales, timings and the
versions of the stack, so :func:`load_fit` can predict without the original law file or data.
``fit`` is a :class:`~bayeslaw.results.fit.Fit` (not imported here, even for annotations: fit.py
imports this module, and imports run one way).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np

from bayeslaw.core._arviz import az
from bayeslaw.core.atomic import check_folder, write_atomically
from bayeslaw.core.errors import BayeslawError
from bayeslaw.results.idata import to_inference_data as idata_of

#: the layout written by :func:`save_fit` (the law's names, named dimensions and the sampler's
#: sites in their own group, with a checksum); a file of another layout is refused on load
FORMAT = "bayeslaw-fit/3"



def versions() -> dict[str, str]:
    """Versions of bayeslaw and its numerical stack."""
    out = {"python": platform.python_version()}
    for pkg in ("bayeslaw", "jax", "jaxlib", "numpyro", "arviz", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def to_inference_data(fit) -> az.InferenceData:
    """The fit as ArviZ InferenceData (:mod:`bayeslaw.results.idata`) with, in the posterior's
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
    idata = idata_of(fit, meta)
    idata.posterior.attrs["checksum"] = checksum(idata)
    return idata


def checksum(idata: az.InferenceData) -> str:
    """SHA-256 of every data variable of every group (name, dtype, shape, bytes) and of the
    posterior's attributes other than the checksum itself: any edit of the file's contents
    changes it (a removed or added group too)."""
    digest = hashlib.sha256()
    for group in sorted(idata.groups()):
        data = getattr(idata, group)
        digest.update(f"[{group}]".encode())
        for name in sorted(data.data_vars):
            value = np.ascontiguousarray(np.asarray(data[name].values))
            digest.update(f"{group}/{name}:{value.dtype.str}:{value.shape};".encode())
            digest.update(value.tobytes())
    attrs = {k: str(v) for k, v in idata.posterior.attrs.items() if k != "checksum"}
    digest.update(json.dumps(attrs, sort_keys=True).encode())
    return "sha256:" + digest.hexdigest()


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence what the netCDF/HDF5 libraries print while a damaged file is read: Python
    warnings and logging, and the C libraries' own messages on file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(null.fileno(), 2)
            logging.disable(logging.CRITICAL)
            try:
                yield
            finally:
                logging.disable(logging.NOTSET)
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def read_netcdf(path: Path) -> az.InferenceData:
    """Read a saved fit's groups into memory (the file is closed again), its version and
    checksum checked.

    Raises
    ------
    BayeslawError
        One line naming the file: not a netCDF file or damaged, not a bayeslaw fit, another
        version's layout, or a checksum that does not match (the file was edited or damaged).
    """
    bad = f"cannot load fit '{path}'"
    try:
        with _quiet(), az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    except Exception as exc:  # noqa: BLE001  netCDF/HDF5 raise many types for a damaged file
        raise BayeslawError(f"{bad}: not a netCDF file, or a damaged one") from exc
    posterior = getattr(idata, "posterior", None)
    if posterior is None:  # a netCDF file, not an InferenceData: its checksum was an AttributeError
        raise BayeslawError(f"{bad}: not a bayeslaw fit (a netCDF file without a posterior group)")
    attrs = dict(posterior.attrs)
    written = attrs.get("format")
    if not (isinstance(written, str) and written.startswith("bayeslaw-fit/")):
        raise BayeslawError(f"{bad}: not a bayeslaw fit (format {written!r})")
    if written != FORMAT:
        raise BayeslawError(f"{bad}: written in format {written!r}, this bayeslaw reads {FORMAT!r}; "
                            "fit again and save")
    try:
        found = checksum(idata)
    except Exception as exc:  # noqa: BLE001  a variable that cannot be read back
        raise BayeslawError(f"{bad}: not a netCDF file, or a damaged one") from exc
    if attrs.get("checksum") != found:
        raise BayeslawError(f"{bad}: the file is damaged or was edited (its checksum does not "
                            "match its contents)")
    return idata


def save_fit(fit, path: str | os.PathLike) -> None:
    """Write ``fit`` to ``path`` atomically (a temporary file renamed into place)."""
    check_folder(path, what="save fit to")  # before building the InferenceData
    idata = to_inference_data(fit)
    stored = _nul_name(idata)
    if stored is not None:  # saved, the file could never be loaded (its checksum cannot match)
        raise BayeslawError(f"cannot save fit to '{os.fspath(path)}': {stored} holds a NUL character, which "
                            "netCDF cannot store; rename it and fit again")

    def write(tmp: str) -> None:
        idata.to_netcdf(tmp)
        try:  # whatever else netCDF might not store: never leave a file load_fit refuses
            read_netcdf(Path(tmp))
        except BayeslawError:
            raise BayeslawError("the file written does not read back as the fit") from None

    write_atomically(path, write, what="save fit to")


def _nul_name(idata: az.InferenceData) -> str | None:
    """The first name, label or attribute of ``idata`` holding a NUL character, described; None
    where there is none."""
    for group in idata.groups():
        data = getattr(idata, group)
        for name, variable in data.variables.items():
            if "\x00" in str(name):
                return f"the name {str(name)!r}"
            if variable.dtype.kind in "OUS" and any("\x00" in str(v) for v in np.ravel(variable.values)):
                return f"a label of {str(name)!r}"
        for key, value in data.attrs.items():
            if isinstance(value, str) and "\x00" in value:
                return f"the attribute {key!r}"
    return None
