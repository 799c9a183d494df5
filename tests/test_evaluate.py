"""Tests for glt.features, glt.evaluate and glt.results: feature extraction, attention averaging
with padding, and every evaluation protocol on a tiny synthetic dataset with class-dependent
motion, its result folder and saved classifier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TOY

from glt import commands
from glt import evaluate as E
from glt import results as R
from glt.data.store import open_dataset, write_dataset
from glt.errors import DataError, GLTError
from glt.features import (
    AttentionAverage,
    average_attention,
    extract_features,
    spatial_attention_sums,
    temporal_attention_sums,
)
from glt.layout import NWUCLA, SkeletonLayout
from glt.model import GLTConfig, GLTransformer, pool_valid

CLASSES = 3


def toy_clips(n: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """Clips of 8-23 frames whose class c lifts the head by 0.3 c and swings a hand c + 1 times."""
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for i in range(n):
        c, t = i % CLASSES, int(rng.integers(8, 24))
        x = rng.normal(0, 0.05, (t, 1, 5, 3)).astype(np.float32)
        x[:, 0, 4, 1] += 0.3 * c
        x[:, 0, 2, 0] += 0.2 * np.sin(2 * np.pi * (c + 1) * np.arange(t) / t)
        clips.append(x)
        labels.append(c)
    return clips, labels


def make_toy_dataset(root: Path, n_train: int = 60, n_val: int = 30, seed: int = 0) -> Path:
    clips, labels = toy_clips(n_train + n_val, seed)
    splits = ["train"] * n_train + ["val"] * n_val
    names = [f"c{k}" for k in range(CLASSES)]
    return write_dataset(root, clips, labels, splits, TOY, preprocessed=True, class_names=names)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return open_dataset(make_toy_dataset(tmp_path_factory.mktemp("data") / "toy"))


def tiny_encoder(seed: int = 0) -> GLTransformer:
    """A small random encoder for TOY, without dropout (sized here, not by the presets)."""
    torch.manual_seed(seed)
    config = GLTConfig.from_layout(
        TOY, num_frames=32, dim=8, heads=2, depth=1, dropout=0.0, attn_dropout=0.0, drop_path=0.0
    )
    return GLTransformer(config)


CHANCE = 100.0 / CLASSES


# --- attention averaging: the arithmetic on handmade maps ---------------------------------------


def test_temporal_average_ignores_padding():
    # clip A: 2 valid frames of 3, attention 1.0 where valid, 100 (garbage) in pad rows/columns;
    # clip B: 3 valid frames, attention 3.0 everywhere.
    maps = torch.full((2, 1, 3, 3), 100.0)
    maps[0, :, :2, :2] = 1.0
    maps[1] = 3.0
    lengths = torch.tensor([2, 3])
    sums, counts = temporal_attention_sums(maps, lengths)
    np.testing.assert_array_equal(counts.numpy(), [[2, 2, 1], [2, 2, 1], [1, 1, 1]])
    expected = np.array([[2.0, 2.0, 3.0], [2.0, 2.0, 3.0], [3.0, 3.0, 3.0]])
    np.testing.assert_allclose((sums / counts)[0].numpy(), expected)


def test_spatial_average_over_valid_frames_of_all_clips():
    maps = torch.full((2, 3, 1, 2, 2), 100.0)  # (B, T, H, J, J)
    maps[0, :2] = 1.0  # clip A: 2 valid frames
    maps[1] = 4.0  # clip B: 3 valid frames
    sums, count = spatial_attention_sums(maps, torch.tensor([2, 3]))
    assert count == 5
    np.testing.assert_allclose((sums / count).numpy(), np.full((1, 2, 2), (2 * 1 + 3 * 4) / 5))


def test_attention_average_across_batches_of_different_length():
    # Batch 1: clip A alone (T = 2). Batch 2: clip B (length 3) padded to T = 4.
    first = SimpleNamespace(temporal=[torch.ones(1, 1, 2, 2)], spatial=[torch.ones(1, 2, 1, 2, 2)])
    second = SimpleNamespace(
        temporal=[torch.full((1, 1, 4, 4), 3.0)], spatial=[torch.full((1, 4, 1, 2, 2), 4.0)]
    )
    second.spatial[0][:, 3] = 100.0  # the pad frame
    average = AttentionAverage()
    average.update(first, torch.tensor([2]))
    average.update(second, torch.tensor([3]))
    temporal = average.temporal
    assert temporal.shape == (1, 1, 4, 4) and average.clips == 2
    np.testing.assert_allclose(temporal[0, 0, :2, :2], 2.0)
    np.testing.assert_allclose(temporal[0, 0, 2, :3], 3.0)
    assert np.isnan(temporal[0, 0, 3]).all() and np.isnan(temporal[0, 0, :, 3]).all()
    np.testing.assert_allclose(average.spatial, (2 * 1 + 3 * 4) / 5)


def test_average_attention_matches_clip_by_clip(toy):
    """Batched, padded clips give the same averages as running every clip alone."""
    encoder = tiny_encoder().eval()
    average = average_attention(encoder, toy.val, num_clips=7, batch_size=3, seed=1, progress=False)
    picked = np.sort(np.random.default_rng(1).choice(len(toy.val), size=7, replace=False))
    depth, heads = encoder.config.depth, encoder.config.heads
    longest = int(toy.val.lengths[picked].max())
    t_sum, t_count = np.zeros((depth, heads, longest, longest)), np.zeros((longest, longest))
    s_sum, frames = np.zeros((depth, heads, 5, 5)), 0
    with torch.no_grad():
        for i in picked:
            clip = torch.tensor(toy.val.clip(i))[None]
            _, maps = encoder(clip, return_attention=True)
            n = clip.shape[1]
            for b in range(depth):
                t_sum[b, :, :n, :n] += maps.temporal[b][0].numpy()
                s_sum[b] += maps.spatial[b][0].sum(dim=0).numpy()
            t_count[:n, :n] += 1
            frames += n
    np.testing.assert_allclose(average.temporal, t_sum / t_count, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(average.spatial, s_sum / frames, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(average.spatial.sum(-1), 1.0, rtol=1e-5)  # softmax rows


# --- features -----------------------------------------------------------------------------------


def test_extract_features_in_dataset_order(toy):
    encoder = tiny_encoder()
    encoder.train()
    features, labels = extract_features(encoder, toy.val, batch_size=4, progress=False)
    assert encoder.training  # mode given back
    assert features.shape == (len(toy.val), encoder.config.width)
    np.testing.assert_array_equal(labels.numpy(), toy.val.labels)
    encoder.eval()
    with torch.no_grad():
        for i in (0, 5, len(toy.val) - 1):
            clip = torch.tensor(toy.val.clip(i))[None]
            expected = pool_valid(encoder(clip))[0]
            torch.testing.assert_close(features[i], expected, rtol=1e-4, atol=1e-5)
    subset, sub_labels = extract_features(encoder, toy.val, indices=[7, 2], progress=False)
    torch.testing.assert_close(subset, features[[7, 2]], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(sub_labels.numpy(), toy.val.labels[[7, 2]])


def test_extract_features_equal_the_padded_forward(toy):
    """Packed batches (real frames only) give the padded forward's pooled features."""
    from glt.data.dataset import ClipDataset, collate_clips

    encoder = tiny_encoder().eval()
    with torch.no_grad():
        for name, param in encoder.named_parameters():
            if "pos_emb" in name or "norm" in name:
                param.normal_()  # so that a frame's position and every norm show
    batch = collate_clips([ClipDataset(toy.val)[i] for i in range(len(toy.val))])
    assert len(set(batch["lengths"].tolist())) > 5
    with torch.no_grad():
        expected = pool_valid(encoder(batch["x"], batch["lengths"]), batch["lengths"])
    features, _ = extract_features(encoder, toy.val, batch_size=7, progress=False)
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)


