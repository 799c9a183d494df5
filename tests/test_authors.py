"""Tests for glt.data.formats.authors: the authors' (N, 3, 300, V, M) + (names, labels) layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from glt.data.formats.authors import (
    PAD_VALUE,
    authors_lengths,
    export_authors,
    import_authors,
    read_label_pickle,
)
from glt.data.store import open_dataset, write_dataset
from glt.errors import DataError
from glt.layout import NTU, NWUCLA

NAMES = [
    "S001C001P001R001A001",
    "S001C002P003R002A010",
    "S017C003P020R002A058",
    "S002C001P008R001A033",
]


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    lengths = [5, 300, 1, 17]
    clips = [rng.normal(size=(t, 2, 25, 3)).astype(np.float32) for t in lengths]
    return write_dataset(
        tmp_path / "ds", clips, [0, 9, 57, 32], ["train", "val", "train", "train"], NTU,
        names=NAMES, num_classes=60, preprocessed=True,
    )  # fmt: skip


def test_export_writes_the_authors_layout(dataset, tmp_path):
    data_path, label_path = export_authors(dataset, tmp_path / "a" / "train")
    assert data_path.name == "train_position.npy" and label_path.name == "train_label.pkl"
    data = np.load(data_path)
    part = open_dataset(dataset).train
    assert data.shape == (3, 3, 300, 25, 2) and data.dtype == np.float32
    for i in range(len(part)):
        clip = part.clip(i)
        np.testing.assert_array_equal(data[i, :, : len(clip)], clip.transpose(3, 0, 2, 1))
        assert (data[i, :, len(clip) :] == PAD_VALUE).all()
    names, labels = pickle.loads(label_path.read_bytes())  # what the authors' feeder reads
    assert names == list(part.names) and labels == part.labels.tolist()
    np.testing.assert_array_equal(authors_lengths(data), part.lengths)


def test_round_trip(dataset, tmp_path):
    train = export_authors(dataset, tmp_path / "a" / "train", part="train")
    val = export_authors(dataset, tmp_path / "a" / "val", part="val")
    out = import_authors(*train, tmp_path / "back", val_data_path=val[0], val_label_path=val[1])
    before, after = open_dataset(dataset), open_dataset(out)
    assert after.meta["max_frames"] == 300 and after.meta["empty_clips"] == 0
    for split in ("train", "val"):
        a, b = before.part(split), after.part(split)
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.offsets, b.offsets)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.names, b.names)
    assert after.train.info["subject"].tolist() == [1, 20, 8]  # parsed from the NTU names


def test_import_reads_the_authors_pickles(tmp_path):
    data = np.full((2, 3, 300, 20, 1), PAD_VALUE, np.float32)
    data[0, :, :4] = 1.0
    data[1] = 2.0  # no pad frame: the full 300 frames
    np.save(tmp_path / "d.npy", data)
    names = ["/raw/nturgb+d_skeletons/a01_s01_e00_v01", "x/a02_s01_e00_v01.skeleton"]
    (tmp_path / "l.pkl").write_bytes(pickle.dumps((names, [0, 1])))
    assert read_label_pickle(tmp_path / "l.pkl") == (["a01_s01_e00_v01", "a02_s01_e00_v01"], [0, 1])
    ds = open_dataset(
        import_authors(tmp_path / "d.npy", tmp_path / "l.pkl", tmp_path / "o", layout=NWUCLA)
    )
    assert ds.train.lengths.tolist() == [4, 300] and ds.train.info == {}


def test_empty_clips_are_left_out_and_counted(tmp_path):
    data = np.full((2, 3, 10, 25, 2), PAD_VALUE, np.float32)
    data[1, :, :3] = 0.5
    np.save(tmp_path / "d.npy", data)
    (tmp_path / "l.pkl").write_bytes(pickle.dumps((["a", "b"], [3, 4])))
    ds = open_dataset(import_authors(tmp_path / "d.npy", tmp_path / "l.pkl", tmp_path / "o"))
    assert ds.meta["empty_clips"] == 1 and ds.train.names.tolist() == ["b"]


def test_import_checks_shapes_and_counts(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((2, 3, 10, 25, 2), np.float32))
    (tmp_path / "l.pkl").write_bytes(pickle.dumps((["a"], [3])))
    with pytest.raises(DataError, match="2 clips but 1 labels"):
        import_authors(tmp_path / "d.npy", tmp_path / "l.pkl", tmp_path / "o")
    with pytest.raises(DataError, match="expected \\(N, 3, T, 20, 1\\)"):
        import_authors(tmp_path / "d.npy", tmp_path / "l.pkl", tmp_path / "o", layout=NWUCLA)
