"""Tests for glt.data.nwucla: clip reading, names, the cross-view split and its official list."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from glt.data import nwucla
from glt.errors import DataError, SkeletonFileError


def test_read_a_genuine_clip(nwucla_dir):
    path = nwucla_dir / "all_sqe" / "a01_s01_e00_v01.json"
    name, label, skeletons = nwucla.read_clip(path)
    content = json.loads(path.read_text())
    assert name == "a01_s01_e00_v01" and label == content["label"] - 1 == 0
    assert (
        skeletons.shape == (len(content["skeletons"]), 1, 20, 3) and skeletons.dtype == np.float32
    )
    np.testing.assert_array_equal(skeletons[:, 0], np.float32(content["skeletons"]))


def test_labels_follow_the_action_ids(nwucla_dir):
    actions = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
    for label, action in enumerate(actions):
        path = next((nwucla_dir / "all_sqe").glob(f"a{action:02d}_*.json"))
        assert nwucla.read_clip(path)[1] == label
    assert len(nwucla.CLASSES) == len(actions)


def test_official_test_list_is_view_3(nwucla_dir):
    official = nwucla.read_val_list(nwucla_dir / "val_label.pkl")
    names = [p.stem for p in (nwucla_dir / "all_sqe").glob("*.json")]
    assert len(names) == 1484 and len(official) == 464
    assert official == {n for n in names if nwucla.split_of(nwucla.NWUCLAName.parse(n)) == "val"}


def test_names():
    name = nwucla.NWUCLAName.parse("a12_s10_e04_v03")
    assert (name.action, name.subject, name.episode, name.view) == (12, 10, 4, 3)
    assert nwucla.split_of(name) == "val"
    assert nwucla.split_of(nwucla.NWUCLAName.parse("a12_s10_e04_v02")) == "train"
    with pytest.raises(DataError, match="not an NW-UCLA clip name"):
        nwucla.NWUCLAName.parse("a12_s10_e04")


def test_clip_dir(tmp_path):
    assert nwucla.clip_dir(tmp_path) == tmp_path
    (tmp_path / "all_sqe").mkdir()
    assert nwucla.clip_dir(tmp_path) == tmp_path / "all_sqe"


GOOD = {"file_name": "a01_s01_e00_v01", "label": 1, "skeletons": [[[0.1, 0.2, 3.0]] * 20] * 2}


@pytest.mark.parametrize(
    "text, line, what",
    [
        (
            '{"file_name": "a01_s01_e00_v01",\n "label": 1,\n "skeletons": [[[0.1, 0.2',
            3,
            "not valid JSON",
        ),
        (json.dumps({**GOOD, "skeletons": [[[0.1, 0.2, 3.0]] * 19]}), None, "(T, 20, 3)"),
        (json.dumps({**GOOD, "skeletons": []}), None, "(T, 20, 3)"),
        (json.dumps({**GOOD, "label": 11}), None, "label 11"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "label"}), None, "label"),
        (json.dumps(GOOD).replace("0.1", "NaN"), None, "NaN"),
        (json.dumps({**GOOD, "file_name": "clip7"}), None, "file_name"),
        (
            json.dumps({**GOOD, "file_name": "a01_s01_e00_v03"}),  # view 3: the other part
            None,
            "file_name 'a01_s01_e00_v03' disagrees with the file's name",
        ),
    ],
)
def test_bad_clips_name_the_file(tmp_path, text, line, what):
    path = tmp_path / "a01_s01_e00_v01.json"
    path.write_text(text)
    with pytest.raises(SkeletonFileError) as info:
        nwucla.read_clip(path)
    assert info.value.path == str(path) and info.value.line == line and what in str(info.value)


def test_the_test_list_is_unpickled_safely(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "val_label.pkl"
    path.write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(DataError, match="builtins.print"):
        nwucla.read_val_list(path)
    path.write_bytes(pickle.dumps(["a01_s01_e00_v03"]))
    with pytest.raises(DataError, match="file_name"):
        nwucla.read_val_list(path)
