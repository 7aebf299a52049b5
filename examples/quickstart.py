"""Quick start: fit the Chinchilla law to five model families and predict a planned run.

Run from the repository root::

    python examples/quickstart.py            # full fit: 4 chains x 1000 draws
    python examples/quickstart.py --quick    # 2 chains x 200 draws, for a smoke test
    python examples/quickstart.py --out plots/

It prints the fit's timings and posterior summary, the prediction for a 70B-parameter,
1.4T-token run of the "dense" family (a new run and the law itself) and of a family never seen
in the fit, saves the fit (quickstart_fit.nc), reads it back and plots loss against N
(quickstart_fit.png) into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script: write files, never open windows

import bayeslaw as bl
from bayeslaw.plot import plot_fit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sampler settings (smoke test)")
    parser.add_argument(
        "--out", type=Path, default=Path("."), help="folder for the fit and plot (default: .)"
    )
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        parser.error(f"--out folder '{args.out}' does not exist")
    settings = {"chains": 2, "warmup": 200, "draws": 200} if args.quick else {}

    runs = bl.load_dataset("synthetic_families")  # DataFrame: family, N, D, loss
    fit = bl.fit("chinchilla", runs, target="loss", group="family", seed=0, **settings)
    print(fit.timings)  # compile / init / sampling / extrapolation / other / total seconds
    print(fit.summary(ci_prob=0.9).round(3).to_string())  # population, per family, derived

    plan = {"N": 70e9, "D": 1.4e12, "family": "dense"}
    rows = {
        "dense family": fit.predict(plan, kind="observed", ci_prob=0.9),  # a new dense run
        "dense law": fit.predict(plan, kind="law", ci_prob=0.9),  # the curve, no run noise
        "new family": fit.predict({"N": 70e9, "D": 1.4e12}, ci_prob=0.9),  # unseen family
    }
    for label, frame in rows.items():
        row = frame.iloc[0]
        print(f"loss at N=70e9, D=1.4e12, {label}: {row['median']:.3f} "
              f"(90% interval {row['lower']:.3f} to {row['upper']:.3f})")

    fit.save(args.out / "quickstart_fit.nc")  # self-describing netCDF
    again = bl.load_fit(args.out / "quickstart_fit.nc")  # predicts without refitting
    path = args.out / "quickstart_fit.png"
    plot_fit(again, x="N").figure.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
