"""Tests for glt.data.formats: other projects' files, built from the genuine NTU samples the way
their scripts write them, imported and compared with `glt prepare ntu60` on the same recordings.

The builders below follow the projects' preprocessing scripts (pyskl tools/data/ntu_preproc.py,
MMAction2 tools/data/skeleton/gen_ntu_rgbd_raw.py, CTR-GCN data/ntu/seq_transformation.py, ST-GCN
tools/ntu_gendata.py, MS-G3D data_gen/preprocess.py, AimCLR feeder/preprocess_ntu.py) for the
steps that change numbers or layout; they start from glt's reading of the files, so the bodies
are those of `glt prepare ntu60` (the 16 samples have one or two bodies in every frame, with
stable body IDs, so the projects' body choices differ at most in the order of two bodies).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from glt.commands import main
from glt.data import ntu
from glt.data.formats import export_dataset, import_dataset
from glt.data.formats.pickles import load_pickle
from glt.data.formats.pyskl import TORSO
from glt.data.formats.stgcn import DIFFERENCES, kind_of, loop_length
from glt.data.prepare import prepare_ntu
from glt.data.preprocess import preprocess, rotate_y, shoulder_angles
from glt.data.store import open_dataset
from glt.errors import DataError
from glt.layout import COCO, NTU
from glt.targets import MAX_MOVING_CLASS, displacement_targets

BENCHMARKS = ("xsub", "xview")
# Raw coordinates rounded to float16 (pyskl, MMAction2) move by at most 2 mm (half a float16 step
# below 8 m); the per-frame view angle then turns with the rounded shoulders, which moves joints
# far from the centre joint (the feet) by up to 1 cm. Measured on the 16 samples: 10.1 mm.
FLOAT16_TOLERANCE = 0.012
# A translation done in float32 changes the preprocessed clips by a few float32 rounding steps of
# numbers of a few metres (2.4e-7 m each). Measured on the 16 samples: 0.64 um for CTR-GCN's
# translation, 3.0 um for the shift of test_translation_invariance.
FLOAT32_TOLERANCE = 4e-6


@pytest.fixture(scope="module")
def raw(ntu_samples_dir) -> dict[str, np.ndarray]:
    """Clip name -> the bodies `glt prepare ntu60` reads, (T, 2, 25, 3) float64."""
    files = sorted(ntu_samples_dir.glob("*.skeleton"))
    return {ntu.clip_name(f): ntu.read_skeleton_file(f) for f in files}


@pytest.fixture(scope="module")
def prepared(ntu_samples_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw-route") / "ntu60"
    prepare_ntu(ntu_samples_dir, out, "ntu60", workers=0, progress=False)
    return out


def _split(names, benchmark, part):
    return [n for n in names if ntu.split_of(ntu.NTUName.parse(n), benchmark) == part]


def _bodies(clip):
    """The number of bodies of a (T, 2, 25, 3) clip: 2 if the second slot is ever used."""
    return 2 if np.abs(clip[:, 1]).sum() > 0 else 1


def _max_difference(prepared: Path, imported: Path, benchmark: str) -> float:
    """Max |difference| between the same clips (by name) of two prepared benchmarks."""
    a, b = open_dataset(prepared / benchmark), open_dataset(imported / benchmark)
    worst = 0.0
    for split in ("train", "val"):
        pa, pb = a.part(split), b.part(split)
        assert sorted(pa.names) == sorted(pb.names)
        index = {n: i for i, n in enumerate(pb.names)}
        for i, name in enumerate(pa.names):
            j = index[name]
            assert pb.labels[j] == pa.labels[i] and pb.lengths[j] == pa.lengths[i]
            assert {k: v[j] for k, v in pb.info.items()} == {k: v[i] for k, v in pa.info.items()}
            worst = max(worst, float(np.abs(pa.clip(i) - pb.clip(j)).max()))
    return worst


# --- pyskl / MMAction2 ---------------------------------------------------------------------------


def _motion(body: np.ndarray) -> float:
    """pyskl's and CTR-GCN's motion of a body (T, 25, 3): the summed variance of x, y, z."""
    return float(np.var(body.reshape(-1, 3), axis=0).sum())


def _pyskl_pickle(path: Path, raw: dict, dtype, by_motion: bool = False) -> Path:
    """ntu60_3danno.pkl as pyskl's script writes it: keypoint (M, T, 25, 3), the text parsed to
    float32 then stored as float16; M = the bodies present, with `by_motion` the one with more
    motion first (pyskl's order); mmcv's pickle protocol 2."""
    names = sorted(raw)
    annotations = []
    for name in names:
        keypoint = raw[name].astype(np.float32).astype(dtype).transpose(1, 0, 2, 3)
        keypoint = keypoint[: _bodies(raw[name])]
        if by_motion:
            keypoint = keypoint[np.argsort([-_motion(b) for b in keypoint], kind="stable")]
        annotations.append(
            dict(frame_dir=name, label=ntu.NTUName.parse(name).label, keypoint=keypoint,
                 total_frames=keypoint.shape[1])
        )  # fmt: skip
    split = {f"{b}_{p}": _split(names, b, p) for b in BENCHMARKS for p in ("train", "val")}
    path.write_bytes(pickle.dumps(dict(split=split, annotations=annotations), protocol=2))
    return path


def test_pyskl_float32_pickle_is_the_raw_route_bit_for_bit(raw, prepared, tmp_path):
    source = _pyskl_pickle(tmp_path / "ntu60_3danno.pkl", raw, np.float32)
    result = import_dataset("pyskl", [source], tmp_path / "out")
    assert result.benchmarks == {"xsub": {"train": 9, "val": 7}, "xview": {"train": 7, "val": 9}}
    for benchmark in BENCHMARKS:
        assert _max_difference(prepared, tmp_path / "out", benchmark) == 0
        assert result.checks[benchmark] == []
    meta = open_dataset(tmp_path / "out" / "xsub").meta
    assert meta["class_names"] == list(ntu.NTU60_CLASSES) and meta["checks"] == []
    assert meta["source"]["format"] == "pyskl" and "body" in meta["source"]["differences"][0]
    summary = json.loads((tmp_path / "out" / "import.json").read_text())
    assert summary["benchmarks"] == result.benchmarks and summary["empty_clips"] == 0


def test_pyskl_float16_pickle_is_the_raw_route_of_rounded_coordinates(raw, prepared, tmp_path):
    source = _pyskl_pickle(tmp_path / "ntu60_3d.pkl", raw, np.float16)
    result = import_dataset("mmaction2", [source], tmp_path / "out")
    assert any("float16" in d for d in result.differences)
    part = open_dataset(tmp_path / "out" / "xview").train
    for i, name in enumerate(part.names):
        rounded = raw[str(name)].astype(np.float32).astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(part.clip(i), preprocess(rounded, NTU))
    worst = max(_max_difference(prepared, tmp_path / "out", b) for b in BENCHMARKS)
    assert 0.001 < worst < FLOAT16_TOLERANCE


def test_pyskl_order_of_bodies_swaps_the_persons(raw, prepared, tmp_path):
    """pyskl and CTR-GCN list the body with more motion first: where that is the second body in
    file order, the imported clip is the raw route's with the persons swapped, bit for bit."""
    source = _pyskl_pickle(tmp_path / "ntu60_3danno.pkl", raw, np.float32, by_motion=True)
    import_dataset("pyskl", [source], tmp_path / "out")
    a, b = open_dataset(prepared / "xsub"), open_dataset(tmp_path / "out" / "xsub")
    swapped = {n for n, c in raw.items() if _bodies(c) == 2 and _motion(c[:, 1]) > _motion(c[:, 0])}
    assert swapped  # 5 of the 7 two-body samples
    for split in ("train", "val"):
        pa, pb = a.part(split), b.part(split)
        for i, name in enumerate(pa.names):
            want = pa.clip(i)[:, ::-1] if name in swapped else pa.clip(i)
            np.testing.assert_array_equal(pb.clip(list(pb.names).index(name)), want)


# --- 2D: HRNet-style COCO keypoints ----------------------------------------------------------------

# Kinect joint (0-based) standing in for each COCO keypoint; the face points are the head joint.
KINECT_FOR_COCO = [3, 3, 3, 3, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18]


def _colour_pixels(path: Path) -> np.ndarray:
    """The Kinect's own projection of the joints into the 1920 x 1080 colour frame (colorX,
    colorY of each joint line), first two bodies of each frame: (T, 2, 25, 2)."""
    lines = path.read_text().split("\n")
    frames, k = [], 1
    for _ in range(int(lines[0])):
        bodies, k = int(lines[k]), k + 1
        frame = np.zeros((2, 25, 2))
        for b in range(bodies):
            joints = [lines[k + 2 + j].split() for j in range(25)]
            if b < 2:
                frame[b] = [[float(f[5]), float(f[6])] for f in joints]
            k += 2 + 25
        frames.append(frame)
    return np.array(frames)


@pytest.fixture(scope="module")
def hrnet_pickle(ntu_samples_dir, tmp_path_factory) -> Path:
    """ntu60_hrnet.pkl-like: COCO's 17 keypoints in pixels (M, T, 17, 2) float16, scores, frame size."""
    annotations, names = [], []
    for path in sorted(ntu_samples_dir.glob("*.skeleton")):
        pixels = _colour_pixels(path).transpose(1, 0, 2, 3)  # (2, T, 25, 2)
        keypoint = pixels[:, :, KINECT_FOR_COCO][: _bodies(pixels.transpose(1, 0, 2, 3))]
        name = ntu.clip_name(path)
        names.append(name)
        annotations.append(
            dict(frame_dir=name, label=ntu.NTUName.parse(name).label, total_frames=keypoint.shape[1],
                 keypoint=keypoint.astype(np.float16), img_shape=(1080, 1920),
                 original_shape=(1080, 1920), keypoint_score=np.ones(keypoint.shape[:3], np.float16))
        )  # fmt: skip
    split = {f"{b}_{p}": _split(names, b, p) for b in BENCHMARKS for p in ("train", "val")}
    path = tmp_path_factory.mktemp("hrnet") / "ntu60_hrnet.pkl"
    path.write_bytes(pickle.dumps(dict(split=split, annotations=annotations)))
    return path


def _magnitudes(part) -> torch.Tensor:
    """The magnitude classes (method §4) of every clip of a part, valid frames only."""
    classes = []
    for i in range(len(part)):
        clip = torch.from_numpy(part.clip(i))[None]
        present = torch.ones(1, clip.shape[2], dtype=torch.bool)
        _, magnitude = displacement_targets(clip, torch.tensor([len(clip[0])]), present)
        classes.append(magnitude.flatten())
    return torch.cat(classes)


def test_2d_pickle_becomes_metres_with_y_up(hrnet_pickle, raw, tmp_path):
    result = import_dataset("pyskl", [hrnet_pickle], tmp_path / "out")
    ds = open_dataset(tmp_path / "out" / "xsub")
    assert ds.layout == COCO and ds.meta["checks"] == [] and result.checks["xsub"] == []
    assert any("2D" in d for d in result.differences)
    part = ds.train
    clip = part.clip(0)  # (T, 2, 18, 3): relative to the neck, rotated; z = 0 before the rotation
    torso = np.linalg.norm(clip[:, 0, [5, 6]].mean(1) - clip[:, 0, [11, 12]].mean(1), axis=-1)
    assert np.median(torso) == pytest.approx(TORSO, rel=0.01)
    assert (clip[:, 0, 0, 1] > clip[:, 0, 15:17, 1].max(axis=1)).all()  # nose above the ankles
    # Magnitude targets are 1 cm bins: pixels put nearly every moving joint in the top class, the
    # metres of the import spread them like the 3D route does.
    magnitudes = _magnitudes(part)
    moving = magnitudes[(magnitudes > 0) & (magnitudes < 15)]
    top = (moving == MAX_MOVING_CLASS).float().mean().item()
    assert top < 0.2 and len(moving.unique()) == MAX_MOVING_CLASS
    # The same clips in pixels: the genuine samples' torsos span 110-190 pixels.
    in_pixels = type(part)(part.frames * (150 / TORSO), part.offsets, part.labels, part.names)
    unscaled = _magnitudes(in_pixels)
    assert (unscaled[(unscaled > 0) & (unscaled < 15)] == MAX_MOVING_CLASS).float().mean() > 0.9


# --- CTR-GCN / MAMP -------------------------------------------------------------------------------


def _ctrgcn_npz(folder: Path, raw: dict, benchmark: str, ntu120: bool = False) -> tuple[Path, Path]:
    """NTU60_CS.npz (or NTU120_CSub.npz) as CTR-GCN's seq_transformation.py writes it, and the
    skes_available_name.txt its order comes from.

    Per clip (float32, as its get_raw_skes_data.py parses the text): one body -> 75 columns,
    two -> 150; minus body 1's joint 2 of its first frame; for two bodies, frames where a body is
    missing set back to zero; zero-padded to the longest clip; one body -> zeros (NTU-60) or a
    copy of body 1 (NTU-120) as body 2. x_train / x_test sorted by subject or camera number
    (stably, as get_indices collects them), labels one-hot.
    """
    names = sorted(raw)
    (folder / "skes_available_name.txt").write_text("".join(n + "\n" for n in names))
    longest = max(len(c) for c in raw.values())
    rows = []
    for name in names:
        clip = raw[name].astype(np.float32)
        bodies = _bodies(clip)
        joints = clip[:, :bodies].reshape(len(clip), bodies * 75)
        missing = [np.abs(joints[:, 75 * b : 75 * (b + 1)]).sum(axis=1) == 0 for b in range(bodies)]
        first = np.flatnonzero(~missing[0])[0]
        joints = joints - np.tile(joints[first, 3:6], 25 * bodies)
        for b in range(bodies):
            joints[missing[b], 75 * b : 75 * (b + 1)] = 0
        row = np.zeros((longest, 150), np.float32)
        row[: len(joints), : joints.shape[1]] = joints
        if bodies == 1 and ntu120:
            row[: len(joints), 75:] = joints
        rows.append(row)
    key = {"xsub": "subject", "xview": "camera"}[benchmark]
    arrays = {}
    for part, split in (("train", "train"), ("test", "val")):
        order = sorted(
            _split(names, benchmark, split), key=lambda n: getattr(ntu.NTUName.parse(n), key)
        )
        labels = [ntu.NTUName.parse(n).label for n in order]
        arrays[f"x_{part}"] = np.stack([rows[names.index(n)] for n in order])
        arrays[f"y_{part}"] = np.eye(120 if ntu120 else 60)[labels]
    stem = {
        ("xsub", False): "NTU60_CS",
        ("xview", False): "NTU60_CV",
        ("xsub", True): "NTU120_CSub",
    }
    path = folder / f"{stem[benchmark, ntu120]}.npz"
    np.savez(path, **arrays)
    return path, folder / "skes_available_name.txt"


def test_ctrgcn_npz_match_the_raw_route(raw, prepared, tmp_path):
    cs, names = _ctrgcn_npz(tmp_path, raw, "xsub")
    cv, _ = _ctrgcn_npz(tmp_path, raw, "xview")
    result = import_dataset("ctrgcn", [cs, cv], tmp_path / "out", names=names)
    assert set(result.benchmarks) == set(BENCHMARKS) and not any(
        "names" in d for d in result.differences
    )
    for benchmark in BENCHMARKS:
        worst = _max_difference(prepared, tmp_path / "out", benchmark)
        assert 0 < worst < FLOAT32_TOLERANCE, worst
    assert open_dataset(tmp_path / "out" / "xsub").class_names == list(ntu.NTU60_CLASSES)


def test_ctrgcn_without_names_keeps_the_file_order(raw, tmp_path):
    cs, _ = _ctrgcn_npz(tmp_path, raw, "xsub")
    result = import_dataset("mamp", [cs], tmp_path / "out")
    assert any("no clip names" in d for d in result.differences)
    part = open_dataset(tmp_path / "out" / "xsub").train
    assert part.names.tolist() == [f"train{i:05d}" for i in range(9)] and part.info == {}


def test_ctrgcn_ntu120_copies_of_body_1_are_made_absent(raw, tmp_path):
    csub, names = _ctrgcn_npz(tmp_path, raw, "xsub", ntu120=True)
    result = import_dataset("ctrgcn", [csub], tmp_path / "out", names=names)
    one_body = sum(_bodies(c) == 1 for c in raw.values())
    assert any(f"in {one_body} one-body clips" in d for d in result.differences)
    ds = open_dataset(tmp_path / "out" / "xsub")
    assert ds.num_classes == 120 and ds.class_names == list(ntu.NTU120_CLASSES)
    for split in ("train", "val"):
        part = ds.part(split)
        for i, name in enumerate(part.names):
            assert (np.abs(part.clip(i)[:, 1]).sum() == 0) == (_bodies(raw[str(name)]) == 1)


def test_translation_invariance(raw):
    """In what sense the preprocessing (method §2) ignores a translation t of the camera-space
    coordinates of the present bodies:

    - bit for bit when every shifted coordinate is exact in float32 (the relative coordinates
      and the centre slot's motion are then the same float32 subtractions);
    - otherwise up to the rounding of the shifted coordinates, a few float32 steps (< 4 um);
    - except the centre slot of a frame where a body is absent: it holds minus the body's first
      position, which moves by -t (and a body absent in the first frame, whose slot holds
      positions): the authors' code, and the method, compute them so.
    """
    grid = np.float32(2**-20)  # coordinates on a 1 um grid below 8 m fit float32's 24 bits
    shift = np.float32([0.3127, -1.0452, 2.2511])
    worst = 0.0
    for clip in raw.values():
        clip = clip.astype(np.float32)
        present = np.abs(clip).sum(axis=(2, 3), keepdims=True) > 0
        want = preprocess(clip, NTU)
        moved = preprocess(np.where(present, clip + shift, 0), NTU)
        worst = max(worst, float(np.abs(moved - want).max()))
        on_grid = np.round(clip / grid) * grid
        exact = np.round(shift / grid) * grid
        assert (on_grid + exact - exact == on_grid).all()  # the shift is exact
        np.testing.assert_array_equal(
            preprocess(np.where(present, on_grid + exact, 0), NTU), preprocess(on_grid, NTU)
        )
    assert 0 < worst < FLOAT32_TOLERANCE
    clip = raw["S001C001P001R001A001"].astype(np.float32)
    clip[10, 0] = 0  # body 1 absent in frame 10
    gone = preprocess(
        np.where(np.abs(clip).sum(axis=(2, 3), keepdims=True) > 0, clip + shift, 0), NTU
    )
    difference = np.abs(gone - preprocess(clip, NTU)).max(axis=-1)  # (T, M, V)
    assert (
        difference[10, 0, NTU.center] > 1
        and np.delete(difference, 10, axis=0).max() < FLOAT32_TOLERANCE
    )


# --- ST-GCN-style folders -------------------------------------------------------------------------


def _stgcn_folder(folder: Path, raw: dict, transform=None, kind: str = "data") -> Path:
    """ST-GCN's tools/ntu_gendata.py: {part}_data.npy (N, 3, 300, 25, 2) float32 zero-padded,
    {part}_label.pkl (file names, labels), per benchmark folder. `transform` changes the arrays
    of a part afterwards (pre_normalization, resampling)."""
    for benchmark in BENCHMARKS:
        (folder / benchmark).mkdir(parents=True)
        for part in ("train", "val"):
            names = _split(sorted(raw), benchmark, part)
            data = np.zeros((len(names), 3, 300, 25, 2), np.float32)
            for i, name in enumerate(names):
                data[i, :, : len(raw[name])] = raw[name].transpose(3, 0, 2, 1)
            data = transform(data) if transform else data
            np.save(folder / benchmark / f"{part}_{kind}.npy", data)
            labels = [ntu.NTUName.parse(n).label for n in names]
            pickle.dump(
                ([n + ".skeleton" for n in names], labels),
                open(folder / benchmark / f"{part}_label.pkl", "wb"),
            )
    return folder


def test_stgcn_raw_folders_are_the_raw_route_bit_for_bit(raw, prepared, tmp_path):
    source = _stgcn_folder(tmp_path / "ntu", raw)
    result = import_dataset("stgcn", [source], tmp_path / "out")
    assert set(result.benchmarks) == set(BENCHMARKS) and result.differences == DIFFERENCES["raw"]
    assert json.loads((tmp_path / "out" / "import.json").read_text())["kind"] == ["raw"]
    for benchmark in BENCHMARKS:
        assert _max_difference(prepared, tmp_path / "out", benchmark) == 0


def _rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The rotation about u x v that turns direction u to direction v (Rodrigues' formula)."""
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    axis, cos = np.cross(u, v), np.dot(u, v)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + k + k @ k / (1 + cos)


def _pre_normalization(data: np.ndarray) -> np.ndarray:
    """2s-AGCN / MS-G3D's data_gen/preprocess.py on (N, 3, T, 25, M): every body filled to T
    frames with copies of itself; body 1's joint 2 subtracted per frame from every non-zero joint;
    the clip rotated so that body 1's joint 1 -> 2 points along z and 9 -> 5 ... along x in the
    first frame."""
    s = data.transpose(0, 4, 2, 3, 1).copy()  # (N, M, T, V, 3)
    for clip in s:
        for body in clip:
            length = np.flatnonzero(np.abs(body).sum(axis=(1, 2)) > 0)
            if len(length):
                body[:] = np.resize(body[: length[-1] + 1], body.shape)
        mask = np.abs(clip).sum(axis=-1, keepdims=True) != 0
        clip[:] = (clip - clip[0][:, 1:2]) * mask
        spine = _rotation(clip[0, 0, 1] - clip[0, 0, 0], np.array([0, 0, 1]))
        clip[:] = clip @ spine.T
        shoulders = _rotation(clip[0, 0, 8] - clip[0, 0, 4], np.array([1, 0, 0]))
        clip[:] = clip @ shoulders.T
    return s.transpose(0, 4, 2, 3, 1)


def test_pre_normalized_folders_are_read_and_their_changes_named(raw, prepared, tmp_path):
    source = _stgcn_folder(tmp_path / "ntu", raw, _pre_normalization, kind="data_joint")
    result = import_dataset("stgcn", [source / "xsub"], tmp_path / "out")
    assert result.differences == DIFFERENCES["pre_normalization"] and result.checks["xsub"] == []
    a, b = open_dataset(prepared / "xsub").train, open_dataset(tmp_path / "out" / "xsub").train
    assert b.names.tolist() == a.names.tolist() and b.lengths.tolist() == a.lengths.tolist()
    bones = np.array([b for b in NTU.bones if NTU.center not in b])  # its slot is the motion
    for i in range(len(a)):
        clip_a, clip_b = a.clip(i), b.clip(i)
        np.testing.assert_allclose(  # rotations and translations keep the bones' lengths
            np.linalg.norm(clip_b[:, 0, bones[:, 0]] - clip_b[:, 0, bones[:, 1]], axis=-1),
            np.linalg.norm(clip_a[:, 0, bones[:, 0]] - clip_a[:, 0, bones[:, 1]], axis=-1),
            atol=2e-6,
        )
        assert (clip_b[:, 0, 3, 1] > clip_b[:, 0, 19, 1]).mean() > 0.9  # y up again


def _resample(data: np.ndarray, frames: int) -> np.ndarray:
    """AimCLR's preprocess_ntu.py on (N, 3, 300, 25, 2): coordinates minus joint 21 in every
    frame, each clip's frames (those where body 1's joint 1 is present) resized linearly to
    `frames`, then each body rotated per frame as the method's step 3 (sum over those frames)."""
    out = np.zeros((*data.shape[:2], frames, *data.shape[3:]), np.float32)
    for n, clip in enumerate(data.transpose(0, 2, 4, 3, 1)):  # (T, M, V, 3)
        clip = clip - clip[:, :, 20:21]
        length = int((np.abs(clip[:, 0, 0]).sum(axis=-1) != 0).sum())
        position = np.clip((np.arange(frames) + 0.5) * length / frames - 0.5, 0, length - 1)
        low = np.floor(position).astype(int)
        high, w = np.minimum(low + 1, length - 1), (position - low)[:, None, None, None]
        resized = ((1 - w) * clip[low] + w * clip[high]).astype(np.float32)
        out[n] = rotate_y(resized, shoulder_angles(resized, NTU, frames)).transpose(3, 0, 2, 1)
    return out


def test_resampled_aimclr_files_are_stored_as_they_are(raw, tmp_path):
    source = _stgcn_folder(tmp_path / "ntu60_frame50", raw, lambda d: _resample(d, 50), "position")
    result = import_dataset("authors", [source], tmp_path / "out")
    assert result.differences == DIFFERENCES["resampled"]
    part = open_dataset(tmp_path / "out" / "xview").val
    want = np.load(source / "xview" / "val_position.npy")
    assert (part.lengths == 50).all()
    for i in range(len(part)):
        np.testing.assert_array_equal(part.clip(i), want[i].transpose(1, 3, 2, 0))
        assert (part.clip(i)[:, 0, 20] == 0).all()  # no global translation left


@pytest.mark.parametrize("fmt", ["authors", "stgcn"])
def test_export_then_import_gives_the_same_clips(prepared, tmp_path, fmt):
    export_dataset(fmt, prepared / "xsub", tmp_path / "exported" / "xsub")
    names = sorted(p.name for p in (tmp_path / "exported" / "xsub").iterdir())
    kind = "position" if fmt == "authors" else "data_joint"
    assert names == sorted(
        [f"train_{kind}.npy", "train_label.pkl", f"val_{kind}.npy", "val_label.pkl"]
    )
    assert kind_of(np.load(tmp_path / "exported" / "xsub" / f"train_{kind}.npy")) == (
        "authors" if fmt == "authors" else "preprocessed"
    )
    result = import_dataset(fmt, [tmp_path / "exported"], tmp_path / "back")
    assert result.differences == []
    assert _max_difference(prepared, tmp_path / "back", "xsub") == 0


def test_command_line_export_then_import(prepared, tmp_path, capsys):
    assert (
        main(["export", "authors", str(prepared / "xsub"), "--out", str(tmp_path / "a" / "xsub")])
        == 0
    )
    assert main(["import", "authors", str(tmp_path / "a"), "--out", str(tmp_path / "back")]) == 0
    out = capsys.readouterr().out
    assert f"imported authors into {tmp_path / 'back'}" in out and "xsub: train" in out
    assert _max_difference(prepared, tmp_path / "back", "xsub") == 0
    # a flag the format does not take is one clear line, not a traceback
    code = main(
        [
            "import",
            "pyskl",
            str(tmp_path / "x.pkl"),
            "--names",
            "n.txt",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("glt import: error: pyskl takes no --names")


def test_authors_labels_from_another_folder(prepared, tmp_path):
    export_dataset("authors", prepared / "xview", tmp_path / "data" / "xview")
    (tmp_path / "labels" / "xview").mkdir(parents=True)
    for part in ("train", "val"):
        label = tmp_path / "data" / "xview" / f"{part}_label.pkl"
        label.rename(tmp_path / "labels" / "xview" / label.name)
    with pytest.raises(DataError, match="no train_label.pkl"):
        import_dataset("authors", [tmp_path / "data"], tmp_path / "back")
    import_dataset("authors", [tmp_path / "data"], tmp_path / "back", labels=tmp_path / "labels")
    assert _max_difference(prepared, tmp_path / "back", "xview") == 0


def test_loop_length():
    body = np.random.default_rng(0).normal(size=(7, 25, 3)).astype(np.float32)
    assert loop_length(np.resize(body, (300, 25, 3))) == 7
    assert loop_length(np.resize(body, (7, 25, 3))) == 7
    body[3] = body[0]  # a frame equal to the first is not yet a repetition
    assert loop_length(np.resize(body, (20, 25, 3))) == 7


# --- bad input ------------------------------------------------------------------------------------


def _write_pickle(path: Path, content) -> Path:
    path.write_bytes(pickle.dumps(content))
    return path


def _annotation(**change):
    ann = dict(frame_dir="S001C001P001R001A001", label=0, total_frames=3,
               keypoint=np.ones((1, 3, 25, 3), np.float16))  # fmt: skip
    return {**ann, **change}


@pytest.mark.parametrize(
    "content, message",
    [
        ([1, 2], "expected dict\\(split=..., annotations=\\[...\\]\\)"),
        (dict(annotations=[_annotation()]), "found \\['annotations'\\]"),
        (dict(split={}, annotations=[{"label": 0}]), "annotations\\[0\\] has no key 'frame_dir'"),
        (dict(split={}, annotations=[_annotation(keypoint=np.ones((1, 3, 25)))]),
         "'keypoint' has shape \\(1, 3, 25\\), expected \\(M, T, 25, 3\\)"),
        (dict(split={}, annotations=[_annotation(total_frames=4)]), "total_frames 4 but 3 frames"),
        (dict(split={}, annotations=[_annotation(keypoint=np.ones((1, 3, 17, 2)))]),
         "'img_shape' is None, expected \\(height, width\\)"),
        (dict(split={"a": ["x"]}, annotations=[_annotation()]), "expected pairs like xsub_train"),
        (dict(split={"xsub_train": ["S001C001P001R001A001"], "xsub_val": []},
              annotations=[_annotation(label=4)]),
         "clip S001C001P001R001A001 has label 4, but its name says action 1"),
        (dict(split={"train": ["a"], "val": []}, annotations=[_annotation(frame_dir="a", label=-1)]),
         "label -1 out of range"),
    ],
)  # fmt: skip
def test_bad_pyskl_pickles_name_the_file_and_key(tmp_path, content, message):
    source = _write_pickle(tmp_path / "bad.pkl", content)
    with pytest.raises(DataError, match=message) as e:
        import_dataset("pyskl", [source], tmp_path / "out")
    assert str(source) in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_bad_ctrgcn_files(tmp_path):
    good = dict(x_train=np.ones((2, 5, 150), np.float32), y_train=np.eye(60)[[0, 1]],
                x_test=np.ones((1, 5, 150), np.float32), y_test=np.eye(60)[[2]])  # fmt: skip
    cases = [
        ("NTU60_CS", {k: v for k, v in good.items() if k != "y_test"}, "no array 'y_test'"),
        ("NTU60_CS", {**good, "x_test": np.ones((1, 5, 75))}, "x_test has shape \\(1, 5, 75\\)"),
        ("NTU60_CS", {**good, "y_train": np.ones((2, 60))}, "y_train is not one-hot"),
        ("my_data", good, "cannot tell the benchmark"),
    ]
    for stem, arrays, message in cases:
        np.savez(tmp_path / f"{stem}.npz", **arrays)
        with pytest.raises(DataError, match=message):
            import_dataset("ctrgcn", [tmp_path / f"{stem}.npz"], tmp_path / "out")
    np.savez(tmp_path / "NTU60_CS.npz", **good)
    (tmp_path / "names.txt").write_text("S001C001P001R001A001\n")
    with pytest.raises(DataError, match="2 \\+ 1 clips but 1 names"):
        import_dataset(
            "ctrgcn", [tmp_path / "NTU60_CS.npz"], tmp_path / "out", names=tmp_path / "names.txt"
        )


def test_bad_stgcn_folders(tmp_path):
    (tmp_path / "xsub").mkdir()
    np.save(tmp_path / "xsub" / "train_data.npy", np.ones((2, 3, 10, 25, 2), np.float32))
    with pytest.raises(DataError, match="no train_label.pkl"):
        import_dataset("stgcn", [tmp_path], tmp_path / "out")
    _write_pickle(tmp_path / "xsub" / "train_label.pkl", (["a"], [0]))
    with pytest.raises(DataError, match="train_data.npy: 2 clips but 1 labels"):
        import_dataset("stgcn", [tmp_path], tmp_path / "out")
    np.save(tmp_path / "xsub" / "train_data.npy", np.ones((1, 3, 10, 18, 2), np.float32))
    with pytest.raises(DataError, match="expected \\(N, 3, T, 25, 2\\)"):
        import_dataset("stgcn", [tmp_path], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train_data_joint.npy, train_data.npy"):
        import_dataset("stgcn", [tmp_path / "empty"], tmp_path / "out")


def test_strict_checks_stop_the_import_and_leave_nothing(raw, tmp_path):
    def in_millimetres(data):
        return data * 1000

    source = _stgcn_folder(tmp_path / "ntu", raw, in_millimetres)
    with pytest.raises(DataError, match="not metres"):
        import_dataset("stgcn", [source], tmp_path / "out", strict=True)
    assert sorted(os.listdir(tmp_path)) == ["ntu"]  # no output, no temporary folder
    with pytest.warns(UserWarning, match="not metres"):
        result = import_dataset("stgcn", [source], tmp_path / "out")
    assert all("not metres" in found[0] for found in result.checks.values())


# --- the restricted unpickler ---------------------------------------------------------------------


class _Payload:
    """Writes a file when unpickled by an unrestricted unpickler, through `make`."""

    def __init__(self, make, target):
        self.make, self.target = make, str(target)

    def __reduce__(self):
        if self.make is np.save:
            return (np.save, (self.target, np.zeros(1)))
        return (self.make, (self.target, "w") if self.make is open else (f"touch {self.target}",))


def test_pickles_never_run_code(tmp_path):
    target = tmp_path / "was-run"
    payloads = [_Payload(open, target), _Payload(os.system, target), _Payload(np.save, target),
                np.array([_Payload(open, target)], dtype=object)]  # fmt: skip
    for i, payload in enumerate(payloads):
        path = _write_pickle(tmp_path / f"evil{i}.pkl", dict(split={}, annotations=[payload]))
        with pytest.raises(DataError, match="not a readable pickle of plain data"):
            load_pickle(path)
        with pytest.raises(DataError, match=str(path)):
            import_dataset("pyskl", [path], tmp_path / "out")
    assert not list(tmp_path.glob("was-run*"))
    # An allowed numpy entry point asked to build something other than an ndarray
    stream = pickle.dumps(np.zeros(2), protocol=2).replace(b"numpy\nndarray\n", b"builtins\nlist\n")
    (tmp_path / "subtype.pkl").write_bytes(stream)
    with pytest.raises(DataError, match="an array of type"):
        load_pickle(tmp_path / "subtype.pkl")


def test_pickles_of_numbers_and_arrays_load(tmp_path):
    content = dict(a=np.arange(6, dtype=np.float16).reshape(2, 3), b=np.int64(7), c=[(1080, 1920)],
                   d=np.asfortranarray(np.ones((2, 3))), e=np.zeros((0, 25, 3)), f=np.str_("S001"))  # fmt: skip
    for protocol in (2, 4, 5):
        (tmp_path / "ok.pkl").write_bytes(pickle.dumps(content, protocol=protocol))
        loaded = load_pickle(tmp_path / "ok.pkl")
        for key in "ade":
            assert loaded[key].dtype == content[key].dtype
            np.testing.assert_array_equal(loaded[key], content[key])
        assert loaded["b"] == 7 and loaded["c"] == [(1080, 1920)] and loaded["f"] == "S001"
    numpy1 = pickle.dumps(content, protocol=2).replace(b"numpy._core", b"numpy.core")
    (tmp_path / "numpy1.pkl").write_bytes(numpy1)  # what pickles made with numpy 1.x name
    np.testing.assert_array_equal(load_pickle(tmp_path / "numpy1.pkl")["a"], content["a"])


@pytest.mark.parametrize("frames", ["0", "-3"])
def test_export_refuses_a_padded_length_below_one(prepared, tmp_path, capsys, frames):
    out = tmp_path / "a"
    argv = ["export", "stgcn", str(prepared / "xsub"), "--out", str(out), "--max-frames", frames]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"max_frames={frames} must be at least 1" in err and "Traceback" not in err
    assert not out.exists()
