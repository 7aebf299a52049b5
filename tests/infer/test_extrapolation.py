"""Extrapolation error: nested leave-largest-out calibration and its effect on the intervals."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import bayeslaw as bl
from bayeslaw.core.errors import FitError
from bayeslaw.infer import extrapolation as ex
from bayeslaw.infer import extrapolation_posterior as post
from bayeslaw.infer.nested_refits import NESTED_R_HAT_LIMIT
from bayeslaw.results.extrapolation_error import GRID, ONSET, TILT_GRID, edge_weight

SETTINGS = {"chains": 1, "warmup": 150, "draws": 150, "seed": 0}


def test_the_offset_grows_in_from_the_data_edge():
    """A row 0.1% beyond the largest fitted run is predicted as that run is: the offset and its
    scatter grow in over one e-fold of C (a user's review found a data_constrained prediction
    13% higher, its interval 10x wider, for 0.1% more tokens: the step 1(d > 0)). From one e-fold
    on, the same draws as the step; a fit saved without an onset keeps its step."""
    weights = np.zeros((GRID.size, GRID.size))
    weights[60, 0] = 1.0  # kappa 0.1, tau 1e-4
    step = ex.ExtrapolationErrorModel("C", 0.0, weights, 10, (1.0,), None, np.array([0.1, 0.0]),
                                      np.eye(2) * 1e-12)
    ramp = replace(step, onset=1.0)
    d = np.array([0.0, 1e-3, 0.5, 1.0, 2.0])
    rows = {"N": np.ones_like(d), "D": np.exp(d) / 6.0}  # C = 6 N D = e^d, d e-folds beyond
    a, b = step.log_offsets(rows, 2000, seed=0), ramp.log_offsets(rows, 2000, seed=0)
    assert np.all(a[:, 0] == 0) and np.all(b[:, 0] == 0)  # inside the data
    assert np.median(a[:, 1]) == pytest.approx(0.1, abs=0.01)  # the step: the whole offset at once
    assert np.abs(b[:, 1]).max() < 1e-3
    np.testing.assert_allclose(b[:, 2], 0.5 * a[:, 2], atol=2e-4)  # halfway in: half the offset
    np.testing.assert_array_equal(b[:, 3:], a[:, 3:])
    assert ex.ExtrapolationErrorModel.from_dict(ramp.to_dict()).onset == 1.0
    old = {k: v for k, v in step.to_dict().items() if k != "onset"}
    assert ex.ExtrapolationErrorModel.from_dict(old).onset == 0.0


def test_error_posterior_recovers_the_simulated_offset_and_slope_change():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.1, 3.0, 400)
    s = np.full(400, 0.01)
    for kappa, tau in ((0.0, 0.05), (0.03, 0.0), (0.05, 0.02)):
        r = rng.normal(0.0, np.sqrt(s**2 + kappa**2 + (tau * d) ** 2))
        weights = post.error_posterior(r, s, d)
        error = ex.ExtrapolationErrorModel("C", 0.0, weights, 400, ())
        for true, median in ((kappa, error.kappa_median), (tau, error.tau_median)):
            assert (0.75 * true < median < 1.3 * true) if true else median < 0.01, (kappa, tau, median)
    calm = ex.ExtrapolationErrorModel("C", 0.0, post.error_posterior(rng.normal(0.0, 0.01, 400), s, d), 400, ())
    assert calm.kappa_median < 0.005 and calm.tau_median < 0.003


@pytest.mark.heavy
def test_shared_error_posterior_counts_one_nested_fit_as_one_draw():
    rng = np.random.default_rng(0)
    r, s, d, u = rng.normal(0, 0.01, 30), np.full(30, 0.01), rng.uniform(0.1, 1, 30), rng.normal(0, 1, 30)
    # every row its own draw: the independent posterior exactly (both with the offset in full
    # beyond the data, onset 0, as error_posterior has it)
    singletons = np.arange(30)
    np.testing.assert_allclose(post.shared_error_posterior(r, s, d, u, singletons, onset=0.0),
                               post.error_posterior(r, s, d, u), atol=1e-12)
    np.testing.assert_allclose(post.shared_error_posterior(r, s, d, None, singletons, onset=0.0),
                               post.error_posterior(r, s, d), atol=1e-12)
    # three nested fits of 20 rows, each with its own draw of the offset and slope change: the
    # 90% interval of kappa covers the true 0.02 at about the nominal rate only when the rows of
    # a fit share their draw; read as 60 independent draws, it is far too sure
    groups = np.repeat([0, 1, 2], 20)
    s, d = np.full(60, 0.005), np.tile(np.linspace(0.2, 1.0, 20), 3)
    covered = {"shared": 0, "independent": 0}
    reps = 150
    for _ in range(reps):
        z1, z2 = rng.normal(size=(2, 3))
        r = 0.02 * z1[groups] + 0.01 * d * z2[groups] + rng.normal(0, 0.005, 60)
        for name, w in (("shared", post.shared_error_posterior(r, s, d, None, groups, onset=0.0)),
                        ("independent", post.error_posterior(r, s, d))):
            cdf = np.cumsum(w.sum(axis=1))
            covered[name] += GRID[np.searchsorted(cdf, 0.05)] <= 0.02 <= GRID[np.searchsorted(cdf, 0.95)]
    assert covered["shared"] / reps > 0.8, covered
    assert covered["independent"] / reps < 0.6, covered


def test_woodbury_terms_match_the_dense_gaussian():
    # the k x k Woodbury forms against the n x n covariance D + V S^2 V' on a few grid cells
    rng = np.random.default_rng(3)
    n = 7
    v = np.column_stack([np.ones(n), rng.uniform(0.1, 2, n), rng.normal(0, 1, n)])
    s2, r = rng.uniform(1e-5, 4e-5, n), rng.normal(0, 0.01, n)
    m, b, q = v.T @ (v / s2[:, None]), v.T @ (r / s2), float(np.sum(r**2 / s2))
    sd = np.array([[0.01, 0.002, 0.005], [1e-4, 0.03, 1e-3]])
    loglik, precision, shift = post.woodbury_terms(sd, m, b, q, drift=True)
    for cell in range(2):
        cov = np.diag(s2) + (v * sd[cell] ** 2) @ v.T
        inv = np.linalg.inv(cov)
        dense = -0.5 * (np.linalg.slogdet(cov)[1] - np.sum(np.log(s2)) + r @ inv @ r)
        np.testing.assert_allclose(loglik[cell], dense, rtol=1e-9)
        np.testing.assert_allclose(precision[cell], v.T @ inv @ v, rtol=1e-8)
        np.testing.assert_allclose(shift[cell], v.T @ inv @ r, rtol=1e-8)
    np.testing.assert_allclose(post.woodbury_loglik(sd, m, b, q), loglik)


def _shared_miss(rng, scatter: float):
    """Five nested fits of 12 rows (scale 0.004) that all miss by offset -0.01 (growing in over
    the error's onset) and slope change -0.012, each with its own ``scatter`` around them: groups,
    scales, distances, the shared miss and the residuals."""
    groups = np.repeat(np.arange(5), 12)
    s, d = np.full(60, 0.004), np.tile(np.linspace(0.2, 3.0, 12), 5)
    shared = np.array([-0.01, -0.012])
    b = shared + rng.normal(size=(5, 2)) * [scatter, scatter]
    return groups, s, d, shared, b[groups, 0] * _grow(d) + b[groups, 1] * d + rng.normal(0, 0.004, 60)


def _grow(d: np.ndarray) -> np.ndarray:
    """The offset's weight at distance ``d`` under the library's onset."""
    return edge_weight(d, ONSET)


def test_drift_shared_by_the_nested_fits_is_recovered_and_shrunk_when_they_disagree():
    # five nested fits of 12 rows that all miss by the same offset and slope change (plus their
    # own scatter): the drift's posterior mean is near it and its interval holds it; misses of
    # random sign give a drift near zero
    rng = np.random.default_rng(5)
    groups, s, d, shared, r = _shared_miss(rng, 0.002)
    weights, mean, cov = post.shared_error_posterior(r, s, d, None, groups, drift=True)
    assert weights.shape == (GRID.size, GRID.size) and mean.shape == (2,) and cov.shape == (2, 2)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(mean - shared) < 2.5 * sd) and np.all(mean < 0), (mean, sd)
    assert np.all(sd < 0.5 * np.abs(shared)), sd
    flips = np.where(np.arange(5) % 2, 1.0, -1.0)[:, None] * shared  # same size, alternate sign
    r = flips[groups, 0] * _grow(d) + flips[groups, 1] * d + rng.normal(0, 0.004, 60)
    _, mean, cov = post.shared_error_posterior(r, s, d, None, groups, drift=True)
    assert np.all(np.abs(mean) < 0.4 * np.abs(shared)), mean


def test_a_wider_drift_prior_shrinks_a_shared_miss_less():
    # nested fits that agree on their miss: the model's prior (as wide as their scatter) shrinks
    # the drift towards zero; the same prior passed as drift_sd changes nothing, a prior three
    # times as wide, or one of fixed sds, shrinks it less
    groups, s, d, _, r = _shared_miss(np.random.default_rng(7), 0.0005)
    model = post.shared_error_posterior(r, s, d, None, groups, drift=True)
    same = post.shared_error_posterior(r, s, d, None, groups, drift=True, drift_sd=lambda sd: sd)
    for a, b in zip(model, same):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    wide = post.shared_error_posterior(r, s, d, None, groups, drift=True, drift_sd=lambda sd: 3.0 * sd)
    assert np.all(np.abs(wide[1]) > np.abs(model[1])) and np.all(wide[1] < 0), (model[1], wide[1])
    fixed = post.shared_error_posterior(r, s, d, None, groups, drift=True, drift_sd=lambda sd: np.array([0.05, 0.05]))
    assert fixed[1].shape == (2,) and np.all(np.abs(fixed[1]) > np.abs(model[1])), (model[1], fixed[1])


def test_each_family_gets_its_own_drift():
    # two families whose five nested fits miss in opposite directions: one drift for both reads
    # them as no drift at all; a drift per family recovers each, and a family with no held-out
    # rows keeps the prior (mean 0, variance E[kappa^2], E[tau^2] under the grid posterior)
    rng = np.random.default_rng(11)
    fit_of = np.repeat(np.arange(5), 12)
    groups = np.concatenate([fit_of, fit_of])
    families = np.repeat([0, 1], 60)
    s, d = np.full(120, 0.004), np.tile(np.linspace(0.2, 3.0, 12), 10)
    drift = np.array([[0.01, 0.012], [-0.01, -0.012]])
    b = drift[families] + rng.normal(size=(120, 2)) * [0.002, 0.002]
    b = b.reshape(10, 12, 2)[:, :1, :].repeat(12, axis=1).reshape(120, 2)  # one draw per nested fit and family
    r = b[:, 0] * _grow(d) + b[:, 1] * d + rng.normal(0, 0.004, 120)
    weights, mean, cov = post.shared_error_posterior(r, s, d, None, groups, drift=True, families=families,
                                                     n_families=3)
    assert mean.shape == (3, 2) and cov.shape == (3, 2, 2)
    for f in (0, 1):
        sd = np.sqrt(np.diag(cov[f]))
        assert np.all(np.abs(mean[f] - drift[f]) < 2.5 * sd) and np.all(np.sign(mean[f]) == np.sign(drift[f])), (f, mean, sd)
    prior = ex.ExtrapolationErrorModel("C", 0.0, weights, 120, ()).scale_moments()
    np.testing.assert_allclose(mean[2], 0.0, atol=1e-12)
    np.testing.assert_allclose(cov[2], np.diag(prior), rtol=1e-9)
    _, shared, _ = post.shared_error_posterior(r, s, d, None, groups, drift=True)
    assert np.all(np.abs(shared) < 0.4 * np.abs(drift[0])), shared


def test_one_family_gives_the_shared_drift():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(4), 10)
    s, d, u = np.full(40, 0.005), np.tile(np.linspace(0.1, 1.0, 10), 4), rng.normal(0, 1, 40)
    r = -0.01 - 0.01 * d + rng.normal(0, 0.005, 40)
    alone = post.shared_error_posterior(r, s, d, u, groups, drift=True)
    one = post.shared_error_posterior(r, s, d, u, groups, drift=True, families=np.zeros(40, int), n_families=1)
    for a, b in zip(alone, one):
        np.testing.assert_allclose(np.squeeze(b), a, rtol=1e-10, atol=1e-15)


def _mvn_logpdf(r: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(r; 0, cov) for a stack of covariances (cells, n, n)."""
    logdet = np.linalg.slogdet(cov)[1]
    quad = np.einsum("i,ci->c", r, np.linalg.solve(cov, np.broadcast_to(r, cov.shape[:-1])[..., None])[..., 0])
    return -0.5 * (r.size * np.log(2 * np.pi) + logdet + quad)


@pytest.mark.parametrize("drift", [False, True])
def test_the_log_evidence_is_the_grid_mean_of_the_residuals_density(drift):
    # brute force: two nested fits of one family (each fit's rows share z; with a drift every
    # row also shares m ~ N(0, S^2)), the dense covariance's density averaged over the grid
    rng = np.random.default_rng(5)
    groups = np.repeat([0, 1], 4)
    s, d = rng.uniform(0.005, 0.02, 8), np.tile([0.2, 0.5, 0.9, 1.4], 2)
    r = 0.01 * _grow(d) + 0.02 * d + rng.normal(0, 0.01, 8)
    result, log_evidence = post.shared_error_posterior(r, s, d, None, groups, drift=drift, evidence=True)
    weights = result[0] if drift else result
    np.testing.assert_allclose(weights, post.shared_error_posterior(r, s, d, None, groups, drift=drift)[0]
                               if drift else post.shared_error_posterior(r, s, d, None, groups))
    sd = post.scale_grid(False).reshape(-1, 2)
    v = np.stack([_grow(d), d], axis=1)
    same = (groups[:, None] == groups[None, :]).astype(float)
    scatter = np.einsum("ik,ck,jk->cij", v, sd**2, v)  # V S^2 V' of each cell
    cov = np.diag(s**2) + scatter * same + (scatter if drift else 0.0)
    cells = _mvn_logpdf(r, cov)
    expected = cells.max() + np.log(np.mean(np.exp(cells - cells.max())))
    assert log_evidence == pytest.approx(expected, abs=1e-6)
    # misses twice as large are less likely under any error scale
    _, worse = post.shared_error_posterior(2 * r, s, d, None, groups, drift=drift, evidence=True)
    assert worse < log_evidence


def test_a_drift_per_family_moves_each_family_and_a_new_one_by_the_prior():
    weights = np.zeros((GRID.size, GRID.size))
    weights[40, 40] = 1.0  # kappa = tau = 0.01
    drift = np.array([[0.02, 0.0], [-0.03, 0.01]])
    cov = np.stack([np.diag([1e-8, 1e-8])] * 2)
    error = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,), None, drift, cov)
    inputs = {"N": np.full(5, 1e9), "D": np.full(5, 1e12)}  # C 6e21: log distance ~ 8.7
    family = np.array([0, 1, 1, -1, 0])
    offsets = error.log_offsets(inputs, 4000, seed=4, family=family)
    distance = error.distance(inputs)
    expected = drift[family.clip(0)][:, 0] + drift[family.clip(0)][:, 1] * distance
    plain = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,)).log_offsets(inputs, 4000, seed=4)
    moved = offsets - plain  # the drift alone: the scatter draws are the same
    np.testing.assert_allclose(moved[:, [0, 1, 2, 4]].mean(axis=0), expected[[0, 1, 2, 4]], atol=2e-4)
    np.testing.assert_allclose(moved[:, 1], moved[:, 2])  # rows of one family share their draw
    # the new family's drift is the prior's: mean 0, sd sqrt(kappa^2 + tau^2 d^2)
    assert abs(moved[:, 3].mean()) < 0.01
    assert moved[:, 3].std() == pytest.approx(0.01 * np.sqrt(1 + distance[3] ** 2), rel=0.05)
    again = ex.ExtrapolationErrorModel.from_dict(error.to_dict())
    np.testing.assert_allclose(again.drift, drift)
    np.testing.assert_allclose(again.drift_cov, cov)
    assert error.describe(["web", "code"]).endswith(
        "; drift per family: web: offset +0.02, slope change +0; code: offset -0.03, slope change +0.01")
    assert "drift" not in error.describe(["web", "code"], per_family=False)
    table = error.drift_table(["web", "code"])
    assert list(table.index) == ["web", "code"] and list(table.columns) == ["offset", "slope change"]
    np.testing.assert_allclose(table.to_numpy(), drift)


