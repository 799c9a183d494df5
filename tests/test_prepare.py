"""Tests for `glt prepare` (glt.data.prepare) on the genuine NTU samples and NW-UCLA."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
from einops import rearrange

from glt.commands import main
from glt.data import ntu, nwucla
from glt.data.prepare import prepare_nwucla
from glt.data.preprocess import preprocess
from glt.data.store import open_dataset
from glt.layout import NTU


def _prepare(*args) -> int:
    return main(["prepare", *map(str, args)])


@pytest.fixture(scope="module")
def ntu60(ntu_samples_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "ntu60"
    assert _prepare("ntu60", "--raw", ntu_samples_dir, "--out", out, "--workers", 0) == 0
    return out


def test_all_genuine_samples_are_prepared(ntu60, ntu_samples_dir):
    summary = json.loads((ntu60 / "prepare.json").read_text())
    assert summary["clips"] == summary["files"] == 16 and summary["skipped"] == 0
    assert (ntu60 / "skipped.txt").read_text() == ""
    assert sorted(p.name for p in ntu60.iterdir()) == [
        "prepare.json",
        "skipped.txt",
        "xsub",
        "xview",
    ]
    for benchmark in ("xsub", "xview"):
        ds = open_dataset(ntu60 / benchmark)
        assert ds.meta["dataset"] == "ntu60" and ds.meta["benchmark"] == benchmark
        assert ds.num_classes == 60 and ds.class_names == list(ntu.NTU60_CLASSES)
        assert ds.layout == NTU
        seen = []
        for split in ("train", "val"):
            part = ds.part(split)
            for i, name in enumerate(part.names):
                parsed = ntu.NTUName.parse(str(name))
                assert ntu.split_of(parsed, benchmark) == split
                assert part.labels[i] == parsed.action - 1
                assert part.info["subject"][i] == parsed.subject
                assert part.info["camera"][i] == parsed.camera
                assert part.info["setup"][i] == parsed.setup
                assert part.info["replication"][i] == parsed.replication
                want = preprocess(ntu.read_skeleton_file(ntu_samples_dir / f"{name}.skeleton"), NTU)
                np.testing.assert_array_equal(part.clip(i), want)
                seen.append(str(name))
        assert sorted(seen) == sorted(p.stem for p in ntu_samples_dir.glob("*.skeleton"))


@pytest.mark.official
def test_prepared_clips_match_the_authors(ntu60, official):
    part_of = {}
    ds = open_dataset(ntu60 / "xsub")
    for split in ("train", "val"):
        part = ds.part(split)
        part_of.update({str(n): (part, i) for i, n in enumerate(part.names)})
    want = official["real_position"].numpy()
    for k, file_name in enumerate(official["real_files"]):
        part, i = part_of[ntu.clip_name(file_name)]
        clip = part.clip(i)
        pad = np.flatnonzero(want[k, 0, :, 0, 0] == np.float32(99.9))
        assert len(clip) == (pad[0] if len(pad) else want.shape[2])
        np.testing.assert_allclose(
            clip, rearrange(want[k, :, : len(clip)], "c t v m -> t m v c"), rtol=1e-5, atol=1e-6
        )


def test_parallel_workers_give_the_same_result(ntu60, ntu_samples_dir, tmp_path):
    assert _prepare("ntu60", "--raw", ntu_samples_dir, "--out", tmp_path / "p", "--workers", 2) == 0
    for benchmark in ("xsub", "xview"):
        a, b = open_dataset(ntu60 / benchmark), open_dataset(tmp_path / "p" / benchmark)
        for split in ("train", "val"):
            np.testing.assert_array_equal(a.part(split).frames, b.part(split).frames)
            np.testing.assert_array_equal(a.part(split).names, b.part(split).names)


def test_ntu120_benchmarks(ntu_samples_dir, tmp_path):
    assert (
        _prepare("ntu120", "--raw", ntu_samples_dir, "--out", tmp_path / "o", "--workers", 0) == 0
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.is_dir()) == ["xset", "xsub"]
    ds = open_dataset(tmp_path / "o" / "xset")
    assert ds.num_classes == 120
    for split in ("train", "val"):
        for setup in ds.part(split).info["setup"]:
            assert (setup % 2 == 0) == (split == "train")


@pytest.fixture
def raw_with_problems(ntu_samples_dir, tmp_path):
    """Four genuine files, one truncated copy, one empty file, one NTU-120-only name."""
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    genuine = sorted(ntu_samples_dir.glob("*.skeleton"))[:4]
    for path in genuine:
        shutil.copy(path, raw / "sub" / path.name)
    text = genuine[0].read_bytes()
    cut = text.rindex(b"\n", 0, len(text) // 2) + 1  # whole lines: the file "ends early"
    (raw / "S002C002P002R002A002.skeleton").write_bytes(text[:cut])
    (raw / "S003C003P003R002A003.skeleton").write_bytes(b"")
    shutil.copy(genuine[1], raw / "S018C001P001R001A061.skeleton")
    return raw


def test_bad_files_are_skipped_and_listed(raw_with_problems, tmp_path, capsys):
    out = tmp_path / "out"
    assert _prepare("ntu60", "--raw", raw_with_problems, "--out", out, "--workers", 0) == 0
    summary = json.loads((out / "prepare.json").read_text())
    assert (summary["files"], summary["clips"], summary["skipped"]) == (7, 4, 2)
    assert summary["not_in_dataset"] == 1
    skipped = dict(line.split("\t") for line in (out / "skipped.txt").read_text().splitlines())
    assert set(skipped) == {"S002C002P002R002A002", "S003C003P003R002A003"}
    assert skipped["S002C002P002R002A002"].startswith("line ")
    assert "ends early" in skipped["S002C002P002R002A002"]
    assert skipped["S003C003P003R002A003"] == "line 1: the file is empty; expected the frame count"
    printed = capsys.readouterr().out
    assert "2 skipped" in printed and "S003C003P003R002A003" in printed
    assert open_dataset(out / "xsub").meta["skipped"] == 2


def test_strict_stops_at_the_first_bad_file(raw_with_problems, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        _prepare("ntu60", "--raw", raw_with_problems, "--out", out, "--strict", "--workers", 0) == 2
    )
    error = capsys.readouterr().err
    assert "S002C002P002R002A002.skeleton, line " in error and "ends early" in error
    assert not out.exists() and list(tmp_path.iterdir()) == [raw_with_problems]


def test_unreadable_and_empty_clips(ntu_samples_dir, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(next(ntu_samples_dir.glob("*.skeleton")), raw)
    (raw / "S005C001P001R001A005.skeleton").mkdir()  # not a file: cannot be read
    (raw / "S006C001P001R001A006.skeleton").write_text("2\n0\n0\n")  # no body at all
    out = tmp_path / "out"
    assert _prepare("ntu60", "--raw", raw, "--out", out, "--workers", 0) == 0
    skipped = dict(line.split("\t") for line in (out / "skipped.txt").read_text().splitlines())
    assert skipped["S005C001P001R001A005"].startswith("cannot read the file")
    assert skipped["S006C001P001R001A006"].startswith("no skeleton")
    args = ["ntu60", "--raw", raw, "--out", out, "--workers", 0, "--overwrite", "--strict"]
    assert _prepare(*args) == 2
    assert "S005C001P001R001A005.skeleton: cannot read the file" in capsys.readouterr().err
    (raw / "S005C001P001R001A005.skeleton").rmdir()
    assert _prepare(*args) == 2
    assert "S006C001P001R001A006.skeleton: no skeleton" in capsys.readouterr().err


def test_missing_list_leaves_clips_out(ntu_samples_dir, tmp_path):
    listed = tmp_path / "missing.txt"
    listed.write_text("S001C001P001R001A001\nS001C001P001R001A002\nS999C001P001R001A001\n")
    out = tmp_path / "out"
    assert (
        _prepare(
            "ntu60", "--raw", ntu_samples_dir, "--missing", listed, "--out", out, "--workers", 0
        )
        == 0
    )
    summary = json.loads((out / "prepare.json").read_text())
    assert (summary["clips"], summary["excluded_by_list"]) == (14, 2)
    names = {
        str(n) for split in ("train", "val") for n in open_dataset(out / "xsub").part(split).names
    }
    assert "S001C001P001R001A001" not in names and len(names) == 14


def test_existing_output_is_kept_unless_overwrite(ntu_samples_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert _prepare("ntu60", "--raw", ntu_samples_dir, "--out", out, "--workers", 0) == 2
    assert "exists" in capsys.readouterr().err and (out / "mine.txt").exists()
    assert (
        _prepare("ntu60", "--raw", ntu_samples_dir, "--out", out, "--workers", 0, "--overwrite")
        == 0
    )
    assert not (out / "mine.txt").exists() and (out / "xsub" / "metadata.json").exists()


def test_no_usable_clip_says_why(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "S001C001P001R001A001.skeleton").write_text("")
    (raw / "S001C001P001R001A002.skeleton").write_text("2\n0\n0\n")
    (raw / "S001C001P001R001A070.skeleton").write_text("")  # NTU-120 only
    assert _prepare("ntu60", "--raw", raw, "--out", tmp_path / "o", "--workers", 0) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress bar
    assert err.startswith(f"glt prepare: error: no usable clip in {raw}: ")
    assert "S001C001P001R001A001: line 1: the file is empty" in err
    assert "S001C001P001R001A002: no skeleton" in err and "1 of another dataset" in err
    assert list(tmp_path.iterdir()) == [raw]


def test_a_folder_without_skeleton_files_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _prepare("ntu60", "--raw", tmp_path / "empty", "--out", tmp_path / "o") == 2
    assert "no *.skeleton file" in capsys.readouterr().err


# --- NW-UCLA --------------------------------------------------------------------------------------


def test_nwucla_subset(nwucla_dir, tmp_path):
    raw = tmp_path / "raw"
    (raw / "all_sqe").mkdir(parents=True)
    clips = sorted((nwucla_dir / "all_sqe").glob("*.json"))[::50]  # 30 clips, all views
    for path in clips:
        shutil.copy(path, raw / "all_sqe" / path.name)
    shutil.copy(nwucla_dir / "val_label.pkl", raw / "val_label.pkl")
    assert _prepare("nwucla", "--raw", raw, "--out", tmp_path / "out", "--workers", 0) == 0
    ds = open_dataset(tmp_path / "out" / "xview")
    assert ds.layout.name == "nwucla" and ds.class_names == list(nwucla.CLASSES)
    total = 0
    for split in ("train", "val"):
        part = ds.part(split)
        for i, name in enumerate(part.names):
            parsed = nwucla.NWUCLAName.parse(str(name))
            assert (parsed.view == 3) == (split == "val") and part.info["camera"][i] == parsed.view
            _, label, skeletons = nwucla.read_clip(raw / "all_sqe" / f"{name}.json")
            assert part.labels[i] == label
            np.testing.assert_array_equal(part.clip(i), preprocess(skeletons, ds.layout))
        total += len(part)
    assert total == len(clips)


def test_nwucla_split_is_checked_against_the_official_list(nwucla_dir, tmp_path):
    raw = tmp_path / "raw"
    (raw / "all_sqe").mkdir(parents=True)
    clip = next((nwucla_dir / "all_sqe").glob("*_v01.json"))
    shutil.copy(clip, raw / "all_sqe" / clip.name)
    (raw / "val_label.pkl").write_bytes(pickle.dumps([{"file_name": clip.stem, "label": 1}]))
    with pytest.raises(ValueError, match="disagrees"):
        prepare_nwucla(raw, tmp_path / "out", workers=0, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_nwucla_full(nwucla_dir, tmp_path):
    assert _prepare("nwucla", "--raw", nwucla_dir, "--out", tmp_path / "out", "--workers", 0) == 0
    summary = json.loads((tmp_path / "out" / "prepare.json").read_text())
    assert summary["clips"] == 1484 and summary["skipped"] == 0
    assert summary["benchmarks"] == {"xview": {"train": 1020, "val": 464}}
    ds = open_dataset(tmp_path / "out" / "xview")
    assert set(map(str, ds.val.names)) == nwucla.read_val_list(nwucla_dir / "val_label.pkl")
    assert np.bincount(np.concatenate([ds.train.labels, ds.val.labels])).tolist() == [
        sum(1 for _ in (nwucla_dir / "all_sqe").glob(f"a{a:02d}_*.json"))
        for a in (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
    ]
