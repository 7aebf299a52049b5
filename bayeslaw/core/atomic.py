"""Write a file so that a reader sees the old file or the whole new one, never half of it.

Saved fits, reports, plots and CSV tables all go through :func:`write_atomically`: the content is
written to a temporary file in the target's folder, given the usual permissions, and renamed
onto the target. On failure, and when a signal ends the process (see :mod:`bayeslaw.core.interrupts`),
the temporary file is removed and the previous target is left as it was.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from bayeslaw.core import interrupts
from bayeslaw.core.errors import BayeslawError


def _umask() -> int:
    """The process's file-mode creation mask (read by setting it and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_folder(target: str | os.PathLike, *, what: str = "write",
                 error: type[Exception] = BayeslawError) -> Path:
    """``target`` as a Path once it can be written; call it before costly work whose result is
    to be written there, so a wrong path fails at once.

    Refused, with ``error("cannot {what} '{target}': {reason}")``: an empty name, a folder that
    is missing or is a file, a target that is a folder, and an existing target that is not a
    regular file (a FIFO, a device: the rename would replace it) or is read-only (judged by its
    permission bits too, so root does not overwrite it either).
    """
    if not isinstance(target, str | os.PathLike):
        raise TypeError(f"the path to {what} must be a str or path-like, got {type(target).__name__}")
    text = os.fspath(target)
    path = Path(text)
    bad = f"cannot {what} '{text}'"
    if not str(text).strip() or path.name in ("", ".", ".."):
        raise error(f"{bad}: not a file name")
    if not path.parent.is_dir():
        if path.parent.exists():
            raise error(f"{bad}: '{path.parent}' is not a folder")
        raise error(f"{bad}: folder '{path.parent}' does not exist")
    if path.is_dir():
        raise error(f"{bad}: it is a folder")
    if path.exists():
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{bad}: it exists and is not a regular file")
        if not info.st_mode & 0o222 or not os.access(path, os.W_OK):
            raise error(f"{bad}: the file is read-only")
    return path


def write_atomically(target: str | os.PathLike, write: Callable[[str], object], *,
                     what: str = "write", error: type[Exception] = BayeslawError) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``target``.

    Parameters
    ----------
    target : path-like
        The file to create or replace; its folder must exist.
    write : callable
        Writes the whole content to the path it is given.
    what : str
        The verb of the error message, e.g. ``"write report"`` or ``"save fit to"``.
    error : exception class
        Raised with ``"cannot {what} '{target}': {reason}"`` when the folder is missing or the
        operating system refuses the write.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = check_folder(target, what=what, error=error)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        with interrupts.temporary(tmp):
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
            os.replace(tmp, target)
    except OSError as exc:
        raise error(f"cannot {what} '{target}': {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return target
