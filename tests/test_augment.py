"""Tests for glt.data.augment: method §4 augmentations and the supplementary's variants."""

from __future__ import annotations

import pytest
import torch

from glt.data.augment import (
    Augment,
    corrupt_joints,
    corruption_mask,
    interpolate,
    resample,
    shear,
)
from glt.layout import NTU, NWUCLA

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _clip(t: int = 40, layout=NTU, absent_second: bool = True, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(t, layout.num_persons, layout.num_joints, 3, generator=g)
    if absent_second and layout.num_persons > 1:
        clip[:, 1] = 0
    return clip


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_resample_half_pixel_centres():
    """Linear with half-pixel centres, as OpenCV's INTER_LINEAR: 2 -> 4 frames gives
    samples at -0.25, 0.25, 0.75, 1.25, clamped at the ends."""
    clip = torch.tensor([0.0, 1.0]).reshape(2, 1, 1, 1).expand(2, 1, 1, 3)
    out = resample(clip, 4)
    assert out.shape == (4, 1, 1, 3)
    assert torch.allclose(out[:, 0, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    # 4 -> 2: samples at 0.5 and 2.5
    ramp = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 1, 1, 3)
    assert torch.allclose(resample(ramp, 2)[:, 0, 0, 0], torch.tensor([0.5, 2.5]))


@pytest.mark.parametrize("num_frames", [1, 17, 40, 150, 300])
def test_resample_length_and_constant(num_frames):
    clip = torch.full((40, 2, 25, 3), 0.7)
    out = resample(clip, num_frames)
    assert out.shape == (num_frames, 2, 25, 3)
    assert torch.allclose(out, torch.full_like(out, 0.7))


def test_interpolate_length_within_ten_percent():
    clip = _clip(100)
    sizes = [interpolate(clip, _gen(s)).shape[0] for s in range(200)]
    assert all(90 <= n <= 110 for n in sizes)
    assert min(sizes) < 97 and max(sizes) > 103  # both directions happen
    assert sum(n < 100 for n in sizes) > 60 and sum(n > 100 for n in sizes) > 60


def test_interpolate_capped_and_at_least_one_frame():
    assert all(interpolate(_clip(300), _gen(s), max_frames=300).shape[0] <= 300 for s in range(40))
    assert all(interpolate(_clip(1), _gen(s)).shape[0] == 1 for s in range(20))


def test_interpolate_keeps_absent_person_zero():
    for s in range(10):
        out = interpolate(_clip(37), _gen(s))
        assert (out[:, 1] == 0).all()


def test_shear_leaves_global_slot_and_absent_person():
    clip = _clip(20)
    out = shear(clip, NTU, _gen(3))
    assert torch.equal(out[:, :, NTU.center], clip[:, :, NTU.center])
    assert (out[:, 1] == 0).all()
    others = [v for v in range(NTU.num_joints) if v != NTU.center]
    assert not torch.allclose(out[:, 0, others], clip[:, 0, others])


def test_shear_is_one_linear_map_with_bounded_off_diagonals():
    clip = _clip(30, NWUCLA)
    out = shear(clip, NWUCLA, _gen(5), amplitude=0.3)
    joints = [v for v in range(NWUCLA.num_joints) if v != NWUCLA.center]
    a = clip[:, 0, joints].reshape(-1, 3)
    b = out[:, 0, joints].reshape(-1, 3)
    s_t = torch.linalg.lstsq(a, b).solution  # out = clip @ S^T
    s = s_t.T
    assert torch.allclose(torch.diagonal(s), torch.ones(3), atol=1e-5)
    off = s[~torch.eye(3, dtype=torch.bool)]
    assert (off.abs() <= 0.3 + 1e-5).all() and (off.abs() > 0).all()
    assert torch.allclose(a @ s_t, b, atol=1e-5)


def test_corruption_fraction_and_only_present_persons():
    clip = _clip(50) + 10.0 * (torch.arange(2) == 0).reshape(1, 2, 1, 1)  # person 0 never zero
    clip[:, 1] = 0
    for fraction in (0.05, 0.2):
        mask = corruption_mask(clip, fraction, _gen(0))
        assert mask.shape == (50, 2, 25)
        assert int(mask.sum()) == round(fraction * 50 * 25)
        assert not mask[:, 1].any()
        out = corrupt_joints(clip, fraction, _gen(0))
        assert torch.equal(out[mask], torch.zeros(int(mask.sum()), 3))
        assert torch.equal(out[~mask], clip[~mask])
    assert not corruption_mask(clip, 0.0, _gen(0)).any()
    with pytest.raises(ValueError):
        corruption_mask(clip, 1.5, _gen(0))


def test_corruption_spreads_over_frames_and_joints():
    clip = _clip(200, absent_second=False) + 10.0
    mask = corruption_mask(clip, 0.1, _gen(2))
    assert int(mask.sum()) == round(0.1 * mask.numel())
    assert (mask.any(dim=(1, 2))).float().mean() > 0.9  # most frames get some corrupted joints
    assert mask.any(dim=(0, 1)).all()  # every joint, the global slot included, can be hit


def test_augment_deterministic_given_generator():
    aug = Augment(NTU, corrupt=0.1)
    clip = _clip(60)
    a, b, c = aug(clip, _gen(11)), aug(clip, _gen(11)), aug(clip, _gen(12))
    assert torch.equal(a, b)
    assert a.shape != c.shape or not torch.equal(a, c)
    assert torch.equal(clip, _clip(60))  # input untouched


def test_augment_properties_together():
    aug = Augment(NTU, max_frames=64)
    clip = _clip(64)
    for s in range(20):
        out = aug(clip, _gen(s))
        assert 57 <= out.shape[0] <= 64
        assert (out[:, 1] == 0).all()  # absent person stays exactly zero
        assert out.dtype == torch.float32


def test_augment_switches():
    clip = _clip(40)
    assert torch.equal(Augment(NTU, interpolate=False, shear=False)(clip, _gen(0)), clip)
    assert Augment(NTU, interpolate=False, shear=False, max_frames=30)(clip, _gen(0)).shape[0] == 30
    only_interp = Augment(NTU, shear=False)(clip, _gen(4))
    assert torch.equal(only_interp, interpolate(clip, _gen(4)))
    with pytest.raises(ValueError):
        Augment(NTU, corrupt=-0.1)


@pytest.mark.parametrize("device", DEVICES)
def test_augment_runs_on_the_clip_device(device):
    clip = _clip(33)
    out = Augment(NTU, corrupt=0.1)(clip.to(device), _gen(9))
    assert out.device.type == device
    expected = Augment(NTU, corrupt=0.1)(clip, _gen(9))
    assert torch.allclose(out.cpu(), expected, atol=1e-6)
