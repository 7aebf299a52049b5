"""ArviZ, imported on first use and without its import-time notice about the 1.x refactor.

ArviZ is used by compare.py (PSIS-LOO), idata.py and persist.py (InferenceData). Importing it
pulls in matplotlib, so ``az`` here is a stand-in that imports ArviZ the first time one of its
attributes is read: ``import bayeslaw`` stays free of matplotlib and ArviZ.
"""

from __future__ import annotations

import importlib
import warnings


class _LazyArviz:
    """Forward attribute reads to the ``arviz`` module, importing it on the first read."""

    def __getattr__(self, name: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = importlib.import_module("arviz")
        return getattr(module, name)


az = _LazyArviz()

__all__ = ["az"]
