"""The vectorised R-hat / ESS give ArviZ's numbers: AR(1) chains, ties, constants, NaN, odd draws."""

import warnings

import numpy as np
import pytest
from arviz.stats.diagnostics import _ess_bulk, _ess_tail, _rhat_rank

from bayeslaw.core._arviz import az
from bayeslaw.results.diagnostics import diagnose
from bayeslaw.results.rank import rank_diagnostics


def ar1(rng, shape, phi):
    noise = rng.normal(size=shape)
    x = np.empty(shape)
    x[..., 0] = noise[..., 0]
    for t in range(1, shape[-1]):
        x[..., t] = phi * x[..., t - 1] + noise[..., t]
    return x


def awkward(rng, chains, draws, phi):
    """Six quantities: AR(1), rounded (ties), constant, binary, one NaN, shifted every other draw."""
    x = ar1(rng, (6, chains, draws), phi)
    x[1] = np.round(x[1])
    x[2] = 3.0
    x[3] = (x[3] > 0).astype(float)
    x[4, 0, 1] = np.nan
    x[5, :, ::2] += 5.0
    return x


def arviz_values(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [np.array([f(q) for q in x]) for f in (_rhat_rank, _ess_bulk, _ess_tail)]


@pytest.mark.parametrize("chains", [1, 2, 4])
@pytest.mark.parametrize("draws", [4, 5, 9, 33, 200])
@pytest.mark.parametrize("phi", [-0.5, 0.0, 0.9, 0.999])
def test_matches_arviz(chains, draws, phi):
    x = awkward(np.random.default_rng(chains * 1000 + draws), chains, draws, phi)
    mine = rank_diagnostics(x)
    ref = arviz_values(x)
    for name, a, b in zip(("r_hat", "ess_bulk", "ess_tail"), mine, ref, strict=True):
        if name == "r_hat" and chains == 1:
            assert np.isnan(a).all()
            continue
        np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True, err_msg=name)
    assert np.isnan(mine[1][4]) and mine[1][2] == chains * 2 * (draws // 2)  # NaN; constant -> size


def test_blocks_on_threads_give_the_same_numbers():
    # 600 quantities run as three blocks on a thread pool
    x = ar1(np.random.default_rng(5), (600, 4, 100), 0.7)
    x[17, 2, 3] = np.nan
    whole = rank_diagnostics(x)
    for i in (0, 17, 255, 256, 599):
        one = rank_diagnostics(x[i:i + 1])
        for a, b in zip(whole, one, strict=True):
            np.testing.assert_allclose(a[i], b[0], rtol=1e-12)  # FFT rounding only
    assert np.isnan(whole[0][17]) and np.isfinite(whole[0][16])


def test_diagnose_table_matches_arviz_dataset_functions():
    rng = np.random.default_rng(3)
    draws = {"alpha": ar1(rng, (4, 300), 0.5), "E_family": np.moveaxis(ar1(rng, (3, 4, 300), 0.8), 0, 2)}
    table = diagnose(draws)
    assert list(table.index) == ["alpha", "E_family[0]", "E_family[1]", "E_family[2]"]
    dataset = az.convert_to_dataset(draws)
    for col, value in (("r_hat", az.rhat(dataset)), ("ess_bulk", az.ess(dataset, method="bulk")),
                       ("ess_tail", az.ess(dataset, method="tail"))):
        expected = np.concatenate([np.atleast_1d(np.asarray(value[k])).ravel() for k in draws])
        np.testing.assert_allclose(table[col].to_numpy(), expected, rtol=1e-9)


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"need an array \(quantities, chains, draws >= 4\); got shape \(2, 3\)"):
        rank_diagnostics(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 3\)"):
        rank_diagnostics(np.zeros((1, 2, 3)))
