"""Which peer-harness splits hold out runs farther beyond the fitted runs in N or D than in C.

The extrapolation error's drift moves predictions by their distance along the size key (C = 6ND);
its scatter grows with the farthest of the distances on C, N and D. A split's bayeslaw row can only
depend on that difference where some held-out unit lies farther beyond the fitted runs in N or D
than in C: this lists those units per split (no fits), to know which rows a change of the scatter's
distance needs rerun.

Usage: ``python benchmarks/offkey_units.py``
"""

from __future__ import annotations

import numpy as np
from peers import data as pdata


def off_key(train, test) -> tuple[int, float]:
    """Held-out units farther beyond ``train`` in N or D than in C, and the largest excess (e-folds)."""
    log_c = lambda f: np.log(6 * f["N"].to_numpy(float) * f["D"].to_numpy(float))
    k = np.maximum(log_c(test) - log_c(train).max(), 0.0)
    far = [np.maximum(np.log(test[a].to_numpy(float) / train[a].max()), 0.0) for a in ("N", "D")]
    extra = np.maximum.reduce([k, *far]) - k
    return int((extra > 1e-9).sum()), float(extra.max())


def main() -> None:
    print("| data set | split | held-out units | farther beyond in N or D | largest excess (e-folds) |")
    print("|---|---|---|---|---|")
    for name, ds in pdata.datasets().items():
        frame = pdata.load(ds)
        for split in pdata.SPLITS.values():
            sp = pdata.make_split(frame, split)
            if sp.skip:
                continue
            count, extra = off_key(sp.train, sp.test)
            print(f"| {name} | {split.name} | {len(sp.test)} | {count} | {extra:.2f} |")


if __name__ == "__main__":
    main()