def test_extract_features_train_mode_draws_dropout_without_gradients(toy):
    torch.manual_seed(0)
    config = GLTConfig.from_layout(TOY, num_frames=32, dim=8, heads=2, depth=2, drop_path=0.5)
    encoder = GLTransformer(config).eval()
    run = dict(batch_size=8, progress=False)
    eval_a, _ = extract_features(encoder, toy.val, **run)
    eval_b, _ = extract_features(encoder, toy.val, **run)
    train_a, _ = extract_features(encoder, toy.val, train_mode=True, **run)
    train_b, _ = extract_features(encoder, toy.val, train_mode=True, **run)
    assert not encoder.training  # mode given back
    assert not train_a.requires_grad and all(p.grad is None for p in encoder.parameters())
    torch.testing.assert_close(eval_a, eval_b)
    assert not torch.allclose(train_a, eval_a, atol=1e-3)  # dropout and DropPath at work
    assert not torch.allclose(train_a, train_b, atol=1e-3)  # drawn afresh


def test_extract_features_crops_clips_longer_than_the_encoder(toy):
    encoder = E.random_encoder("tiny", TOY, 0, num_frames=10)
    features, _ = extract_features(encoder, toy.val, progress=False)
    assert torch.isfinite(features).all()


def test_extract_features_augmentation_is_seeded(toy):
    encoder = tiny_encoder()
    aug = E.linear_eval_transform(TOY, 32)
    a, _ = extract_features(encoder, toy.val, transform=aug, epoch=1, progress=False)
    b, _ = extract_features(encoder, toy.val, transform=aug, epoch=1, progress=False)
    c, _ = extract_features(encoder, toy.val, transform=aug, epoch=2, progress=False)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


