"""Write the synthetic demo data set ``synthetic_families`` and its true parameters.

This script is an independent oracle: it uses plain NumPy only, never bayeslaw's model
code, so fits of its output can be checked against known truth.

The law, per family f (natural logarithms)::

    law_f(N, D) = E_f + exp(a_f - alpha * log N) + exp(b_f - beta * log D)
    loss        = law_f(N, D) * exp(eps),   eps ~ Normal(0, SIGMA)

True values (also written to ``synthetic_families_truth.toml``):

    shared:   alpha = 0.34, beta = 0.28, SIGMA = 0.01
    family    E      a      b
    dense     1.80   6.00   6.20
    moe       1.65   5.75   6.05
    long_ctx  1.95   6.25   6.40
    wide      1.72   6.15   5.95
    deep      1.88   5.85   6.45

Each family has 30 runs with N log-uniform on [1e7, 3e9] parameters and D log-uniform on
[2e8, 6e10] tokens, drawn independently (tokens per parameter from about 0.07 to 6000),
rounded to whole numbers before the law is evaluated. Losses land between about 2.4 and 5.9.
The random generator is NumPy's PCG64 with a fixed seed, and numbers are written with
fixed formats, so rerunning gives identical bytes.

Usage::

    python data/make_synthetic.py [--out DIR]    # default DIR: this script's folder
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 20240611
RUNS_PER_FAMILY = 30
ALPHA = 0.34
BETA = 0.28
SIGMA = 0.01
N_RANGE = (1e7, 3e9)
D_RANGE = (2e8, 6e10)
FAMILIES = {  # name: (E, a, b)
    "dense": (1.80, 6.00, 6.20),
    "moe": (1.65, 5.75, 6.05),
    "long_ctx": (1.95, 6.25, 6.40),
    "wide": (1.72, 6.15, 5.95),
    "deep": (1.88, 5.85, 6.45),
}
CSV_NAME = "synthetic_families.csv"
TRUTH_NAME = "synthetic_families_truth.toml"


def law(n: np.ndarray, d: np.ndarray, e: float, a: float, b: float) -> np.ndarray:
    """The noise-free loss of one family at sizes ``n`` and token counts ``d``."""
    return e + np.exp(a - ALPHA * np.log(n)) + np.exp(b - BETA * np.log(d))


def simulate() -> list[tuple[str, int, int, float]]:
    """Draw every run: (family, N, D, loss), families in the order of ``FAMILIES``."""
    rng = np.random.default_rng(SEED)
    rows = []
    for name, (e, a, b) in FAMILIES.items():
        n = np.round(np.exp(rng.uniform(*np.log(N_RANGE), RUNS_PER_FAMILY)))
        d = np.round(np.exp(rng.uniform(*np.log(D_RANGE), RUNS_PER_FAMILY)))
        eps = rng.normal(0.0, SIGMA, RUNS_PER_FAMILY)
        loss = law(n, d, e, a, b) * np.exp(eps)
        rows += [(name, int(ni), int(di), float(li)) for ni, di, li in zip(n, d, loss, strict=True)]
    return rows


def csv_text(rows: list[tuple[str, int, int, float]]) -> str:
    """The CSV file's text: columns family, N, D, loss (loss to 6 decimals)."""
    lines = ["family,N,D,loss"] + [f"{f},{n},{d},{loss:.6f}" for f, n, d, loss in rows]
    return "\n".join(lines) + "\n"


def truth_text(rows: list[tuple[str, int, int, float]]) -> str:
    """The truth file's text (TOML): shared and per-family values, noise, ranges."""
    n = np.array([r[1] for r in rows], dtype=float)
    d = np.array([r[2] for r in rows], dtype=float)
    loss = np.array([r[3] for r in rows])
    tpp = d / n

    def pair(lo: float, hi: float) -> str:
        return f"[{float(lo)!r}, {float(hi)!r}]"

    out = [
        "# True parameters of synthetic_families.csv, written by data/make_synthetic.py.",
        "# Do not edit: rerun the script instead.",
        'law = "E + exp(a - alpha * log(N)) + exp(b - beta * log(D))"',
        'noise = "loss = law * exp(eps), eps ~ Normal(0, sigma)"',
        f"seed = {SEED}",
        f"runs_per_family = {RUNS_PER_FAMILY}",
        "",
        "[shared]",
        f"alpha = {ALPHA!r}",
        f"beta = {BETA!r}",
        f"sigma = {SIGMA!r}",
        "",
        "[ranges]",
        "# N and D are drawn log-uniform on these ranges; *_observed are the drawn extremes.",
        f"N = {pair(*N_RANGE)}",
        f"D = {pair(*D_RANGE)}",
        f"tokens_per_param = {pair(D_RANGE[0] / N_RANGE[1], D_RANGE[1] / N_RANGE[0])}",
        f"N_observed = {pair(n.min(), n.max())}",
        f"D_observed = {pair(d.min(), d.max())}",
        f"tokens_per_param_observed = {pair(round(tpp.min(), 6), round(tpp.max(), 6))}",
        f"loss_observed = {pair(loss.min().round(6), loss.max().round(6))}",
    ]
    for name, (e, a, b) in FAMILIES.items():
        out += [
            "",
            f"[families.{name}]",
            f"E = {e!r}",
            f"a = {a!r}",
            f"b = {b!r}",
            f"A = {round(float(np.exp(a)), 6)!r}  # exp(a)",
            f"B = {round(float(np.exp(b)), 6)!r}  # exp(b)",
        ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write both files into ``--out`` (default: this script's folder)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write into (default: this script's folder)")
    args = parser.parse_args(argv)
    rows = simulate()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / CSV_NAME).write_bytes(csv_text(rows).encode("ascii"))
    (args.out / TRUTH_NAME).write_bytes(truth_text(rows).encode("ascii"))


if __name__ == "__main__":
    main()
