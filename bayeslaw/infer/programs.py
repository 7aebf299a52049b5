"""Compiled programs of :func:`bayeslaw.fit` and :func:`bayeslaw.fit_many`, kept for the next fit of the same shape in the process.

With only JAX's persistent compilation cache, a refit still traces the model, the MAP search and
the sampler again and reads each compiled program back from disk, which costs more than a small
fit's sampling. Here the programs are compiled ahead of time and held, so a refit of a law with
the same model, data shapes and sampler settings calls them directly.

The store is small and bounded (:data:`MAX_PROGRAMS`, least recently used out first): each
compiled program holds about 1,300 memory maps on Linux, which is why a fit releases JAX's own
caches when it ends (:func:`bayeslaw.core.runtime.release_compiled`); the executables held here are
not in those caches and survive that release.

A program is identified by what its trace depends on: ``name`` (which program), ``key`` (the
model: the plan's ``repr``, which spells out the law's formula, priors, pooling and sizes, plus
any static settings), the structure, shapes and dtypes of its arguments, the precision and the
local devices. Everything else must be an argument.

Across processes, the traced program is kept on disk too (``$BAYESLAW_CACHE_DIR/programs``, off
with ``BAYESLAW_NO_CACHE=1``), serialized by :mod:`jax.export` under a hash of that identity and
of bayeslaw's own source, JAX's and NumPyro's versions: tracing is most of a new process's first
fit even with JAX's compilation cache warm, and a program read back from disk is only compiled,
that compilation itself found in JAX's persistent cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import suppress
from functools import cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bayeslaw.core import runtime

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
    ``name``, ``key`` and argument signature (in this process, or traced by an earlier process
    and kept on disk), and return its outputs as NumPy arrays; ``key=None`` compiles and returns
    as plain ``jit`` would.

    ``fn`` must depend on nothing but its arguments, bayeslaw's source and what ``key`` names.
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
        program = _compile(ident, fn, args)
        with _lock:
            _store[ident] = program
            while len(_store) > MAX_PROGRAMS:
                _store.popitem(last=False)
    # host arrays: a compiled program's outputs are committed to its devices, and a later
    # program placing them elsewhere (NUTS's pmap over the chains) would refuse them
    return jax.tree.map(np.asarray, program(*args))


def _compile(ident: tuple, fn: Callable, args: tuple) -> Callable:
    """Compile ``fn`` for ``args``, from its exported trace on disk when there is one."""
    path = _disk_path(ident)
    if path is None:
        return jax.jit(fn).lower(*args).compile()
    exported = None
    if path.is_file():
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
        except (OSError, struct.error, ValueError, IndexError):  # unreadable or truncated: trace afresh
            exported = None
        else:
            with suppress(OSError):  # in use: the cache bound prunes the oldest files first
                os.utime(path)
    if exported is None:
        exported = jax.export.export(jax.jit(fn))(*jax.tree.map(_spec, args))
        _write(path, exported.serialize())
    if exported.nr_devices == 1:
        return jax.jit(exported.call).lower(*args).compile()
    # a program sharded over the local devices (fit_hmc's chains): its inputs go to all of them
    mesh = Mesh(np.array(jax.local_devices()[:exported.nr_devices]), ("devices",))
    whole = NamedSharding(mesh, PartitionSpec())
    compiled = jax.jit(exported.call, in_shardings=whole).lower(*args).compile()
    return lambda *a: compiled(*jax.device_put(a, whole))


def _spec(leaf) -> jax.ShapeDtypeStruct:
    """Shape and dtype of an argument (a concrete array would pin the trace to its device)."""
    if isinstance(leaf, (bool, int, float, complex)):
        leaf = jnp.asarray(leaf)  # weakly typed, as jit traces a Python scalar
    return jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype, weak_type=getattr(leaf, "weak_type", False))


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file); skip on OSError."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:  # a read-only cache: the program still runs, the next process traces it again
        with contextlib.suppress(OSError):  # a cache 'folder' that is a file: NotADirectoryError
            tmp.unlink(missing_ok=True)


def _disk_path(ident: tuple) -> Path | None:
    """Where the exported trace of ``ident`` lives, or None with ``BAYESLAW_NO_CACHE`` set."""
    if not runtime.cache_enabled():
        return None
    digest = hashlib.sha256(repr((ident, _code_version())).encode()).hexdigest()[:32]
    return runtime.cache_dir() / "programs" / f"{ident[0]}-{digest}.jaxexport"


@cache
def _code_version() -> str:
    """Hash of what a trace can depend on besides its identity: bayeslaw's source, JAX, NumPyro."""
    import numpyro

    digest = hashlib.sha256(f"{jax.__version__} {numpyro.__version__}".encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + path.read_bytes())
    return digest.hexdigest()


def clear() -> None:
    """Forget every kept program."""
    with _lock:
        _store.clear()


def kept() -> int:
    """Number of programs kept now."""
    return len(_store)