# --- small pieces of the protocols --------------------------------------------------------------


def test_topk_and_confusion():
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.0, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.35]])
    labels = torch.tensor([2, 0, 1, 0])
    top1, top2, top5 = E.topk_accuracy(logits, labels, ks=(1, 2, 5))
    assert (top1, top2, top5) == (25.0, 75.0, 100.0)
    cm = E.confusion_counts(logits.argmax(1), labels, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 0, 1], [0, 1, 0]])


def test_best_epoch_is_the_authors_late_best():
    metrics = [
        {"epoch": e, "test_top1": acc, "test_top5": 90.0}
        for e, acc in enumerate([80, 10, 20, 30, 25, 15], start=1)
    ]
    # The authors' script tests after epoch 1 and the second half: epochs 2-3 do not count.
    assert E.best_epoch(metrics) == {"epoch": 1, "top1": 80, "top5": 90.0}
    metrics[0]["test_top1"] = 5
    assert E.best_epoch(metrics) == {"epoch": 4, "top1": 30, "top5": 90.0}
    metrics[3].pop("test_top1")  # epochs without a test are skipped
    assert E.best_epoch(metrics)["epoch"] == 5


def test_labelled_subset_is_class_balanced_and_seeded():
    labels = np.repeat(np.arange(4), [100, 50, 10, 3])
    picked = E.labelled_subset(labels, 0.1, seed=3)
    np.testing.assert_array_equal(np.bincount(labels[picked]), [10, 5, 1, 1])
    np.testing.assert_array_equal(picked, E.labelled_subset(labels, 0.1, seed=3))
    assert not np.array_equal(picked, E.labelled_subset(labels, 0.1, seed=4))
    assert len(np.unique(picked)) == len(picked)
    with pytest.raises(GLTError):
        E.labelled_subset(labels, 0.0)


def test_knn_scores_weighted_vote():
    train_x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    train_y = torch.tensor([0, 0, 1, 1])
    test_x = torch.tensor([[1.0, 0.05], [0.2, 1.0]])
    one = E.knn_scores(train_x, train_y, test_x, k=1, num_classes=2)
    assert one.argmax(1).tolist() == [0, 1] and (one > 0).sum().item() == 2
    three = E.knn_scores(train_x, train_y, test_x, k=3, num_classes=2, temperature=1.0)
    sims = (
        torch.nn.functional.normalize(test_x, dim=1)
        @ torch.nn.functional.normalize(train_x, dim=1).T
    )
    expected0 = sims[0, :2].exp().sum()  # the two class-0 neighbours
    torch.testing.assert_close(three[0, 0], expected0)


