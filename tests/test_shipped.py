"""Tests for the pretrained encoder glt ships (glt.shipped), encoder runs (glt.run) and the
content fingerprint of prepared datasets it is matched by (glt.data.store)."""

from __future__ import annotations

import json

import pytest
import torch

from glt import shipped, workspace
from glt.data.store import fingerprint
from glt.errors import GLTError
from glt.pretrain import pretrain
from glt.run import epochs_done, load_config, load_encoder, load_metrics, save_encoder_run

SUBJECTS = 2  # a small synthetic set: 240 clips, all in xsub's train part
QUICK = dict(model={"depth": 1, "num_frames": 40}, batch_size=64, workers=0, progress=False)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    work = tmp_path_factory.mktemp("small")
    return workspace.synthetic_benchmark(work, "xsub", subjects=SUBJECTS)


@pytest.fixture(scope="module")
def default_data(tmp_path_factory):
    """The synthetic default benchmark, made afresh: what notebook 03 trains on."""
    return workspace.synthetic_benchmark(tmp_path_factory.mktemp("default"), "xsub")


def test_fingerprint_depends_on_the_content_not_on_the_folder(small_data, tmp_path):
    again = workspace.synthetic_benchmark(tmp_path / "again", "xsub", subjects=SUBJECTS)
    assert again != small_data
    assert fingerprint(again) == fingerprint(small_data)
    other = workspace.synthetic_benchmark(tmp_path / "other", "xsub", subjects=SUBJECTS, seed=1)
    assert fingerprint(other) != fingerprint(small_data)


@pytest.mark.slow
def test_a_clean_work_folder_gets_the_shipped_run_without_training(default_data, tmp_path):
    assert fingerprint(default_data) == shipped.record()["data"]["fingerprint"], (
        "the synthetic default benchmark changed: remake the shipped run (glt/shipped.py)"
    )
    work = tmp_path / "work"
    run = workspace.pretrained_run(work, default_data, "tiny", 32, progress=False)
    assert run == shipped.FOLDER and not (work / "runs").exists()
    assert workspace.run_origin(run) == "shipped with glt"
    assert epochs_done(run) == 32 and load_config(run).data == ""
    assert len(load_metrics(run)) == 32 and load_metrics(run, kind="step")
    encoder = load_encoder(run)
    assert not encoder.training and encoder.config.dim == 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "request_",
    [
        dict(preset="tiny", epochs=31),
        dict(preset="paper", epochs=32),
        dict(preset="tiny", epochs=32, max_steps=5),
        dict(preset="tiny", epochs=32, shipped=False),
    ],
    ids=["other-epochs", "other-preset", "other-option", "not-allowed"],
)
def test_any_other_request_trains_in_the_work_folder(default_data, tmp_path, monkeypatch, request_):
    trained = []
    monkeypatch.setattr(workspace, "pretrain", lambda *args, **kw: trained.append(args[1]))
    run = workspace.pretrained_run(tmp_path, default_data, progress=False, **request_)
    assert run == tmp_path / "runs" / f"pretrain-{request_['preset']}" and trained == [run]


def test_other_data_does_not_match_the_shipped_run(small_data):
    assert not shipped.matches(small_data, "tiny", 32)


def test_the_shipped_encoder_is_plain_float32_weights():
    state = torch.load(shipped.FOLDER / "encoder.pt", weights_only=True)
    assert sorted(state) == ["encoder", "epoch", "step"]
    assert all(v.dtype == torch.float32 for v in state["encoder"].values())
    assert state["encoder"].keys() == load_encoder(shipped.FOLDER).state_dict().keys()
    made = shipped.record()
    assert made["command"].startswith("glt pretrain ") and "--epochs 32" in made["command"]
    assert made["glt"] and made["torch"]


def test_an_encoder_run_reads_like_its_training_run(small_data, tmp_path):
    run = tmp_path / "run"
    pretrain(small_data, run, "tiny", epochs=1, log_every=1, **QUICK)
    out = save_encoder_run(run, tmp_path / "encoder")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "encoder.pt", "metrics.jsonl"]
    assert epochs_done(out) == epochs_done(run) == 1
    assert load_metrics(out, kind=None) == load_metrics(run, kind=None)
    ours, theirs = load_encoder(run).state_dict(), load_encoder(out).state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert shipped.distance(run, out) == 0.0


def test_make_writes_a_shipped_run_and_distance_measures_it(small_data, tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    pretrain(small_data, run, "tiny", epochs=1, log_every=2, progress=False)
    out = shipped.make(run, tmp_path / "shipped")
    made = json.loads((out / shipped.RECORD).read_text())
    assert made["data"]["fingerprint"] == fingerprint(small_data)
    assert "--preset tiny --epochs 1 --log-every 2 --seed 0" in made["command"]
    assert load_config(out).data == "" and shipped.distance(run, out) == 0.0
    pretrain(small_data, other, "tiny", epochs=1, seed=1, lr=2e-3, max_steps=1, progress=False)
    assert shipped.distance(other, out) > 0.01  # another initialisation
    with pytest.raises(GLTError, match=r"not a plain tiny run .*'lr', 'max_steps'"):
        shipped.make(other, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