@pytest.mark.parametrize(("drift", "sd", "expected"), [
    # offset + slope change one e-fold beyond: +0.10 in log, sure: warned, naming the family
    ([[0.02, 0.0], [0.06, 0.04]], 0.01, ("code", "11% above")),
    ([[-0.08, -0.02], [0.0, 0.0]], 0.01, ("web", "10% below")),
    ([[0.02, 0.0], [0.03, 0.01]], 0.01, None),  # 4%: a law that holds, slightly bent
    ([[0.02, 0.0], [0.06, 0.04]], 0.06, None),  # large but unsure (sd 0.085 > half of 0.10)
])
def test_a_large_sure_drift_is_warned_about(drift, sd, expected):
    from bayeslaw.infer.extrapolation_checks import warn_if_drifting

    weights = np.zeros((GRID.size, GRID.size))
    weights[40, 40] = 1.0
    cov = np.stack([np.diag([sd**2, sd**2])] * 2)
    error = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,), None, np.array(drift), cov)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_drifting(error, ("web", "code"))
    messages = [] if expected is None else [(
        f"the law misses its own larger runs of family '{expected[0]}': they came out {expected[1]} "
        "what fits on the smaller runs predicted (the drift 1 e-fold of C beyond the data, sd 0.01 in "
        "log); predictions beyond the data move by it, but the law may not hold at these sizes: "
        "compare other laws on the largest runs (bl.compare(fits, method='largest'))")]
    assert [str(w.message) for w in caught] == messages
    assert all(w.category is bl.DataWarning for w in caught)


