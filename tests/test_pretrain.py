"""Tests for glt.pretrain and glt.checkpoint: a short CPU run, exact resume, atomic checkpoints."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from glt import checkpoint
from glt.commands import main
from glt.config import PretrainConfig
from glt.data.store import open_dataset, write_dataset
from glt.errors import GLTError
from glt.layout import NTU
from glt.model import GLTransformer
from glt.mpdp import LOSS_TERMS, mpdp_loss
from glt.pretrain import PretrainTransform, learning_rate, pretrain
from glt.run import load_config, load_encoder, load_metrics
from glt.viz import plot_loss

# A small model and short runs: every test here takes a few seconds on 2 CPU cores.
SMALL = {"depth": 1, "num_frames": 40}
RUN = dict(batch_size=8, progress=False, workers=0)


def write_random_walks(path, clips: int = 24, seed: int = 0):
    """A prepared dataset of random-walk skeletons (stored as already preprocessed): `clips`
    train clips of 12..24 frames, every other one without a second person, plus 4 val clips."""
    rng = np.random.default_rng(seed)
    sequences, splits = [], []
    for i in range(clips + 4):
        t = int(rng.integers(12, 25))
        start = rng.normal(0, 0.3, (1, NTU.num_persons, NTU.num_joints, 3))
        walk = np.cumsum(rng.normal(0, 0.01, (t, NTU.num_persons, NTU.num_joints, 3)), axis=0)
        seq = (start + walk).astype(np.float32)
        if i % 2:
            seq[:, 1] = 0
        sequences.append(seq)
        splits.append("train" if i < clips else "val")
    labels = [i % 3 for i in range(clips + 4)]
    return write_dataset(path, sequences, labels, splits, NTU, preprocessed=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_random_walks(tmp_path_factory.mktemp("pretrain") / "data")


def _state(run_dir) -> dict:
    return checkpoint.load_checkpoint(run_dir / "checkpoint.pt")


def test_cli_run_writes_run_folder(data, tmp_path):
    out = tmp_path / "run"
    argv = ["pretrain", "--data", str(data), "--out", str(out), "--preset", "tiny", "--quiet"]
    argv += ["--epochs", "3", "--batch-size", "8", "--lr", "2e-3", "--workers", "0"]
    argv += ["--model", "depth=1", "--model", "num_frames=40", "--log-every", "4"]
    assert main(argv) == 0

    config = json.loads((out / "config.json").read_text())
    assert config["data"] == str(data) and config["model"]["depth"] == 1
    assert config["lr"] == 2e-3 and config["weight_decay"] == 0.1  # the authors' default
    rows = load_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["step"] for r in rows] == [3, 6, 9]  # 24 clips, batch 8
    assert [r["step"] for r in load_metrics(out, kind="step")] == [1, 4, 8]
    losses = [r["loss"] for r in rows]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.5, losses  # it learns
    assert rows[1]["lr"] == pytest.approx(2e-3 * 0.99)  # x0.99 after every epoch
    for r in rows:  # the loss is the authors' combination of its four terms
        expected = 0.05 * r["dir_global"] + r["dir_joint"] + 0.05 * r["mag_global"] + r["mag_joint"]
        assert r["loss"] == pytest.approx(expected, rel=1e-5)
        assert r["samples"] == 24 and r["samples_per_s"] > 0
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"

    state = _state(out)  # torch.load(weights_only=True) reads it
    assert (state["epoch"], state["batch"], state["step"]) == (3, 0, 9)
    assert len(state["rng"]) == 1 and state["config"] == config

    encoder = load_encoder(out)
    assert isinstance(encoder, GLTransformer) and not encoder.training
    assert encoder.config.depth == 1
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, state["model"][f"encoder.{name}"])
    x = torch.randn(2, 10, NTU.num_persons, NTU.num_joints, 3)
    assert encoder(x, torch.tensor([10, 6])).shape == (2, 10, encoder.config.width)
    assert load_config(out).model == encoder.config


def test_resume_repeats_an_uninterrupted_run_exactly(data, tmp_path):
    """3 epochs in one go == 2 epochs, then resumed to 3 == stopped mid-epoch, then resumed."""
    run = {**RUN, "batch_size": 12}  # 2 steps per epoch
    full = pretrain(data, tmp_path / "full", "tiny", model=SMALL, epochs=3, **run)

    pretrain(data, tmp_path / "split", "tiny", model=SMALL, epochs=2, **run)
    assert _state(tmp_path / "split")["epoch"] == 2
    split = pretrain(None, tmp_path / "split", resume=True, epochs=3, **run)

    stopped = pretrain(data, tmp_path / "mid", "tiny", model=SMALL, epochs=3, max_steps=3, **run)
    assert stopped["step"] == 3 and stopped["history"][-1]["partial"]
    state = _state(tmp_path / "mid")
    assert (state["epoch"], state["batch"], state["step"]) == (1, 1, 3)  # 1 of 2 batches of epoch 2
    mid = pretrain(None, tmp_path / "mid", resume=True, max_steps=0, **run)

    losses = [r["loss"] for r in full["history"]]
    assert len(set(losses)) == 3  # the epochs differ, so equality below means something
    assert [r["loss"] for r in split["history"]] == losses  # bit for bit
    assert [r["step"] for r in split["history"]] == [2, 4, 6]
    assert mid["history"][0]["loss"] == losses[0] and mid["history"][-1]["loss"] == losses[2]
    reference = _state(tmp_path / "full")
    for name in ("split", "mid"):
        state = _state(tmp_path / name)
        assert state["step"] == 6
        for key, value in reference["model"].items():
            assert torch.equal(state["model"][key], value), (name, key)
        assert torch.equal(state["rng"][0]["torch"], reference["rng"][0]["torch"])


def test_packed_trainer_equals_the_padded_trainer(data, tmp_path):
    """Without dropout, the default run (packed batches, real frames only) and a --padded run
    (the authors' formulation) take the same steps: the same loss terms and gradient norm at
    every step, and the same weights at the end."""
    quiet = {**SMALL, "dropout": 0.0, "attn_dropout": 0.0, "drop_path": 0.0}
    run = {**RUN, "batch_size": 12, "log_every": 1}
    pretrain(data, tmp_path / "packed", "tiny", model=quiet, epochs=2, **run)
    pretrain(data, tmp_path / "padded", "tiny", model=quiet, epochs=2, packed=False, **run)
    assert load_config(tmp_path / "packed").packed and not load_config(tmp_path / "padded").packed

    packed, padded = (load_metrics(tmp_path / name, kind=None) for name in ("packed", "padded"))
    assert [r["kind"] for r in packed] == ["step", "step", "epoch"] * 2
    for a, b in zip(packed, padded, strict=True):
        for key in ("loss", *LOSS_TERMS, "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), (a["step"], key)
    weights = [_state(tmp_path / name)["model"] for name in ("packed", "padded")]
    for name, value in weights[1].items():
        # AdamW's steps (lr 1e-3) turn the rounding noise of near-zero gradients into ~1e-5
        torch.testing.assert_close(weights[0][name], value, rtol=1e-5, atol=2e-5, msg=name)


def test_resume_refuses_other_settings_and_runs_refuse_to_overwrite(data, tmp_path):
    out = tmp_path / "run"
    pretrain(data, out, "tiny", model=SMALL, epochs=1, max_steps=1, **RUN)
    with pytest.raises(GLTError, match="already holds"):
        pretrain(data, out, "tiny", model=SMALL, epochs=1, **RUN)
    with pytest.raises(GLTError, match=r"lr: 0\.001 -> 0\.01"):
        pretrain(data, out, resume=True, lr=0.01, **RUN)
    with pytest.raises(GLTError, match="depth"):
        pretrain(data, out, resume=True, model={"depth": 2}, **RUN)
    # Runtime settings may change: more epochs, another step budget.
    summary = pretrain(None, out, resume=True, epochs=1, max_steps=2, **RUN)
    assert summary["step"] == 2


def test_clear_errors(data, tmp_path, capsys):
    with pytest.raises(GLTError, match="does not exist"):
        pretrain(tmp_path / "nowhere", tmp_path / "run", **RUN)
    with pytest.raises(GLTError, match="not a prepared dataset"):
        pretrain(tmp_path, tmp_path / "run", **RUN)
    with pytest.raises(GLTError, match="--data is required"):
        pretrain(None, tmp_path / "run", **RUN)
    with pytest.raises(GLTError, match="holds no pretraining run to resume; give --data"):
        pretrain(None, tmp_path / "run", resume=True, **RUN)
    with pytest.raises(GLTError, match="unknown pretraining options"):
        pretrain(data, tmp_path / "run", epoch=3, **RUN)
    with pytest.raises(GLTError, match="corrupt"):
        pretrain(data, tmp_path / "run", corrupt=1.5, **RUN)
    with pytest.raises(GLTError, match="batch_size=0 must be at least 1"):
        pretrain(data, tmp_path / "run", **{**RUN, "batch_size": 0})
    assert main(["pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_learning_rate_schedule():
    config = PretrainConfig(model={}, lr=1e-3, lr_decay=0.5, warmup_steps=4)
    assert learning_rate(config, epoch=0, step=0) == pytest.approx(0.25e-3)
    assert learning_rate(config, epoch=0, step=3) == pytest.approx(1e-3)
    assert learning_rate(config, epoch=2, step=100) == pytest.approx(0.25e-3)
    authors = PretrainConfig(model={})
    assert (authors.lr, authors.weight_decay, authors.lr_decay) == (5e-5, 0.1, 0.99)
    assert learning_rate(authors, epoch=1, step=0) == pytest.approx(5e-5 * 0.99)


def test_transform_resample_and_corrupt(data):
    layout = open_dataset(data).layout
    clip = torch.tensor(open_dataset(data).train.clip(0)) + 1.0  # no exact zeros
    generator = torch.Generator().manual_seed(0)
    config = PretrainConfig(model={}, resample=30, corrupt=0.25)
    out = PretrainTransform(config, layout)(clip, generator)
    assert out.shape == (30, *clip.shape[1:])  # fixed length: no interpolation augmentation
    zero = (out == 0).all(dim=-1)
    assert zero.float().mean().item() == pytest.approx(0.25, abs=0.01)
    natural = PretrainTransform(PretrainConfig(model={}), layout)(clip, generator)
    assert abs(len(natural) - len(clip)) <= 0.1 * len(clip) + 1  # interpolated by up to 10 %
    assert not (natural == 0).all(dim=-1).any()


def test_plot_loss_returns_figure():
    rows = [
        {"epoch": e, "loss": 5.0 - e, "dir_global": 2.0, "dir_joint": 2.5 - e / 2,
         "mag_global": 1.0, "mag_joint": 2.0 - e / 2}
        for e in (1, 2, 3)
    ]  # fmt: skip
    fig = plot_loss(rows)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "epoch"
    assert len(fig.axes[1].get_lines()) == 4


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model, path = torch.nn.Linear(3, 2), tmp_path / "checkpoint.pt"
    optimizer = torch.optim.AdamW(model.parameters())
    save = dict(model=model, optimizer=optimizer, rng=[checkpoint.rng_state()], batch=0, config={})
    checkpoint.save_checkpoint(path, epoch=1, step=5, **save)
    before = path.read_bytes()

    def torn_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(path, epoch=2, step=10, **save)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # and no partial file is left
    monkeypatch.undo()
    assert checkpoint.load_checkpoint(path)["epoch"] == 1
    path.write_bytes(b"garbage")
    with pytest.raises(GLTError, match="not a readable checkpoint"):
        checkpoint.load_checkpoint(path)


def test_rng_state_round_trip():
    import random

    state = checkpoint.rng_state()
    first = torch.rand(3), np.random.rand(3), random.random()
    checkpoint.set_rng_state(state)
    second = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


@pytest.mark.parametrize("authors_weighting", [True, False])
def test_train_step_loss_and_gradient_clipping(data, authors_weighting):
    """A step reports glt.mpdp.mpdp_loss on the batch (before the update), with the chosen
    global-token weighting, and --clip-grad bounds the update."""
    from glt.data.dataset import ClipDataset, collate_clips
    from glt.mpdp import PretrainModel
    from glt.pretrain import train_step
    from glt.targets import displacement_targets

    quiet = {"dropout": 0.0, "attn_dropout": 0.0, "drop_path": 0.0}
    config = PretrainConfig.from_preset(
        "tiny", NTU, model={**SMALL, **quiet}, clip_grad=0.01, authors_weighting=authors_weighting
    )
    batch = collate_clips([ClipDataset(open_dataset(data).train)[i] for i in range(4)])
    model = PretrainModel(config.model)
    before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    targets = displacement_targets(batch["x"], batch["lengths"], batch["present"])
    with torch.no_grad():
        logits = model(batch["x"], batch["lengths"])
        expected = mpdp_loss(*logits, *targets, batch["lengths"], config.model,
                             authors_weighting=authors_weighting)  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    stats = train_step(model, batch, optimizer, config, torch.device("cpu"))
    assert stats[0].item() == pytest.approx(expected.item(), rel=1e-6)
    grad_norm = stats[-1].item()  # before clipping
    update = torch.nn.utils.parameters_to_vector(model.parameters()).detach() - before
    assert grad_norm > 0.1 and update.norm().item() == pytest.approx(0.01, rel=1e-3)


def test_step_rows_are_logged_and_survive_resume_exactly(data, tmp_path):
    """log_every=1: one step row per step beside the epoch rows; a resumed run keeps exactly
    the step rows of an uninterrupted one (rows written after the checkpoint are dropped)."""
    run = {**RUN, "batch_size": 12, "log_every": 1}  # 2 steps per epoch
    pretrain(data, tmp_path / "full", "tiny", model=SMALL, epochs=2, **run)
    full_steps = load_metrics(tmp_path / "full", kind="step")
    assert [r["step"] for r in full_steps] == [1, 2, 3, 4]
    assert [r["epoch"] for r in full_steps] == [0.5, 1.0, 1.5, 2.0]  # fractional epochs
    assert all(r["kind"] == "step" and math.isfinite(r["loss"]) for r in full_steps)
    epochs = load_metrics(tmp_path / "full")  # default: epoch rows only, as before
    assert [r["kind"] for r in epochs] == ["epoch", "epoch"]
    assert epochs[0]["loss"] == pytest.approx((full_steps[0]["loss"] + full_steps[1]["loss"]) / 2)
    assert len(load_metrics(tmp_path / "full", kind=None)) == 6

    mid = tmp_path / "mid"
    pretrain(data, mid, "tiny", model=SMALL, epochs=2, max_steps=3, **run)
    with open(mid / "metrics.jsonl", "a") as f:  # a killed run wrote a step past its checkpoint
        f.write(json.dumps({"kind": "step", "epoch": 2.0, "step": 4, "loss": 99.0}) + "\n")
    resumed = pretrain(None, mid, resume=True, max_steps=0, **run)
    assert [r["loss"] for r in load_metrics(mid, kind="step")] == [r["loss"] for r in full_steps]
    assert [r["partial"] for r in resumed["history"] if "partial" in r] == [True]
    assert all(r["kind"] == "epoch" for r in resumed["history"])

    quiet = pretrain(
        data, tmp_path / "off", "tiny", model=SMALL, epochs=1, **{**run, "log_every": 0}
    )
    assert load_metrics(tmp_path / "off", kind="step") == [] and quiet["history"]
    with pytest.raises(GLTError):
        load_metrics(tmp_path / "off", kind="steps")


def test_load_metrics_reads_rows_without_kind(tmp_path):
    terms = {"dir_global": 2.0, "dir_joint": 2.0, "mag_global": 1.0, "mag_joint": 1.5}
    rows = [
        {"epoch": 1, "step": 3, "loss": 2.0, **terms},
        {"epoch": 2, "step": 6, "loss": 1.5, **terms},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_metrics(tmp_path) == rows
    assert load_metrics(tmp_path, kind="step") == []
    fig = plot_loss(rows, chance=6.4)
    assert fig.axes[0].get_lines()[-1].get_ydata()[0] == 6.4


def test_plot_loss_draws_step_rows_behind_epoch_means():
    terms = {"dir_global": 2.0, "dir_joint": 2.0, "mag_global": 1.0, "mag_joint": 1.5}
    rows = [{"kind": "step", "epoch": s / 4, "step": s, "loss": 5.0 - s / 4, **terms}
            for s in range(1, 5)]  # fmt: skip
    rows.append({"kind": "epoch", "epoch": 1, "step": 4, "loss": 4.4, **terms})
    fig = plot_loss(rows)
    assert len(fig.axes[0].get_lines()) == 2  # thin step line + epoch mean
    assert len(fig.axes[1].get_lines()) == 8
    assert fig.axes[0].get_xlabel() == "epoch"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--lambda-mag", "nan", "lambda_mag=nan must be a finite number"),
        ("--lr", "inf", "lr=inf must be a finite number"),
        ("--weight-decay", "inf", "weight_decay=inf must be a finite number"),
        ("--lambda-global", "-5", "lambda_global=-5.0 must be >= 0"),
        ("--clip-grad", "nan", "clip_grad=nan must be a finite number"),
        ("--model", "foo=1", "unknown model setting foo; known: num_frames"),
        ("--model", "dropout=NaN", "dropout=nan must be a rate in [0, 1)"),
        ("--model", "dropout=nan", "dropout='nan' must be of type float"),
        ("--model", "depth=two", "depth='two' must be of type int"),
        ("--model", "num_joints=25", "num_joints cannot be set: the data's layout"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(data, tmp_path, capsys, flag, value, message):
    out = tmp_path / "run"
    argv = ["pretrain", "--data", str(data), "--out", str(out), "--quiet", flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()


def _diverge_at(monkeypatch, step: int) -> None:
    """Make the magnitude loss of every step from `step` (counted in this process) on NaN,
    on the padded and the packed path alike."""
    import glt.pretrain
    import glt.pretrain_packed

    real, calls = glt.pretrain.mpdp_loss_terms, [0]

    def terms(*args, **kwargs):
        calls[0] += 1
        out = real(*args, **kwargs)
        if calls[0] >= step:
            out["mag_joint"] = out["mag_joint"] * float("nan")
        return out

    monkeypatch.setattr(glt.pretrain, "mpdp_loss_terms", terms)
    monkeypatch.setattr(glt.pretrain_packed, "mpdp_loss_terms", terms)


def test_a_diverged_run_stops_and_keeps_its_last_good_checkpoint(
    data, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["pretrain", "--data", str(data), "--out", str(out), "--quiet", "--epochs", "1"]
    argv += ["--batch-size", "8", "--workers", "0", "--log-every", "0"]
    argv += ["--model", "depth=1", "--model", "num_frames=40"]
    assert main(argv) == 0
    good, rows = (out / "checkpoint.pt").read_bytes(), load_metrics(out)
    _diverge_at(monkeypatch, step=2)  # the second step of epoch 2 (step 5 of the run)
    assert main([*argv[:-8], "--resume", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "training diverged at step 5: loss=nan, mag_joint=nan" in err
    assert "grad_norm=nan" in err and "the last checkpoint (step 3) is kept" in err
    assert "Traceback" not in err
    assert (out / "checkpoint.pt").read_bytes() == good  # never overwritten with NaN weights
    assert load_metrics(out) == rows
    state = _state(out)
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_divergence_is_caught_at_a_logged_step(data, tmp_path, monkeypatch):
    _diverge_at(monkeypatch, step=1)
    with pytest.raises(GLTError, match="diverged at step 1: .*no checkpoint was written"):
        pretrain(data, tmp_path / "run", "tiny", model=SMALL, epochs=2, log_every=1, **RUN)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("content", ["{garbage", "[1, 2]", '{"model": {}, "lr": "fast"}'])
def test_a_damaged_config_is_one_line_naming_it(data, tmp_path, capsys, content):
    out = tmp_path / "run"
    pretrain(data, out, "tiny", model=SMALL, epochs=1, max_steps=1, **RUN)
    (out / "config.json").write_text(content)
    before = (out / "checkpoint.pt").read_bytes()
    assert main(["pretrain", "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'config.json'}: not a pretraining configuration" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert (out / "checkpoint.pt").read_bytes() == before


def test_metrics_torn_at_the_end_are_read_damaged_in_the_middle_refused(tmp_path):
    rows = [{"kind": "epoch", "epoch": e, "step": e, "loss": 1.0} for e in (1, 2)]
    lines = [json.dumps(r) for r in rows]
    (tmp_path / "metrics.jsonl").write_text("\n".join([*lines, '{"kind": "ep']))
    assert load_metrics(tmp_path) == rows  # the last line of a killed run is dropped
    (tmp_path / "metrics.jsonl").write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(GLTError, match=r"metrics.jsonl, line 2: not a metrics row"):
        load_metrics(tmp_path)


def test_a_configuration_recorded_before_the_pad_free_path_reads_as_padded():
    recorded = PretrainConfig.from_preset("tiny", NTU).to_dict()
    assert PretrainConfig.from_dict(recorded).packed is True
    del recorded["packed"]  # what runs wrote before the field existed
    assert PretrainConfig.from_dict(recorded).packed is False