def test_check_layout_names_both_layouts():
    config = GLTConfig.preset("tiny")  # NTU: 25 joints x 2 persons
    with pytest.raises(DataError, match="25 joints x 2 persons.*'nwucla'.*20 joints x 1"):
        config.check_layout(NWUCLA)


# --- protocols on the toy dataset ---------------------------------------------------------------


def test_linear_eval_cached_beats_chance_and_saves(toy, tmp_path):
    result = E.linear_eval(
        tiny_encoder(), toy, epochs=30, batch_size=16, lr=1e-2, augment=False,
        encoder_mode="eval", progress=False,
    )  # fmt: skip
    assert result.settings["features"] == "cached"
    assert result.top1 > CHANCE + 30
    assert len(result.metrics) == 30 and result.best["epoch"] > 15
    assert result.best["top1"] >= max(m["test_top1"] for m in result.metrics[15:]) - 1e-9
    assert result.confusion.sum() == len(toy.val)
    assert np.trace(result.confusion) == round(result.top1 * len(toy.val) / 100)
    out = R.save_result(result, tmp_path / "lin", layout=TOY)
    summary = json.loads((out / "result.json").read_text())
    assert summary["top1"] == result.top1 and summary["settings"]["epochs"] == 30
    assert "| linear |" in (out / "result.md").read_text()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 30
    saved = torch.load(out / "classifier.pt", weights_only=True)
    assert set(saved["state_dict"]) == {"classifier.weight", "classifier.bias"}
    with pytest.raises(FileExistsError):
        R.save_result(result, out)


def test_linear_eval_with_augmentation_runs(toy):
    result = E.linear_eval(
        tiny_encoder(), toy, epochs=2, batch_size=32, augment=True, progress=False
    )
    assert result.settings["augment"] == "interpolation"
    assert len(result.metrics) == 2 and np.isfinite(result.metrics[-1]["train_loss"])


