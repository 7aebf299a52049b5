"""Atomic writes (bayeslaw.core.atomic): the old file or the whole new one, never half, and one
line naming the target when the write fails, whatever the writer raised."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw.core.atomic import write_atomically


def _text(content: str):
    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write(content)
    return write


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path):
    """h5py reports a full disk as a RuntimeError: a traceback (and a crash at exit) before."""
    target = tmp_path / "fit.nc"
    target.write_text("old")

    def full(tmp: str) -> None:
        open(tmp, "w").write("half")
        raise RuntimeError("Can't write data (file write failed: errno = 28, error message = "
                           "'No space left on device')")

    with pytest.raises(bl.BayeslawError) as info:
        write_atomically(target, full, what="save fit to")
    assert str(info.value) == f"cannot save fit to '{target}': No space left on device"
    with pytest.raises(bl.BayeslawError) as info:
        write_atomically(target, lambda tmp: 1 / 0)
    assert str(info.value) == f"cannot write '{target}': division by zero"
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_a_replaced_file_keeps_its_mode_and_a_link_is_written_through(tmp_path):
    """A private 0600 fit became 0644 when saved again; a link was replaced by a regular file."""
    private = tmp_path / "private.nc"
    private.write_text("old")
    private.chmod(0o600)
    write_atomically(private, _text("new"))
    assert private.read_text() == "new" and private.stat().st_mode & 0o777 == 0o600
    link = tmp_path / "link.nc"
    link.symlink_to(private)
    assert write_atomically(link, _text("through")) == link
    assert link.is_symlink() and private.read_text() == "through"


def test_any_legal_name_is_written_and_a_longer_one_is_refused(tmp_path):
    """The temporary name '.<name>.XXXXXXXX.tmp' made names of 240-255 bytes too long."""
    longest = tmp_path / ("a" * 252 + ".nc")
    write_atomically(longest, _text("x"))
    assert longest.read_text() == "x"
    too_long = tmp_path / ("b" * 300 + ".nc")
    with pytest.raises(bl.BayeslawError) as info:
        write_atomically(too_long, _text("x"))
    assert str(info.value) == f"cannot write '{too_long}': the file name is longer than 255 bytes"


def test_a_read_only_folder_and_a_non_path_are_refused_in_one_line(tmp_path, tiny_family_fit):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)  # refused by its bits even for root, as the command line refuses it
    try:
        with pytest.raises(bl.BayeslawError) as info:
            tiny_family_fit.save(folder / "fit.nc")
        assert str(info.value) == f"cannot save fit to '{folder / 'fit.nc'}': folder '{folder}' is not writable"
    finally:
        folder.chmod(0o755)
    with pytest.raises(bl.BayeslawError) as info:
        tiny_family_fit.save(None)  # a raw TypeError before
    assert str(info.value) == "cannot save fit to: the path must be a str or path-like, got NoneType"


def test_a_name_netcdf_cannot_store_is_refused_before_writing(tmp_path):
    """A target column 'val\\x00loss' saved 'successfully' to a file load_fit always refused."""
    from bayeslaw.core._arviz import az
    from bayeslaw.results.persist import _nul_name

    assert _nul_name(az.from_dict(posterior={"a\x00b": np.zeros((1, 5))})) == "the name 'a\\x00b'"
    assert _nul_name(az.from_dict(posterior={"ab": np.zeros((1, 5))})) is None


def test_a_netcdf_file_that_is_no_fit_is_named_so(tmp_path):
    import xarray as xr

    path = tmp_path / "plain.nc"
    xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(bl.BayeslawError, match=re.escape(
            f"cannot load fit '{path}': not a bayeslaw fit (a netCDF file without a posterior group)")):
        bl.load_fit(path)
    assert os.listdir(tmp_path) == ["plain.nc"]


@pytest.mark.heavy
def test_a_target_named_dot_is_saved_and_loaded(tmp_path, demo_runs):
    """'.' is HDF5's name for the group itself: the save raised a raw ValueError after the fit."""
    runs = demo_runs.rename(columns={"loss": "."})
    fit = bl.fit("chinchilla", runs, target=".", group="family", chains=1, draws=50, warmup=50,
                 extrapolation=False, progress=False)
    fit.save(tmp_path / "dot.nc")
    again = bl.load_fit(tmp_path / "dot.nc")
    assert again.table.target_name == "."
    np.testing.assert_allclose(again.table.target, fit.table.target)
