"""Fit a peer tool in its own interpreter: JSON request on stdin, JSON answer on stdout.

Run by the peer harness with the Python of a separate virtual environment (simple-scaling-laws
needs Python >= 3.12); imports only that environment's packages. The request is
``{"tool": "ssl" | "chinchilla", "seed": int, "n_draws": int, "grid_points": int,
"fits": [{"train": {"N": [...], "D": [...], "loss": [...], "run": [...]}, "test": {"N": [...],
"D": [...]}}, ...]}``; the answer has, per fit, ``point`` and, for ssl, ``draws`` (S x R) of a new
run, plus ``seconds`` and ``version``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from importlib.metadata import version


def fit_ssl(train: dict, test: dict, seed: int, n_draws: int) -> dict:
    """simple-scaling-laws' default law (separable power) and its new-run predictive draws."""
    import numpy as np
    import polars as pl
    import simple_scaling_laws as ssl

    frame = pl.DataFrame({"training_run_id": [str(r) for r in train["run"]],
                          "model_size__N": train["N"], "dataset_size__D": train["D"],
                          "test_loss__loss": train["loss"]})
    model = ssl.fit(frame, n_draws=n_draws, seed=seed)
    points = model.prepare_points({"model_size__N": test["N"], "dataset_size__D": test["D"]})
    draws = model.target_draws("test_loss__loss", model.fitting_predictors(points), kind="new-run",
                               rng=np.random.default_rng(seed))
    return {"point": np.median(draws, axis=0).tolist(), "draws": draws.tolist(),
            "params": model.params("test_loss__loss")}


def fit_chinchilla(train: dict, test: dict, grid_points: int) -> dict:
    """kyo-takano's ``chinchilla``: its default loss (asymmetric MAE) from its README's grid range,
    ``grid_points`` values per parameter (the README uses 5)."""
    import numpy as np
    import pandas as pd
    from chinchilla import Chinchilla

    k = grid_points
    with tempfile.TemporaryDirectory() as folder:
        n, d = np.asarray(train["N"], float), np.asarray(train["D"], float)
        pd.DataFrame({"C": 6 * n * d, "N": n, "D": d, "loss": train["loss"]}).to_csv(
            os.path.join(folder, "df.csv"), index=False)
        cc = Chinchilla(folder, param_grid=dict(
            E=np.linspace(1, 2, k), a=np.linspace(1, 10, k), b=np.linspace(1, 10, k),
            alpha=np.linspace(0.1, 0.7, k), beta=np.linspace(0.1, 0.7, k)), log_level=40)
        cc.fit(parallel=False)
        point = cc.predict_loss(np.asarray(test["N"], float), np.asarray(test["D"], float))
    return {"point": np.asarray(point, float).tolist(), "params": cc.params}


def main() -> None:
    request = json.load(sys.stdin)
    tool = request["tool"]
    package = {"ssl": "simple-scaling-laws", "chinchilla": "chinchilla"}[tool]
    answers = []
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # a package's prints must not corrupt the JSON
    try:
        for item in request["fits"]:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if tool == "ssl":
                    answer = fit_ssl(item["train"], item["test"], request["seed"], request["n_draws"])
                else:
                    answer = fit_chinchilla(item["train"], item["test"], request["grid_points"])
            answer["seconds"] = time.perf_counter() - start
            answers.append(answer)
    finally:
        sys.stdout = real_stdout
    json.dump({"version": version(package), "fits": answers}, sys.stdout)


if __name__ == "__main__":
    main()
