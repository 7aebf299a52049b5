"""Named data sets: the registry in ``data/registry.toml``, local look-up and download.

A data set's file is looked for, in order: bundled next to the registry; in the
``data_dir`` argument; in ``$BAYESLAW_DATA_DIR``; in the cache
(``$BAYESLAW_CACHE_DIR`` or ``~/.cache/bayeslaw``, sub-folder ``datasets``). If none has it,
it is downloaded from the registry's ``url`` into the cache. Every file is checked against
the registry's sha256. The registry may only rename columns, derive ``D = C / (6 N)`` and
apply two declarative row filters; nothing in it is evaluated as code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd

from bayeslaw.core import runtime
from bayeslaw.core.errors import DataError
from bayeslaw.data.files import read_csv_file

__all__ = ["list_datasets", "load_dataset"]

ENV_DATA_DIR = "BAYESLAW_DATA_DIR"
_REQUIRED = ("description", "file", "sha256", "license", "citation", "columns")
_OPTIONAL = ("url", "source", "query", "tokens_from_compute")
_QUERY = {"exclude": ("column", "equals"), "drop_highest": ("column", "n")}
_URL_SCHEMES = ("https", "http", "file")


def _data_dir() -> Path:
    """The folder holding ``registry.toml``: inside the installed package, else the checkout's."""
    here = Path(__file__).resolve().parents[1]  # the bayeslaw package
    packaged = here / "_data"  # the wheel force-includes data/ as bayeslaw/_data/
    if (packaged / "registry.toml").is_file():
        return packaged
    return here.parent / "data"


def _cache_dir() -> Path:
    """Downloaded data sets: ``datasets`` in the one cache folder of :func:`runtime.cache_dir`."""
    return runtime.cache_dir() / "datasets"


