"""What an argument that takes a number accepts: one rule for every keyword and law-file field.

Python's ``bool`` is an ``int`` (``chains=True`` would be one chain) and NumPy's scalars are not
Python numbers (``chains=np.int64(4)``, read from a DataFrame, is a count all the same), while
``np.number`` also admits complex numbers, which no comparison takes. Each check in the package
asks these two questions instead of spelling out its own ``isinstance`` tuple.
"""

from __future__ import annotations

import numpy as np


def is_integer(value) -> bool:
    """True for a Python or NumPy integer; False for ``True`` / ``False`` and everything else."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_real(value) -> bool:
    """True for a Python or NumPy integer or float (``nan`` and ``inf`` included: a range check
    follows); False for bools, complex numbers, strings and containers."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def real_array(value) -> np.ndarray | None:
    """``value`` (one number or a flat sequence of them) as a 1-d float array, or None where it is
    not that: text ('1e21'), true/false, complex numbers, an empty or nested sequence. Callers
    check the range and word the refusal for their argument."""
    try:
        raw = np.atleast_1d(np.asarray(value))
    except (TypeError, ValueError):
        return None
    if raw.ndim != 1 or raw.size == 0:
        return None
    if raw.dtype.kind not in "iuf" and not (raw.dtype == object and all(is_real(v) for v in raw)):
        return None
    return raw.astype(float)
