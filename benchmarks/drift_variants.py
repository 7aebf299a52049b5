"""The extrapolation error's drift on the peer-harness splits: none, shared, or trending.

One default fit per split (``bl.fit``'s settings, extrapolation off), one set of nested residuals
and the fit's plain predictive draws of the held-out runs; the extrapolation error is then built
three ways and applied to the same draws (``ExtrapolationErrorModel.log_offsets``, as
``fit.predict`` does), and the held-out runs are scored by the harness's metrics:

* ``none``: a zero-mean error that only widens intervals (``calibrate(drift=False)``);
* ``drift``: the library's default, one drift ``m`` shared by every nested fit and the full fit;
* ``trend``: the drift may change with the nested fit's size, ``m + t_g m'`` with ``t_g`` the log
  of nested fit g's cutoff over the full fit's largest key and ``m' ~ Normal(0, S^2 / L^2)``,
  ``L`` = ``--trend-length`` x the fit's log span; the full fit gets the drift at ``t = 0``;
* ``drift3``: the default drift with a prior three times as wide, ``m ~ Normal(0, 9 S^2)``;
* ``fixed``: the default drift with a prior of its own, not tied to the nested fits' scatter:
  sds :data:`FIXED_DRIFT_SD` (offset, slope change per unit log C, tilt per unit log D/N);
* ``ramp``: the default drift, with the offset and tilt terms (scatter and drift) growing in
  linearly over ``--onset`` units of log C beyond the data instead of jumping in at its edge
  (``V = [g(d), d, u g(d)]``, ``g(d) = min(d / onset, 1)``), in the nested fits and the prediction.

Where a split has several families, ``none``, ``drift``, ``drift3``, ``fixed`` and ``ramp`` give
each family its own drift, as ``bl.fit`` does (``trend`` keeps one for all).

    python benchmarks/drift_variants.py chinchilla,olmo_ladder,steplaw,gadre_overtraining,\
porian_isoflop,datablations,pythia [--variants none,drift,trend,drift3,fixed,ramp] [--onset 1] \
[--cache DIR] [--out STEM]

``--cache`` keeps each split's fit, residuals and draws (a pickle per split), so a rerun that
changes only the error model skips the fits. Writes ``results/STEM.json`` (default
``drift_variants``).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import data as pdata
from peers.metrics import score

import bayeslaw as bl
from bayeslaw.infer import extrapolation as ex
from bayeslaw.infer import extrapolation_posterior as post
from bayeslaw.results.extrapolation_error import ExtrapolationErrorModel
from bayeslaw.results.sizes import key_values, tilt_values

LEVELS = (0.5, 0.8, 0.95)
VARIANTS = ("none", "drift", "trend", "drift3", "fixed", "ramp")
#: prior sds of the ``fixed`` variant's drift: 5% offset, 5% per unit log C of slope change, 2%
#: per unit log D/N of tilt (log loss), weakly informative at the scale of a law's misses
FIXED_DRIFT_SD = np.array([0.05, 0.05, 0.02])
OUT = Path(__file__).resolve().parent / "results" / "drift_variants.json"


def collect(name: str, split: str, cache: Path | None) -> dict | None:
    """One split's default fit (extrapolation off): nested residuals, the keys and tilts of its
    runs, plain predictive draws and observed losses of the held-out runs; None when skipped."""
    path = None if cache is None else cache / f"{name}_{split}.pkl"
    if path is not None and path.exists():
        return pickle.loads(path.read_bytes())
    data = pdata.datasets()[name]
    sp = pdata.make_split(pdata.load(data), pdata.SPLITS[split])
    if sp.skip:
        return None
    group = data.group if data.group and sp.train[data.group].nunique() > 1 else None
    cols = ["N", "D"] + ([group] if group else [])
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bl.fit("chinchilla", sp.train, group=group, seed=0, extrapolation=False, progress=False)
        points = ex.nested_residuals(fit, by="C")
        draws = np.asarray(fit.predictive_draws(sp.test[cols], kind="observed", seed=0))
    families = np.asarray(fit.table.family_index)[points["row"].to_numpy()] if len(fit.families) > 1 else None
    known = list(fit.families)
    test_family = (np.array([known.index(v) if v in known else -1 for v in sp.test[group]])
                   if families is not None else None)
    case = {"dataset": name, "split": split, "pts": points, "families": families,
            "n_families": len(fit.families), "test_family": test_family,
            "keys": key_values(fit.table.inputs, "C"), "tilts": tilt_values(fit.table.inputs, "C"),
            "draws": draws, "obs": sp.test["loss"].to_numpy(float),
            "test_inputs": {k: sp.test[k].to_numpy(float) for k in ("N", "D")},
            "seconds": time.time() - started}
    if path is not None:
        path.write_bytes(pickle.dumps(case))
    return case


def trend_posterior(residuals, scales, distances, tilts, groups, positions, length):
    """:func:`~bayeslaw.infer.extrapolation_posterior.shared_error_posterior` with the drift
    ``m + t_g m'``: each group's drift information is stacked as ``[1, t_g] (x) (P_g, h_g)`` and
    the 2k-dimensional drift integrated out with prior sds ``(S, S / length)``."""
    cols = [np.ones_like(residuals), distances, tilts]
    sd = post.scale_grid(True)
    k = sd.shape[-1]
    out = np.zeros(sd.shape[:-1])
    precision, shift = np.zeros(sd.shape[:-1] + (2 * k, 2 * k)), np.zeros(sd.shape[:-1] + (2 * k,))
    for g, (loglik, p, h) in post.group_terms(residuals, scales, cols, groups, sd, drift=True):
        t = float(positions[groups == g][0])
        out += loglik
        precision += np.concatenate([np.concatenate([p, t * p], -1), np.concatenate([t * p, t * t * p], -1)], -2)
        shift += np.concatenate([h, t * h], -1)
    return post.integrate_drift(out, np.concatenate([sd, sd / length], -1), precision, shift, keep=k)


def onset(distances: np.ndarray, length: float) -> np.ndarray:
    """The ``ramp`` variant's weight of the offset and tilt terms: 0 at the data's edge, 1 from
    ``length`` units of log key beyond it."""
    return np.clip(np.asarray(distances, dtype=float) / length, 0.0, 1.0)


def ramp_posterior(residuals, scales, distances, tilts, groups, families, n_families, length):
    """:func:`~bayeslaw.infer.extrapolation_posterior.shared_error_posterior` with a drift per
    family and the columns ``[g(d), d, u g(d)]`` (:func:`onset`) instead of ``[1, d, u]``."""
    g = onset(distances, length)
    cols = [g, distances, tilts * g]
    sd = post.scale_grid(True)
    family = np.zeros(len(residuals), dtype=int) if families is None else np.asarray(families, dtype=int)
    out, cells = np.zeros(sd.shape[:-1]), []
    for f in range(1 if families is None else int(n_families)):
        at = family == f
        loglik, precision, shift = np.zeros(sd.shape[:-1]), np.zeros(sd.shape[:-1] + (3, 3)), np.zeros(sd.shape)
        for _, (ll, p, h) in post.group_terms(residuals[at], scales[at], [c[at] for c in cols], groups[at], sd, True):
            loglik, precision, shift = loglik + ll, precision + p, shift + h
        family_loglik, cell_mean, cell_cov = post.drift_cells(loglik, sd, precision, shift)
        out += family_loglik
        cells.append((cell_mean, cell_cov))
    weights = np.exp(out - out.max())
    weights /= weights.sum()
    moments = [post.mix_cells(weights, *cell) for cell in cells]
    if families is None:
        return weights, *moments[0]
    return weights, np.stack([m for m, _ in moments]), np.stack([c for _, c in moments])


def ramp_offsets(error: ExtrapolationErrorModel, inputs: dict, n_draws: int, family, length: float) -> np.ndarray:
    """:meth:`ExtrapolationErrorModel.log_offsets` with the offset and tilt terms weighted by
    :func:`onset` instead of ``1(d > 0)`` (same random draws, in the same order)."""
    rng = np.random.default_rng([0, 7])
    kappa, tau, eta = error.scale_draws(rng, n_draws).T
    z1, z2 = rng.standard_normal((2, n_draws))
    d = error.distance(inputs)[None, :]
    g, u = onset(d, length), error.tilt_position(inputs)[None, :]
    z3 = rng.standard_normal(n_draws)
    delta = (kappa * z1)[:, None] * g + (tau * z2)[:, None] * d + (eta * z3)[:, None] * u * g
    m = error._drift_draws(rng, n_draws, d.shape[1], family)
    return delta + m[..., 0] * g + m[..., 1] * d + m[..., 2] * u * g


def error_model(case: dict, variant: str, trend_length: float) -> ExtrapolationErrorModel:
    """The split's extrapolation error under ``variant`` (see the module docstring)."""
    pts, keys, tilts = case["pts"], case["keys"], case["tilts"]
    span = ex.span(keys)
    args = (pts["residual"].to_numpy(), pts["scale"].to_numpy(), post.effective_distances(pts, span),
            pts["tilt"].to_numpy(float), pts["cutoff"].to_numpy())
    per_family = {"families": case.get("families"), "n_families": case.get("n_families")}
    if variant == "trend":
        weights, mean, cov = trend_posterior(*args, np.log(args[4] / keys.max()), trend_length * span)
    elif variant == "drift":
        weights, mean, cov = post.shared_error_posterior(*args, drift=True, **per_family, onset=0.0)
    elif variant == "drift3":
        weights, mean, cov = post.shared_error_posterior(*args, drift=True, **per_family, onset=0.0,
                                                         drift_sd=lambda sd: 3.0 * sd)
    elif variant == "ramp":
        weights, mean, cov = ramp_posterior(*args, per_family["families"], per_family["n_families"], trend_length)
    elif variant == "fixed":
        weights, mean, cov = post.shared_error_posterior(*args, drift=True, **per_family, onset=0.0,
                                                         drift_sd=lambda sd: FIXED_DRIFT_SD)
    else:
        weights, mean, cov = post.shared_error_posterior(*args, **per_family, onset=0.0), None, None
    return ExtrapolationErrorModel("C", float(np.log(keys.max())), weights, len(pts),
                                   tuple(float(c) for c in pts["cutoff"].unique()),
                                   float(np.median(tilts)), mean, cov)