def test_a_fit_of_several_families_predicts_each_with_its_own_drift(family_fit):
    error = family_fit.extrapolation
    assert error is not None and error.drift.shape[0] == len(family_fit.families) >= 2
    plain = replace(family_fit, config={k: v for k, v in family_fit.config.items() if k != "extrapolation"})
    far = family_fit.table.frame.sort_values("N").tail(1)
    rows = pd.concat([far.assign(N=far["N"] * 30, D=far["D"] * 30, family=name) for name in family_fit.families[:2]])
    moved = np.log(family_fit.predictive_draws(rows, kind="law", seed=1)) \
        - np.log(plain.predictive_draws(rows, kind="law", seed=1))
    inputs = {"N": rows["N"].to_numpy(float), "D": rows["D"].to_numpy(float)}
    d, u = error.distance(inputs), np.log(inputs["D"] / inputs["N"]) - error.tilt_center
    centre = error.drift[:2, 0] + error.drift[:2, 1] * d + error.drift[:2, 2] * u
    np.testing.assert_allclose(np.median(moved, axis=0), centre, atol=0.02)
    assert not np.allclose(error.drift[0], error.drift[1])


def test_nested_fits_of_a_hierarchy_hardly_move_with_their_seed(family_fit):
    """Nested fits of a five-family hierarchy: their chains use the full fit's metric, their
    held-out predictions move with the seed by a small fraction of their own scale (a Laplace
    approximation reweighted by importance sampling moved them by 0.7 scales at the median
    and by up to 10: its weights left a few effective draws of 1000)."""
    from bayeslaw.infer.nested_fits import CHAINS, DRAWS, nested_fits

    first, second = (ex.nested_residuals(family_fit, seed=seed) for seed in (0, 1))
    np.testing.assert_array_equal(first["row"], second["row"])
    # converged, the smallest nested fit too (at 16 leapfrog steps it reached R-hat 1.3-1.45)
    assert first["r_hat"].max() < NESTED_R_HAT_LIMIT, first.groupby("n_fit")["r_hat"].first()
    moved = np.abs(first["residual"] - second["residual"]) / first["scale"]
    assert np.median(moved) < 0.25 and moved.max() < 2.0, (np.median(moved), moved.max())
    assert 0.9 < np.median(first["scale"] / second["scale"]) < 1.1
    keys = ex.key_values(family_fit.table.inputs, "C")
    nested = nested_fits(family_fit, (keys < np.median(keys))[None], seed=0)[0]
    assert nested.samples["alpha"].shape == (CHAINS, DRAWS)
    assert nested.sample_stats["diverging"].mean() < 0.01
    assert 1.0 < nested.config["max_r_hat"] < 1.05
    assert np.all(nested.fitted_rows == (keys < np.median(keys)))


