"""Pretraining targets: multi-interval pose displacement classes (method §4, MPDP).

For every interval r, frame t and token (joint, person), the displacement is
d = x[t - r] - x[t] (frames t < r use x[0] - x[t]), on the preprocessed and augmented clip,
for every token including the global-translation slot. It becomes two class targets:

- direction, 27 classes: per coordinate s = 0 if d < 0, 1 if d == 0, 2 if d > 0, and the class is
  s_x + 3 * s_y + 9 * s_z;
- magnitude, 16 classes: m = ||d||_2 (the Euclidean norm of the 3-vector, as the authors' feeder
  computes it: sqrt(dx^2 + dy^2 + dz^2); this is what reproduces the fixture's classes exactly,
  where max |d_c|, the L1 norm or the squared norm do not); class = floor(m / 0.01) + 1 clipped
  to 14, 0 where m == 0, and 15 for every frame of a person slot m >= 1 that is absent (its first
  frame sums to 0 before augmentation; the authors check the second person only).

The arithmetic runs in float64 by default, as the authors' numpy feeder does, so that classes on
bin edges come out the same. Token order is the model's: J = joint * M + person
("b t m v c -> b t (v m) c"); the authors' flat (N, T, J * R) layout is interval-major and
converts with `rearrange(t, "b t r j -> b t (r j)")`.

`displacement_targets_packed` computes the same classes for packed clips (`glt.packing`): the
earlier frame t - r is looked up within the frame's own clip (clamped to the clip's first frame),
and there are no pad frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor

from glt.model import frame_mask
from glt.packing import PackedClips

NUM_DIRECTIONS = 27  # sign (-, 0, +) of x, y and z: sx + 3 sy + 9 sz
NUM_MAGNITUDES = 16  # 0 (no motion), 1..14 (by 0.01), 15 (absent second person)
MAGNITUDE_STEP = 0.01  # metres per magnitude bin
MAX_MOVING_CLASS = 14  # magnitudes of MAX_MOVING_CLASS * step and above share the last bin
ABSENT_CLASS = 15  # magnitude class of every token of an absent person
STILL_DIRECTION = 1 + 3 + 9  # direction class of d == (0, 0, 0); what pad frames get


def displacement_targets(
    x: Tensor,
    lengths: Tensor,
    present: Tensor,
    intervals: Sequence[int] = (1, 5, 10),
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor]:
    """Direction and magnitude classes of the multi-interval displacements (method §4).

    x: (B, T, M, V, 3) clips, zero-padded (or padded with anything) after `lengths`.
    lengths: (B,) number of valid frames per clip.
    present: (B, M) bool, person m is present (its first frame, before augmentation, does not sum
        to 0; see `glt.data.dataset.person_present`). Person 0 is always treated as present, as in
        the authors' code.
    intervals: the intervals r (frames), R of them.
    dtype: arithmetic precision; float64 matches the authors' feeder bit for bit (use float32
        on devices without float64).

    Returns (direction, magnitude): two (B, T, R, J) int64 tensors on x.device, J = V * M with
    token = joint * M + person. Pad frames (t >= lengths[b]) get direction 13 ("no motion") and
    magnitude 0, whatever x holds there; the loss masks them anyway. Vectorised: batch, frames and
    intervals are computed at once with one gather, with no Python loop.
    """
    if x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"displacement_targets: x must be (B, T, M, V, 3), got {tuple(x.shape)}")
    b, t, m, _, _ = x.shape
    if present.shape != (b, m):
        raise ValueError(
            f"displacement_targets: present must be ({b}, {m}), got {tuple(present.shape)}"
        )
    if min(intervals) < 1:
        raise ValueError(f"displacement_targets: intervals must be positive, got {list(intervals)}")
    device = x.device
    x = x.to(dtype)
    frames = torch.arange(t, device=device)
    r = torch.as_tensor(list(intervals), device=device)
    earlier = (frames[None, :] - r[:, None]).clamp(min=0)  # (R, T): t - r, or 0 for t < r
    absent = _absent(present, device)[:, None, None, :, None]  # (B, 1, 1, M, 1)
    direction, magnitude = _classes(x[:, earlier] - x[:, None], absent)  # (B, R, T, M, V)

    pad = ~frame_mask(lengths.to(device), t)[:, None, :, None, None]  # (B, 1, T, 1, 1)
    direction = direction.masked_fill(pad, STILL_DIRECTION)
    magnitude = magnitude.masked_fill(pad, 0)

    pattern = "b r t m v -> b t r (v m)"
    return rearrange(direction, pattern), rearrange(magnitude, pattern)


def displacement_targets_packed(
    packed: PackedClips,
    present: Tensor,
    intervals: Sequence[int] = (1, 5, 10),
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor]:
    """`displacement_targets` for packed clips: values (N, M, V, 3) -> direction and magnitude
    classes (N, R, J), int64. Frame t of a clip compares with frame max(t - r, 0) of the same
    clip; present (B, M) as for `displacement_targets`. Equal to it on every valid frame."""
    x = packed.values
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(
            f"displacement_targets_packed: values must be (N, M, V, 3), got {tuple(x.shape)}"
        )
    if present.shape != (packed.num_clips, x.shape[1]):
        raise ValueError(
            f"displacement_targets_packed: present must be ({packed.num_clips}, {x.shape[1]}), "
            f"got {tuple(present.shape)}"
        )
    if min(intervals) < 1:
        raise ValueError(
            f"displacement_targets_packed: intervals must be positive, got {list(intervals)}"
        )
    device = x.device
    x = x.to(dtype)
    rows = torch.arange(packed.num_frames, device=device)
    r = torch.as_tensor(list(intervals), device=device)
    # (R, N): the row of frame t - r in the same clip, or of its first frame for t < r
    earlier = rows[None, :] - torch.minimum(r[:, None], packed.positions[None, :])
    absent = _absent(present, device)[packed.clips][None, :, :, None]  # (1, N, M, 1)
    direction, magnitude = _classes(x[earlier] - x[None], absent)  # (R, N, M, V)
    pattern = "r n m v -> n r (v m)"
    return rearrange(direction, pattern), rearrange(magnitude, pattern)


def _absent(present: Tensor, device: torch.device) -> Tensor:
    """(B, M) bool: person m is absent; the first person never is (method §2)."""
    absent = ~present.to(device=device, dtype=torch.bool)
    absent[:, 0] = False
    return absent


def _classes(d: Tensor, absent: Tensor) -> tuple[Tensor, Tensor]:
    """Displacements d (..., 3) -> direction and magnitude classes (...), int64; `absent`
    (broadcast to d.shape[:-1]) marks the tokens of absent persons (magnitude ABSENT_CLASS)."""
    sign = (torch.sign(d) + 1).to(torch.uint8)  # 0 if d < 0, 1 if d == 0, 2 if d > 0
    direction = sign[..., 0].long() + 3 * sign[..., 1] + 9 * sign[..., 2]

    norm = torch.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)
    magnitude = torch.div(norm, MAGNITUDE_STEP, rounding_mode="floor").long() + 1
    magnitude = magnitude.clamp(max=MAX_MOVING_CLASS).masked_fill(norm == 0, 0)
    return direction, magnitude.masked_fill(absent, ABSENT_CLASS)
