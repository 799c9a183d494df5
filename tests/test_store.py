"""Tests for glt.data.store: write_dataset's checks, the format round trip, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glt.atomic import staging_dir
from glt.data import store
from glt.data.preprocess import preprocess
from glt.data.store import open_dataset, write_dataset
from glt.errors import DataError
from glt.layout import NTU, NWUCLA


def _clips(lengths=(4, 7, 1, 3), persons=2, joints=25, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(t, persons, joints, 3)).astype(np.float32) for t in lengths]


def test_round_trip_of_preprocessed_clips(tmp_path):
    clips = _clips()
    out = write_dataset(
        tmp_path / "ds", clips, [1, 0, 2, 1], ["train", "val", "train", "val"], NTU,
        names=["a", "b", "c", "d"], info={"subject": [5, 6, 7, 8]}, class_names=["x", "y", "z"],
        preprocessed=True, metadata={"note": "hi"},
    )  # fmt: skip
    ds = open_dataset(out)
    assert ds.layout == NTU and ds.num_classes == 3 and ds.class_names == ["x", "y", "z"]
    assert ds.meta["note"] == "hi" and ds.meta["parts"] == {"train": 2, "val": 2}
    assert ds.meta["frames"] == {"train": 5, "val": 10}
    train = ds.train
    assert train.names.tolist() == ["a", "c"] and train.labels.tolist() == [1, 2]
    assert train.info["subject"].tolist() == [5, 7] and train.lengths.tolist() == [4, 1]
    np.testing.assert_array_equal(train.clip(1), clips[2])
    np.testing.assert_array_equal(ds.val.clip(0), clips[1])
    assert isinstance(train.frames, np.memmap)


def test_raw_clips_are_preprocessed(tmp_path):
    clips = _clips(persons=1, joints=20)
    for clip in clips:
        clip[:, 0, 0] += 5  # joint 0 of person 0 present in every frame
    out = write_dataset(tmp_path / "ds", clips, [0] * 4, ["train"] * 4, NWUCLA, max_frames=5)
    part = open_dataset(out).train
    for i, clip in enumerate(clips):
        np.testing.assert_array_equal(part.clip(i), preprocess(clip, NWUCLA, max_frames=5))
    assert open_dataset(out).parts == ["train"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(sequences=[]), "no sequences"),
        (dict(labels=[0, 1]), "4 sequences but 2 labels"),
        (dict(splits=["train"] * 3), "4 sequences but 4 labels and 3 splits"),
        (dict(names=["a"]), "4 sequences but 1 names"),
        (dict(labels=[0, -1, 0, 0]), "0-based"),
        (dict(splits=["train", "test", "val", "val"]), "unknown split"),
        (dict(num_classes=2, labels=[0, 1, 2, 0]), "label 2 but only 2 classes"),
        (dict(info={"subject": [1, 2]}), "info\\['subject'\\]"),
        (dict(info={"labels": [1, 2, 3, 4]}), "reserved"),
        (dict(sequences=_clips(joints=20)), "expected \\(T, 2, 25, 3\\)"),
        (dict(sequences=_clips()[:3] + [np.full((2, 2, 25, 3), np.nan)]), "NaN"),
        (dict(sequences=_clips()[:3] + [np.zeros((0, 2, 25, 3))]), "no valid frame"),
        (dict(max_frames=-5), "max_frames=-5 must be at least 1"),
        (dict(max_frames=0), "max_frames=0 must be at least 1"),
        (
            dict(labels=[0, 1.7, 0, 1]),
            r"clip 1 \(clip00001\) has label 1.7; labels must be integer",
        ),
        (dict(labels=[0, 1, float("nan"), 1]), r"clip 2 \(clip00002\) has label nan"),
        (dict(labels=["a", "b", "a", "b"]), r"clip 0 \(clip00000\) has label 'a'"),
        (dict(names=["a", "b", "a", "b"]), r"names must be unique; repeated: \['a', 'b'\]"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, change, message):
    args = dict(sequences=_clips(), labels=[0, 1, 0, 1], splits=["train", "val", "val", "train"])
    args.update(change)
    with pytest.raises(DataError, match=message):
        write_dataset(tmp_path / "ds", args.pop("sequences"), args.pop("labels"), args.pop("splits"),
                      NTU, preprocessed=True, **args)  # fmt: skip
    assert not (tmp_path / "ds").exists()


def test_an_error_mid_write_leaves_no_folder(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path / "ds", _clips(), [0] * 4, ["train"] * 4, NTU, preprocessed=True)
    assert list(tmp_path.iterdir()) == []


def test_an_error_mid_write_keeps_the_old_folder(tmp_path, monkeypatch):
    out = write_dataset(tmp_path / "ds", _clips(), [0] * 4, ["train"] * 4, NTU, preprocessed=True)
    before = (out / "metadata.json").read_text()
    monkeypatch.setattr(store.np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError):
        write_dataset(
            out, _clips(seed=1), [1] * 4, ["val"] * 4, NTU, preprocessed=True, overwrite=True
        )
    assert (out / "metadata.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_overwrite(tmp_path):
    out = write_dataset(tmp_path / "ds", _clips(), [0] * 4, ["train"] * 4, NTU, preprocessed=True)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_dataset(out, _clips(), [0] * 4, ["train"] * 4, NTU, preprocessed=True)
    write_dataset(out, _clips(seed=1), [1] * 4, ["val"] * 4, NTU, preprocessed=True, overwrite=True)
    assert open_dataset(out).parts == ["val"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_staging_dir_renames_only_on_success(tmp_path):
    with staging_dir(tmp_path / "x") as tmp:
        (tmp / "f").write_text("1")
        assert not (tmp_path / "x").exists()
    assert (tmp_path / "x" / "f").read_text() == "1"
    with pytest.raises(RuntimeError), staging_dir(tmp_path / "y") as tmp:
        (tmp / "f").write_text("1")
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_open_dataset_explains_what_is_wrong(tmp_path):
    write_dataset(
        tmp_path / "ntu" / "xsub", _clips(), [0] * 4, ["train"] * 4, NTU, preprocessed=True
    )
    with pytest.raises(FileNotFoundError, match="benchmarks \\['xsub'\\]"):
        open_dataset(tmp_path / "ntu")
    with pytest.raises(DataError, match="no part 'val'"):
        open_dataset(tmp_path / "ntu" / "xsub").part("val")
    meta = tmp_path / "ntu" / "xsub" / "metadata.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": "other"}))
    with pytest.raises(DataError, match="format 'other'"):
        open_dataset(tmp_path / "ntu" / "xsub")


def _rewrite_index(path, **changes):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_metadata(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


DAMAGES = {
    "truncated frames": ("train_frames.npy", _truncate, "not a readable frames array"),
    "truncated index": ("train_index.npz", _truncate, "not a readable index"),
    "garbage metadata": ("metadata.json", lambda p: p.write_text("{garbage"), "not valid JSON"),
    "missing frames": ("val_frames.npy", lambda p: p.unlink(), "missing"),
    "missing index": ("val_index.npz", lambda p: p.unlink(), "missing"),
    "float64 frames": (
        "train_frames.npy",
        lambda p: np.save(p, np.load(p).astype(np.float64)),
        "float64 array of shape (15, 2, 25, 3), expected float32",
    ),
    "frames of another layout": (
        "train_frames.npy",
        lambda p: np.save(p, np.load(p)[:, :1]),
        "shape (15, 1, 25, 3)",
    ),
    "more frames than the index": (
        "train_frames.npy",
        lambda p: np.save(p, np.concatenate([np.load(p)] * 2)),
        "30 frames, but train_index.npz says 15",
    ),
    "offsets out of order": (
        "train_index.npz",
        lambda p: _rewrite_index(p, offsets=np.array([0, 7, 4, 12, 15])),
        "offsets must start at 0 and increase",
    ),
    "label out of range": (
        "train_index.npz",
        lambda p: _rewrite_index(p, labels=np.array([0, 1, 9, 0])),
        "labels outside 0..2",
    ),
    "float labels": (
        "train_index.npz",
        lambda p: _rewrite_index(p, labels=np.array([0.0, 1.0, 2.0, 0.5])),
        "labels has shape (4,) and dtype float64, expected (4,) integers",
    ),
    "no names": ("train_index.npz", lambda p: _rewrite_index(p, names=None), "no names array"),
    "clip count unlike the metadata": (
        "metadata.json",
        lambda p: _edit_metadata(p, parts={"train": 5, "val": 2}),
        "offsets has shape (5,) and dtype int64, expected (6,) integers (metadata.json: 5 clips)",
    ),
    "frame count unlike the metadata": (
        "metadata.json",
        lambda p: _edit_metadata(p, frames={"train": 16, "val": 5}),
        "16 train frames, but train_index.npz and train_frames.npy hold 15",
    ),
    "no layout": (
        "metadata.json",
        lambda p: _edit_metadata(p, layout={"name": "x"}),
        "'layout' is not a skeleton layout",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_dataset_is_one_line_naming_the_file(tmp_path, capsys, damage):
    from glt.commands import main

    root = tmp_path / "data"
    labels, splits = [0, 1, 2, 0, 1, 2], ["train"] * 4 + ["val"] * 2
    write_dataset(root, _clips((4, 3, 5, 3, 2, 3)), labels, splits, NTU, preprocessed=True)
    name, damage_it, message = DAMAGES[damage]
    damage_it(root / name)
    with pytest.raises(DataError, match=f"^{root}/[a-z_]+\\.(npy|npz|json): ") as error:
        open_dataset(root)
    named = str(error.value).split(": ")[0]
    assert message in str(error.value)
    for verb in (["linear", "--random-init"], ["pretrain"]):
        out = tmp_path / f"out-{verb[0]}"
        assert main([*verb, "--data", str(root), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert named in err and message in err, err
        assert "Traceback" not in err and len(err.splitlines()) == 1
        assert not out.exists()


def test_write_subset_keeps_at_most_n_clips_per_class_and_part(tmp_path):
    labels = [0, 0, 0, 1, 1, 0, 0, 1, 2, 2]
    splits = ["train"] * 5 + ["val"] * 5
    clips = _clips(lengths=range(1, 11))
    full = open_dataset(write_dataset(
        tmp_path / "full", clips, labels, splits, NTU, names=[f"c{i}" for i in range(10)],
        info={"subject": list(range(10))}, class_names=["x", "y", "z"], preprocessed=True,
    ))  # fmt: skip
    small = open_dataset(store.write_subset(full, tmp_path / "small", 2, seed=1))
    assert small.meta["parts"] == {"train": 4, "val": 5}  # train: 2 of class 0, 2 of 1
    assert small.num_classes == 3 and small.class_names == ["x", "y", "z"]
    for part in ("train", "val"):
        sub, src = small.part(part), full.part(part)
        assert np.bincount(sub.labels).max() <= 2
        rows = [src.names.tolist().index(n) for n in sub.names]
        assert rows == sorted(rows)  # the original order
        for k, i in enumerate(rows):  # each clip with its own label, fields and frames
            assert sub.labels[k] == src.labels[i]
            assert sub.info["subject"][k] == src.info["subject"][i]
            np.testing.assert_array_equal(sub.clip(k), src.clip(i))
    again = open_dataset(store.write_subset(full, tmp_path / "again", 2, seed=1))
    assert again.train.names.tolist() == small.train.names.tolist()  # seeded
    with pytest.raises(DataError, match="max_per_class"):
        store.write_subset(full, tmp_path / "none", 0)
