"""Tests for glt.targets: MPDP displacement classes (method §4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from einops import rearrange

from glt.targets import (
    ABSENT_CLASS,
    MAX_MOVING_CLASS,
    NUM_DIRECTIONS,
    NUM_MAGNITUDES,
    STILL_DIRECTION,
    displacement_targets,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _handmade():
    """Two clips, M=2 persons, V=2 joints; clip 0 has 3 frames and an absent second person."""
    x = torch.zeros(2, 3, 2, 2, 3)
    x[0, :, 0, 0] = torch.tensor([[0.0, 0.0, 0.0], [0.015, 0.0, 0.0], [0.015, -0.02, 0.1]])
    x[0, :, 0, 1] = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, -0.5]])
    x[1, :2] = 0.3  # clip 1: 2 valid frames, both persons present and still
    x[1, 2] = 7.0  # a pad frame holding junk
    lengths = torch.tensor([3, 2])
    present = torch.tensor([[True, False], [True, True]])
    return x, lengths, present


def test_handmade_known_classes():
    x, lengths, present = _handmade()
    direction, magnitude = displacement_targets(x, lengths, present, intervals=(1, 2))
    assert direction.shape == magnitude.shape == (2, 3, 2, 4)
    assert direction.dtype == magnitude.dtype == torch.int64
    # clip 0, token 0 = (joint 0, person 0); rows are frames, columns are intervals r = 1, 2
    # r=1, t=1: d = (-0.015, 0, 0) -> signs (0, 1, 1) -> 12; |d| = 0.015 -> 1 + 1
    # r=1, t=2: d = (0, 0.02, -0.1) -> signs (1, 2, 0) -> 7; |d| = 0.102 -> 10 + 1
    # r=2, t=1: t < r so d = x[0] - x[1] = r=1's; t=2: d = (-0.015, 0.02, -0.1) -> 6, 0.103 -> 11
    assert direction[0, :, :, 0].tolist() == [[13, 13], [12, 12], [7, 6]]
    assert magnitude[0, :, :, 0].tolist() == [[0, 0], [2, 2], [11, 11]]
    # token 2 = (joint 1, person 0): moves by 1 m along z at frame 2 -> class 22, clipped to 14
    assert direction[0, :, :, 2].tolist() == [[13, 13], [13, 13], [22, 22]]
    assert magnitude[0, :, :, 2].tolist() == [[0, 0], [0, 0], [14, 14]]
    # tokens 1 and 3 = the absent person 1: still, magnitude class 15 on every frame
    assert (direction[0, :, :, 1::2] == STILL_DIRECTION).all()
    assert (magnitude[0, :, :, 1::2] == ABSENT_CLASS).all()
    # clip 1: still on its 2 valid frames; its pad frame is "no motion" whatever it holds
    assert (direction[1] == STILL_DIRECTION).all()
    assert (magnitude[1] == 0).all()


def test_token_order_is_joint_major():
    """Token j = joint * M + person (einops "b t m v c -> b t (v m) c")."""
    b, t, m, v = 1, 4, 3, 5
    x = torch.zeros(b, t, m, v, 3)
    x[0, 3, 2, 4, 1] = 0.05  # person 2, joint 4 moves up at the last frame
    direction, magnitude = displacement_targets(
        x, torch.tensor([t]), torch.ones(b, m, dtype=torch.bool), intervals=(1,)
    )
    moving = (magnitude[0, 3, 0] > 0).nonzero().flatten().tolist()
    assert moving == [4 * m + 2]
    assert direction[0, 3, 0, 4 * m + 2] == 1 + 3 * 0 + 9 * 1  # d = x[2] - x[3]: y < 0


def test_bin_edges_follow_numpy_floor_division():
    """Magnitude bins use the authors' numpy `m // 0.01`, which differs from floor(m / 0.01)."""
    k = np.arange(16)
    steps = torch.zeros(1, 2, 1, len(k), 3, dtype=torch.float64)
    steps[0, 1, 0, :, 0] = torch.from_numpy(k * 0.01)
    _, magnitude = displacement_targets(
        steps, torch.tensor([2]), torch.ones(1, 1, dtype=torch.bool), intervals=(1,)
    )
    m = k * 0.01
    expected = np.where(m == 0, 0, np.minimum(m // 0.01 + 1, MAX_MOVING_CLASS))
    assert magnitude[0, 1, 0].tolist() == expected.tolist()
    # 0.03 // 0.01 == 2.0 in IEEE arithmetic, so 0.03 m lands in class 3, not 4
    assert magnitude[0, 1, 0, 3] == 3


def test_batch_is_vectorised_and_sample_independent():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 12, 2, 3, 3, generator=g) * 0.05
    lengths = torch.tensor([12, 7, 1, 10])
    present = torch.tensor([[True, True], [True, False], [True, True], [True, False]])
    x[1, :, 1] = 0
    x[3, :, 1] = 0
    d_all, m_all = displacement_targets(x, lengths, present, intervals=(1, 3, 5))
    for i in range(4):
        d_i, m_i = displacement_targets(
            x[i : i + 1], lengths[i : i + 1], present[i : i + 1], (1, 3, 5)
        )
        assert torch.equal(d_all[i : i + 1], d_i) and torch.equal(m_all[i : i + 1], m_i)
    assert d_all.min() >= 0 and d_all.max() < NUM_DIRECTIONS
    assert m_all.min() >= 0 and m_all.max() < NUM_MAGNITUDES


def test_pad_frames_do_not_matter():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 9, 2, 4, 3, generator=g) * 0.05
    lengths = torch.tensor([9, 5])
    present = torch.ones(2, 2, dtype=torch.bool)
    x_zero, x_sentinel = x.clone(), x.clone()
    x_zero[1, 5:] = 0
    x_sentinel[1, 5:] = 99.9
    a = displacement_targets(x_zero, lengths, present)
    b = displacement_targets(x_sentinel, lengths, present)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_first_person_always_counts_as_present():
    x = torch.zeros(1, 3, 2, 2, 3)
    _, magnitude = displacement_targets(x, torch.tensor([3]), torch.zeros(1, 2, dtype=torch.bool))
    assert (magnitude[..., 0::2] == 0).all() and (magnitude[..., 1::2] == ABSENT_CLASS).all()


