"""Shared fixtures: fitted models are expensive (JAX compilation), so fit once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# The suite shares compiled programs through bayeslaw's on-disk caches, in a folder of its own
# made fresh for each session (subprocess tests inherit it): fits of the same shape compile once,
# and no test depends on what earlier runs left on disk.
if "BAYESLAW_CACHE_DIR" not in os.environ:
    os.environ["BAYESLAW_CACHE_DIR"] = tempfile.mkdtemp(prefix="bayeslaw-tests-")
    atexit.register(shutil.rmtree, os.environ["BAYESLAW_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("BAYESLAW_NO_CACHE", "0")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_csv(*parts: str) -> Path:
    """Path of a real data set in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is absent (../shared/data is not checked out)")
    return path


@pytest.fixture(scope="session")
def truth() -> dict:
    """True parameters of the bundled synthetic_families demo set."""
    return tomllib.loads((REPO / "data" / "synthetic_families_truth.toml").read_text())


def simulate(truth: dict, n_per_family: int, seed: int, n_range=(1e7, 3e9), d_range=(2e8, 6e10)) -> pd.DataFrame:
    """Fresh runs from the true law (plain NumPy: an oracle independent of bayeslaw's model)."""
    rng = np.random.default_rng(seed)
    alpha, beta, sigma = (truth["shared"][k] for k in ("alpha", "beta", "sigma"))
    frames = []
    for family, p in truth["families"].items():
        N = np.exp(rng.uniform(*np.log(n_range), n_per_family))
        D = np.exp(rng.uniform(*np.log(d_range), n_per_family))
        law = p["E"] + np.exp(p["a"] - alpha * np.log(N)) + np.exp(p["b"] - beta * np.log(D))
        loss = law * np.exp(rng.normal(0.0, sigma, n_per_family))
        frames.append(pd.DataFrame({"family": family, "N": N, "D": D, "loss": loss, "law": law}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def demo_runs() -> pd.DataFrame:
    return pd.read_csv(REPO / "data" / "synthetic_families.csv")


@pytest.fixture(scope="session")
def family_fit(demo_runs):
    """Chinchilla law with partial pooling on the 5-family demo set (shared alpha, beta)."""
    import bayeslaw as bl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit("chinchilla", demo_runs, group="family", chains=2, warmup=400, draws=500, seed=1)


@pytest.fixture(scope="session")
def tiny_family_fit(demo_runs):
    """A quick fit of the demo set (HMC, 2 x 100 draws): for tests of outputs, not of accuracy."""
    import bayeslaw as bl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit("chinchilla", demo_runs, group="family", chains=2, warmup=100, draws=100, seed=1,
                      sampler="hmc", progress=False)