def list_datasets(*, _registry: str | os.PathLike | None = None) -> pd.DataFrame:
    """List the data sets that :func:`load_dataset` knows.

    Returns
    -------
    DataFrame
        Columns ``name``, ``description``, ``source``, ``license``, ``citation`` and
        ``bundled`` (True when the file ships with bayeslaw, so no download is needed).
    """
    path = Path(_registry) if _registry is not None else _data_dir() / "registry.toml"
    registry = _read_registry(path)
    rows = [{
        "name": name,
        "description": entry["description"],
        "source": entry.get("source") or entry.get("url", ""),
        "license": entry["license"],
        "citation": entry["citation"],
        "bundled": (path.parent / entry["file"]).is_file(),
    } for name, entry in registry.items()]
    columns = ["name", "description", "source", "license", "citation", "bundled"]
    return pd.DataFrame(rows, columns=columns)


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    _registry: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Load a named data set as a runs table.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`, e.g. ``"synthetic_families"``.
    data_dir : str or path-like, optional
        A folder to look in for the data set's file (after the bundled copy).
    download : bool, default True
        Whether to download the file into the cache when it is not found locally.

    Returns
    -------
    DataFrame
        The registry's columns under bayeslaw's names (e.g. ``N``, ``D``, ``loss``),
        filtered as the registry says, with a fresh 0..n-1 index.

    Raises
    ------
    DataError
        For an unknown name, a ``data_dir`` that is not a folder, a file whose sha256 differs
        from the registry's, a failed download, or a file not found with ``download=False``.
    """
    path = Path(_registry) if _registry is not None else _data_dir() / "registry.toml"
    registry = _read_registry(path)
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise DataError(f"data_dir must be a folder path, got {type(data_dir).__name__}")
    folder = None if data_dir is None else Path(data_dir).expanduser()
    if folder is not None and not folder.is_dir():  # a typo was only "looked in"
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DataError(f"data_dir '{data_dir}' {state}")
    if not isinstance(name, str) or name not in registry:  # a list was an unhashable TypeError
        raise DataError(f"unknown dataset '{name}'; known datasets: {', '.join(registry)}")
    entry = registry[name]
    file = _locate(name, entry, path.parent, data_dir, download)
    return _prepare(name, entry, file)


def _read_registry(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with open(path, "rb") as fh:
            registry = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"cannot read dataset registry '{path}': {exc}") from None
    for name, entry in registry.items():
        _check_entry(path, name, entry)
    return registry


def _check_entry(path: Path, name: str, entry: Any) -> None:
    def bad(why: str) -> DataError:
        return DataError(f"dataset registry '{path}', entry '{name}': {why}")

    if not isinstance(entry, dict):
        raise bad("must be a table")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise bad(f"missing key(s) {', '.join(missing)}")
    unknown = [k for k in entry if k not in _REQUIRED + _OPTIONAL]
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)}; valid: "
                  f"{', '.join(_REQUIRED + _OPTIONAL)}")
    file = entry["file"]
    if not isinstance(file, str) or file in ("", ".", "..") or Path(file).name != file:
        raise bad(f"file must be a plain file name, got {file!r}")
    columns = entry["columns"]
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise bad("columns must map source column names to new names (strings)")
    if "url" in entry and urllib.parse.urlsplit(entry["url"]).scheme not in _URL_SCHEMES:
        raise bad(f"url scheme must be one of {', '.join(_URL_SCHEMES)}: {entry['url']}")
    if not isinstance(entry.get("tokens_from_compute", False), bool):
        raise bad("tokens_from_compute must be true or false")
    query = entry.get("query", {})
    if not isinstance(query, dict):
        raise bad("query must be a table")
    for op, spec in query.items():
        if op not in _QUERY:
            raise bad(f"unknown query operation '{op}'; valid: {', '.join(_QUERY)}")
        if not isinstance(spec, dict) or sorted(spec) != sorted(_QUERY[op]):
            raise bad(f"query.{op} needs exactly the keys {', '.join(_QUERY[op])}")
        if op == "drop_highest" and (not isinstance(spec["n"], int) or spec["n"] < 0):
            raise bad("query.drop_highest.n must be a non-negative integer")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _locate(name: str, entry: dict, bundled: Path, data_dir: str | os.PathLike | None,
            download: bool) -> Path:
    folders = [bundled]
    if data_dir is not None:
        folders.append(Path(data_dir).expanduser())
    if os.environ.get(ENV_DATA_DIR):
        folders.append(Path(os.environ[ENV_DATA_DIR]).expanduser())
    cache = _cache_dir()
    folders.append(cache)
    for folder in folders:
        candidate = folder / entry["file"]
        if candidate.is_file():
            got = _sha256(candidate)
            if got != entry["sha256"]:
                raise DataError(
                    f"dataset '{name}': file '{candidate}' has sha256 {got}, but the registry "
                    f"expects {entry['sha256']}; remove or replace that file")
            return candidate
    looked = ", ".join(str(f) for f in folders)
    if "url" not in entry:
        raise DataError(f"dataset '{name}' was not found (looked in: {looked}) and has no "
                        f"download url; put {entry['file']} in one of these folders or set "
                        f"{ENV_DATA_DIR} to the folder that holds it")
    if not download:
        raise DataError(f"dataset '{name}' was not found locally (looked in: {looked}) and "
                        f"download=False; put {entry['file']} in one of these folders or set "
                        f"{ENV_DATA_DIR} to the folder that holds it")
    target = cache / entry["file"]
    _download(name, entry["url"], target, entry["sha256"])
    return target


def _download(name: str, url: str, target: Path, sha256: str) -> None:
    """Fetch ``url`` into a temporary file beside ``target``, check it, then rename it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".bl-", suffix=".part")
    except OSError as exc:  # BAYESLAW_CACHE_DIR naming a file: NotADirectoryError
        raise DataError(f"cannot download dataset '{name}': the cache folder '{target.parent}' cannot be "
                        f"written ({exc.strerror or exc}); set BAYESLAW_CACHE_DIR to a folder, or download it by "
                        f"hand and set {ENV_DATA_DIR}") from None
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if got != sha256:
            raise DataError(f"download of dataset '{name}' from {url} has sha256 {got}, but the "
                            f"registry expects {sha256}; the file was not kept")
        os.replace(tmp, target)
    except OSError as exc:  # urllib's URLError is an OSError
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot download dataset '{name}' from {url}: {exc}; download it by "
                        f"hand into {target.parent} or set {ENV_DATA_DIR}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _prepare(name: str, entry: dict, path: Path) -> pd.DataFrame:
    """Rename, derive and filter the raw file as the registry entry says."""
    raw = read_csv_file(path, f"dataset '{name}' file")
    columns: dict[str, str] = entry["columns"]
    absent = [c for c in columns if c not in raw.columns]
    if absent:
        raise DataError(f"dataset '{name}' file '{path}' lacks column(s) {', '.join(absent)} "
                        f"(present: {', '.join(map(str, raw.columns))})")
    frame = raw.rename(columns=columns)
    keep = list(columns.values())
    if entry.get("tokens_from_compute", False):
        if not {"N", "C"} <= set(frame.columns):
            raise DataError(f"dataset '{name}': tokens_from_compute needs columns N and C "
                            "after renaming")
        frame["D"] = frame["C"] / (6.0 * frame["N"])
        keep += [] if "D" in keep else ["D"]
    for op, spec in entry.get("query", {}).items():
        column = spec["column"]
        if column not in frame.columns:
            raise DataError(f"dataset '{name}': query.{op} names column '{column}', which "
                            f"is not in the table (present: {', '.join(map(str, frame.columns))})")
        if op == "exclude":
            frame = frame[frame[column] != spec["equals"]]
        else:  # drop_highest
            highest = frame[column].sort_values(ascending=False, kind="stable").index[:spec["n"]]
            frame = frame.drop(index=highest)
    return frame[keep].reset_index(drop=True)
