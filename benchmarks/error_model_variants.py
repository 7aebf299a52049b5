"""Two changes to the extrapolation error model, scored on the calibration report's held-out runs.

``bayeslaw.infer.extrapolation`` reads each nested fit as one draw of ``kappa * z1 + tau * d * z2 +
eta * u * z3`` under log-uniform priors on the three scales. Two changes that the calibration
report's misses suggested are measured here against it, in the same run, on the same fits,
nested residuals and predictive draws, so only the error posterior differs:

* **per-run term**: a fourth scale ``rho``, an error of each held-out run of its own (checkpoints
  of one training run share it): within a nested fit, residuals scatter more than their
  predictive scales say (gadre: sd 3.6% against scales of 2.3%).
* **prior from the other data sets**: where one or two nested fits decide (gadre, pythia) the
  log-uniform prior up to 1 keeps wide scales. Each data set gets a log-normal prior on the four
  scales (centres and widths by marginal likelihood, widths at least 0.3 decades) fitted to the
  nested residuals of the *other* five data sets; nested residuals come from fitted runs only,
  so no held-out run informs any prior.

Coverage per data set and pooled over all held-out units (a run with checkpoints counts once).
Uses the noise model the calibration report chose (``results/calibration.json``; one noise scale
where that file is absent). Writes ``results/error_model_variants.json``.

    python benchmarks/error_model_variants.py [--chains 4 --draws 500 --warmup 500]
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
from calibration_report import CASES, NOISE_INPUT, OUT, jeffreys
from scipy.optimize import minimize

from bayeslaw.evaluate.backtest import backtest
from bayeslaw.infer import extrapolation as ex
from bayeslaw.infer import extrapolation_posterior as post
from bayeslaw.results.extrapolation_error import GRID, TILT_GRID, _median

LEVELS = (0.5, 0.8, 0.95)
RHO_GRID = TILT_GRID
#: log10 grids of kappa, tau, eta, rho
LOG_GRIDS = [np.log10(g) for g in (GRID, GRID, TILT_GRID, RHO_GRID)]
MIN_PRIOR_WIDTH = 0.3  # decades: five data sets cannot pin a narrower spread


def log_likelihood(points, full_span, rho_grid) -> np.ndarray:
    """Log likelihood on the (kappa, tau, eta, rho) grid; rows of one nested fit share z1-z3,
    rows of one unit (a run, else a row) share the per-run term.

    :func:`bayeslaw.infer.extrapolation.shared_error_posterior` with ``diag(s^2)`` replaced by the
    block-diagonal ``diag(s^2) + rho^2 J_unit`` (Sherman-Morrison per unit).
    """
    r, s = points["residual"].to_numpy(), points["scale"].to_numpy()
    cols = [np.ones_like(r), post.effective_distances(points, full_span), points["tilt"].to_numpy(float)]
    sd = post.scale_grid(tilt=True)
    out = np.zeros(sd.shape[:-1] + (len(rho_grid),))
    groups, units = points["cutoff"].to_numpy(), points["unit"].to_numpy()
    for j, rho in enumerate(rho_grid):
        for g in np.unique(groups):
            at = groups == g
            x = np.stack([c[at] for c in cols] + [r[at]], axis=1)
            w = 1.0 / s[at] ** 2
            gram = x.T @ (w[:, None] * x)
            logdet = np.sum(np.log(s[at] ** 2))
            for unit in np.unique(units[at]):
                m = units[at] == unit
                wx = (w[m, None] * x[m]).sum(axis=0)
                gram -= rho**2 * np.outer(wx, wx) / (1 + rho**2 * w[m].sum())
                logdet += np.log1p(rho**2 * w[m].sum())
            # log det D now depends on rho: it stays in
            out[..., j] += post.woodbury_loglik(sd, gram[:3, :3], gram[:3, 3], gram[3, 3]) - 0.5 * logdet
    return out


def log_prior(theta) -> np.ndarray:
    """Independent normals on log10 of each scale (centres, log widths), normalised on the grid."""
    out = 0.0
    for i, grid in enumerate(LOG_GRIDS):
        lp = -0.5 * ((grid - theta[2 * i]) / np.exp(theta[2 * i + 1])) ** 2
        shape = [1, 1, 1, 1]
        shape[i] = -1
        out = out + (lp - np.log(np.exp(lp).sum())).reshape(shape)
    return out


def fit_prior(loglik: list[np.ndarray]) -> np.ndarray:
    """Empirical Bayes: the prior maximising the product of the data sets' marginal likelihoods."""
    peaks = [ll.max() for ll in loglik]

    def nll(theta):
        lp = log_prior(theta)
        return -sum(np.log(np.exp(ll - p + lp).sum()) for ll, p in zip(loglik, peaks))

    bounds = [(-4.0, 0.0), (np.log(MIN_PRIOR_WIDTH), np.log(3.0))] * 4
    return minimize(nll, np.array([-2.0, 0.0] * 4), bounds=bounds, method="L-BFGS-B").x


