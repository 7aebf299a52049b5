"""Clean ends of the command line on SIGINT and SIGTERM.

While :func:`guard` is active, and from the import of this module on when the process is the
``bayeslaw`` command (``bayeslaw/__init__.py`` imports it before the numerical stack), SIGINT and SIGTERM end the process at any moment with one line on stderr,
``bayeslaw: interrupted`` or ``bayeslaw: terminated``, and exit status 128 + the signal number
(130, 143). Temporary files registered with :func:`temporary` are removed first, so an output is
either complete or absent.

Two paths lead to the same end. Python runs signal handlers in the main thread between
bytecodes, so a handler waits while the main thread is inside one long compiled call (XLA
compilation, a whole sampling program). Python's C-level handler also writes the signal number
to a wake-up socket at once; a daemon thread waiting on it ends the process without waiting for
the main thread. The end is :func:`os._exit`: no exception unwinds through JAX's threads and no
interpreter teardown runs while XLA's threads are still working (raising KeyboardInterrupt there
could end in a segfault, exit 139, after the message). Only the standard library is imported.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: the line printed for each handled signal
MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}

_ending = threading.Lock()
_temporary: set[str] = set()
_state: dict = {"installed": False}


@contextmanager
def temporary(path: str | os.PathLike) -> Iterator[None]:
    """Remove ``path`` if the process is ended by a signal inside the block."""
    name = os.fspath(path)
    _temporary.add(name)
    try:
        yield
    finally:
        _temporary.discard(name)


def end(signum: int) -> None:
    """Remove the registered temporary files, print the one line and exit with 128 + signum."""
    if not _ending.acquire(blocking=False):  # the other path is ending the process already
        threading.Event().wait()
    for name in list(_temporary):
        try:
            os.unlink(name)
        except OSError:
            pass
    try:  # to the stderr of install time: a library may have pointed fd 2 elsewhere for a while
        os.write(_state.get("stderr", 2), f"bayeslaw: {MESSAGES.get(signum, 'interrupted')}\n".encode())
    except OSError:
        pass
    os._exit(128 + signum)


def _handler(signum, _frame) -> None:
    end(signum)


def _watch(reader: socket.socket) -> None:
    while True:
        try:
            data = reader.recv(1)
        except OSError:
            return
        if not data:
            return
        if data[0] in MESSAGES:
            end(data[0])


def install() -> bool:
    """Install the handlers (main thread only); False when they were installed already or
    this is not the main thread."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return False
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    # a signal the parent set to be ignored (SIGINT of a background job) stays ignored
    previous = {sig: signal.getsignal(sig) for sig in MESSAGES
                if signal.getsignal(sig) is not signal.SIG_IGN}
    for sig in previous:
        signal.signal(sig, _handler)
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(reader,), name="bayeslaw-signals", daemon=True).start()
    try:
        stderr = os.dup(2)
    except OSError:
        stderr = 2
    _state.update(installed=True, previous=previous, old_fd=old_fd, sockets=(reader, writer),
                  stderr=stderr)
    return True


def uninstall() -> None:
    """Restore the handlers :func:`install` replaced and stop the watching thread."""
    if not _state["installed"]:
        return
    signal.set_wakeup_fd(_state["old_fd"])
    for sig, handler in _state["previous"].items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    reader, writer = _state["sockets"]
    writer.close()
    try:
        reader.shutdown(socket.SHUT_RDWR)  # the watcher's recv returns and the thread ends
    except OSError:
        pass
    reader.close()
    if _state["stderr"] != 2:
        os.close(_state["stderr"])
    _state.update(installed=False, previous=None, old_fd=-1, sockets=None, stderr=2)


@contextmanager
def guard() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described above inside the block (restored after it, unless
    they were installed before it, e.g. at import by the command line)."""
    mine = install()
    try:
        yield
    finally:
        if mine:
            uninstall()


def install_for_command_line() -> None:
    """Install the handlers when this process is the ``bayeslaw`` command (``python -m
    bayeslaw`` or the ``bayeslaw`` script), before the numerical stack is imported."""
    first = sys.argv[0] if sys.argv else ""
    if first == "-m" or os.path.basename(first) in ("bayeslaw", "bayeslaw.exe"):
        install()


# the package imports this module first, so the command line is covered from its first import
install_for_command_line()
