"""bayeslaw.programs: a refit of the same shape reuses the compiled programs, and only then."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw import programs

SETTINGS = {"chains": 2, "warmup": 150, "draws": 100, "seed": 3, "sampler": "hmc"}


def _fit(law, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit(law, runs, **SETTINGS)


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


def test_another_law_or_shape_gets_its_own_programs(tables, tmp_path):
    one, _ = tables
    programs.clear()
    _fit("chinchilla", one)
    # the same law with one prior changed: same shapes, another model
    text = (bl.law.catalogue_dir() / "chinchilla.toml").read_text()
    changed = tmp_path / "chinchilla_tight.toml"
    changed.write_text(text.replace('name = "chinchilla"', 'name = "chinchilla_tight"')
                       .replace("scale = 0.05 }", "scale = 0.02 }"))
    _fit(str(changed), one)
    assert programs.kept() == 6
    _fit("chinchilla", one.iloc[:-1])  # one run fewer: other shapes
    assert programs.kept() == programs.MAX_PROGRAMS  # the oldest went out
