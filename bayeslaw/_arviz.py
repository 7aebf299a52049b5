"""Import ArviZ once, without its import-time notice about the 1.x refactor.

ArviZ is used by compare.py (PSIS-LOO) and persist.py (InferenceData), so a move to ArviZ 1.x
stays cheap.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

__all__ = ["az"]