def test_an_unconverged_nested_fit_is_recorded_and_warned_about(family_fit, monkeypatch):
    from bayeslaw.infer import extrapolation_checks

    monkeypatch.setattr(extrapolation_checks, "NESTED_R_HAT_LIMIT", 1.0)  # every nested fit now counts as unconverged
    with pytest.warns(bl.ConvergenceWarning, match=r"^the extrapolation error's nested fit on the \d+ "
                      r"runs below C = \S+ did not converge \(R-hat 1\.\d\d\): intervals beyond the "
                      r"fitted runs rest on it; extrapolation=False leaves the error out$"):
        error, _ = ex.measure(family_fit)
    assert 1.0 < error.nested_r_hat < 1.1
    assert ex.ExtrapolationErrorModel.from_dict(error.to_dict()).nested_r_hat == error.nested_r_hat


def test_an_unconverged_batched_nested_fit_is_refitted_by_the_refit_function(tiny_family_fit, monkeypatch):
    from bayeslaw.infer import nested_refits
    from bayeslaw.results.diagnostics import largest_r_hat

    fit = tiny_family_fit
    # batched nested fits stand in as copies of the fit; the first one's chains "did not mix"
    monkeypatch.setattr(nested_refits, "nested_fits", lambda f, masks, seed=0: [
        replace(f, fitted_rows=m, config={**f.config, "max_r_hat": 2.0 if k == 0 else 1.01})
        for k, m in enumerate(masks)])
    calls = []

    def refit(law, frame, **kwargs):
        calls.append((frame, kwargs))
        warnings.warn("a refit's own warning", bl.ConvergenceWarning)
        return fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        points = ex.nested_residuals(fit, refit=refit)
    assert not [w for w in caught if issubclass(w.category, bl.ConvergenceWarning)]  # measure() says it
    keys = ex.snap_keys(ex.key_values(fit.table.inputs, "C"))
    first = points["cutoff"].min()
    assert len(calls) == 1
    frame, kwargs = calls[0]
    assert len(frame) == int((keys < first).sum())
    assert kwargs["extrapolation"] is False and kwargs["chains"] == fit.config["chains"]
    assert kwargs["draws"] == min(fit.config["draws"], nested_refits.DRAWS)
    r_hat = points.groupby("cutoff")["r_hat"].first()
    assert r_hat[first] == pytest.approx(largest_r_hat(fit.diagnostics()))
    assert (r_hat.drop(first) == 1.01).all()
    # without a refit function (a pooling candidate's measurement) the chains stand, and are flagged
    assert ex.nested_residuals(fit).groupby("cutoff")["r_hat"].first()[first] == 2.0


