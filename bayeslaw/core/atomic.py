"""Write a file so that a reader sees the old file or the whole new one, never half of it.

Saved fits, reports, plots and CSV tables all go through :func:`write_atomically`: the content is
written to a temporary file in the target's folder (a short fixed-length name, so any legal
target name can be written), given the replaced file's permissions (else the usual ones), and
renamed onto the target; a symbolic link is written through, to the file it names. On failure,
whatever the writer raised (h5py reports a full disk as a RuntimeError), and when a signal ends
the process (see :mod:`bayeslaw.core.interrupts`), the temporary file is removed and the previous
target is left as it was.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from bayeslaw.core import interrupts
from bayeslaw.core.errors import BayeslawError

#: the longest file name most file systems take, in bytes
_NAME_MAX = 255


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
    is missing, is a file or is read-only, a name longer than a file system takes, a target that
    is a folder, and an existing target that is not a regular file (a FIFO, a device: the rename
    would replace it) or is read-only. Permission bits are judged as well as access rights, so
    root, who could override them, is refused too, as the command line always did.
    """
    if not isinstance(target, str | os.PathLike):
        raise error(f"cannot {what}: the path must be a str or path-like, got {type(target).__name__}")
    text = os.fspath(target)
    if not isinstance(text, str):  # bytes from a path-like
        raise error(f"cannot {what}: the path must be a str or path-like, got bytes")
    path = Path(text)
    bad = f"cannot {what} '{text}'"
    if not str(text).strip() or path.name in ("", ".", ".."):
        raise error(f"{bad}: not a file name")
    if len(os.fsencode(path.name)) > _NAME_MAX:
        raise error(f"{bad}: the file name is longer than {_NAME_MAX} bytes")
    if not path.parent.is_dir():
        if path.parent.exists():
            raise error(f"{bad}: '{path.parent}' is not a folder")
        raise error(f"{bad}: folder '{path.parent}' does not exist")
    if path.is_dir():
        raise error(f"{bad}: it is a folder")
    folder = path.parent
    if not folder.stat().st_mode & 0o222 or not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{bad}: folder '{folder}' is not writable")
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
    shown = check_folder(target, what=what, error=error)
    target = Path(os.path.realpath(shown)) if shown.is_symlink() else shown
    if target != shown:
        check_folder(target, what=what, error=error)
    # a file replaced keeps its mode (a private 0600 fit stayed private); mkstemp makes 0600 files
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".bl-", suffix=".tmp", dir=target.parent)
        os.close(fd)
        with interrupts.temporary(tmp):
            write(tmp)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
    except Exception as exc:  # noqa: BLE001  whatever the writer raised, said as one line about the target
        raise error(f"cannot {what} '{shown}': {_reason(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return shown


def _reason(exc: Exception) -> str:
    """Why a write failed, in a few words: the system's reason where one is known (a library may
    wrap a full disk in its own exception's text), else the exception's first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EIO):
        if os.strerror(code) in text:
            return os.strerror(code)
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."
