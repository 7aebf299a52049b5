"""Data sets and the fixed leave-largest-out splits of the peer harness.

The loaders are calibration_report's (one place decides which rows of a data set are usable);
steplaw's dense frontier (the lowest smoothed loss over each (N, D) cell's learning-rate x
batch-size grid) and GPT-3's and OPT's validation curves (checkpoints of runs on one shared
schedule, from the Hitchhiker's Guide's collection) are added here. Every frame gets a ``C``
column: the data set's own FLOP count where it has one (``flops``, ``C`` or ``C_6ND``), else
``6 N D``.

Splits are declarative and fixed (:data:`SPLITS`): no cutoff is tuned to a data set. A split
holds out the largest key levels, adding levels from the top while the held-out share of units
stays at most ``max_share`` (always at least the top level). A unit is a row, or a training run
where the frame has a ``run`` column (rows are checkpoints): a run's key is its largest row's.
With ``gap`` g > 1, rows with key in ``[cutoff / g, cutoff)`` are dropped from the fit too. Held-out
runs are scored once, on their final checkpoint (the row with the largest D); earlier checkpoints of
a held-out run whose key is below ``cutoff / gap`` stay in the fit, as a user extrapolating in
compute would keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import calibration_report as cr
import numpy as np
import pandas as pd

#: a fit needs at least this many rows and this many distinct N and D values
MIN_TRAIN_ROWS = 10
MIN_DISTINCT = 3


def _data_dir() -> Path:
    """The shared data folder: calibration_report's, else the one beside a worktree folder."""
    for path in (cr.DATA, cr.REPO.parents[1] / "shared" / "data"):
        if path.is_dir():
            return path
    raise FileNotFoundError(f"no shared data folder at {cr.DATA} or {cr.REPO.parents[1] / 'shared' / 'data'}")


def steplaw() -> pd.DataFrame:
    """Step Law's 17-cell dense frontier: the lowest smoothed final loss per (N, D) cell."""
    frame = pd.read_csv(_data_dir() / "steplaw" / "dense_frontier_min_over_hparams.csv")
    return pd.DataFrame({"N": frame["N"], "D": frame["D"], "loss": frame["min_smooth_loss"]})


#: training curves: checkpoints from this many tokens on (the Hitchhiker's Guide's cut, as pythia)
CURVE_MIN_TOKENS = 10e9
#: a digitised curve is thinned to the median of each of this many log-spaced bins of tokens
CURVE_BINS = 16


def gpt3_curves() -> pd.DataFrame:
    """GPT-3's eight validation-loss curves (125M-175B, 300B tokens each, digitised from Brown et
    al. 2020, Fig. 4.1): one row per run and log-spaced bin of tokens >= 10B, the bin's median
    tokens and loss (the digitised points scatter about the curve; ~2000 per run otherwise)."""
    frame = pd.read_csv(_data_dir() / "hitchhiker_colpret" / "gpt3_extracted_training_curves.csv")
    frame = frame[frame["val_loss"].notna()].assign(D=frame["tokens_seen_billions"] * 1e9)
    frame = frame[frame["D"] >= CURVE_MIN_TOKENS]
    edges = np.geomspace(CURVE_MIN_TOKENS, frame["D"].max() * (1 + 1e-9), CURVE_BINS + 1)
    frame = frame.assign(bin=np.searchsorted(edges, frame["D"], side="right"))
    rows = frame.groupby(["model", "bin"]).agg(N=("N", "first"), D=("D", "median"), loss=("val_loss", "median"))
    rows = rows.reset_index()
    return pd.DataFrame({"run": "gpt3-" + rows["model"], "N": rows["N"], "D": rows["D"], "loss": rows["loss"]})


def opt_curves() -> pd.DataFrame:
    """OPT's six validation curves (125M-175B; Xia et al. 2023): log perplexity (nats) at each
    checkpoint from 10B tokens on, one run per model size."""
    frame = pd.read_csv(_data_dir() / "hitchhiker_colpret" / "opt_trajectories.csv")
    frame = frame[frame["tokens"] >= CURVE_MIN_TOKENS]
    return pd.DataFrame({"run": "opt-" + frame["model_size"], "N": frame["N"], "D": frame["tokens"],
                         "loss": np.log(frame["val_perplexity"])})