def test_drift_moves_predictions_beyond_the_data_only_and_is_saved():
    weights = np.zeros((GRID.size, GRID.size, TILT_GRID.size))
    weights[0, 0, 0] = 1.0  # scatter at the grid floor: the drift is what moves the rows
    drift, cov = np.array([-0.01, -0.02, 0.005]), np.diag([1e-8, 1e-8, 1e-8])
    error = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,), np.log(20.0), drift, cov)
    N = np.array([1e8, 1e9, 1e9])
    D = np.array([1e10 / 6 / 1e8, 20e9, 80e9])  # inside the data; C 1.2e20 at D/N 20 and 80
    inputs = {"N": N, "D": D}
    offsets = error.log_offsets(inputs, 400, seed=2)
    assert np.all(offsets[:, 0] == 0)
    distance = error.distance(inputs)
    expected = drift[0] + drift[1] * distance + drift[2] * (np.log(D / N) - np.log(20.0))
    np.testing.assert_allclose(offsets[:, 1:].mean(axis=0), expected[1:], atol=1e-3)
    # the scatter draws are the same with or without the drift: a drift only moves the centre
    plain = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,), np.log(20.0))
    np.testing.assert_allclose((offsets - plain.log_offsets(inputs, 400, seed=2)).std(axis=0), 0, atol=1e-3)
    again = ex.ExtrapolationErrorModel.from_dict(error.to_dict())
    np.testing.assert_allclose(again.drift, drift)
    np.testing.assert_allclose(again.drift_cov, cov)
    assert error.describe().endswith("; shared drift offset -0.01, slope change -0.02, tilt +0.005")
    assert error.drift_table() is None  # a shared drift is in the sentence
    assert ex.ExtrapolationErrorModel.from_dict(plain.to_dict()).drift is None


def test_offsets_are_zero_inside_the_data_and_grow_with_distance():
    weights = np.zeros((GRID.size, GRID.size))
    weights[0, 40] = 1.0  # kappa 1e-4, tau 0.01
    error = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,))
    inputs = {"N": np.array([1e8, 1e9, 1e10]), "D": np.array([1e10, 1e10, 1e11]) / 6}  # C 1e18, 1e19, 1e21
    distance = error.distance(inputs)
    np.testing.assert_allclose(distance, [0.0, np.log(10.0), np.log(1e3)])
    offsets = error.log_offsets(inputs, 500, seed=1)
    assert offsets.shape == (500, 3) and np.all(offsets[:, 0] == 0)
    # one offset (kappa z1) and one slope change (tau z2) per draw, shared by the rows
    slope = (offsets[:, 2] - offsets[:, 1]) / (distance[2] - distance[1])
    offset = offsets[:, 1] - slope * distance[1]
    assert 0.8e-4 < offset.std() < 1.2e-4
    assert 0.008 < slope.std() < 0.012
    assert ex.ExtrapolationErrorModel.from_dict(error.to_dict()).tau_median == error.tau_median


