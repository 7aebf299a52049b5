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
