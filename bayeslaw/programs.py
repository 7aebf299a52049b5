"""Compiled programs of :func:`bayeslaw.fit`, kept for the next fit of the same shape in the process.

A refit with JAX's persistent compilation cache warm still traced the model, the MAP search and
the sampler again and read each compiled program back from disk: 5.9 of a 7.0 s refit (5 families
x 30 runs, 4 chains x 1000 + 1000, batched HMC) against 1.1 s of sampling. Here the programs are
compiled ahead of time and held, so a refit of a law with the same model, data shapes and sampler
settings calls them directly.

The store is small and bounded (:data:`MAX_PROGRAMS`, least recently used out first): each
compiled program holds about 1,300 memory maps on Linux, which is why a fit releases JAX's own
caches when it ends (:func:`bayeslaw.runtime.release_compiled`); the executables held here are
not in those caches and survive that release.

A program is identified by what its trace depends on: ``name`` (which program), ``key`` (the
model: the plan's ``repr``, which spells out the law's formula, priors, pooling and sizes, plus
any static settings), the structure, shapes and dtypes of its arguments, the precision and the
local devices. Everything else must be an argument.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import jax
import numpy as np

#: compiled programs kept (a hierarchical fit uses up to five: prior median and mode search of the
#: non-centred search, then the sampler)
MAX_PROGRAMS = 6

_store: OrderedDict = OrderedDict()
_lock = threading.Lock()


def _aval(leaf) -> tuple:
    if isinstance(leaf, (bool, int, float, complex)):  # a Python scalar traces weakly typed
        return (), type(leaf).__name__, True
    return np.shape(leaf), str(leaf.dtype), False


def _signature(args) -> tuple:
    leaves, treedef = jax.tree.flatten(args)
    return str(treedef), tuple(_aval(leaf) for leaf in leaves)


def call(name: str, key: Hashable | None, fn: Callable, *args):
    """Run ``jax.jit(fn)(*args)``, reusing the compiled program of an earlier call with equal
    ``name``, ``key`` and argument signature; ``key=None`` compiles as plain ``jit`` would.

    ``fn`` must depend on nothing but its arguments and what ``key`` names.
    """
    if key is None:
        return jax.jit(fn)(*args)
    ident = (name, key, _signature(args), bool(jax.config.jax_enable_x64),
             tuple(str(d) for d in jax.local_devices()))
    with _lock:
        program = _store.get(ident)
        if program is not None:
            _store.move_to_end(ident)
    if program is None:
        program = jax.jit(fn).lower(*args).compile()
        with _lock:
            _store[ident] = program
            while len(_store) > MAX_PROGRAMS:
                _store.popitem(last=False)
    return program(*args)


def clear() -> None:
    """Forget every kept program."""
    with _lock:
        _store.clear()


def kept() -> int:
    """Number of programs kept now."""
    return len(_store)
