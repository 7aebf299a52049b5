"""ArviZ-native results: fit.to_inference_data() works with ArviZ's own functions, no glue."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.core._arviz import az


def _tiny(law, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        return bl.fit(law, runs, group="family", chains=2, warmup=100, draws=100, seed=1,
                      sampler="hmc", progress=False)


@pytest.fixture(scope="module")
def tiny_fit(tiny_family_fit):
    return tiny_family_fit


@pytest.fixture(scope="module")
def idata(tiny_fit):
    return tiny_fit.to_inference_data()


def test_groups_names_and_coordinates(tiny_fit, idata, demo_runs):
    assert {"posterior", "posterior_predictive", "log_likelihood", "observed_data", "constant_data",
            "sample_stats"} <= set(idata.groups())
    post = idata.posterior
    assert list(post["family"].values) == ["deep", "dense", "long_ctx", "moe", "wide"]
    assert list(idata.observed_data["run"].values) == [str(i) for i in demo_runs.index]
    for name in ("E", "alpha", "A", "beta", "B", "N_opt_exponent", "D_opt_exponent", "sigma",
                 "E_population", "A_population"):
        assert name in post.data_vars, name
    for internal in ("a", "b", "a_ref", "b_ref", "E_u", "E_z"):
        assert internal not in post.data_vars, internal
    assert post["E"].dims == ("chain", "draw", "family") and post["alpha"].dims == ("chain", "draw")
    # A is exp(a) of the family's log amplitude
    np.testing.assert_allclose(post["A"].values.reshape(-1, 5), np.exp(tiny_fit.family_values()["a"]))
    np.testing.assert_allclose(idata.observed_data["loss"].values, demo_runs["loss"].to_numpy())
    assert idata.posterior_predictive["loss"].shape == (2, 100, len(demo_runs))
    assert idata.log_likelihood["loss"].dims == ("chain", "draw", "run")
    assert tiny_fit.idata is tiny_fit.idata  # built once


def test_az_summary_and_plot_trace(idata):
    table = az.summary(idata, var_names=["alpha", "A"])
    assert list(table.index) == ["alpha", "A[deep]", "A[dense]", "A[long_ctx]", "A[moe]", "A[wide]"]
    axes = az.plot_trace(idata, var_names=["alpha", "E"])
    assert axes.shape == (2, 2) and axes[0, 0].get_title() == "alpha"
    matplotlib.pyplot.close("all")


def test_az_plot_ppc_draws_observed_and_replicates(idata):
    ax = az.plot_ppc(idata, num_pp_samples=20, random_seed=0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "Observed" in labels and "Posterior predictive" in labels
    assert ax.get_xlabel() == "loss"
    matplotlib.pyplot.close("all")


@pytest.mark.heavy
def test_az_loo_and_compare(tiny_fit, idata, demo_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto k warnings of a 200-draw fit
        loo = az.loo(idata)
    assert loo.n_data_points == len(demo_runs) and np.isfinite(loo.elpd_loo)
    # kaplan ignores D: the data term is missing, so it must rank below chinchilla
    kaplan = _tiny("kaplan", demo_runs).to_inference_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto k warnings of a 200-draw fit
        table = az.compare({"chinchilla": idata, "kaplan": kaplan})
    assert list(table.index) == ["chinchilla", "kaplan"]


def test_saved_file_keeps_groups_and_round_trips(tiny_fit, idata, tmp_path):
    path = tmp_path / "fit.nc"
    tiny_fit.save(path)
    on_disk = az.from_netcdf(str(path))
    assert set(on_disk.groups()) == set(idata.groups())
    assert list(on_disk.posterior["family"].values) == list(tiny_fit.families)
    loaded = bl.load_fit(path)
    rows = {"N": [3e9, 7e10], "D": [6e10, 1.4e12], "family": ["moe", ""]}
    pd.testing.assert_frame_equal(loaded.predict(rows, seed=3), tiny_fit.predict(rows, seed=3))
    np.testing.assert_allclose(loaded.idata.posterior["A"].values, idata.posterior["A"].values)
    # the InferenceData written by ArviZ itself is a loadable fit too
    other = tmp_path / "via_arviz.nc"
    idata.to_netcdf(str(other))
    pd.testing.assert_frame_equal(bl.load_fit(other).predict(rows, seed=3), tiny_fit.predict(rows, seed=3))
