"""Tests for glt.lock and the folders it guards: a second process stops with a clear message,
the lock of a killed process is taken over, and what a killed process left is cleaned up."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest
from test_pretrain import RUN, SMALL, write_random_walks

from glt import checkpoint
from glt.atomic import atomic_write, staging_dir
from glt.commands import main
from glt.errors import GLTError
from glt.lock import FolderLock
from glt.pretrain import pretrain
from glt.run import load_metrics

HOLD = "import sys; from glt.lock import FolderLock\nwith FolderLock(sys.argv[1]):\n"
HOLD += "    print('held', flush=True); sys.stdin.read()\n"


@pytest.fixture
def holder():
    """Start another process holding the lock of a folder; yields a function (folder -> Popen)."""
    started = []

    def hold(folder):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        started.append(proc)
        assert proc.stdout.readline() == "held\n"
        return proc

    yield hold
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_held_lock_stops_a_second_process_and_is_free_after(tmp_path, holder):
    proc = holder(tmp_path / "out")
    with pytest.raises(GLTError, match=rf"out is in use by another glt process \(pid {proc.pid} "):
        FolderLock(tmp_path / "out").__enter__()
    proc.stdin.close()  # the holder finishes and releases the lock
    assert proc.wait() == 0
    assert not (tmp_path / ".out.lock").exists()
    with FolderLock(tmp_path / "out"):
        assert f"pid {os.getpid()} " in (tmp_path / ".out.lock").read_text()
    assert not (tmp_path / ".out.lock").exists()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path, holder):
    proc = holder(tmp_path / "out")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert f"pid {proc.pid} " in (tmp_path / ".out.lock").read_text()  # left behind: stale
    with FolderLock(tmp_path / "out"):
        assert f"pid {os.getpid()} " in (tmp_path / ".out.lock").read_text()
    # A lock file naming a process that is gone (here, no process at all) is stale too.
    (tmp_path / ".out.lock").write_text("pid 999999999 on elsewhere\n")
    with FolderLock(tmp_path / "out"):
        pass


def test_resume_while_the_run_is_in_use_is_refused(tmp_path, holder, capsys):
    data = write_random_walks(tmp_path / "data")
    out = tmp_path / "run"
    pretrain(data, out, "tiny", model=SMALL, epochs=1, **RUN)
    before, rows = (out / "checkpoint.pt").read_bytes(), load_metrics(out, kind=None)
    holder(out)
    assert main(["pretrain", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is in use by another glt process" in err and "Traceback" not in err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert load_metrics(out, kind=None) == rows  # no duplicate rows


@pytest.mark.parametrize("verb", ["synth", "prepare"])
def test_two_writers_of_one_dataset_folder(tmp_path, holder, capsys, verb):
    out = tmp_path / "out"
    raw = tmp_path / "raw"
    assert main(["synth", "--out", str(raw), "--subjects", "1", "--actions", "1", "--quiet"]) == 0
    argv = {
        "synth": ["synth", "--out", str(out), "--subjects", "1", "--actions", "1", "--quiet"],
        "prepare": ["prepare", "ntu60", "--raw", str(raw), "--out", str(out), "--workers", "0"],
    }
    proc = holder(out)
    assert main(argv[verb]) == 2
    err = capsys.readouterr().err
    assert f"is in use by another glt process (pid {proc.pid} " in err
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))
    proc.stdin.close()
    proc.wait()
    assert main(argv[verb]) == 0  # once the other process is done
    assert main(argv[verb]) == 2  # and the folder exists: replaced only with --overwrite
    assert "exists" in capsys.readouterr().err


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    data = write_random_walks(tmp_path / "data")
    out = tmp_path / "run"
    pretrain(data, out, "tiny", model=SMALL, epochs=1, **RUN)
    (out / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    pretrain(None, out, resume=True, epochs=2, **RUN)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt", "config.json", "loss.png", "metrics.jsonl",
    ]  # fmt: skip
    (tmp_path / ".new.partial-k1ll3d").mkdir()
    (tmp_path / ".new.partial-k1ll3d" / ".clips.f32").write_bytes(b"scratch")
    with staging_dir(tmp_path / "new") as tmp:
        (tmp / "f").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "new", "run"]


def test_an_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), staging_dir(tmp_path / "new") as tmp:
        (tmp / "f").write_text("1")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "file") as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_files_and_folders_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "file") as f:
            f.write(b"x")
        with staging_dir(tmp_path / "folder"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "file").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o750


def test_ctrl_c_during_pretraining_keeps_the_checkpoint_and_frees_the_folder(
    tmp_path, monkeypatch, capsys
):
    import glt.pretrain

    data = write_random_walks(tmp_path / "data")
    out = tmp_path / "run"
    pretrain(data, out, "tiny", model=SMALL, epochs=1, **RUN)
    before = (out / "checkpoint.pt").read_bytes()
    real, calls = glt.pretrain.packed_train_step, [0]  # the default path's step

    def interrupted(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(glt.pretrain, "packed_train_step", interrupted)
    assert main(["pretrain", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]  # no lock file left
    monkeypatch.undo()
    assert main(["pretrain", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0


KILLED_WHILE_SAVING = """
import os, signal, sys, torch
from glt.pretrain import pretrain
save = torch.save
def killed(state, f, *args, **kwargs):
    if state["epoch"] == 2:  # the second checkpoint: half written, then the process dies
        f.write(b"half a checkpoint"); f.flush(); os.kill(os.getpid(), signal.SIGKILL)
    save(state, f, *args, **kwargs)
torch.save = killed
pretrain(sys.argv[1], sys.argv[2], "tiny", model={"depth": 1, "num_frames": 40}, epochs=2,
         batch_size=8, workers=0, progress=False)
"""


def test_a_kill_while_saving_keeps_the_checkpoint_and_the_next_run_cleans_up(tmp_path):
    data = write_random_walks(tmp_path / "data")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-c", KILLED_WHILE_SAVING, str(data), str(out)]
    assert subprocess.run(argv, env=env).returncode == -signal.SIGKILL
    assert checkpoint.load_checkpoint(out / "checkpoint.pt")["epoch"] == 1  # the previous one
    assert len(list(out.glob(".checkpoint.pt.*.tmp"))) == 1
    assert (tmp_path / ".run.lock").exists()  # stale: its owner is dead
    assert main(["pretrain", "--out", str(out), "--resume", "--quiet"]) == 0
    assert checkpoint.load_checkpoint(out / "checkpoint.pt")["epoch"] == 2
    assert not list(out.glob(".*.tmp")) and not (tmp_path / ".run.lock").exists()


def test_the_lock_of_the_current_folder_is_beside_it(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with FolderLock("."):
        assert (tmp_path / ".here.lock").is_file()
        with pytest.raises(GLTError, match="in use"), FolderLock("../here"):
            pass