@pytest.mark.parametrize("device", DEVICES)
def test_outputs_on_input_device(device):
    x, lengths, present = _handmade()
    direction, magnitude = displacement_targets(x.to(device), lengths, present.to(device), (1, 2))
    assert direction.device.type == magnitude.device.type == device
    expected = displacement_targets(x, lengths, present, (1, 2))
    assert torch.equal(direction.cpu(), expected[0]) and torch.equal(magnitude.cpu(), expected[1])


def test_rejects_bad_shapes():
    x = torch.zeros(1, 3, 2, 2, 3)
    with pytest.raises(ValueError):
        displacement_targets(x[..., :2], torch.tensor([3]), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError):
        displacement_targets(x, torch.tensor([3]), torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError):
        displacement_targets(x, torch.tensor([3]), torch.ones(1, 2, dtype=torch.bool), (0, 1))


@pytest.mark.official
def test_matches_authors_feeder(official):
    """`targets_input` (N, 3, T, V, M) with 99.9 pads -> the authors' `dir_gt`, `mag_gt`."""
    intervals = [int(r) for r in official["config"]["intervals"]]
    data = official["targets_input"]
    # The authors' feeder: valid frames are those whose x of joint 0, person 0 is not 99.9.
    lengths = (data[:, 0, :, 0, 0] != 99.9).sum(dim=1)
    x = rearrange(data, "n c t v m -> n t m v c")
    valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]  # (N, T)
    x = x * valid[:, :, None, None, None]  # our convention: zero padding
    present = x[:, 0].sum(dim=(-2, -1)) != 0  # first frame, before augmentation
    direction, magnitude = displacement_targets(x, lengths, present, intervals)

    r = len(intervals)
    dir_gt = rearrange(official["dir_gt"], "n t (r j) -> n t r j", r=r)
    mag_gt = rearrange(official["mag_gt"], "n t (r j) -> n t r j", r=r)
    assert direction.shape == dir_gt.shape
    assert torch.equal(direction[valid], dir_gt[valid])
    assert torch.equal(magnitude[valid], mag_gt[valid])
