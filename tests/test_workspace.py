"""Tests for glt.workspace's NW-UCLA helpers: finding your download, preparing it once."""

from __future__ import annotations

import os
import shutil

import numpy as np

from glt import workspace
from glt.data.store import open_dataset
from glt.paths import REPO_ROOT


def _download(nwucla_dir, folder, every=50):
    """A small NW-UCLA download: every n-th clip of the genuine one, all views and actions."""
    (folder / "all_sqe").mkdir(parents=True)
    for path in sorted((nwucla_dir / "all_sqe").glob("*.json"))[::every]:
        shutil.copy(path, folder / "all_sqe" / path.name)
    shutil.copy(nwucla_dir / "val_label.pkl", folder / "val_label.pkl")
    return folder


def test_nwucla_recordings_finds_a_download_or_says_none(tmp_path, monkeypatch):
    (tmp_path / "empty" / "all_sqe").mkdir(parents=True)
    assert workspace.nwucla_recordings(str(tmp_path / "empty")) is None
    assert workspace.nwucla_recordings(str(tmp_path / "missing")) is None
    (tmp_path / "empty" / "all_sqe" / "a01_s01_e00_v01.json").write_text("{}")
    found = tmp_path / "empty"
    assert workspace.nwucla_recordings(str(found)) == found
    relative = os.path.relpath(found, REPO_ROOT)  # relative paths start at the repository root
    assert workspace.nwucla_recordings(relative).resolve() == found.resolve()
    monkeypatch.setenv("GLT_NWUCLA", str(found))  # the default place
    assert workspace.nwucla_recordings() == found
    monkeypatch.setenv("GLT_NWUCLA", str(tmp_path / "missing"))
    assert workspace.nwucla_recordings() is None


def test_nwucla_benchmark_is_prepared_once_and_subsets_on_request(nwucla_dir, tmp_path):
    raw = _download(nwucla_dir, tmp_path / "raw")
    full = open_dataset(workspace.nwucla_benchmark(tmp_path / "work", raw))
    assert len(full.train) + len(full.val) == len(list((raw / "all_sqe").iterdir()))
    stamp = (full.root / "metadata.json").stat().st_mtime_ns
    again = workspace.nwucla_benchmark(tmp_path / "work", raw)  # reused, not remade
    assert again == full.root and (again / "metadata.json").stat().st_mtime_ns == stamp
    small = open_dataset(workspace.nwucla_benchmark(tmp_path / "work", raw, 1))
    assert small.root != full.root and small.layout.name == "nwucla"
    for part in ("train", "val"):
        labels = small.part(part).labels
        assert np.bincount(labels).max() == 1
        assert set(labels) == set(full.part(part).labels)  # one clip of every action
