"""Tests for glt.workspace: the NW-UCLA helpers (finding your download, preparing it once) and
a classroom folder, read in place and never written."""

from __future__ import annotations

import os
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from glt import workspace
from glt.data.store import open_dataset
from glt.lock import FolderLock
from glt.paths import REPO_ROOT
from glt.run import epochs_done, load_config, load_encoder, load_metrics


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


def _listing(folder):
    """Every file and folder under `folder` (itself included) with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in [folder, *folder.rglob("*")]}


def _no_lock(self):
    raise AssertionError(f"a lock was taken on {self.folder}")


def test_a_classroom_is_read_in_place_and_never_written(tmp_path, monkeypatch):
    classroom = tmp_path / "classroom" / "work"
    small = dict(subjects=2)  # 240 clips
    quick = dict(model={"depth": 1, "num_frames": 40}, batch_size=64, max_steps=4, progress=False)
    data = workspace.synthetic_benchmark(classroom, "xsub", **small)
    run = workspace.pretrained_run(classroom, data, "tiny", 1, **quick)
    assert epochs_done(run) == 1  # 240 clips: one epoch is 4 steps of 64
    subprocess.run(["chmod", "-R", "a-w", str(classroom.parent)], check=True)
    before = _listing(classroom.parent)
    monkeypatch.setenv("GLT_CLASSROOM", str(classroom))
    student = tmp_path / "student"
    try:
        with monkeypatch.context() as readers:
            readers.setattr(FolderLock, "__enter__", _no_lock)  # locks are for writers
            assert workspace.synthetic_benchmark(student, "xsub", **small) == data
            assert workspace.pretrained_run(student, data, "tiny", 1, **quick) == run
            assert workspace.run_origin(run) == "the classroom's"
            assert open_dataset(data).train.clip(0).shape[1:] == (2, 25, 3)
            assert not load_encoder(run).training and len(load_metrics(run)) == 1
            assert epochs_done(run) == 1 and load_config(run).data == str(data)
        assert not student.exists()
        # Other settings are made in the student's own folder.
        other = workspace.synthetic_benchmark(student, "xsub", subjects=2, seed=1)
        assert other == student / "synthetic" / "prepared" / "xsub"
        assert _listing(classroom.parent) == before
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(classroom.parent)], check=True)


def test_a_classroom_moved_elsewhere_still_serves_its_runs(tmp_path, monkeypatch):
    # A teacher prepares the folder on one machine; students mount it at another path.
    made, mounted = tmp_path / "teacher" / "work", tmp_path / "share" / "class" / "work"
    small = dict(subjects=2)
    quick = dict(model={"depth": 1, "num_frames": 40}, batch_size=64, max_steps=4, progress=False)
    run = workspace.pretrained_run(made, workspace.synthetic_benchmark(made, "xsub", **small),
                                   "tiny", 1, **quick)  # fmt: skip
    mounted.parent.mkdir(parents=True)
    shutil.move(made, mounted)
    monkeypatch.setenv("GLT_CLASSROOM", str(mounted))
    monkeypatch.setattr(workspace, "pretrain", lambda *a, **k: pytest.fail("trained again"))
    student = tmp_path / "student"
    data = workspace.synthetic_benchmark(student, "xsub", **small)
    assert data == mounted / "synthetic" / "prepared" / "xsub"
    moved = mounted / run.relative_to(made)
    assert workspace.pretrained_run(student, data, "tiny", 1, **quick) == moved
    # The run recorded the folder it was trained on; another folder of the classroom is not it.
    other = mounted / "synthetic" / "prepared" / "xview"
    assert not workspace._finished_on(moved, other, 1, mounted)


def test_a_classroom_run_on_other_data_or_too_short_is_not_used(tmp_path, monkeypatch):
    classroom = tmp_path / "classroom"
    (classroom / "runs").mkdir(parents=True)
    run = classroom / "runs" / "pretrain-tiny"
    trained = []
    monkeypatch.setattr(workspace, "pretrain", lambda *args, **kw: trained.append(args[1]))
    monkeypatch.setattr(workspace, "epochs_done", lambda folder: 3 if folder == run else 0)
    monkeypatch.setattr(workspace, "is_run", lambda folder: folder == run)
    monkeypatch.setattr(workspace, "load_config", lambda folder: SimpleNamespace(data="/data/a"))
    monkeypatch.setenv("GLT_CLASSROOM", str(classroom))
    student = tmp_path / "student"
    assert workspace.pretrained_run(student, "/data/a", "tiny", 3, shipped=False) == run
    assert workspace.pretrained_run(student, "/data/b", "tiny", 3, shipped=False) != run
    assert workspace.pretrained_run(student, "/data/a", "tiny", 4, shipped=False) != run
    assert trained == [student / "runs" / "pretrain-tiny"] * 2


def test_ablation_folder_is_the_classrooms_when_it_has_the_tables(tmp_path, monkeypatch):
    classroom, work = tmp_path / "classroom", tmp_path / "student"
    assert workspace.ablation_folder(work, "x") == work / "ablations" / "x"  # no classroom
    monkeypatch.setenv("GLT_CLASSROOM", str(classroom))
    (classroom / "ablations" / "x").mkdir(parents=True)
    assert workspace.ablation_folder(work, "x") == work / "ablations" / "x"  # no table there
    (classroom / "ablations" / "x" / "table_a.csv").write_text("row\n")
    assert workspace.ablation_folder(work, "x") == classroom / "ablations" / "x"
    assert workspace.ablation_folder(work, "y") == work / "ablations" / "y"  # other settings
    (work / "ablations" / "x").mkdir(parents=True)  # the student's own comes first
    assert workspace.ablation_folder(work, "x") == work / "ablations" / "x"
