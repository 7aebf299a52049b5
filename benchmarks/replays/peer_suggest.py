"""simple-scaling-laws' ``suggest_runs`` in its own interpreter: JSON request on stdin, JSON on stdout.

Run by the replay benchmark with the peers' Python (simple-scaling-laws needs Python >= 3.12);
imports only that environment's packages. The request is ``{"seed": int, "n_draws": int, "n": int,
"train": {"N": [...], "D": [...], "loss": [...]}, "target_budgets": [...],
"candidate_budgets": [...]}``; the answer is ``{"version": str, "N": [...], "D": [...],
"remaining_variance": [...]}``, the suggested points in the order chosen.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version


def suggest(request: dict) -> dict:
    """Fit the peer's default law with its bootstrap, then ask for ``n`` runs on the iso-cost
    curves of ``candidate_budgets`` for N* at ``target_budgets`` (cost ``6 N D``)."""
    import polars as pl
    import simple_scaling_laws as ssl
    from simple_scaling_laws.cost import cost_model

    train = request["train"]
    frame = pl.DataFrame({"training_run_id": [str(i) for i in range(len(train["N"]))],
                          "model_size__N": train["N"], "dataset_size__D": train["D"],
                          "test_loss__loss": train["loss"]})
    model = ssl.fit(frame, n_draws=request["n_draws"], seed=request["seed"])
    plan = ssl.suggest_runs(model, request["target_budgets"], cost_model("power", k=6.0, a=1.0, b=1.0),
                            n=request["n"], candidate_budgets=request["candidate_budgets"])
    return {"version": version("simple-scaling-laws"), "N": plan["model_size__N"].to_list(),
            "D": plan["dataset_size__D"].to_list(),
            "remaining_variance": plan["remaining_variance"].to_list()}


def main() -> None:
    request = json.load(sys.stdin)
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # a package's prints must not corrupt the JSON
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = suggest(request)
    finally:
        sys.stdout = real_stdout
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
