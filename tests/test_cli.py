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
