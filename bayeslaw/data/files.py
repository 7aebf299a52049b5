"""CSV files read as tables, with one message per way a file can be unreadable.

:func:`read_csv_file` is the one reader behind runs tables (``bl.fit("runs.csv")``, the command
line's ``DATA``, prediction rows, design candidates), the data-set registry and the downstream
laws' data folders (:func:`read_folder_file`). Each failure is a
:class:`~bayeslaw.core.errors.DataError` naming the file, so the Python API and the command line
say the same thing and no pandas or OS exception reaches the user.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError

__all__ = ["compression_of", "read_csv_file", "read_folder_file", "require_layout"]


def read_csv_file(path: str | os.PathLike, what: str = "runs table", *, allow_empty: bool = False) -> pd.DataFrame:
    """The CSV file at ``path`` as a DataFrame.

    Parameters
    ----------
    path
        The file.
    what
        How the file is called in messages, e.g. ``"runs table"`` -> ``cannot read runs table
        'runs.csv': no such file``.
    allow_empty
        Whether a header without rows is a table (the caller says what an empty table means);
        otherwise it is refused here, naming the file.

    Raises
    ------
    DataError
        If the file does not exist, is a folder, is empty, is not UTF-8 text, cannot be parsed,
        has rows with more fields than its header names, has a one-column header holding ``;``,
        a tab or ``|`` (another separator), has no rows (unless ``allow_empty``) or names a
        column twice (pandas would silently rename the second 'loss' to 'loss.1'). Column names
        lose surrounding spaces (``family, N`` names ``N``).
    """
    path = os.fspath(path)
    bad = f"cannot read {what} '{path}'"
    if not os.path.exists(path):
        raise DataError(f"{bad}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{bad}: it is a folder")
    try:
        # read once: a pipe or FIFO (/dev/stdin, <(...)) has no second reading, and a FIFO's
        # second open waited for a writer forever
        with open(path, "rb") as handle:
            content = handle.read()
        compression = compression_of(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: rows with one field more than the header would otherwise make the
            # first column the index and shift every other one left (N read from D's field)
            frame = pd.read_csv(io.BytesIO(content), index_col=False, compression=compression)
        literal = pd.read_csv(io.BytesIO(content), index_col=False, compression=compression, dtype=str,
                              keep_default_na=False, header=None, on_bad_lines="skip")
    except UnicodeDecodeError as exc:
        raise DataError(f"{bad}: it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot be "
                        "decoded); save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{bad}: the file is empty (no header row)") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        detail = str(exc).strip().splitlines()
        raise DataError(f"{bad}: {detail[0] if detail else type(exc).__name__}") from None
    names = [str(v).strip() for v in literal.iloc[0]] if len(literal) else []
    if len(names) == 1 and (sep := next((c for c in ";\t|" if c in names[0]), None)):
        raise DataError(f"{bad}: its header is one column {names[0]!r}; bayeslaw reads comma-separated "
                        f"files and this one looks separated by {sep!r}")
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise DataError(f"{bad}: its rows have more fields than the {len(names)} column names of its "
                        "header; name every column in the header (or drop the extra fields)")
    twice = [n for i, n in enumerate(names) if n and n in names[:i]]
    if twice:
        raise DataError(f"column '{twice[0]}' appears more than once in {what} '{path}'")
    frame.columns = [c.strip() if isinstance(c, str) else c for c in frame.columns]  # 'family, N' names N
    if frame.empty and not allow_empty:
        raise DataError(f"{what} '{path}' has no rows (only a header)")
    return _literal_labels(frame, literal)


#: compressed CSVs by suffix, as pandas infers them from a file name (the bytes carry no name)
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}


def compression_of(path: str | os.PathLike) -> str | None:
    """The compression a CSV's name asks for (``runs.csv.gz``: gzip), or None; for reading bytes
    and for writing through a temporary name, where pandas cannot infer it."""
    return _COMPRESSION.get(Path(path).suffix.lower())


def _literal_labels(frame: pd.DataFrame, literal: pd.DataFrame) -> pd.DataFrame:
    """Text columns as written: pandas reads the words NA, None, null, nan and N/A as missing,
    so a family called 'NA' was a missing label (refused in a fit, a new family in predictions).
    Numeric columns keep pandas' reading; only an empty cell is missing in a text column."""
    if len(literal) != len(frame) + 1:  # rows pandas skipped (blank lines): keep its reading
        return frame
    for j, column in enumerate(frame.columns):
        values = frame[column]
        words = literal.iloc[1:, j].reset_index(drop=True)
        text = values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        if text or (values.isna().all() and words.str.strip().ne("").any()):
            written = words.where(words.str.strip().ne(""), np.nan)
            written.index = frame.index
            frame[column] = written.astype(values.dtype if text else object)
    return frame


def read_folder_file(folder: str | os.PathLike, name: str, layout: str) -> pd.DataFrame:
    """File ``name`` of a downstream law's data folder (the ``layout``, e.g. ``"ladder"``).

    A missing folder, a missing or unreadable file is a :class:`DataError` naming the folder and
    the file; a header without rows is returned (the loader names what it needed).
    """
    if not Path(folder).is_dir():
        kind = "not a folder" if Path(folder).exists() else "no such folder"
        raise DataError(f"cannot read data folder '{folder}' ({layout} layout): {kind}")
    return read_csv_file(Path(folder) / name, f"{layout} data file", allow_empty=True)


def require_layout(frame: pd.DataFrame, columns, folder, layout: str) -> None:
    """Refuse a data folder's file that lacks one of ``columns``: the folder is not in the
    ``layout`` a loader reads (a misplaced folder, another data set)."""
    for column in columns:
        if column not in frame.columns:
            raise DataError(f"data folder '{folder}' is not in the {layout} layout: column '{column}' is missing")