def evaluate(case: dict, variant: str, trend_length: float, onset_length: float = 1.0) -> dict:
    """Scores of the held-out runs with the variant's error applied to the plain draws."""
    length = onset_length if variant == "ramp" else trend_length
    error = error_model(case, variant, length)
    family = case.get("test_family") if variant != "trend" else None
    n_draws = case["draws"].shape[0]
    offsets = (ramp_offsets(error, case["test_inputs"], n_draws, family, onset_length) if variant == "ramp"
               else error.log_offsets(case["test_inputs"], n_draws, seed=0, family=family))
    draws = case["draws"] * np.exp(offsets)
    intervals = {lv: tuple(np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2], axis=0)) for lv in LEVELS}
    sc = score({"point": np.median(draws, axis=0), "intervals": intervals, "draws": draws}, case["obs"])
    return {"dataset": case["dataset"], "split": case["split"], "variant": variant, "units": len(case["obs"]),
            "drift": None if error.drift is None else np.asarray(error.drift, dtype=float).tolist(),
            **{k: sc[k] for k in ("median_are", "coverage", "interval_score", "crps")}}


def summary(rows: list[dict], base: str = "drift") -> list[str]:
    """Per variant: pooled coverage, and geometric-mean ratios to ``base`` of IS80, IS95, CRPS
    and ARE over the splits with the splits where the variant is better."""
    by = {(r["dataset"], r["split"], r["variant"]): r for r in rows}
    splits = sorted({(r["dataset"], r["split"]) for r in rows})
    lines = []
    for variant in sorted({r["variant"] for r in rows}):
        mine = [by[s + (variant,)] for s in splits]
        units = sum(r["units"] for r in mine)
        cov = " / ".join(f"{100 * sum(r['coverage'][f'{lv:g}'] * r['units'] for r in mine) / units:.0f}%"
                         for lv in LEVELS)
        text = f"{variant}: pooled coverage {cov}"
        for label, get in (("IS80", lambda r: r["interval_score"]["0.8"]), ("IS95", lambda r: r["interval_score"]["0.95"]),
                           ("CRPS", lambda r: r["crps"]), ("ARE", lambda r: r["median_are"])):
            ratio = np.array([np.log(get(by[s + (variant,)]) / get(by[s + (base,)])) for s in splits])
            text += f"; {label} x{np.exp(ratio.mean()):.3f} (better on {int((ratio < -1e-9).sum())}/{len(splits)})"
        lines.append(text)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", help="comma-separated data sets of peer_harness.py")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--trend-length", type=float, default=0.5,
                        help="the trend prior's length as a share of the fit's log span of C")
    parser.add_argument("--onset", type=float, default=1.0,
                        help="the ramp variant's onset length, in units of log C beyond the data")
    parser.add_argument("--out", default=OUT.stem, help="results file stem (default drift_variants)")
    parser.add_argument("--cache", type=Path, help="folder for the per-split fits (reused when present)")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.datasets.split(","):
        for split in pdata.SPLITS:
            case = collect(name, split, args.cache)
            if case is None:
                continue
            for variant in variants:
                rows.append(evaluate(case, variant, args.trend_length, args.onset))
                r = rows[-1]
                print(f"{name} {split} {variant}: ARE {100 * r['median_are']:.2f}% IS80 "
                      f"{r['interval_score']['0.8']:.2f} IS95 {r['interval_score']['0.95']:.2f} "
                      f"cov80 {100 * r['coverage']['0.8']:.0f}%", flush=True)
    lines = summary(rows) if "drift" in variants else []
    print("\n".join(lines))
    config = {"datasets": args.datasets, "variants": variants, "trend_length": args.trend_length,
              "onset": args.onset}
    (OUT.parent / f"{args.out}.json").write_text(json.dumps({"config": config, "summary": lines, "results": rows},
                                                            indent=1))


if __name__ == "__main__":
    main()
