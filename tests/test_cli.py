"""The `glt` command line: every verb is registered and bad input gives one clear line."""

import pytest

from glt.commands import build_parser, main

VERBS = [
    "synth",
    "prepare",
    "import",
    "export",
    "pretrain",
    "linear",
    "knn",
    "semi",
    "finetune",
    "transfer",
    "test",
    "ablate",
    "bench",
]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([verb, "--help"])
    assert exit_.value.code == 0
    assert "usage: glt" in capsys.readouterr().out


def test_missing_data_is_one_clear_line_not_a_traceback(tmp_path, capsys):
    code = main(["pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("glt pretrain: error:") and "nowhere" in err
    assert "Traceback" not in err


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    import errno

    from glt.commands import synth

    def full(out, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "S001.skeleton"))

    monkeypatch.setattr(synth, "write_synthetic", full)
    assert main(["synth", "--out", str(tmp_path / "syn")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"glt synth: error: [Errno 28] No space left on device: '{tmp_path / 'syn' / 'S001.skeleton'}'\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--device", "gpu"], "--device gpu: not a device; e.g. cpu, cuda or cuda:1"),
        (["bench", "--device", "cpu", "--steps", "0"], "steps=0 must be >= 1"),
        (["bench", "--device", "cpu", "--batch-size", "-2"], "batch_size=-2 must be >= 1"),
        (["bench", "--device", "cpu", "--warmup", "-1"], "warmup=-1 must be >= 0"),
        (["bench", "--device", "cpu", "--threads", "-1"], "--threads -1: must be >= 1"),
    ],
)
def test_bad_numbers_and_devices_are_one_clear_line(argv, message, tmp_path, capsys):
    code = main([*argv, "--out", str(tmp_path / "bench.json"), "--no-results"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "bench.json").exists()


def test_a_gpu_the_machine_lacks_is_named(monkeypatch):
    import torch

    from glt.device import resolve_device
    from glt.errors import GLTError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(
        GLTError, match=r"--device cuda:7: this machine has 2 GPU\(s\), cuda:0 to cuda:1"
    ):
        resolve_device("cuda:7")


def test_outside_a_checkout_default_outputs_go_to_the_working_directory(tmp_path, monkeypatch):
    from glt import paths

    for name in ("GLT_DATA", "GLT_RUNS", "GLT_NWUCLA"):
        monkeypatch.delenv(name, raising=False)
    assert paths.runs_dir() == paths.REPO_ROOT / "runs"  # a clone: its own folders
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")  # an installed wheel
    monkeypatch.chdir(tmp_path)
    assert paths.runs_dir() == tmp_path / "runs" and paths.data_dir() == tmp_path / "datasets"
    assert paths.nwucla_recordings_dir() == tmp_path / "data" / "nw-ucla"
