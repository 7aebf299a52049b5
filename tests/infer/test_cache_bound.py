"""The on-disk program caches are bounded: the oldest files go first, at a process's first fit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bayeslaw.core import runtime
from bayeslaw.core.errors import FitError


def _file(path, size, age_s):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = 1_700_000_000 - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_prune_cache_deletes_the_oldest_files_until_under_the_limit(tmp_path):
    old = _file(tmp_path / "jax" / "old", 400, age_s=300)
    middle = _file(tmp_path / "programs" / "middle.jaxexport", 400, age_s=200)
    new = _file(tmp_path / "jax" / "sub" / "new", 400, age_s=100)
    freed = runtime.prune_cache([tmp_path / "jax", tmp_path / "programs"], limit=800)
    assert freed == 400
    assert not old.exists() and middle.exists() and new.exists()
    assert runtime.prune_cache([tmp_path / "jax", tmp_path / "programs"], limit=800) == 0
    runtime.prune_cache([tmp_path / "jax", tmp_path / "programs"], limit=0)
    assert not middle.exists() and not new.exists()


@pytest.mark.parametrize("raw, expected", [("", runtime.DEFAULT_CACHE_MAX_MB * 2**20), ("1.5", 3 * 2**19),
                                           ("0", 0)])
def test_cache_limit_reads_megabytes(monkeypatch, raw, expected):
    monkeypatch.setenv("BAYESLAW_CACHE_MAX_MB", raw)
    assert runtime.cache_limit_bytes() == expected


@pytest.mark.parametrize("raw", ["lots", "-1", "nan", "inf"])
def test_a_bad_cache_limit_names_the_variable_and_value(monkeypatch, raw):
    monkeypatch.setenv("BAYESLAW_CACHE_MAX_MB", raw)
    with pytest.raises(FitError) as caught:
        runtime.cache_limit_bytes()
    assert str(caught.value) == f"BAYESLAW_CACHE_MAX_MB must be a non-negative number of megabytes, got {raw!r}"


def test_a_new_process_prunes_its_caches_to_the_bound(tmp_path):
    old = _file(tmp_path / "programs" / "old.jaxexport", 2048, age_s=300)
    new = _file(tmp_path / "programs" / "new.jaxexport", 2048, age_s=100)
    datasets = _file(tmp_path / "datasets" / "kept.csv", 2048, age_s=400)  # not a program cache
    env = {**os.environ, "BAYESLAW_CACHE_DIR": str(tmp_path), "BAYESLAW_NO_CACHE": "0",
           "BAYESLAW_CACHE_MAX_MB": str(3000 / 2**20), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", "from bayeslaw.core import runtime; runtime.configure()"], env=env, check=True)
    assert not old.exists() and new.exists() and datasets.exists()
