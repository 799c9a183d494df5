"""Tests for glt.data.checks and `write_dataset`'s checks of units and orientation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from glt.data import ntu, nwucla
from glt.data.checks import KeypointSurvey
from glt.data.prepare import prepare_ntu
from glt.data.store import open_dataset, write_dataset
from glt.errors import DataError, DataWarning
from glt.layout import NTU, NWUCLA


@pytest.fixture(scope="module")
def genuine(ntu_samples_dir) -> list[np.ndarray]:
    return [ntu.read_skeleton_file(f) for f in sorted(ntu_samples_dir.glob("*.skeleton"))]


def _survey(clips, layout=NTU) -> list[str]:
    survey = KeypointSurvey(layout)
    for clip in clips:
        survey.add(clip)
    return survey.findings()


def _as_image(clip: np.ndarray) -> np.ndarray:
    """A clip as a published two-person dataset gives it: normalised image coordinates in 0..1,
    y pointing down, z = 0 (a pinhole view of the camera-space joints)."""
    present = np.abs(clip).sum(axis=(2, 3), keepdims=True) > 0
    depth = np.where(present[..., 0], clip[..., 2], 1)
    u = 0.5 + 1.05 * clip[..., 0] / depth / 1.78  # focal length / width, 16:9
    v = 0.5 - 1.05 * clip[..., 1] / depth
    image = np.stack([u, v, np.zeros_like(u)], axis=-1)
    return np.where(present, image, 0).astype(np.float32)


def test_genuine_data_raise_no_warning(genuine, nwucla_dir, ntu_samples_dir, tmp_path):
    assert _survey(genuine) == []
    clips = [nwucla.read_clip(p)[2] for p in sorted((nwucla_dir / "all_sqe").glob("*.json"))]
    assert _survey(clips, NWUCLA) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        prepare_ntu(ntu_samples_dir, tmp_path / "ntu60", workers=0, progress=False)
    assert open_dataset(tmp_path / "ntu60" / "xsub").meta["checks"] == []


def test_normalised_image_coordinates_warn_twice(genuine, tmp_path):
    clips = [_as_image(c) for c in genuine]
    assert all(((c >= 0) & (c <= 1)).all() for c in clips)
    with pytest.warns(DataWarning) as caught:
        out = write_dataset(tmp_path / "ds", clips, [0] * 16, ["train"] * 16, NTU)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and all(m.startswith(str(out)) and "\n" not in m for m in messages)
    assert "0..1" in messages[0] and "multiply by about" in messages[0]
    assert "head is below the feet in 100% of frames" in messages[1] and "flip" in messages[1]
    assert open_dataset(out).meta["checks"] == [m.removeprefix(f"{out}: ") for m in messages]


def test_scale_and_flip_fix_what_the_checks_say(genuine):
    clips = [_as_image(c) for c in genuine]
    box, down = _survey(clips)
    factor = float(box.split("multiply by about ")[1].split(" ")[0])
    fixed = [np.where(c != 0, c * np.float32([factor, -factor, 0]), 0) for c in clips]
    assert _survey(fixed) == []


@pytest.mark.parametrize("scale", [1000, 400, 0.01])  # millimetres, pixels, ...
def test_other_units_warn(genuine, scale):
    (finding,) = _survey([c * scale for c in genuine])
    assert "not metres" in finding
    factor = float(finding.split("multiply them by about ")[1])
    assert 0.5 < factor * scale < 2  # the fix is the right order of magnitude


def test_strict_makes_them_errors(genuine, tmp_path):
    clips = [c * 1000 for c in genuine]
    with pytest.raises(DataError, match="not metres"):
        write_dataset(tmp_path / "ds", clips, [0] * 16, ["train"] * 16, NTU, strict=True)
    assert not (tmp_path / "ds").exists()
    write_dataset(tmp_path / "ok", genuine, [0] * 16, ["train"] * 16, NTU, strict=True)


def test_layouts_without_head_and_feet_skip_the_orientation_check(genuine):
    from dataclasses import replace

    headless = replace(NTU, head=None, feet=())
    flipped = [c * np.float32([1, -1, 1]) for c in genuine]
    assert len(_survey(flipped)) == 1 and _survey(flipped, headless) == []


def test_prepare_warnings_name_the_final_folder(nwucla_dir, tmp_path):
    """`glt prepare` writes under a temporary name; its warnings name the folder the user gets."""
    import json

    from glt.data.prepare import prepare_nwucla

    raw = tmp_path / "raw" / "all_sqe"
    raw.mkdir(parents=True)
    for view in ("v01", "v03"):
        for path in sorted((nwucla_dir / "all_sqe").glob(f"a01_s0*_e0*_{view}.json"))[:3]:
            clip = json.loads(path.read_text())
            clip["skeletons"] = (np.asarray(clip["skeletons"]) * 1000).tolist()  # millimetres
            (raw / path.name).write_text(json.dumps(clip))
    out = tmp_path / "nwucla"
    with pytest.warns(DataWarning) as caught:
        prepare_nwucla(tmp_path / "raw", out, workers=0, progress=False)
    assert [str(w.message).split(": ")[0] for w in caught] == [str(out / "xview")]