def posterior(log_weights: np.ndarray) -> np.ndarray:
    w = np.exp(log_weights - log_weights.max())
    return w / w.sum()


def offsets(case: dict, weights: np.ndarray, rho_grid: np.ndarray, seed: int = 0) -> np.ndarray:
    """Draws of delta (S, rows) for the held-out rows, as ExtrapolationErrorModel.log_offsets, plus
    ``rho * e`` with one ``e`` per held-out run (``rho`` on the weights' last axis)."""
    n = case["draws"].shape[0]
    rng = np.random.default_rng(seed)
    index = np.unravel_index(rng.choice(weights.size, size=n, p=weights.ravel()), weights.shape)
    kappa, tau, eta, rho = (grid[i] for grid, i in zip((GRID, GRID, TILT_GRID, rho_grid), index))
    d = case["distance"][None, :]
    beyond = d > 0
    z = rng.standard_normal((3, n, 1))
    _, unit = np.unique(case["units"], return_inverse=True)
    e = rng.standard_normal((n, unit.max() + 1))[:, unit]
    return ((kappa[:, None] * z[0] + eta[:, None] * z[2] * case["tilt"][None, :] + rho[:, None] * e) * beyond
            + tau[:, None] * z[1] * d)


def unit_coverage(case: dict, weights: np.ndarray, rho_grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per held-out unit, the share of its rows inside each central interval."""
    draws = case["draws"] * np.exp(offsets(case, weights, rho_grid))
    pit = (draws < case["observed"][None, :]).mean(axis=0)
    _, unit = np.unique(case["units"], return_inverse=True)
    return {f"{p:g}": np.array([(np.abs(pit - 0.5) <= p / 2)[unit == i].mean() for i in range(unit.max() + 1)])
            for p in LEVELS}


def medians(weights: np.ndarray, rho_grid: np.ndarray) -> dict[str, float]:
    grids = (GRID, GRID, TILT_GRID, rho_grid)
    return {name: _median(weights.sum(axis=tuple(j for j in range(4) if j != i)), grid)
            for i, (name, grid) in enumerate(zip(("kappa", "tau", "eta", "rho"), grids))}


def prepare(loader, law, cutoff, by, group, noise, settings) -> dict:
    """Fit below the cutoff, collect nested residuals and the held-out predictive draws."""
    frame = loader()
    kwargs = {"run": "run"} if "run" in frame.columns else {}
    if noise != "one sigma":
        kwargs["noise_trend"] = NOISE_INPUT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = backtest(law, frame, cutoff, by=by, group=group, seed=0, **settings, **kwargs)
        fit = result.fit
        key = by if by in ("N", "D") else "C"
        points = ex.nested_residuals(fit, by=key)
        held = result.table
        rows = held[list(fit.law.input_names)].copy()
        if group is not None:
            known = frame.loc[held.index, group].astype(str).isin(fit.families)
            rows[group] = frame.loc[held.index, group].astype(str).where(known, None)
        draws = fit.predictive_draws(rows, kind="observed", seed=0)
    keys = ex.key_values(fit.table.inputs, key)
    tilts = ex.tilt_values(fit.table.inputs, key)
    rows_fitted = points["row"].to_numpy()
    points["unit"] = (fit.table.frame["run"].astype(str).to_numpy()[rows_fitted] if "run" in kwargs
                      else rows_fitted)
    inputs = {k: held[k].to_numpy(float) for k in fit.law.input_names}
    return {"points": points, "full_span": ex.span(keys),
            "draws": draws, "observed": held["observed"].to_numpy(),
            "distance": np.maximum(np.log(ex.key_values(inputs, key) / keys.max()), 0.0),
            "tilt": ex.tilt_values(inputs, key) - np.median(tilts),
            "units": frame.loc[held.index, "run"].astype(str).to_numpy() if "run" in kwargs
            else np.arange(len(held))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    settings = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup}
    report = OUT / "calibration.json"
    chosen = {}
    if report.exists():
        chosen = {r["dataset"]: r["noise"]["chosen"] for r in json.loads(report.read_text())["results"]}
    cases = {}
    for name, loader, law, cutoff, by, group, _ in CASES:
        cases[name] = prepare(loader, law, cutoff, by, group, chosen.get(name, "one sigma"), settings)
        print(f"{name}: {len(cases[name]['points'])} nested residuals", flush=True)
    no_rho = np.array([0.0])
    shared = {n: log_likelihood(c["points"], c["full_span"], no_rho) for n, c in cases.items()}
    for n, c in cases.items():  # rho = 0 is the library's own posterior
        p = c["points"]
        library = post.shared_error_posterior(p["residual"].to_numpy(), p["scale"].to_numpy(),
                                              post.effective_distances(p, c["full_span"]),
                                              p["tilt"].to_numpy(float), p["cutoff"].to_numpy())
        np.testing.assert_allclose(posterior(shared[n])[..., 0], library, atol=1e-9)
    per_run = {n: log_likelihood(c["points"], c["full_span"], RHO_GRID) for n, c in cases.items()}
    priors = {n: fit_prior([ll for m, ll in per_run.items() if m != n]) for n in cases}
    variants = {
        "shared (bayeslaw)": ({n: posterior(ll) for n, ll in shared.items()}, no_rho),
        "+ per-run term": ({n: posterior(ll) for n, ll in per_run.items()}, RHO_GRID),
        "+ per-run term, prior from the other data sets":
            ({n: posterior(per_run[n] + log_prior(priors[n])) for n in cases}, RHO_GRID),
    }
    out = {"config": settings, "noise": chosen, "variants": {}}
    for label, (weights, rho_grid) in variants.items():
        rows, pooled = {}, {f"{p:g}": [] for p in LEVELS}
        for n, case in cases.items():
            shares = unit_coverage(case, weights[n], rho_grid)
            units = len(shares["0.5"])
            bounds = {p: jeffreys(v.sum(), units) for p, v in shares.items()}
            rows[n] = {"coverage": {p: float(v.mean()) for p, v in shares.items()}, "n_units": units,
                       "nominal_inside": {p: bool(lo <= float(p) <= hi) for p, (lo, hi) in bounds.items()},
                       "medians": medians(weights[n], rho_grid)}
            for p, v in shares.items():
                pooled[p].append(v)
        n_units = sum(len(v) for v in pooled["0.5"])
        total = {p: float(np.concatenate(v).sum()) for p, v in pooled.items()}
        out["variants"][label] = {
            "datasets": rows, "pooled": {"n_units": n_units, "coverage": {p: k / n_units for p, k in total.items()},
                                         "coverage_jeffreys90": {p: jeffreys(k, n_units) for p, k in total.items()}},
            "cells_nominal_inside": sum(v for r in rows.values() for v in r["nominal_inside"].values())}
        cov = out["variants"][label]["pooled"]["coverage"]
        print(f"{label}: pooled {' / '.join(f'{v:.0%}' for v in cov.values())} over {n_units} units; "
              f"nominal inside in {out['variants'][label]['cells_nominal_inside']} of {3 * len(rows)} cells")
        for n, r in rows.items():
            print(f"  {n:20s} {' / '.join(f'{v:.0%}' for v in r['coverage'].values())}  "
                  + " ".join(f"{k} {v:.3g}" for k, v in r["medians"].items()))
    out["priors"] = {n: {"log10_centre": [float(c) for c in th[::2]],
                         "log10_width": [float(np.exp(w)) for w in th[1::2]]} for n, th in priors.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "error_model_variants.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