@dataclass(frozen=True)
class DataSet:
    """A data set with a loss law: its loader and the column naming its families (or None)."""

    name: str
    loader: object
    group: str | None


def datasets() -> dict[str, DataSet]:
    """Every data set of calibration_report's table, plus steplaw and the two curve sets, by name."""
    out = {name: DataSet(name, loader, group) for name, loader, _, _, _, group, _ in cr.CASES}
    out["steplaw"] = DataSet("steplaw", steplaw, None)
    out["gpt3_curves"] = DataSet("gpt3_curves", gpt3_curves, None)
    out["opt_curves"] = DataSet("opt_curves", opt_curves, None)
    return out


def load(data: DataSet) -> pd.DataFrame:
    """The data set's frame with float N and D and a ``C`` column, index reset."""
    cr.DATA = _data_dir()
    frame = data.loader().reset_index(drop=True).copy()
    frame["N"], frame["D"] = frame["N"].astype(float), frame["D"].astype(float)
    source = next((c for c in ("flops", "C", "C_6ND") if c in frame.columns), None)
    frame["C"] = frame[source].astype(float) if source else 6.0 * frame["N"] * frame["D"]
    return frame


@dataclass(frozen=True)
class SplitDef:
    """A leave-largest-out split: hold out the top levels of ``key`` (at most ``max_share`` of the
    units), and drop from the fit the rows within a factor ``gap`` below the held-out minimum."""

    name: str
    key: str
    max_share: float = 0.25
    gap: float = 1.0


SPLITS = {s.name: s for s in (
    SplitDef("N", "N"),
    SplitDef("C", "C"),
    SplitDef("N-gap", "N", gap=10.0),
    SplitDef("C-gap", "C", gap=10.0),
)}


@dataclass
class Split:
    """One split of one data set: the fitted rows, the scored rows, and why it was skipped if so."""

    name: str
    cutoff: float
    train: pd.DataFrame
    test: pd.DataFrame
    n_dropped: int
    skip: str | None = None


def _unit_keys(frame: pd.DataFrame, key: str) -> pd.Series:
    if "run" in frame.columns:
        return frame.groupby("run")[key].max()
    return frame[key]


def cutoff_for(frame: pd.DataFrame, split: SplitDef) -> float:
    """Smallest held-out key level: top levels are added while their unit share stays <= max_share."""
    units = _unit_keys(frame, split.key).to_numpy(float)
    levels = np.sort(np.unique(units))[::-1]
    cutoff = levels[0]
    for level in levels[1:]:
        if np.mean(units >= level) > split.max_share:
            break
        cutoff = level
    return float(cutoff)


def make_split(frame: pd.DataFrame, split: SplitDef) -> Split:
    """Apply ``split`` to ``frame`` (from :func:`load`); see the module docstring for the rules."""
    key = frame[split.key]
    cutoff = cutoff_for(frame, split)
    held = key >= cutoff
    fit = key < cutoff / split.gap
    test = frame[held]
    if "run" in frame.columns:  # one unit per run: its final checkpoint
        test = test.loc[test.groupby("run")["D"].idxmax()]
    train = frame[fit]
    out = Split(split.name, cutoff, train, test.sort_index(), int((~held & ~fit).sum()))
    if len(train) < MIN_TRAIN_ROWS:
        out.skip = f"{len(train)} fitted rows (< {MIN_TRAIN_ROWS})"
    elif min(train["N"].nunique(), train["D"].nunique()) < MIN_DISTINCT:
        out.skip = (f"fitted rows have {train['N'].nunique()} distinct N and {train['D'].nunique()} "
                    f"distinct D (< {MIN_DISTINCT})")
    return out


def scored_splits(only: str | None = None):
    """``(name, data set, split name, split definition, split)`` for every split of every data set
    (``only``: comma-separated names) that is not skipped, in :data:`SPLITS` order."""
    catalogue = datasets()
    for name in only.split(",") if only else list(catalogue):
        data = catalogue[name]
        frame = load(data)
        for split_name, definition in SPLITS.items():
            split = make_split(frame, definition)
            if not split.skip:
                yield name, data, split_name, definition, split
