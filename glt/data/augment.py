"""Augmentations of one clip (T, M, V, 3): pretraining ones (method §4) and the supplementary's.

- `interpolate`: temporal interpolation of the valid frames to int(L * (1 +/- U(0,1) * 0.1))
  frames (sign 50/50, at least 1), linear with half-pixel centres (OpenCV's INTER_LINEAR as in
  the authors' code = torch's linear with align_corners=False), cropped to `max_frames`.
- `shear`: x <- x @ S^T with S = [[1, a, b], [c, 1, d], [e, f, 1]], off-diagonals U(-0.3, 0.3),
  one S per clip, applied to every joint except the layout's centre joint of every person, whose
  slot carries the global translation and is kept as it is.
- `corrupt_joints`: supplementary Table B ("we randomly set the joint coordinates of the motion
  sequences to (0, 0, 0)"). Our reading: per clip, exactly round(fraction * K) of the K
  (frame, person, joint) entries of the persons that appear in the clip are drawn uniformly
  without replacement and set to (0, 0, 0); the global slot is a joint like the others. The
  corrupted clip is the training data: the displacement targets are computed from it too.
  `corruption_mask` gives the mask alone, for a variant that keeps clean targets.
- `resample`: fixed-length resampling of the whole clip (supplementary Table A, "sampling to
  150 / 300 frames"), with the same linear interpolation.

`Augment` chains them in the authors' order (interpolate, then shear; corruption last so that
corrupted joints are exactly zero). All randomness comes from an explicit `torch.Generator`, so a
clip's augmentation is reproducible (see `glt.data.dataset.item_generator`). Linear maps keep
absent persons (all zeros) exactly zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from glt.layout import SkeletonLayout


def _uniform(generator: torch.Generator | None, *shape: int) -> Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def resample(clip: Tensor, num_frames: int) -> Tensor:
    """Resample a (T, M, V, 3) clip to `num_frames` frames by linear interpolation along time.

    Half-pixel centres (align_corners=False), as OpenCV's INTER_LINEAR: output frame i samples
    the input at (i + 0.5) * T / num_frames - 0.5, clamped to the first and last frame.
    """
    if num_frames < 1:
        raise ValueError(f"resample: num_frames must be at least 1, got {num_frames}")
    if clip.shape[0] == num_frames:
        return clip.clone()
    m, v = clip.shape[1], clip.shape[2]
    seq = rearrange(clip, "t m v c -> 1 (m v c) t")
    out = F.interpolate(seq, size=num_frames, mode="linear", align_corners=False)
    return rearrange(out, "1 (m v c) t -> t m v c", m=m, v=v)


def interpolate(
    clip: Tensor,
    generator: torch.Generator | None = None,
    ratio: float = 0.1,
    max_frames: int = 300,
) -> Tensor:
    """Temporal interpolation augmentation (method §4), on a clip of valid frames only.

    The new length is int(L * (1 + sign * u * ratio)) with u ~ U(0, 1) and sign = -1 or +1 with
    probability 1/2 each (at least 1 frame), then the result is cropped to `max_frames`.
    """
    sign = -1.0 if _uniform(generator, 1).item() > 0.5 else 1.0
    u = _uniform(generator, 1).item()
    size = max(1, int(clip.shape[0] * (1 + sign * u * ratio)))
    return resample(clip, size)[:max_frames]


def shear(
    clip: Tensor,
    layout: SkeletonLayout,
    generator: torch.Generator | None = None,
    amplitude: float = 0.3,
) -> Tensor:
    """Shear augmentation (method §4): x <- x @ S^T, except the global slot.

    S has ones on the diagonal and off-diagonals drawn from U(-amplitude, amplitude); the same S
    is used for every frame, person and joint. The centre joint of every person (its global
    translation, `layout.center`) is returned unchanged.
    """
    s = torch.eye(3, dtype=torch.float64)
    off = ~torch.eye(3, dtype=torch.bool)
    s[off] = (2 * _uniform(generator, 6) - 1) * amplitude
    out = torch.einsum("tmvc,dc->tmvd", clip, s.to(clip))
    out[:, :, layout.center] = clip[:, :, layout.center]
    return out


def corruption_mask(
    clip: Tensor, fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """(T, M, V) bool: exactly round(fraction * K) of the K (frame, person, joint) entries of the
    persons that appear in the clip (not all zero), drawn uniformly without replacement."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"corruption fraction must be in [0, 1], got {fraction}")
    t, m, v, _ = clip.shape
    appears = rearrange(clip.ne(0), "t m v c -> m (t v c)").any(dim=1).cpu()  # (M,)
    candidates = appears[None, :, None].expand(t, m, v).flatten()
    count = round(fraction * int(candidates.sum()))
    # Random keys; entries of absent persons sort last, so the `count` smallest are candidates.
    keys = _uniform(generator, t * m * v).masked_fill(~candidates, 2.0)
    mask = torch.zeros(t * m * v, dtype=torch.bool)
    mask[keys.argsort()[:count]] = True
    return rearrange(mask, "(t m v) -> t m v", t=t, m=m).to(clip.device)


def corrupt_joints(
    clip: Tensor, fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """Set a random `fraction` of the joints of a clip to (0, 0, 0) (supplementary Table B).

    See `corruption_mask` for which entries; the input is not modified.
    """
    mask = corruption_mask(clip, fraction, generator)
    return clip.masked_fill(mask[..., None], 0.0)


class Augment:
    """The pretraining augmentation of one clip: `Augment(layout)(clip, generator)`.

    clip: (T, M, V, 3) float tensor holding only valid frames. Returns a new (T', M, V, 3) tensor.
    Defaults are the paper's pretraining (interpolation ratio 0.1, shear amplitude 0.3, at most
    300 frames); `Augment(layout, shear=False)` is the linear-evaluation augmentation, and
    `corrupt` > 0 adds the joint corruption of supplementary Table B.
    """

    def __init__(
        self,
        layout: SkeletonLayout,
        interpolate: bool = True,
        shear: bool = True,
        corrupt: float = 0.0,
        max_frames: int = 300,
        interpolate_ratio: float = 0.1,
        shear_amplitude: float = 0.3,
    ):
        if not 0.0 <= corrupt <= 1.0:
            raise ValueError(f"Augment: corrupt must be a fraction in [0, 1], got {corrupt}")
        self.layout = layout
        self.interpolate = interpolate
        self.shear = shear
        self.corrupt = corrupt
        self.max_frames = max_frames
        self.interpolate_ratio = interpolate_ratio
        self.shear_amplitude = shear_amplitude

    def __call__(self, clip: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.interpolate:
            clip = interpolate(clip, generator, self.interpolate_ratio, self.max_frames)
        else:
            clip = clip[: self.max_frames]
        if self.shear:
            clip = shear(clip, self.layout, generator, self.shear_amplitude)
        if self.corrupt > 0:
            clip = corrupt_joints(clip, self.corrupt, generator)
        return clip

    def __repr__(self) -> str:
        return (
            f"Augment(layout={self.layout.name!r}, interpolate={self.interpolate}, "
            f"shear={self.shear}, corrupt={self.corrupt}, max_frames={self.max_frames}, "
            f"interpolate_ratio={self.interpolate_ratio}, shear_amplitude={self.shear_amplitude})"
        )
