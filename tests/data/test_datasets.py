"""Tests for bayeslaw.data.datasets and the bundled synthetic data set."""

import hashlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayeslaw.core.errors import DataError
from bayeslaw.data import datasets
from bayeslaw.data.datasets import list_datasets, load_dataset

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "chinchilla" / "points.csv").is_file(),
    reason=f"real data sets not available at {SHARED} (they are kept outside the repository)")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Never touch the user's cache or data folder."""
    monkeypatch.setenv("BAYESLAW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BAYESLAW_DATA_DIR", raising=False)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- bundled synthetic set ----------------------------------------------------------------

def test_synthetic_families_loads():
    runs = load_dataset("synthetic_families")
    assert list(runs.columns) == ["family", "N", "D", "loss"]
    assert len(runs) == 150
    assert runs["family"].value_counts().to_dict() == {
        f: 30 for f in ("dense", "moe", "long_ctx", "wide", "deep")}
    assert runs["loss"].between(2.0, 6.0).all()


def test_make_synthetic_reproduces_committed_files(tmp_path):
    subprocess.run([sys.executable, str(DATA / "make_synthetic.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("synthetic_families.csv", "synthetic_families_truth.toml"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_truth_file_matches_the_data():
    """The recorded truth explains the CSV with log-residuals of about the recorded sd."""
    truth = tomllib.loads((DATA / "synthetic_families_truth.toml").read_text())
    runs = pd.read_csv(DATA / "synthetic_families.csv")
    shared = truth["shared"]
    resid = []
    for fam, p in truth["families"].items():
        rows = runs[runs["family"] == fam]
        law = (p["E"] + np.exp(p["a"] - shared["alpha"] * np.log(rows["N"]))
               + np.exp(p["b"] - shared["beta"] * np.log(rows["D"])))
        resid.append(np.log(rows["loss"] / law))
    resid = np.concatenate(resid)
    assert len(resid) == 150
    assert abs(resid.mean()) < 0.003
    assert 0.7 * shared["sigma"] < resid.std() < 1.3 * shared["sigma"]
    assert truth["ranges"]["N_observed"] == [runs["N"].min(), runs["N"].max()]


def test_registry_checksum_of_bundled_file():
    registry = tomllib.loads((DATA / "registry.toml").read_text())
    assert registry["synthetic_families"]["sha256"] == sha(DATA / "synthetic_families.csv")


def test_list_datasets():
    table = list_datasets()
    assert list(table.columns) == ["name", "description", "source", "license", "citation",
                                   "bundled"]
    assert table.set_index("name")["bundled"].to_dict() == {
        "synthetic_families": True, "chinchilla_epoch": False}


def test_unknown_dataset():
    with pytest.raises(DataError, match=re.escape(
            "unknown dataset 'nope'; known datasets: synthetic_families, chinchilla_epoch")):
        load_dataset("nope")


def test_data_dir_prefers_the_in_package_copy(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "bayeslaw"
    (pkg / "_data").mkdir(parents=True)
    (pkg / "_data" / "registry.toml").write_text("")
    monkeypatch.setattr(datasets, "__file__", str(pkg / "data" / "datasets.py"))
    assert datasets._data_dir() == pkg / "_data"
    (pkg / "_data" / "registry.toml").unlink()
    assert datasets._data_dir() == tmp_path / "site" / "data"


# --- Chinchilla (real data, read from ../shared) -----------------------------------------

@needs_shared
def test_chinchilla_registry_checksum():
    registry = tomllib.loads((DATA / "registry.toml").read_text())
    assert registry["chinchilla_epoch"]["sha256"] == sha(
        SHARED / "chinchilla" / "svg_extracted_data.csv")


@needs_shared
def test_chinchilla_matches_epochs_240_points():
    runs = load_dataset("chinchilla_epoch", data_dir=SHARED / "chinchilla", download=False)
    points = pd.read_csv(SHARED / "chinchilla" / "points.csv")
    kept = points[points["epoch_excluded"] == 0].reset_index(drop=True)
    assert len(runs) == 240
    for col in ("N", "D", "loss", "C"):  # points.csv is rounded to 10 significant digits
        np.testing.assert_allclose(runs[col], kept[col], rtol=1e-9, err_msg=col)


# --- look-up order, download, cache (a temporary registry and file:// URLs) --------------

def make_source(tmp_path, rows=6):
    src = tmp_path / "upstream" / "raw.csv"
    src.parent.mkdir()
    frame = pd.DataFrame({"Model Size": [1e8 * (i + 1) for i in range(rows)],
                          "Training FLOP": [6e18 * (i + 1) for i in range(rows)],
                          "loss": [3.0, 5.0, 2.5, 4.0, 2.0, 2.2][:rows],
                          "flag": [0, 0, 1, 0, 0, 0][:rows]})
    frame.to_csv(src, index=False)
    return src


def make_registry(tmp_path, src, *, sha256=None, extra=""):
    reg = tmp_path / "reg" / "registry.toml"
    reg.parent.mkdir(exist_ok=True)
    reg.write_text(f"""
[toy]
description = "toy"
file = "toy.csv"
url = "{src.as_uri()}"
sha256 = "{sha256 or sha(src)}"
license = "MIT"
citation = "nobody"
columns = {{ "Model Size" = "N", "Training FLOP" = "C", loss = "loss" }}
{extra}
""")
    return reg


def test_download_then_cache_hit(tmp_path):
    src = make_source(tmp_path)
    reg = make_registry(tmp_path, src, extra="tokens_from_compute = true\n"
                        "[toy.query]\nexclude = { column = \"flag\", equals = 1 }\n"
                        "drop_highest = { column = \"loss\", n = 2 }")
    runs = load_dataset("toy", _registry=reg)
    cached = tmp_path / "cache" / "datasets" / "toy.csv"
    assert cached.read_bytes() == src.read_bytes()
    assert list(runs.columns) == ["N", "C", "loss", "D"]
    np.testing.assert_allclose(runs["loss"], [3.0, 2.0, 2.2])  # flag row, then 5.0 and 4.0
    np.testing.assert_allclose(runs["D"], runs["C"] / (6 * runs["N"]))
    assert list(runs.index) == [0, 1, 2]
    src.unlink()  # the second call must not need the source
    pd.testing.assert_frame_equal(load_dataset("toy", _registry=reg, download=False), runs)
    assert list_datasets(_registry=reg)["bundled"].tolist() == [False]


def test_checksum_mismatch_keeps_nothing(tmp_path):
    src = make_source(tmp_path)
    reg = make_registry(tmp_path, src, sha256="0" * 64)
    msg = (f"download of dataset 'toy' from {src.as_uri()} has sha256 {sha(src)}, but the "
           f"registry expects {'0' * 64}; the file was not kept")
    with pytest.raises(DataError, match=re.escape(msg)):
        load_dataset("toy", _registry=reg)
    assert list((tmp_path / "cache" / "datasets").iterdir()) == []


def test_failed_download(tmp_path):
    src = make_source(tmp_path)
    reg = make_registry(tmp_path, src)
    src.unlink()
    with pytest.raises(DataError, match=re.escape(
            f"cannot download dataset 'toy' from {src.as_uri()}: ")):
        load_dataset("toy", _registry=reg)
    assert list((tmp_path / "cache" / "datasets").iterdir()) == []


def test_download_false_says_where_it_looked(tmp_path):
    reg = make_registry(tmp_path, make_source(tmp_path))
    mine = tmp_path / "mine"
    mine.mkdir()  # a folder without the file (a missing folder is refused as such)
    msg = (f"dataset 'toy' was not found locally (looked in: {reg.parent}, {mine}, "
           f"{tmp_path / 'cache' / 'datasets'}) and download=False; put toy.csv in one of these "
           "folders or set BAYESLAW_DATA_DIR to the folder that holds it")
    with pytest.raises(DataError, match=f"^{re.escape(msg)}$"):
        load_dataset("toy", data_dir=mine, download=False, _registry=reg)
    assert not (tmp_path / "cache").exists()


def test_lookup_order(tmp_path, monkeypatch):
    src = make_source(tmp_path)
    reg = make_registry(tmp_path, src)
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    content = src.read_bytes()
    (env_dir / "toy.csv").write_bytes(content)
    monkeypatch.setenv("BAYESLAW_DATA_DIR", str(env_dir))
    src.unlink()
    assert len(load_dataset("toy", download=False, _registry=reg)) == 6
    (env_dir / "toy.csv").write_text("changed\n")  # a wrong file is reported, not used
    msg = (f"dataset 'toy': file '{env_dir / 'toy.csv'}' has sha256 {sha(env_dir / 'toy.csv')}, "
           "but the registry expects")
    with pytest.raises(DataError, match=re.escape(msg)):
        load_dataset("toy", download=False, _registry=reg)
    arg_dir = tmp_path / "arg"  # the data_dir argument comes before the environment
    arg_dir.mkdir()
    (arg_dir / "toy.csv").write_bytes(content)
    assert len(load_dataset("toy", data_dir=arg_dir, download=False, _registry=reg)) == 6


def test_registry_rejects_unsafe_entries(tmp_path):
    src = make_source(tmp_path)
    reg = make_registry(tmp_path, src, extra="[toy.query]\nexpr = \"loss > 2\"")
    with pytest.raises(DataError, match=re.escape(
            f"dataset registry '{reg}', entry 'toy': unknown query operation 'expr'; "
            "valid: exclude, drop_highest")):
        load_dataset("toy", _registry=reg)
    reg.write_text(reg.read_text().replace('file = "toy.csv"', 'file = "../toy.csv"')
                   .replace('expr = "loss > 2"', ""))
    with pytest.raises(DataError, match=re.escape(
            "entry 'toy': file must be a plain file name, got '../toy.csv'")):
        load_dataset("toy", _registry=reg)


def test_missing_source_column(tmp_path):
    src = make_source(tmp_path)
    reg = make_registry(tmp_path, src)
    reg.write_text(reg.read_text().replace('"Model Size" = "N"', '"Params" = "N"'))
    with pytest.raises(DataError, match=re.escape("lacks column(s) Params (present: Model Size")):
        load_dataset("toy", _registry=reg)


def test_a_cache_folder_that_is_a_file_and_odd_arguments_are_one_line(tmp_path, monkeypatch):
    """NotADirectoryError (a traceback on the command line), unhashable list, pathlib TypeError."""
    reg = make_registry(tmp_path, make_source(tmp_path))
    blocker = tmp_path / "afile"
    blocker.write_text("")
    monkeypatch.setenv("BAYESLAW_CACHE_DIR", str(blocker))
    with pytest.raises(DataError) as info:
        load_dataset("toy", _registry=reg)
    assert str(info.value) == (f"cannot download dataset 'toy': the cache folder '{blocker / 'datasets'}' cannot "
                               "be written (Not a directory); set BAYESLAW_CACHE_DIR to a folder, or download it by "
                               "hand and set BAYESLAW_DATA_DIR")
    with pytest.raises(DataError, match=re.escape("unknown dataset '['toy']'; known datasets: toy")):
        load_dataset(["toy"], _registry=reg)
    with pytest.raises(DataError, match=re.escape("data_dir must be a folder path, got int")):
        load_dataset("toy", data_dir=123, _registry=reg)
    with pytest.raises(DataError) as info:  # both were only listed among the folders "looked in"
        load_dataset("toy", data_dir=blocker, _registry=reg)
    assert str(info.value) == f"data_dir '{blocker}' is a file, not a folder"
    with pytest.raises(DataError) as info:
        load_dataset("toy", data_dir=tmp_path / "nope", _registry=reg)
    assert str(info.value) == f"data_dir '{tmp_path / 'nope'}' does not exist"