def test_a_row_beyond_the_data_in_one_size_axis_alone_is_extrapolated():
    # fitted runs up to N 1e9, D 2e10, C 1.2e20: a 1e10-parameter model on 1e9 tokens (C 6e19)
    # lies inside the data in compute and a decade beyond it in N, 1e12 tokens on a 1e8 model a
    # decade and a half beyond in D: each is as far out as its farthest axis, and its interval
    # widens by that distance; the drift, learnt along the key, moves it by its distance in C
    weights = np.zeros((GRID.size, GRID.size))
    weights[40, 40] = 1.0  # kappa 0.01, tau 0.01
    fitted = {"N": np.array([1e8, 1e9]), "D": np.array([2e10, 2e10])}
    axes = ex.size_axes(("N", "D"), "C")
    assert axes == ("C", "N", "D") and ex.size_axes(("N", "D", "U"), "N") == ("N", "D", "C")
    assert ex.size_axes(("C",), "C") == ("C",)
    frontier = dict(zip(axes, ex.log_sizes(fitted, axes).max(axis=0)))
    error = ex.ExtrapolationErrorModel("C", frontier["C"], weights, 10, (1e17,), frontier=frontier)
    rows = {"N": np.array([5e8, 1e10, 1e8, 2e9]), "D": np.array([1e10, 1e9, 1e12, 2e10])}
    np.testing.assert_allclose(error.distance(rows), [0.0, np.log(10.0), np.log(50.0), np.log(2.0)])
    offsets = error.log_offsets(rows, 400, seed=0)
    assert np.all(offsets[:, 0] == 0) and offsets[:, 1].std() > 0.01
    # a fit saved before the frontier measures along the key alone: the big model on few tokens
    # lies inside the data and gets no error
    along_key = ex.ExtrapolationErrorModel("C", frontier["C"], weights, 10, (1e17,))
    np.testing.assert_allclose(along_key.distance(rows)[:2], [0.0, 0.0])
    again = ex.ExtrapolationErrorModel.from_dict(error.to_dict())
    assert again.frontier == pytest.approx(frontier) and list(again.frontier) == list(axes)
    drifting = replace(error, drift=np.array([0.0, 0.05]), drift_cov=np.diag([1e-12, 1e-12]))
    # C 3e19, 6e19, 6e20, 2.4e20: the key distances are 0, 0, log 5 and log 2
    np.testing.assert_allclose(drifting.key_distance(rows), [0.0, 0.0, np.log(5.0), np.log(2.0)])
    shift = drifting.log_offsets(rows, 400, seed=0) - offsets  # the same scatter draws
    np.testing.assert_allclose(shift, np.broadcast_to(0.05 * drifting.key_distance(rows), shift.shape), atol=1e-4)
    assert ex.ExtrapolationErrorModel.from_dict(along_key.to_dict()).frontier is None


def test_error_posterior_takes_a_tilt_or_a_bias_not_both():
    r = np.zeros(3)
    with pytest.raises(ValueError, match=r"^error_posterior takes tilts or biases, not both$"):
        post.error_posterior(r, r + 0.01, r, tilts=r, biases=np.linspace(-0.1, 0.1, 5))


def test_error_posterior_recovers_a_tilt_across_the_key():
    # residuals that tilt with the perpendicular position u (runs with many vs few tokens per
    # parameter missed in opposite directions): eta is recovered, and kappa does not absorb it
    rng = np.random.default_rng(2)
    d, u = rng.uniform(0.1, 2.0, 400), rng.uniform(-2.0, 2.0, 400)
    s = np.full(400, 0.005)
    for eta in (0.0, 0.02):
        r = rng.normal(0.0, np.sqrt(s**2 + 0.004**2 + (eta * u) ** 2))
        weights = post.error_posterior(r, s, d, u)
        assert weights.shape == (GRID.size, GRID.size, TILT_GRID.size)
        error = ex.ExtrapolationErrorModel("C", 0.0, weights, 400, (), 0.0)
        if eta:
            assert 0.7 * eta < error.eta_median < 1.4 * eta
        else:
            assert error.eta_median < 0.002
        assert error.kappa_median < 0.008


def test_tilt_offsets_are_shared_scaled_by_position_and_saved():
    weights = np.zeros((GRID.size, GRID.size, TILT_GRID.size))
    weights[0, 0, 10] = 1.0  # kappa = tau = 1e-4, eta 0.01
    error = ex.ExtrapolationErrorModel("C", np.log(1e18), weights, 10, (1e17,), tilt_center=np.log(20.0))
    N = np.array([1e8, 1e9, 1e9, 1e9])
    D = np.array([1e10 / 6 / 1e8, 20e9, 80e9, 5e9])  # first row inside the data; D/N 20, 80, 5
    inputs = {"N": N, "D": D}
    np.testing.assert_allclose(ex.tilt_values(inputs, "C"), np.log(D / N))
    np.testing.assert_allclose(ex.tilt_values(inputs, "N"), np.log(D))
    assert ex.tilt_values({"N": N}, "N") is None and ex.tilt_values({"C": N}, "C") is None
    offsets = error.log_offsets(inputs, 2000, seed=3)
    assert np.all(offsets[:, 0] == 0)
    # D/N 80 and 5 sit log(4) either side of the centre 20: equal and opposite tilts per draw
    tilt = offsets - offsets[:, [1]]
    np.testing.assert_allclose(tilt[:, 2], -tilt[:, 3], atol=1e-12)
    assert 0.8 * 0.01 * np.log(4) < tilt[:, 2].std() < 1.2 * 0.01 * np.log(4)
    again = ex.ExtrapolationErrorModel.from_dict(error.to_dict())
    assert again.eta_median == error.eta_median and again.tilt_center == error.tilt_center
    assert "tilt eta 0.01 per unit log D/N" in error.describe()
    # a fit saved before the tilt term: a (kappa, tau) grid, no shape, no centre
    old = {k: v for k, v in error.to_dict().items() if k not in ("shape", "tilt_center")}
    old["weights"] = list(np.full(GRID.size**2, 1.0))
    assert ex.ExtrapolationErrorModel.from_dict(old).eta_median is None


def test_nested_cutoffs_keep_enough_runs_below():
    keys = np.repeat([1e18, 2e18, 4e18, 8e18, 1.6e19], 4)
    cutoffs = ex.nested_cutoffs(keys, 3)
    assert cutoffs == sorted(set(cutoffs)) and cutoffs
    assert all((keys < c).sum() >= ex.MIN_TRAIN_RUNS and (keys >= c).any() for c in cutoffs)
    assert ex.nested_cutoffs(keys[:6], 3) == []


