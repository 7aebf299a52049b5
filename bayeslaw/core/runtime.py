"""JAX runtime policy: precision, the persistent compilation cache, compile-time accounting.

* Precision: float64 on CPU (cheap there, and it keeps log-sum-exp forms exact); float32 on
  GPU/TPU, where the centred parameterisation keeps the model well conditioned. Set
  ``BAYESLAW_X64=1`` or ``0`` to force either.
* Compilation cache: JAX's persistent cache is switched on at the first fit, in
  ``$BAYESLAW_CACHE_DIR/jax`` (default ``~/.cache/bayeslaw/jax``), so refitting a law of the same
  shape skips XLA compilation, and :mod:`bayeslaw.infer.programs` keeps the traces of the MAP search
  and the HMC sampler beside it (``$BAYESLAW_CACHE_DIR/programs``), so such a refit skips tracing
  too. ``BAYESLAW_NO_CACHE=1`` opts out of both. A cache directory the user configured for JAX
  already is left alone (and never pruned). Every new data shape compiles programs of its own,
  so bayeslaw's two folders are bounded: at the first fit of a process the oldest files go until
  they hold at most ``BAYESLAW_CACHE_MAX_MB`` megabytes (default :data:`DEFAULT_CACHE_MAX_MB`);
  a trace read back from disk counts as new again.
* Compile time is measured through ``jax.monitoring`` events, so a fit can report compilation
  and sampling separately.
* In-memory compiled programs are released after every fit (:func:`release_compiled`). Most of
  a fit's programs close over its own data, so none can be reused by a later fit in the same
  process, yet JAX's caches would keep each one alive, and on Linux each holds about 1,300
  memory maps: a process doing some fifty fits reached the kernel's limit
  (``vm.max_map_count``, 65,530) and crashed inside XLA. The on-disk cache above is not
  affected, nor are the few programs :mod:`bayeslaw.infer.programs` keeps for refits of the same
  shape (the MAP search and the batched HMC sampler, at most six).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import jax
import numpy as np

from bayeslaw.core.env import check_flags, env_flag
from bayeslaw.core.errors import FitError

#: bound on the on-disk caches of compiled and traced programs, in megabytes
DEFAULT_CACHE_MAX_MB = 2048

_lock = threading.Lock()
_state = {"configured": False, "compile_seconds": 0.0}
_COMPILE_EVENTS = ("/jax/core/compile/backend_compile_duration", "/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration")


#: the magnitudes a 32-bit float holds (normal numbers): fits on a GPU run in float32, where a
#: number outside them is inf or 0, so law files and tables are held to it on every device
FLOAT32_RANGE = (1.1754943508222875e-38, 3.4028234663852886e38)


def outside_float32(values) -> np.ndarray:
    """Where finite ``values`` lie outside :data:`FLOAT32_RANGE` (0 lies inside)."""
    magnitude = np.abs(np.asarray(values, dtype=float))
    return (magnitude != 0) & ((magnitude < FLOAT32_RANGE[0]) | (magnitude > FLOAT32_RANGE[1]))


def float32_problem(number: float) -> str | None:
    """Why a finite number cannot be used in a 32-bit fit, or None (0 is fine)."""
    if outside_float32(number):
        low, high = FLOAT32_RANGE
        return (f"is outside the range of a 32-bit float ({low:.1e} to {high:.1e} in magnitude, or 0), "
                "in which fits on a GPU run")
    return None


def cache_enabled() -> bool:
    """Whether bayeslaw's on-disk caches are used (``BAYESLAW_NO_CACHE`` unset, empty or off)."""
    return not env_flag("BAYESLAW_NO_CACHE")


def cache_dir() -> Path:
    """Directory of bayeslaw's caches (datasets, compiled programs)."""
    root = os.environ.get("BAYESLAW_CACHE_DIR", "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "bayeslaw"


def cache_limit_bytes() -> int:
    """The bound on the program caches, from ``BAYESLAW_CACHE_MAX_MB`` (default
    :data:`DEFAULT_CACHE_MAX_MB`)."""
    raw = os.environ.get("BAYESLAW_CACHE_MAX_MB", "").strip()
    if not raw:
        return DEFAULT_CACHE_MAX_MB * 2**20
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = float("nan")
    if not megabytes >= 0 or megabytes == float("inf"):
        raise FitError(f"BAYESLAW_CACHE_MAX_MB must be a non-negative number of megabytes, got {raw!r}")
    return int(megabytes * 2**20)


def prune_cache(folders, limit: int) -> int:
    """Delete the oldest files (by modification time) under ``folders`` until they hold at most
    ``limit`` bytes together; return the bytes freed. Files that vanish meanwhile (another
    process pruning) or cannot be removed are skipped."""
    files = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            try:
                info = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                files.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in files)
    freed = 0
    for _, size, path in sorted(files, key=lambda f: f[0]):
        if total - freed <= limit:
            break
        try:
            path.unlink()
        except OSError:
            continue
        freed += size
    return freed


def _on_duration(event: str, duration: float, **_kwargs) -> None:
    if event in _COMPILE_EVENTS:
        with _lock:
            _state["compile_seconds"] += duration


def wants_x64(platform: str | None = None) -> bool:
    """Whether fits run in float64: on CPU unless ``BAYESLAW_X64`` says otherwise."""
    forced = env_flag("BAYESLAW_X64")
    if forced is not None:
        return forced
    platform = platform or jax.default_backend()
    return platform == "cpu"


def configure() -> None:
    """Apply the precision and cache policy once per process (idempotent)."""
    check_flags()  # each call: a variable set after the first fit is read by this one
    if _state["configured"]:
        return
    jax.config.update("jax_enable_x64", wants_x64())
    if cache_enabled():
        limit = cache_limit_bytes()
        ours = [cache_dir() / "programs"]
        if not jax.config.jax_compilation_cache_dir:
            path = cache_dir() / "jax"
            ours.append(path)
            try:
                path.mkdir(parents=True, exist_ok=True)
                jax.config.update("jax_compilation_cache_dir", str(path))
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
            except OSError:
                pass  # a read-only home: fits still work, they just compile every time
        try:
            prune_cache([folder for folder in ours if folder.is_dir()], limit)
        except OSError:
            pass  # an unlistable cache is not worth failing a fit over
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    _state["configured"] = True


def release_compiled() -> None:
    """Drop JAX's in-memory caches of traced and compiled programs.

    Called at the end of every fit. Functions of the caller's own that JAX had compiled are
    compiled again on their next call (or read back from the persistent cache).
    """
    jax.clear_caches()


@contextmanager
def stopwatch():
    """Time a block, splitting wall time into compilation and the rest.

    Yields a dict that holds ``total``, ``compile`` and ``run`` seconds once the block exits.
    """
    configure()
    out: dict = {}
    with _lock:
        start_compile = _state["compile_seconds"]
    start = time.perf_counter()
    try:
        yield out
    finally:
        total = time.perf_counter() - start
        with _lock:
            compiled = _state["compile_seconds"] - start_compile
        out.update(total=total, compile=min(compiled, total), run=max(total - compiled, 0.0))
