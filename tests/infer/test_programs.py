"""bayeslaw.infer.programs: a refit of the same shape reuses the compiled programs, and only then; a
new process compiles the traces an earlier one kept on disk."""

from __future__ import annotations

import os
import warnings

import jax
import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw.infer import programs
from bayeslaw.laws.law import catalogue_dir

pytestmark = pytest.mark.heavy  # real posteriors: run with -m heavy (CI does)

SETTINGS = {"chains": 2, "warmup": 150, "draws": 100, "seed": 3, "sampler": "hmc"}


def _fit(law, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit(law, runs, extrapolation=False, **SETTINGS)  # the sampler's programs only


@pytest.fixture(scope="module")
def tables(demo_runs):
    one = demo_runs[demo_runs["family"] == demo_runs["family"].iloc[0]].reset_index(drop=True)
    other = one.assign(loss=one["loss"] * 1.05)  # same shapes, other values
    return one, other


def test_refit_reuses_the_programs_and_gives_the_fresh_result(tables):
    one, other = tables
    programs.clear()
    first = _fit("chinchilla", one)
    assert programs.kept() == 3  # prior median, BFGS, the sampler
    assert first.timings["compile_s"] > 0.5
    reused = _fit("chinchilla", other)
    assert programs.kept() == 3 and reused.timings["compile_s"] < 0.5 * first.timings["compile_s"]
    programs.clear()
    fresh = _fit("chinchilla", other)
    for name in ("E", "alpha", "beta", "sigma"):
        np.testing.assert_allclose(reused.samples[name], fresh.samples[name], rtol=1e-6)
    # the other table's losses are 5% higher: its irreducible loss moved, not a stale result
    assert np.median(reused.samples["E"]) > np.median(first.samples["E"])


def test_a_repeated_batch_reuses_its_program(tables):
    one, other = tables
    programs.clear()
    settings = {k: v for k, v in SETTINGS.items() if k != "seed"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        first = bl.fit_many("chinchilla", [one, other], seed=1, **settings)
        assert programs.kept() == 2  # the prior median and the batch
        again = bl.fit_many("chinchilla", [other, one], seed=2, **settings)
    assert programs.kept() == 2
    assert again[0].timings["batch_compile_s"] < 0.5 * first[0].timings["batch_compile_s"]
    # the fits follow their tables, not the kept program's first arguments
    assert np.median(again[0].samples["E"]) > np.median(again[1].samples["E"])


def test_another_law_or_shape_gets_its_own_programs(tables, tmp_path):
    one, _ = tables
    programs.clear()
    _fit("chinchilla", one)
    # the same law with one prior changed: same shapes, another model
    text = (catalogue_dir() / "chinchilla.toml").read_text()
    changed = tmp_path / "chinchilla_tight.toml"
    changed.write_text(text.replace('name = "chinchilla"', 'name = "chinchilla_tight"')
                       .replace("scale = 0.05 }", "scale = 0.02 }"))
    _fit(str(changed), one)
    assert programs.kept() == 6
    _fit("chinchilla", one.iloc[:-1])  # one run fewer: other shapes
    assert programs.kept() == programs.MAX_PROGRAMS  # the oldest went out


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    """bayeslaw's cache switched on (the suite runs with BAYESLAW_NO_CACHE=1) in a fresh folder."""
    monkeypatch.setenv("BAYESLAW_NO_CACHE", "0")
    monkeypatch.setenv("BAYESLAW_CACHE_DIR", str(tmp_path))
    programs.clear()
    yield tmp_path / "programs"
    programs.clear()


def _exported(folder):
    return sorted(folder.glob("*.jaxexport"))


def test_a_new_process_compiles_the_traces_kept_on_disk(tables, disk_cache, monkeypatch):
    one, _ = tables
    first = _fit("chinchilla", one)
    assert [p.name.split("-")[0] for p in _exported(disk_cache)] == ["hmc", "map_newton", "prior_median_closed"]
    programs.clear()  # nothing in memory, as in a new process

    def no_tracing(*args, **kwargs):
        raise AssertionError("traced again although the trace is on disk")

    monkeypatch.setattr(jax.export, "export", no_tracing)
    again = _fit("chinchilla", one)
    assert set(again.samples) == set(first.samples)
    for name, value in first.samples.items():
        np.testing.assert_array_equal(again.samples[name], value)


def test_a_trace_read_back_from_disk_counts_as_new_for_the_cache_bound(tables, disk_cache):
    _fit("chinchilla", tables[0])
    sampler = next(p for p in _exported(disk_cache) if p.name.startswith("hmc-"))
    os.utime(sampler, (1e9, 1e9))  # written long ago: first in line to be pruned
    programs.clear()
    _fit("chinchilla", tables[0])
    assert sampler.stat().st_mtime > 1e9 + 1


def test_an_unreadable_trace_on_disk_is_traced_again(tables, disk_cache):
    one, _ = tables
    first = _fit("chinchilla", one)
    sampler = next(p for p in _exported(disk_cache) if p.name.startswith("hmc-"))
    size = sampler.stat().st_size
    sampler.write_bytes(sampler.read_bytes()[: size // 2])  # as a crash mid-write would leave it
    programs.clear()
    again = _fit("chinchilla", one)
    assert sampler.stat().st_size == size  # written afresh
    np.testing.assert_array_equal(again.samples["alpha"], first.samples["alpha"])


def test_no_cache_leaves_nothing_on_disk(tables, disk_cache, monkeypatch):
    monkeypatch.setenv("BAYESLAW_NO_CACHE", "1")
    _fit("chinchilla", tables[0])
    assert not disk_cache.exists()


def test_a_sampler_sharded_over_devices_is_read_back_in_another_process(tables, tmp_path):
    """Two processes with 4 host devices: the second compiles the first's sharded HMC trace
    (tracing is made to fail there) and draws exactly the same chains; NUTS, whose chains run
    in parallel on the 4 devices, starts from the MAP programs read back from disk."""
    from test_batch import run_script

    body = """
        import hashlib, os
        import numpy as np
        if os.environ.get("FORBID_TRACING"):
            def no_tracing(*args, **kwargs):
                raise AssertionError("traced again although the trace is on disk")
            jax.export.export = no_tracing
        settings = {"chains": 4, "warmup": 150, "draws": 100, "seed": 3}
        hmc = bl.fit("chinchilla", tables[0], sampler="hmc", **settings)
        # NUTS's chains run in parallel over the 4 devices, from the MAP search's outputs
        nuts = bl.fit("chinchilla", tables[0], sampler="nuts", **settings)
        digest = lambda fit: hashlib.sha256(np.asarray(fit.samples["alpha"]).tobytes()).hexdigest()
        print(json.dumps({"devices": jax.local_device_count(), "method": nuts.config["chain_method"],
                          "digest": [digest(hmc), digest(nuts)]}))
    """
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "BAYESLAW_NO_CACHE": "0",
           "BAYESLAW_CACHE_DIR": str(tmp_path / "cache")}
    first = run_script(body, env, tmp_path, tables[:1])
    second = run_script(body, {**env, "FORBID_TRACING": "1"}, tmp_path, tables[:1])
    assert first["devices"] == second["devices"] == 4 and first["method"] == "parallel"
    assert second["digest"] == first["digest"]