def test_nested_cutoffs_need_three_distinct_sizes_below():
    # four model sizes with many token counts each (gadre): below 1.5e8 there are two sizes only,
    # so N's slope is not identified and that cutoff is skipped; 4e8 is kept although
    # exp(quantile(log N)) lands a rounding error above it
    keys = np.repeat([1.0569312e7, 7.8914048e7, 1.53677376e8, 4.11616256e8], 24)
    assert ex.nested_cutoffs(keys, 3) == [4.11616256e8]
    assert ex.nested_cutoffs(np.repeat([1e7, 1e8, 1e9], 24), 3) == []


def test_budgets_computed_as_6nd_are_one_size_each():
    # isoFLOP points: C = 6 N D of a budget differs in its last digits from run to run
    budgets = np.repeat([1e16, 2e16, 4e16, 8e16], 6)
    keys = budgets * (1 + 1e-13 * np.tile(np.arange(6) - 2.5, 4))
    snapped = ex.snap_keys(keys)
    np.testing.assert_allclose(snapped, budgets, rtol=1e-12)
    assert len(np.unique(snapped)) == 4 and np.all(snapped <= keys)
    # unsnapped, a budget's runs count as six sizes and the first cutoff splits the second budget
    first = ex.nested_cutoffs(keys, 3)[0]
    assert 0 < np.sum((keys < first) & (budgets == 2e16)) < 6
    # snapped, the one cutoff keeps three budgets below it and the largest whole above it
    cutoffs = ex.nested_cutoffs(snapped, 3)
    assert cutoffs == [snapped.max()]
    np.testing.assert_array_equal(snapped >= cutoffs[0], budgets == 8e16)


def test_a_posterior_that_is_not_finite_is_refused_not_carried_into_predictions(tiny_family_fit, monkeypatch):
    # residuals of a nested fit whose keys span 2.5e-10 in log (one isoFLOP budget before keys
    # were snapped): stretched distances ~1e10 overflow the grid's determinants
    rng = np.random.default_rng(0)
    rows = np.flatnonzero(np.asarray(tiny_family_fit.table.family_index) == 0)[:20]
    points = pd.DataFrame({"cutoff": 1e20, "residual": rng.normal(0, 0.04, 20), "scale": 0.035,
                           "distance": np.tile([0.69, 1.39, 2.08, 2.77], 5), "tilt": rng.normal(0, 1, 20),
                           "span": 2.5e-10, "n_fit": 8, "r_hat": 1.01, "row": rows})
    monkeypatch.setattr(ex, "nested_residuals", lambda *args, **kwargs: points)
    with np.errstate(all="ignore"), pytest.raises(FitError, match=re.escape(
            "cannot calibrate the extrapolation error: its posterior over the nested residuals is "
            "not finite (residuals or scales out of floating-point range)")):
        ex.measure(tiny_family_fit)


def test_nested_residuals_are_read_on_the_full_fits_span():
    # residuals of nested fits spanning a quarter and half the full log range, drawn with the
    # slope change those fits have (tau * full / span): on the full fit's footing tau is recovered,
    # on the raw distances it is overstated about threefold
    rng = np.random.default_rng(4)
    tau, full = 0.02, 4.0
    span = np.repeat([1.0, 2.0], 300)
    d = rng.uniform(0.2, 1.5, 600)
    s = np.full(600, 0.005)
    r = rng.normal(0.0, np.sqrt(s**2 + (tau * d * full / span) ** 2))
    points = pd.DataFrame({"residual": r, "scale": s, "distance": d, "span": span})
    np.testing.assert_allclose(post.effective_distances(points, full), d * full / span)
    stretched = ex.ExtrapolationErrorModel("N", 0.0, post.error_posterior(r, s, post.effective_distances(points, full)),
                                           600, ())
    raw = ex.ExtrapolationErrorModel("N", 0.0, post.error_posterior(r, s, d), 600, ())
    assert 0.75 * tau < stretched.tau_median < 1.3 * tau
    assert raw.tau_median > 2.2 * tau


def test_bad_keys_and_laws_are_refused():
    with pytest.raises(FitError, match=re.escape(
            "extrapolation key 'T' is not an input of law 'chinchilla'; use one of: N, D or 'C' (6 N D)")):
        ex.check_key(bl.load_law("chinchilla"), "T")
    with pytest.raises(FitError, match=re.escape(
            "extrapolation error needs a law with a log-space likelihood (a loss); "
            "law 'accuracy_sigmoid' has a linear-space likelihood")):
        ex.check_key(bl.load_law("accuracy_sigmoid"), "C")
    runs = pd.DataFrame({"N": [1e8, 1e9], "D": [1e9, 1e10], "loss": [3.0, 2.5]})
    with pytest.raises(FitError, match=re.escape("extrapolation key 'T' is not an input")):
        bl.backtest("chinchilla", runs, 1e18, extrapolation="T")