def _record_modes(encoder: GLTransformer) -> list[bool]:
    """The encoder's train/eval mode at every forward (seen by its dropout modules)."""
    modes = []
    dropouts = [m for m in encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts
    for m in dropouts:
        m.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    return modes


def test_linear_eval_default_is_the_authors_protocol(toy, monkeypatch):
    """Encoder in train mode (dropout on) while the head trains, re-encoded every epoch; eval
    mode for the test features; the last incomplete batch dropped (method §5, quirks)."""
    torch.manual_seed(0)
    config = GLTConfig.from_layout(TOY, num_frames=32, dim=8, heads=2, depth=1, dropout=0.5)
    encoder = GLTransformer(config).eval()
    modes = _record_modes(encoder)
    passes, extract = [], E.extract_features

    def spy(encoder, data, *args, **kw):
        passes.append((len(data) == len(toy.train), kw.get("train_mode", False)))
        return extract(encoder, data, *args, **kw)

    monkeypatch.setattr(E, "extract_features", spy)
    result = E.linear_eval(encoder, toy, epochs=2, batch_size=16, progress=False)
    assert passes == [(False, False), (True, True), (True, True)]  # test once, train per epoch
    test_forwards = modes.index(True)
    assert test_forwards > 0 and not any(modes[:test_forwards])  # test features: eval mode
    assert all(modes[test_forwards:])  # train features: train mode, dropout active
    assert result.settings["encoder_mode"] == "train" and result.settings["drop_last"]
    assert result.settings["features"] == "re-encoded every epoch"
    assert not encoder.training  # given back in the mode it came in


def test_fit_epoch_drops_the_last_incomplete_batch():
    head = torch.nn.Linear(4, 3)
    calls = []
    head.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    optimizer = torch.optim.Adam(head.parameters())
    E._fit_epoch(head, optimizer, x, y, 4, torch.Generator(), drop_last=True)
    assert calls == [4, 4]
    E._fit_epoch(head, optimizer, x, y, 4, torch.Generator(), drop_last=False)
    assert calls == [4, 4, 4, 4, 2]


def test_linear_eval_refuses_a_batch_larger_than_the_train_part(toy):
    with pytest.raises(GLTError, match="keep-last-batch"):
        E.linear_eval(tiny_encoder(), toy, epochs=1, batch_size=1024, progress=False)
    result = E.linear_eval(
        tiny_encoder(), toy, epochs=1, batch_size=1024, drop_last=False, progress=False
    )
    assert result.info["num_train"] == len(toy.train)


def test_knn_beats_chance(toy):
    result = E.knn_eval(tiny_encoder(), toy, ks=(1, 5), progress=False)
    assert [m["k"] for m in result.metrics] == [1, 5]
    assert result.top1 == result.metrics[0]["top1"] > CHANCE + 30
    assert result.metrics[0]["top5"] is None and result.metrics[1]["top5"] is not None
    assert "| 5 |" in result.to_markdown()


def test_finetune_trains_the_encoder(toy):
    encoder = tiny_encoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    result = E.finetune(
        encoder,
        toy,
        epochs=6,
        batch_size=8,
        lr=1e-3,
        encoder_lr=1e-3,
        eval_every=2,
        progress=False,
    )
    assert result.protocol == "finetune" and result.top1 > CHANCE + 20
    assert [("test_top1" in m) for m in result.metrics] == [False, True] * 3
    changed = [k for k, v in encoder.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and any(k.startswith("encoder.") for k in result.state_dict)


@pytest.mark.parametrize("mode", ["finetune", "linear"])
def test_semi_supervised_uses_the_labelled_fraction(toy, mode):
    kw = dict(epochs=15, batch_size=4, progress=False, seed=0)
    if mode == "finetune":
        kw.update(lr=1e-3, encoder_lr=1e-3, eval_every=5)
    else:
        kw.update(lr=1e-2, augment=False, encoder_mode="eval", drop_last=False)
    result = E.semi_supervised(tiny_encoder(), toy, 0.25, mode, **kw)
    assert result.protocol == "semi" and result.settings["mode"] == mode
    assert result.info["num_train"] == 15  # 5 of each class's 20 train clips
    assert result.top1 > CHANCE + 20


def test_saved_classifier_reproduces_its_accuracy(toy, tmp_path):
    encoder = tiny_encoder()
    result = E.finetune(encoder, toy, epochs=2, batch_size=16, progress=False)
    out = R.save_result(result, tmp_path / "ft", layout=TOY)
    tested = E.evaluate_classifier(out, toy, progress=False)
    assert tested.top1 == pytest.approx(result.top1)
    np.testing.assert_array_equal(tested.confusion, result.confusion)


# --- command line -------------------------------------------------------------------------------


def run_cli(*argv) -> int:
    return commands.main([str(a) for a in argv])


def test_cli_random_init_linear_then_test(toy, tmp_path):
    out = tmp_path / "lin"
    args = ["--data", toy.root, "--random-init", "--preset", "tiny", "--out", out]
    assert run_cli("linear", *args, "--epochs", 3, "--batch-size", 16, "--no-augment") == 0
    summary = json.loads((out / "result.json").read_text())
    assert summary["protocol"] == "linear" and summary["encoder"] == "random init (tiny, seed 0)"
    saved = torch.load(out / "classifier.pt", weights_only=True)
    assert any(k.startswith("encoder.") for k in saved["state_dict"])  # random: kept
    assert run_cli("test", "--classifier", out, "--data", toy.root, "--out", tmp_path / "t") == 0
    tested = json.loads((tmp_path / "t" / "result.json").read_text())
    assert tested["top1"] == pytest.approx(summary["top1"])


def test_cli_knn_semi_finetune(toy, tmp_path):
    base = ["--data", toy.root, "--random-init"]
    assert run_cli("knn", *base, "--k", 1, 3, "--out", tmp_path / "knn") == 0
    assert json.loads((tmp_path / "knn" / "result.json").read_text())["settings"]["k"] == [1, 3]
    short = ["--epochs", 1, "--batch-size", 16]
    assert run_cli("semi", *base, "--fraction", 0.5, *short, "--out", tmp_path / "semi") == 0
    semi = json.loads((tmp_path / "semi" / "result.json").read_text())
    assert semi["settings"]["fraction"] == 0.5 and semi["num_train"] == 30
    assert run_cli("finetune", *base, *short, "--out", tmp_path / "ft") == 0
    assert (tmp_path / "ft" / "classifier.pt").is_file()


def test_cli_reports_bad_arguments(toy, tmp_path, capsys):
    assert run_cli("linear", "--data", toy.root, "--out", tmp_path / "x") == 2
    assert "--run" in capsys.readouterr().err
    assert run_cli("test", "--classifier", tmp_path / "none", "--data", toy.root) == 2
    assert "classifier.pt" in capsys.readouterr().err


# --- against the authors' code ------------------------------------------------------------------


@pytest.mark.official
def test_features_and_linear_head_reproduce_the_authors_logits(official, tmp_path):
    """extract_features (length-sorted batches, padding, frame averaging) + the authors' linear
    classifier give the logits of their linear-evaluation model (method §5)."""
    from einops import rearrange

    from glt.compat import (
        authors_encoder_state,
        config_from_authors,
        from_authors_input,
        load_authors,
    )
    from glt.layout import NTU

    config = config_from_authors(official["config"], NTU)
    encoder = load_authors(
        GLTransformer(config), authors_encoder_state(official["pretrain_state_dict"])
    )
    x, lengths = from_authors_input(official["model_input"])
    clips = [
        rearrange(x[i, : int(n)], "t (v m) c -> t m v c", m=NTU.num_persons).numpy()
        for i, n in enumerate(lengths)
    ]
    num_classes = official["config"]["num_action_class"]
    root = write_dataset(
        tmp_path / "official",
        clips,
        [0] * len(clips),
        ["val"] * len(clips),
        NTU,
        preprocessed=True,
        num_classes=num_classes,
        max_frames=config.num_frames,
    )
    features, _ = extract_features(encoder, open_dataset(root).val, batch_size=3, progress=False)
    head = torch.nn.Linear(config.width, num_classes)
    head.load_state_dict(official["action_linear"])
    with torch.no_grad():
        logits = head(features)
    torch.testing.assert_close(logits, official["logits"].float(), rtol=1e-5, atol=1e-5)


# --- with a pretraining run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(toy, tmp_path_factory) -> Path:
    from glt.pretrain import pretrain

    out = tmp_path_factory.mktemp("runs") / "tiny"
    pretrain(toy.root, out, "tiny", model={"num_frames": 32}, epochs=1, progress=False, workers=0)
    return out


def test_cli_linear_from_run_keeps_only_the_head(toy, run_dir, tmp_path):
    args = ["--run", run_dir, "--data", toy.root, "--epochs", 3, "--batch-size", 16]
    assert run_cli("linear", *args, "--no-augment") == 0
    out = run_dir / "eval" / "linear-toy"  # the default output folder
    summary = json.loads((out / "result.json").read_text())
    assert summary["encoder"] == str(run_dir) and summary["encoder_run"] == str(run_dir.resolve())
    saved = torch.load(out / "classifier.pt", weights_only=True)
    assert set(saved["state_dict"]) == {"classifier.weight", "classifier.bias"}
    assert run_cli("test", "--classifier", out, "--data", toy.root) == 0
    tested = json.loads((out / "test-toy" / "result.json").read_text())
    assert tested["protocol"] == "test" and tested["top1"] == pytest.approx(summary["top1"])
    assert run_cli("linear", *args, "--no-augment") == 2  # exists: refused without --overwrite

    # The classifier refuses an encoder other than its own: here the run trained one epoch more.
    from glt.pretrain import pretrain

    further = tmp_path / "further"
    shutil.copytree(run_dir, further)
    pretrain(None, further, resume=True, epochs=2, progress=False, workers=0)
    with pytest.raises(DataError, match="trained further"):
        R.load_classifier(out, run=further)


def test_cli_transfer_to_another_dataset(toy, run_dir, tmp_path, capsys):
    other = make_toy_dataset(tmp_path / "other", n_train=30, n_val=15, seed=5)
    args = ["--run", run_dir, "--epochs", 2, "--batch-size", 16, "--no-augment"]
    assert run_cli("transfer", *args, "--data", other, "--out", tmp_path / "tr") == 0
    summary = json.loads((tmp_path / "tr" / "result.json").read_text())
    assert summary["protocol"] == "transfer" and summary["data_name"] == "other"
    assert summary["pretrained_on"] == str(toy.root) and summary["num_train"] == 30

    wide = SkeletonLayout("wide", tuple("abcdef"), (), center=1, left_shoulder=2, right_shoulder=3)
    clips = [np.zeros((5, 1, 6, 3), np.float32) + i for i in range(4)]
    bad = write_dataset(
        tmp_path / "wide",
        clips,
        [0, 1, 0, 1],
        ["train", "train", "val", "val"],
        wide,
        preprocessed=True,
    )
    capsys.readouterr()
    assert run_cli("transfer", *args, "--data", bad, "--out", tmp_path / "bad") == 2
    err = capsys.readouterr().err
    assert "5 joints x 1 persons" in err and "'wide' with 6 joints" in err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["linear", "--epochs", "0"], "epochs=0 must be at least 1"),
        (["linear", "--batch-size", "0"], "batch_size=0 must be at least 1"),
        (["linear", "--lr", "-1"], "lr=-1.0 must be positive"),
        (["linear", "--lr", "nan"], "lr=nan must be a finite number"),
        (["finetune", "--encoder-lr", "inf"], "encoder_lr=inf must be a finite number"),
        (["semi", "--fraction", "1.5"], "fraction=1.5 must be in (0, 1]"),
        (["semi", "--fraction", "0"], "fraction=0.0 must be in (0, 1]"),
        (["knn", "--k", "0", "5"], "k=[0, 5] must be at least 1"),
        (["knn", "--temperature", "0"], "temperature=0.0 must be positive"),
        (["knn", "--temperature", "nan"], "temperature=nan must be a finite number"),
        (["knn", "--feature-batch-size", "0"], "feature_batch_size=0 must be at least 1"),
        (["linear", "--workers", "-1"], "workers=-1 must be >= 0"),
    ],
)
def test_cli_checks_every_setting_before_reading_data(tmp_path, capsys, argv, message):
    # The data folder does not exist: the bad setting is reported before anything is read.
    out = tmp_path / "out"
    assert run_cli(*argv, "--random-init", "--data", tmp_path / "nowhere", "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"glt {argv[0]}: error: invalid ") and message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_library_protocols_check_their_settings_first(toy):
    with pytest.raises(GLTError, match=r"fraction=1.5 must be in \(0, 1\]"):
        E.semi_supervised(tiny_encoder(), toy, 1.5, "linear")
    with pytest.raises(GLTError, match="temperature=-1.0 must be positive"):
        E.knn_eval(tiny_encoder(), toy, temperature=-1.0)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGED_FILES = {
    "truncated": (_truncate, "truncated, damaged or not a torch file"),
    "foreign objects": (
        lambda p: torch.save(SimpleNamespace(weights=torch.ones(2)), p),
        "not a file of tensors and plain values (glt never unpickles others)",
    ),
    "not a dict": (lambda p: torch.save([torch.ones(2)], p), "is not a glt"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_FILES))
def test_damaged_classifier_and_checkpoint_are_one_line(toy, run_dir, tmp_path, capsys, damage):
    damage_it, message = DAMAGED_FILES[damage]
    clf = tmp_path / "clf"
    args = ["--data", toy.root, "--random-init", "--epochs", 1, "--no-augment", "--out", clf]
    assert run_cli("linear", *args) == 0
    capsys.readouterr()
    damage_it(clf / "classifier.pt")
    assert run_cli("test", "--classifier", clf, "--data", toy.root, "--out", tmp_path / "t") == 2
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    damage_it(run / "checkpoint.pt")
    assert run_cli("linear", "--run", run, "--data", toy.root, "--out", tmp_path / "l") == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    for name, err in zip(("classifier.pt", "checkpoint.pt"), errors, strict=True):
        assert name in err and message in err, err
        assert "weights_only" not in err
    assert not (tmp_path / "t").exists() and not (tmp_path / "l").exists()
