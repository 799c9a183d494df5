"""The synthetic NTU-like dataset: file names and format, determinism, realism and fairness."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glt import commands
from glt.data import synthetic as S
from glt.errors import DataError
from glt.layout import NTU

# method §1: NTU-60's cross-subject training subjects; cross-view trains on cameras 2 and 3.
XSUB_TRAIN = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
XVIEW_TRAIN = {2, 3}
NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})\.skeleton")
NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?"
BODY_LINE = re.compile(rf"\d+(?: {NUMBER}){{8}} 2")  # bodyID, 8 numbers, trackingState
JOINT_LINE = re.compile(rf"{NUMBER}(?: {NUMBER}){{10}} 2")  # 11 numbers, trackingState


def parse_strict(text: str) -> np.ndarray:
    """Check `text` line by line against the NTU .skeleton layout (method §1).

    Returns the x y z of the bodies as (T, 2, 25, 3), zeros where a frame has fewer bodies.
    """
    assert "\r" not in text and text.endswith("\n")
    lines = text[:-1].split("\n")
    assert lines[0].isdigit()
    num_frames, i = int(lines[0]), 1
    where, rows = [], []
    for t in range(num_frames):
        assert lines[i] in ("0", "1", "2"), f"line {i + 1}: body count {lines[i]!r}"
        num_bodies = int(lines[i])
        i += 1
        for m in range(num_bodies):
            assert BODY_LINE.fullmatch(lines[i]), f"line {i + 1}: {lines[i]!r}"
            assert int(lines[i].split()[0]) >= 2**56  # Kinect-style body id
            assert lines[i + 1] == "25", f"line {i + 2}: joint count {lines[i + 1]!r}"
            joints = lines[i + 2 : i + 27]
            assert all(JOINT_LINE.fullmatch(j) for j in joints), f"lines {i + 3}-{i + 27}"
            where.append((t, m))
            rows += joints
            i += 27
    assert i == len(lines), "text after the last frame"
    values = np.array([r.split()[:11] for r in rows], dtype=float).reshape(-1, 25, 11)
    x, y, z = np.moveaxis(values[..., :3], -1, 0)
    # depthX/depthY are the pinhole projection of x, y, z; orientations are unit quaternions.
    fx, cx, fy, cy = S.DEPTH_CAMERA
    np.testing.assert_allclose(values[..., 3], fx * x / z + cx, atol=1e-3)
    np.testing.assert_allclose(values[..., 4], cy - fy * y / z, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(values[..., 7:11], axis=-1), 1.0)
    xyz = np.zeros((num_frames, 2, 25, 3))
    for (t, m), body in zip(where, values, strict=True):
        xyz[t, m] = body[:, :3]
    return xyz


def present(clip: np.ndarray) -> np.ndarray:
    """(T, M) whether a body is in a frame (all-zero bodies are absent)."""
    return np.abs(clip).sum(axis=(2, 3)) > 0


# --------------------------------------------------------------------------------------------
# Names, sizes, splits


def test_actions_are_ntu_actions_with_interactions():
    assert len(S.SYNTH_ACTIONS) >= 12
    assert all(1 <= a <= 60 for a in S.SYNTH_ACTIONS)
    assert S.TWO_PERSON_ACTIONS <= set(S.SYNTH_ACTIONS)
    assert len(S.TWO_PERSON_ACTIONS) >= 3 and all(a >= 50 for a in S.TWO_PERSON_ACTIONS)
    expected = {
        1: "drink water",
        8: "sitting down",
        23: "hand waving",
        43: "falling",
        58: "handshaking",
    }
    assert {a: S.SYNTH_ACTIONS[a] for a in expected} == expected


def test_default_size_and_benchmark_splits():
    keys = S.clip_keys()
    assert 600 <= len(keys) <= 900
    assert len(keys) == S.DEFAULT_SUBJECTS * 2 * 3 * len(S.SYNTH_ACTIONS)
    assert len({k.name for k in keys}) == len(keys)
    xsub = {k.subject in XSUB_TRAIN for k in keys}
    xview = {k.camera in XVIEW_TRAIN for k in keys}
    assert xsub == {True, False} and xview == {True, False}
    assert {k.replication for k in keys} == {1, 2} and {k.camera for k in keys} == {1, 2, 3}
    assert all(k.setup == S.setup_of(k.subject) for k in keys)
    assert len(S.clip_keys(subjects=40)) == 40 * 2 * 3 * len(S.SYNTH_ACTIONS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subjects": 0},
        {"subjects": [1000]},
        {"actions": [2]},
        {"cameras": [4]},
        {"replications": 0},
    ],
)
def test_bad_arguments_are_data_errors(kwargs):
    with pytest.raises(DataError):
        S.clip_keys(**kwargs)


# --------------------------------------------------------------------------------------------
# Writing: format, determinism, atomic folders, the CLI

SMALL = dict(subjects=[1, 3], cameras=(1, 2), actions=(8, 38, 58))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "raw"
    return S.write_synthetic(out, seed=0, progress=False, **SMALL)


def test_file_names_and_counts(written):
    assert len(written) == 2 * 2 * 2 * 3  # subjects x cameras x replications x actions
    assert sorted(p.name for p in written[0].parent.iterdir()) == [p.name for p in written]
    for path in written:
        setup, camera, subject, replication, action = map(int, NAME.fullmatch(path.name).groups())
        assert setup == S.setup_of(subject) and camera in (1, 2) and subject in (1, 3)
        assert replication in (1, 2) and action in (8, 38, 58)


@pytest.mark.parametrize(
    "old, new",
    [
        ("\n25\n", "\n24\n"),  # joint count
        (" 2\n", " 2 0\n"),  # a field too many
        (" 2\n", "\n"),  # a field too few
        ("\n1\n", "\n3\n"),  # body count
        (".", ","),  # not a number
    ],
)
def test_strict_checker_rejects_broken_files(written, old, new):
    text = written[0].read_text()
    parse_strict(text)
    with pytest.raises((AssertionError, ValueError)):
        parse_strict(text.replace(old, new, 1))


def test_files_follow_the_ntu_format(written):
    for path in written:
        xyz = parse_strict(path.read_text())
        bodies = present(xyz).sum(1)
        two_person = path.name.endswith("A058.skeleton")
        assert bodies.max() == (2 if two_person else 1)
        assert np.mean(bodies == bodies.max()) > 0.8  # few lost frames
        # Values survive the round trip through the text at 7 significant digits.
        key = S.ClipKey(*map(int, NAME.fullmatch(path.name).groups()))
        np.testing.assert_allclose(xyz, S.synthesize_clip(0, key), rtol=1e-6, atol=1e-6)


def test_same_seed_same_bytes_any_subset(tmp_path, written):
    again = S.write_synthetic(tmp_path / "again", seed=0, progress=False, **SMALL)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]
    # A clip does not depend on what else is generated, nor in which order.
    alone = S.write_synthetic(
        tmp_path / "alone", seed=0, subjects=[3], cameras=(2,), actions=(58,), progress=False
    )
    assert [p.read_bytes() for p in alone] == [
        (written[0].parent / p.name).read_bytes() for p in alone
    ]
    other = S.write_synthetic(tmp_path / "other", seed=1, progress=False, **SMALL)
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(other, written, strict=True))


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(clip, body_ids):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return "0\n"

    monkeypatch.setattr(S.files, "format_skeleton", failing)  # where write_synthetic looks it up
    with pytest.raises(RuntimeError):
        S.write_synthetic(tmp_path / "raw", progress=False, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "raw"
    argv = ["synth", "--out", str(out), "--subjects", "1", "--actions", "8", "58", "--cameras", "2"]
    assert commands.main([*argv, "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "S001C002P001R001A008.skeleton",
        "S001C002P001R001A058.skeleton",
        "S001C002P001R002A008.skeleton",
        "S001C002P001R002A058.skeleton",
    ]
    assert "wrote 4 .skeleton files" in capsys.readouterr().out
    (out / names[0]).write_text("edited\n")
    assert commands.main([*argv, "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / names[0]).read_text() == "edited\n"  # untouched
    assert commands.main([*argv, "--quiet", "--overwrite"]) == 0
    assert (out / names[0]).read_text() != "edited\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no staging folder left


# --------------------------------------------------------------------------------------------
# Realism: bodies, cameras, lengths, sensor


def test_bodies_are_rigid_and_stand_on_the_floor():
    for action in S.SYNTH_ACTIONS:
        scene = S.performance(0, 1, 1, 1, action)
        for person in scene:
            # The layout's bones, with the hand tips and thumbs attached to the hands.
            links = [(c, p) for c, p in NTU.bones if c not in (21, 23)] + [(21, 7), (23, 11)]
            child, parent = np.array(links).T
            bones = np.linalg.norm(person[:, child] - person[:, parent], axis=-1)  # (T, bones)
            assert bones.std(0).max() < 1e-6, f"A{action:03d}: bones change length"
            assert 0.01 < bones.mean(0).min() and bones.mean(0).max() < 0.45
            assert person[..., 1].min() > -1e-9  # never below the floor
            feet = person[:, [14, 15, 18, 19], 1].min(1)
            assert np.median(feet) < 0.12  # mostly standing on it
    standing = S.performance(0, 1, 1, 1, 38)[0]
    heights = standing[:, [0, 20, 2, 3], 1]  # base of spine, spine shoulder, neck, head
    assert (np.diff(heights, axis=1) > 0).all()
    assert 1.3 < standing[:, 3, 1].mean() < 1.8  # head height of a 1.4-1.85 m person


def test_sitting_down_is_standing_up_reversed():
    sit, stand = S.performance(0, 2, 2, 1, 8)[0], S.performance(0, 2, 2, 1, 9)[0]
    assert sit[0, 0, 1] - sit[-1, 0, 1] > 0.2  # the pelvis goes down
    assert stand[-1, 0, 1] - stand[0, 0, 1] > 0.2  # and up


@pytest.mark.parametrize("replication, faced, side", [(1, 2, 3), (2, 3, 2)])
def test_replication_faces_one_camera(replication, faced, side):
    def frontal(camera):  # |x| share of the shoulder line: 1 seen from the front, 0 from the side
        clip = S.synthesize_clip(0, S.ClipKey(1, camera, 1, replication, 38))
        clip = clip[present(clip)[:, 0], 0]
        v = clip[:, 8] - clip[:, 4]
        return np.median(np.abs(v[:, 0]) / np.linalg.norm(v[:, [0, 2]], axis=1))

    assert frontal(faced) > 0.9
    assert 0.45 < frontal(1) < 0.9  # camera 1 sees 45 degrees
    assert frontal(side) < 0.45


@pytest.fixture(scope="module")
def dataset():
    """The default subjects seen by cameras 1 and 3: keys and (T, 2, 25, 3) clips."""
    keys = S.clip_keys(cameras=(1, 3))
    clips, scene, last = [], None, None
    for key in keys:
        perf = (key.setup, key.subject, key.replication, key.action)
        if perf != last:
            scene, last = S.performance(0, *perf), perf
        clips.append(S.synthesize_clip(0, key, scene))
    return keys, clips


def test_lengths_lost_frames_and_distances(dataset):
    keys, clips = dataset
    lengths = np.array([len(c) for c in clips])
    assert 40 <= lengths.min() and lengths.max() <= 250
    assert (
        lengths.std() > 20 and np.percentile(lengths, 10) < 70 and np.percentile(lengths, 90) > 120
    )
    has = [present(c) for c in clips]
    leading = np.mean([not p[0].any() for p in has])
    gaps = np.mean([(~p[:, 0]).any() and p[0].any() for p in has])
    assert 0.03 < leading < 0.2 and 0.03 < gaps < 0.25
    for key, clip, p in zip(keys, clips, has, strict=True):
        assert p[:, 1].any() == (key.action in S.TWO_PERSON_ACTIONS)
        depth = clip[p[:, 0], 0, 20, 2]  # spine shoulder of the first body
        if key.action not in S.TWO_PERSON_ACTIONS:
            assert 2.0 < depth.min() and depth.max() < 4.0
        assert depth.min() > 1.0


# --------------------------------------------------------------------------------------------
# Fairness: the class is in the motion, not in the mean posture, length or person count


def centred(clip: np.ndarray) -> np.ndarray:
    """Frames with the first body present, relative to joint 21 (index 20) as in method §2."""
    clip = clip[present(clip)[:, 0]]
    rel = clip - clip[:, :, 20:21]
    rel[~present(clip)] = 0.0
    return rel


def facing_front(pose: np.ndarray) -> np.ndarray:
    """Turn each body and frame about the vertical: shoulders along x (cf. method §2)."""
    v = pose[:, :, 8] - pose[:, :, 4]  # left to right shoulder
    angle = np.arctan2(v[..., 2], v[..., 0])[..., None]
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = np.moveaxis(pose, -1, 0)
    return np.stack([c * x + s * z, y, c * z - s * x], axis=-1)


def mean_pose(clip: np.ndarray, front: bool = False) -> np.ndarray:
    pose = centred(clip)
    return (facing_front(pose) if front else pose).mean(0).ravel()


def motion_statistics(clip: np.ndarray) -> np.ndarray:
    """Per third of the clip: posture, joint speeds, vertical and postural velocities; jerkiness."""
    pose = facing_front(centred(clip))
    vel = np.diff(clip[present(clip)[:, 0]], axis=0)  # camera space: includes the translation
    speed = np.linalg.norm(vel, axis=-1)
    turn = np.abs(np.diff(pose, axis=0))
    parts = []
    for t in np.array_split(np.arange(len(vel)), 3):
        parts += [
            pose[t].mean(0),
            vel[t, ..., 1].mean(0),
            speed[t].mean(0),
            speed[t].std(0),
            turn[t].mean(0),
        ]
    parts += [np.linalg.norm(np.diff(vel, axis=0), axis=-1).mean(0), speed.max(0)]
    return np.concatenate([p.ravel() for p in parts])


def cross_subject_accuracy(features: np.ndarray, keys) -> float:
    """Train a linear classifier on NTU-60's xsub training subjects, score the others."""
    labels = np.array([k.action for k in keys])
    train = np.array([k.subject in XSUB_TRAIN for k in keys])
    model = make_pipeline(StandardScaler(), RidgeClassifier(alpha=10.0))
    model.fit(features[train], labels[train])
    return float((model.predict(features[~train]) == labels[~train]).mean())


@pytest.mark.slow
def test_actions_are_told_apart_by_motion_not_by_posture(dataset):
    keys, clips = dataset
    posture = cross_subject_accuracy(np.stack([mean_pose(c) for c in clips]), keys)
    frontal = cross_subject_accuracy(np.stack([mean_pose(c, front=True) for c in clips]), keys)
    motion = cross_subject_accuracy(np.stack([motion_statistics(c) for c in clips]), keys)
    length_persons = np.array([[len(c), present(c)[:, 1].mean()] for c in clips])
    trivial = cross_subject_accuracy(length_persons, keys)
    # Measured on seeds 0-5 (chance 0.05): posture 0.32-0.44, posture turned to the front
    # 0.39-0.59, motion 0.70-0.81 (at least 0.22 above both), length and person count 0.09-0.14.
    assert posture < 0.5
    assert motion > posture + 0.25
    assert motion > frontal + 0.15
    assert trivial < 0.2
