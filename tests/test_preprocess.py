"""Tests for glt.data.preprocess (method §2): the authors' outputs, and the rules one by one."""

from __future__ import annotations

import numpy as np
import pytest
from einops import rearrange

from glt.data.preprocess import preprocess, valid_length
from glt.layout import NTU, NWUCLA


def _authors_pad_start(position: np.ndarray) -> int:
    """First frame of an authors' (3, T, V, M) clip whose x of joint 0, person 0 is the pad."""
    padded = np.flatnonzero(position[0, :, 0, 0] == np.float32(99.9))
    return int(padded[0]) if len(padded) else position.shape[1]


@pytest.mark.official
@pytest.mark.parametrize(
    "raw_key, out_key", [("gendata", "position"), ("real_gendata", "real_position")]
)
def test_matches_the_authors_preprocessing(official, raw_key, out_key):
    raw, want = official[raw_key].numpy(), official[out_key].numpy()  # (N, 3, T, V, M)
    max_frames = want.shape[2]
    for i in range(len(raw)):
        clip = preprocess(rearrange(raw[i], "c t v m -> t m v c"), NTU, max_frames=max_frames)
        assert len(clip) == _authors_pad_start(want[i]), f"clip {i}: length"
        np.testing.assert_allclose(
            clip, rearrange(want[i, :, : len(clip)], "c t v m -> t m v c"), rtol=1e-5, atol=1e-6
        )


def _walker(rng, frames=20, persons=2):
    """A plausible raw clip: people at ~3 m, facing the camera at random angles, moving."""
    base = rng.normal(scale=0.3, size=(1, persons, NTU.num_joints, 3))
    base[..., 2] += 3.0
    drift = np.cumsum(rng.normal(scale=0.01, size=(frames, persons, 1, 3)), axis=0)
    return (
        base + drift + rng.normal(scale=0.005, size=(frames, persons, NTU.num_joints, 3))
    ).astype(np.float32)


def test_relative_coordinates_and_global_translation():
    raw = _walker(np.random.default_rng(0))
    out = preprocess(raw, NTU)
    # A rotation about y keeps y and the distance from the y axis: compare those.
    joints = np.arange(NTU.num_joints) != NTU.center
    rel = (raw - raw[:, :, NTU.center : NTU.center + 1])[:, :, joints]
    translation = raw[:, :, NTU.center] - raw[:1, :, NTU.center]
    for got, want in [(out[:, :, joints], rel), (out[:, :, NTU.center], translation)]:
        np.testing.assert_allclose(got[..., 1], want[..., 1], atol=1e-6)
        np.testing.assert_allclose(
            np.hypot(got[..., 0], got[..., 2]), np.hypot(want[..., 0], want[..., 2]), atol=1e-6
        )
    assert not out[0, :, NTU.center].any()  # no translation at frame 0


def test_each_frame_is_turned_to_face_the_camera():
    out = preprocess(_walker(np.random.default_rng(1), frames=30), NTU)
    shoulders = out[:, :, NTU.right_shoulder] - out[:, :, NTU.left_shoulder]
    np.testing.assert_allclose(shoulders[..., 2], 0, atol=1e-3)  # along x, up to the 1e-4


def test_the_sign_of_the_angles_is_chosen_once_per_clip():
    # Shoulder line v = right - left with v.z > 0 in three frames and v.z < 0 in the last: the
    # sum decides (negate every angle), which aligns v with +x in the first three frames and
    # turns the last one the wrong way (the authors' behaviour).
    raw = np.zeros((4, 1, NWUCLA.num_joints, 3), np.float32)
    raw[:, 0, 0] = [0.0, -0.5, 0.0]  # hip centre: the person is present
    raw[:, 0, NWUCLA.left_shoulder] = [-0.1, 0.0, -0.1]
    raw[:, 0, NWUCLA.right_shoulder] = [0.1, 0.0, 0.1]
    raw[3, 0, NWUCLA.right_shoulder] = [0.1, 0.0, -0.2]
    v = (
        preprocess(raw, NWUCLA)[:, 0, NWUCLA.right_shoulder]
        - preprocess(raw, NWUCLA)[:, 0, NWUCLA.left_shoulder]
    )
    np.testing.assert_allclose(v[:3], [[np.hypot(0.2, 0.2), 0, 0]] * 3, atol=1e-3)  # |v| + 1e-4
    assert abs(v[3, 2]) > 0.1


def test_absent_second_person_stays_zero():
    raw = _walker(np.random.default_rng(2))
    raw[:, 1] = 0
    out = preprocess(raw, NTU)
    assert not out[:, 1].any()


def test_length_counts_frames_with_a_first_body_and_crops_the_end():
    raw = _walker(np.random.default_rng(3), frames=10)
    raw[4, 0, 0] = 0  # one empty frame in the middle: the authors keep only 9 frames
    assert valid_length(raw) == 9
    out = preprocess(raw, NTU)
    assert len(out) == 9
    np.testing.assert_array_equal(out[:5], preprocess(raw, NTU, max_frames=10)[:5])


def test_crop_to_max_frames():
    raw = _walker(np.random.default_rng(4), frames=12)
    out = preprocess(raw, NTU, max_frames=8)
    assert out.shape == (8, 2, 25, 3) and out.dtype == np.float32


def test_empty_clip_has_length_zero():
    assert preprocess(np.zeros((5, 2, 25, 3)), NTU).shape == (0, 2, 25, 3)


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="expected"):
        preprocess(np.zeros((5, 1, 25, 3)), NTU)