def _bending_runs(n: int, seed: int) -> pd.DataFrame:
    """Runs whose N exponent drifts with scale: the Chinchilla form is wrong beyond the data."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = N * np.exp(rng.uniform(np.log(5), np.log(100), n))
    alpha = 0.34 - 0.015 * (np.log(N) - np.log(1e7))
    law = 1.7 + np.exp(6.0 - alpha * np.log(N)) + np.exp(6.5 - 0.28 * np.log(D))
    return pd.DataFrame({"N": N, "D": D, "loss": law * np.exp(rng.normal(0, 0.01, n))})


@pytest.fixture(scope="module")
def bending():
    runs = _bending_runs(60, seed=3)
    key = 6 * runs["N"] * runs["D"]
    cutoff = np.quantile(key, 0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        plain = bl.fit("chinchilla", runs[key < cutoff], extrapolation=False, **SETTINGS)
        calibrated = bl.calibrate_extrapolation(plain, folds=2)
    return runs[key >= cutoff], plain, calibrated


def _coverage(fit, held, level):
    draws = fit.predictive_draws(held[["N", "D"]], seed=1)
    lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(((held["loss"] >= lower) & (held["loss"] <= upper)).mean()), upper - lower


@pytest.mark.heavy
def test_calibrated_intervals_cover_a_bending_law_the_posterior_misses(bending):
    held, plain, calibrated = bending
    error = calibrated.extrapolation
    assert error is not None and plain.extrapolation is None
    # a slope change is detected: tau well above the grid floor (1e-4)
    assert len(error.cutoffs) == 2 and error.tau_median > 0.002
    for level in (0.8, 0.95):
        plain_cov, plain_width = _coverage(plain, held, level)
        cal_cov, cal_width = _coverage(calibrated, held, level)
        assert cal_width.mean() > 1.5 * plain_width.mean()
        # 18 held-out runs: the calibrated intervals cover more than the posterior's and come
        # within 15 points of nominal. (This asked for 30 points above the posterior's before
        # nested distances were stretched to the full fit's range, which lowers tau: now the
        # posterior covers 50% at the 80% level, the calibrated intervals 67%.)
        assert cal_cov > plain_cov and cal_cov >= level - 0.15, (level, plain_cov, cal_cov)


@pytest.mark.heavy
def test_drift_moves_the_prediction_toward_a_law_that_bends_beyond_the_data(bending):
    # the N exponent falls with scale, so the fixed form under-predicts the larger runs more the
    # farther they lie: the nested fits all miss that way, the drift's slope change is positive,
    # and the calibrated median misses the held-out runs by less than the posterior's
    held, plain, calibrated = bending
    assert calibrated.extrapolation.drift[1] > 0
    rows = held[["N", "D"]]
    miss = {name: np.log(held["loss"].to_numpy() / fit.predict(rows, seed=1)["median"].to_numpy())
            for name, fit in (("plain", plain), ("calibrated", calibrated))}
    assert miss["plain"].mean() > 0
    assert 0 < miss["calibrated"].mean() < 0.9 * miss["plain"].mean(), miss
    assert np.median(np.abs(miss["calibrated"])) < np.median(np.abs(miss["plain"]))


@pytest.mark.heavy
def test_predictions_inside_the_data_are_unchanged_and_the_error_is_saved(bending, tmp_path):
    _, plain, calibrated = bending
    inside = plain.table.frame[["N", "D"]].iloc[:5]
    np.testing.assert_array_equal(plain.predictive_draws(inside, seed=2),
                                  calibrated.predictive_draws(inside, seed=2))
    calibrated.save(tmp_path / "fit.nc")
    loaded = bl.load_fit(tmp_path / "fit.nc")
    assert loaded.extrapolation.tau_median == calibrated.extrapolation.tau_median
    assert loaded.extrapolation.nested_r_hat == calibrated.extrapolation.nested_r_hat < 1.1
    far = pd.DataFrame({"N": [7e10], "D": [1.4e12]})
    np.testing.assert_allclose(loaded.predictive_draws(far, seed=4), calibrated.predictive_draws(far, seed=4))


@pytest.mark.heavy
def test_nested_residuals_name_the_held_out_row_of_the_fit(bending):
    _, plain, _ = bending
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        points = ex.nested_residuals(plain, folds=1)
    keys = ex.key_values(plain.table.inputs, "C")
    cutoff = points["cutoff"].iloc[0]
    np.testing.assert_array_equal(points["row"], np.flatnonzero(keys >= cutoff))
    np.testing.assert_allclose(points["distance"], np.log(keys[points["row"]] / keys[keys < cutoff].max()))


@pytest.mark.heavy
def test_batched_nested_fits_agree_with_mcmc_refits(bending):
    """The default nested fits (short chains, one batched program) give the residuals and
    predictive scales that MCMC refits of the same runs give."""
    _, plain, _ = bending
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        batched = ex.nested_residuals(plain, folds=1)
        mcmc = ex.nested_residuals(plain, folds=1, method="mcmc", refit=bl.fit)
    np.testing.assert_array_equal(batched["row"], mcmc["row"])
    scale = mcmc["scale"].to_numpy()
    assert np.all(np.abs(batched["residual"] - mcmc["residual"]) < 0.5 * scale + 2e-3)
    ratio = np.median(batched["scale"] / scale)
    assert 0.6 < ratio < 1.6, ratio


@pytest.mark.heavy
def test_fit_measures_the_extrapolation_error_by_default(bending):
    runs = bending[1].table.frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fit = bl.fit("chinchilla", runs, **SETTINGS)
    assert fit.extrapolation is not None and fit.extrapolation.by == "C"
    assert fit.timings["extrapolation_s"] > 0
    far = fit.predict({"N": 7e10, "D": 1.4e12})
    assert far["beyond_C"].iloc[0] > 1 and far["beyond_N"].iloc[0] > 0.5
    inside = fit.predict(runs[["N", "D"]].iloc[:3])
    assert (inside[["beyond_N", "beyond_D", "beyond_C"]].to_numpy() == 0).all()


@pytest.mark.heavy
def test_too_few_runs_skip_the_default_error_and_say_why():
    runs = _bending_runs(7, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bl.ConvergenceWarning)
        fit = bl.fit("chinchilla", runs, **SETTINGS)
    assert fit.extrapolation is None
    assert fit.config["extrapolation_skipped"].startswith("cannot calibrate the extrapolation error")
    with pytest.raises(FitError, match="extrapolation must be 'auto', an input name or False"):
        bl.fit("chinchilla", runs, extrapolation=3, **SETTINGS)
