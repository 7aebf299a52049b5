"""Progress bars (tqdm) on long work: sampling, nested refits, comparisons, family tests,
backtests and batches of fits.

Every long-running function takes ``progress``: ``True`` shows a bar, ``False`` hides it, and
``None`` (the default) shows it when someone is watching: in a notebook (a widget bar, through
``tqdm.auto``) or when stderr is a terminal. The environment variable ``BAYESLAW_PROGRESS``
(``1`` or ``0``) overrides the automatic choice, e.g. to silence a notebook or to keep bars in a
log. Bars go to stderr, so printed results on stdout stay clean.

Work nested inside a bar (the refits of an extrapolation calibration, the fits of a family
test) shows no bar of its own unless asked with ``progress=True``: the outer bar counts it.
"""

from __future__ import annotations

import contextvars
import sys
from contextlib import contextmanager

from bayeslaw.core.env import env_flag

_inside = contextvars.ContextVar("bayeslaw_progress_inside", default=False)


def _notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ``get_ipython`` has a kernel)."""
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell is not None else None
    return ipython is not None and hasattr(ipython, "kernel")


def enabled(progress: bool | None) -> bool:
    """Resolve a ``progress`` argument: an explicit bool wins; ``None`` means no bar inside
    another bar, else ``BAYESLAW_PROGRESS`` if set, else a notebook or a terminal on stderr."""
    if progress is not None:
        return bool(progress)
    if _inside.get():
        return False
    forced = env_flag("BAYESLAW_PROGRESS")
    if forced is not None:
        return forced
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        tty = False
    return tty or _notebook()


@contextmanager
def bar(total: int | None, desc: str, progress: bool | None, unit: str = "fit"):
    """A tqdm bar of ``total`` steps (disabled when ``progress`` resolves to False).

    While it is open, nested work called with ``progress=None`` stays quiet.
    """
    from tqdm.auto import tqdm

    show = enabled(progress)
    meter = tqdm(total=total, desc=desc, unit=unit, disable=not show, file=sys.stderr,
                 dynamic_ncols=True, leave=True)
    token = _inside.set(True)
    try:
        yield meter
    finally:
        _inside.reset(token)
        meter.close()

