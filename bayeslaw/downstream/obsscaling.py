"""The obsscaling data folder (Ruan et al.'s base_llm_benchmark_eval.csv) as the models table
:func:`bayeslaw.downstream.observational.fit_observational` reads, like
:mod:`bayeslaw.downstream.olmo_ladder` for the OLMo ladder."""

from __future__ import annotations

import pandas as pd

from bayeslaw.core.errors import DataError
from bayeslaw.data.columns import is_missing, listed_rows, parse_numbers, positive_or_missing
from bayeslaw.data.files import read_folder_file, require_layout
from bayeslaw.downstream.inputs import check_accuracy

__all__ = ["load_obsscaling", "table_name"]


def table_name(data_dir) -> str:
    """How messages name the folder's table; the command line gives it to the fit as
    ``attrs["table"]`` of the loaded, unedited table, so the fit's refusals name the file too."""
    return f"base_llm_benchmark_eval.csv of '{data_dir}'"


def load_obsscaling(data_dir) -> pd.DataFrame:
    """``base_llm_benchmark_eval.csv`` with the BTLM-3B token error fixed (627 B, not 627 T tokens).

    Columns: model, family, params_B, tokens_T, flops (FLOPs, not 1e21) and the 8 benchmarks.
    A missing folder, file or layout column is a DataError naming it; text in a number column, a
    size or FLOPs figure <= 0, a score outside [0, 1] (percent) or a missing family is a DataError
    naming the file, the column and the row (0 = the first row below the header).
    """
    t = read_folder_file(data_dir, "base_llm_benchmark_eval.csv", "observational")
    noun = table_name(data_dir)
    sizes = ["Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)"]
    require_layout(t, ["Model", "Model Family", *sizes], data_dir, "observational")
    if t.empty:
        raise DataError(f"{noun} has no rows")
    if (no_family := is_missing(t["Model Family"]).to_numpy()).any():
        raise DataError(f"column 'Model Family' in {noun} has missing values: {listed_rows(t.index[no_family])}")
    for column in t.columns.drop(["Model", "Model Family"]):  # sizes and benchmark scores
        t[column] = positive_or_missing(t, column, noun) if column in sizes else parse_numbers(t, column, noun)
        if column not in sizes:  # scores: a percent column is named with its file here, not later in the fit
            check_accuracy(t[column].to_numpy(float), column, t.index, noun=noun)
    btlm = t["Model"] == "cerebras/btlm-3b-8k-base"
    t.loc[btlm, "Pretraining Data Size (T)"] = 0.627
    t.loc[btlm, "FLOPs (1E21)"] = 6 * t.loc[btlm, "Model Size (B)"] * 0.627
    out = t.rename(columns={"Model": "model", "Model Family": "family", "Model Size (B)": "params_B",
                            "Pretraining Data Size (T)": "tokens_T"})
    out["flops"] = t["FLOPs (1E21)"] * 1e21
    return out.drop(columns=["FLOPs (1E21)"])
