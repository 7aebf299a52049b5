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


@pytest.mark.parametrize(("raw", "x64", "cache", "bars"), [
    ("1", True, False, True), ("yes", True, False, True), ("ON", True, False, True),
    ("0", False, True, False), ("no", False, True, False), ("off", False, True, False),
    ("", None, True, None),  # empty is unset: it once meant float32 for BAYESLAW_X64
])
def test_on_off_variables_read_alike(monkeypatch, raw, x64, cache, bars):
    """BAYESLAW_X64=no meant float64 and BAYESLAW_NO_CACHE=false turned the cache off: the three
    on/off variables now read one way (core.env.env_flag)."""
    from bayeslaw.core import progress

    for name in ("BAYESLAW_X64", "BAYESLAW_NO_CACHE", "BAYESLAW_PROGRESS"):
        monkeypatch.setenv(name, raw)
    assert runtime.wants_x64("gpu") is (x64 if x64 is not None else False)
    assert runtime.cache_enabled() is cache
    assert progress.enabled(None) is (bars if bars is not None else False)  # pytest's stderr is no terminal


@pytest.mark.parametrize("name", ["BAYESLAW_X64", "BAYESLAW_NO_CACHE", "BAYESLAW_PROGRESS"])
def test_an_on_off_variable_with_another_value_is_refused_by_name(monkeypatch, name):
    from bayeslaw.core import progress

    monkeypatch.setenv(name, "maybe")
    read = {"BAYESLAW_X64": runtime.wants_x64, "BAYESLAW_NO_CACHE": runtime.cache_enabled,
            "BAYESLAW_PROGRESS": lambda: progress.enabled(None)}[name]
    with pytest.raises(FitError) as caught:
        read()
    assert str(caught.value) == f"{name} must be 1 or 0 (true/false, yes/no, on/off), got 'maybe'"


def test_every_command_and_fit_refuses_a_bad_on_off_variable(monkeypatch, capsys):
    """BAYESLAW_PROGRESS=bogus was refused only by the commands and calls that drew a bar."""
    from bayeslaw.cli.main import main

    monkeypatch.setenv("BAYESLAW_PROGRESS", "bogus")
    message = "BAYESLAW_PROGRESS must be 1 or 0 (true/false, yes/no, on/off), got 'bogus'"
    with pytest.raises(SystemExit) as info:
        main(["laws"])
    assert info.value.code == 2
    assert capsys.readouterr().err == f"bayeslaw: error: {message}\n"
    with pytest.raises(FitError) as caught:
        runtime.configure()  # every fit's first step, also where progress=False draws no bar
    assert str(caught.value) == message


def test_the_cache_folder_expands_home_and_a_file_there_skips_caching(monkeypatch, tmp_path):
    """'~' made a folder named '~' in the working directory; a cache 'folder' that is a file
    ended every fit with NotADirectoryError from the cache's clean-up."""
    from bayeslaw.infer import programs

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BAYESLAW_CACHE_DIR", "~/cache")
    assert runtime.cache_dir() == tmp_path / "cache"
    blocker = tmp_path / "afile"
    blocker.write_text("")
    programs._write(blocker / "programs" / "x.jaxexport", b"data")  # skipped, not raised
    assert blocker.read_text() == ""


def test_a_platform_jax_cannot_start_is_one_line(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="bogus")
    proc = subprocess.run([sys.executable, "-m", "bayeslaw", "laws"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("bayeslaw: error: JAX could not start its platforms (JAX_PLATFORMS='bogus'): ")
    assert proc.stderr.count("\n") == 1


def test_xla_flags_that_xla_refuses_are_one_line(tmp_path):
    """XLA ended the process in C++ on an unknown flag: its own log line and status 1."""
    env = dict(os.environ, XLA_FLAGS="--xla_bogus_flag=1")
    proc = subprocess.run([sys.executable, "-m", "bayeslaw", "laws"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("bayeslaw: error: XLA_FLAGS='--xla_bogus_flag=1' is refused by XLA: "
                           "Unknown flag in XLA_FLAGS: --xla_bogus_flag=1\n")


def test_xla_flags_xla_accepts_pass_and_the_core_count_alone_is_not_probed(monkeypatch):
    from bayeslaw.cli import main as cli

    cli.check_xla_flags("--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=2")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("probed"))
    cli.check_xla_flags("--xla_force_host_platform_device_count=2")
    cli.check_xla_flags("")
