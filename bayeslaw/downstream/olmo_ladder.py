"""The OLMo ladder data: the ladder runs and the OLMo-2 7B/13B targets, per task, for
:func:`bayeslaw.downstream.ladder.fit_ladder`.

The data set (``olmo_ladder`` under the shared data folder) holds one row per evaluated checkpoint
with many evaluation columns; :func:`load_olmo_ladder` turns it into the two tables the ladder
fits and scores: the ladder runs (N, D, task loss in bits per byte, accuracy, final checkpoint)
and the targets. A task's loss and accuracy average its column stems (:data:`OLMO_TASKS`),
weighted per question for MMLU. Kept apart from the model so the ladder fit does not depend on
one data set's column names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayeslaw.core.errors import DataError
from bayeslaw.data.columns import numeric_column, parse_numbers, positive_or_missing
from bayeslaw.data.files import read_folder_file, require_layout
from bayeslaw.downstream.inputs import check_accuracy

#: OLMo ladder tasks: name -> (bpb column stems, accuracy column stems), averaged over the stems
OLMO_TASKS = {
    "mmlu": ([f"mmlu_{s}_test_rc_5shot" for s in ("stem", "humanities", "social_sciences", "other")],) * 2,
    "hellaswag": (["hellaswag_val_rc_5shot"],) * 2,
    "arc_challenge": (["arc_challenge_test_rc_5shot"],) * 2,
    "arc_easy": (["arc_easy_test_rc_5shot"],) * 2,
    "piqa": (["piqa_val_rc_5shot"],) * 2,
    "csqa": (["csqa_val_rc_5shot"],) * 2,
    "socialiqa": (["socialiqa_val_rc_5shot"],) * 2,
    "openbookqa": (["openbookqa_test_rc_5shot"],) * 2,
}
#: weights of a task's stems in its average: MMLU's four subject groups by their share of the test
#: questions (OLMo-ladder's ``WEIGHT_BY_KEY``), so the task's loss and accuracy are per question
OLMO_STEM_WEIGHTS = {"mmlu": (0.215, 0.335, 0.219, 0.231)}
#: the tasks Bhagia et al. predict within 2 points for both targets (ranked-classification format)
OLMO_PREDICTABLE = ("mmlu", "hellaswag", "piqa", "socialiqa")
#: chance accuracy of each task (1 / number of answer options)
OLMO_CHANCE = {"mmlu": 0.25, "hellaswag": 0.25, "arc_challenge": 0.25, "arc_easy": 0.25, "piqa": 0.5,
               "csqa": 0.2, "socialiqa": 1 / 3, "openbookqa": 0.25}
#: training tokens of the OLMo-2 targets (PROVENANCE.md of olmo_ladder)
OLMO_TARGET_TOKENS = {"peteish7_eval_anneal": 4.0e12, "peteish13_eval_final": 5.0e12}


def _task_columns(frame: pd.DataFrame, task: str, noun: str, folder, *,
                  fitted: bool) -> tuple[np.ndarray, np.ndarray]:
    """The task's loss and accuracy per row, averaged over its column stems.

    Each column is checked where the file holds it, so a message names the file's own column and
    row (0 = the first row below the header), not the averaged ``task_loss`` or ``accuracy`` the
    fit sees after regrouping: a loss must be positive, an accuracy in [0, 1] (``fitted``: in
    (0, 1), as the fit's Beta likelihood needs, and not missing, since a missing cell silently
    dropped its checkpoint from the fit)."""
    if task not in OLMO_TASKS:
        raise DataError(f"unknown OLMo ladder task {task!r}; tasks: {', '.join(OLMO_TASKS)}")
    stems = OLMO_TASKS[task][0]
    weights = np.asarray(OLMO_STEM_WEIGHTS.get(task, (1.0,) * len(stems)))
    weights = weights / weights.sum()
    bpb_cols, acc_cols = [f"eval/downstream_bpb/{s}_bpb" for s in stems], []
    require_layout(frame, bpb_cols, folder, "ladder")
    for s in stems:
        cands = [f"eval/downstream/{s}_len_norm", f"eval/downstream/{s}_acc"]
        found = [c for c in cands if c in frame.columns]
        if not found:
            raise DataError(f"{noun} has no accuracy column for task {task!r}: expected '{cands[0]}' or '{cands[1]}'")
        acc_cols.append(found[0])
    bpb = [numeric_column(frame, c, True, noun) if fitted else positive_or_missing(frame, c, noun) for c in bpb_cols]
    acc = [numeric_column(frame, c, False, noun) if fitted else parse_numbers(frame, c, noun) for c in acc_cols]
    for column, values in zip(acc_cols, acc, strict=True):
        check_accuracy(values, column, frame.index, open_interval=fitted, noun=noun)
    return np.column_stack(bpb) @ weights, np.column_stack(acc) @ weights


def load_olmo_ladder(data_dir, task: str, *, sizes=("190M", "370M", "760M", "1B"),
                     skip_fraction: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ladder runs and the OLMo-2 7B/13B targets for one task, as tables for :func:`fit_ladder`.

    Returns ``(runs, targets)``: runs with N (non-embedding), D (tokens), task_loss (bits per
    byte), accuracy and ``final`` (last checkpoint of each run), dropping the first
    ``skip_fraction`` of each run's checkpoints as the paper does; targets with one row per target
    model (the mean of the evaluations at its last step).

    Bad cells are a DataError naming the file, the column and the row (0 = the first row below
    the header), checked before the rows are regrouped: in the ladder runs, a missing, non-numeric
    or out-of-range task loss or accuracy, N_non_embedding, throughput/total_tokens or _step; in
    the targets, a bad N_non_embedding or an out-of-range task cell.
    """
    from pathlib import Path

    data_dir = Path(data_dir)
    raw = read_folder_file(data_dir, "ladder_runs.csv", "ladder")
    noun = f"ladder_runs.csv of '{data_dir}'"
    require_layout(raw, ["run", "size_label", "N_non_embedding", "throughput/total_tokens", "_step"], data_dir, "ladder")
    raw = raw[raw["size_label"].isin(sizes)].copy()
    if raw.empty:
        raise DataError(f"{noun} has no runs of the ladder sizes {', '.join(sizes)} (column 'size_label')")
    # a missing cell of a used column is an error naming it: it dropped its checkpoint unseen
    raw["task_loss"], raw["accuracy"] = _task_columns(raw, task, noun, data_dir, fitted=True)
    raw["N"], raw["D"] = (numeric_column(raw, c, True, noun) for c in ("N_non_embedding", "throughput/total_tokens"))
    raw["_step"] = numeric_column(raw, "_step", False, noun)
    keep = []
    for _, g in raw.groupby("run"):
        g = g.sort_values("_step")
        g = g[g["_step"] >= skip_fraction * g["_step"].max()].copy()
        g["final"] = g["_step"] == g["_step"].max()
        keep.append(g)
    runs = pd.concat(keep, ignore_index=True)[["run", "size_label", "N", "D", "task_loss", "accuracy", "final"]]
    tgt = read_folder_file(data_dir, "olmo2_targets.csv", "ladder")
    noun = f"olmo2_targets.csv of '{data_dir}'"
    require_layout(tgt, ["run", "size_label", "N_non_embedding", "_step"], data_dir, "ladder")
    tgt = tgt[tgt["run"].isin(list(OLMO_TARGET_TOKENS))].copy()
    if tgt.empty:
        raise DataError(f"{noun} has no rows of the targets {', '.join(OLMO_TARGET_TOKENS)} (column 'run')")
    tgt["task_loss"], tgt["accuracy"] = _task_columns(tgt, task, noun, data_dir, fitted=False)
    tgt["N_non_embedding"] = numeric_column(tgt, "N_non_embedding", True, noun)
    tgt["_step"] = parse_numbers(tgt, "_step", noun)
    rows = []
    for run, g in tgt.groupby("run"):
        last = g[g["_step"] == g["_step"].max()] if g["_step"].notna().any() else g
        rows.append({"run": run, "size_label": g["size_label"].iloc[0], "N": float(g["N_non_embedding"].iloc[0]),
                     "D": OLMO_TARGET_TOKENS[run], "task_loss": float(last["task_loss"].mean()),
                     "accuracy": float(last["accuracy"].mean())})
    return runs, pd.DataFrame(rows)
