"""Packed batches: clips concatenated along frames, so that only real frames are computed.

A padded batch (B, T, ...) computes every clip to its batch's longest (or to 300 frames); at
NTU-like lengths most of those frames are padding. A packed batch stores the N = sum(lengths)
real frames one after the other, clip after clip, with the index that says where each frame
belongs:

    values     (N, ...)   the frames, e.g. clips (N, M, V, C), tokens (N, J, C), features (N, W)
    lengths    (B,)       frames per clip
    offsets    (B + 1,)   clip b holds rows offsets[b] .. offsets[b + 1] - 1
    positions  (N,)       each frame's index in its own clip (0 .. length - 1)
    clips      (N,)       each frame's clip (0 .. B - 1)
    max_length int        the longest clip, known on the host (no device sync to size buffers)

The per-frame parts of the model run on the rows as they are; the temporal attention runs per
clip (`glt.varlen`); per-clip quantities come back with `segment_mean`. `pack` and `unpack`
convert from and to the padded layout (e.g. to compare both paths).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from glt.errors import DataError


@dataclass(frozen=True)
class PackedClips:
    """B clips of different lengths stored as N = sum(lengths) rows (see the module docstring)."""

    values: Tensor
    lengths: Tensor
    offsets: Tensor
    positions: Tensor
    clips: Tensor
    max_length: int

    @classmethod
    def from_values(cls, values: Tensor, lengths) -> PackedClips:
        """Index `values` (N, ...), the frames of clips of `lengths` (B,) one after the other."""
        lengths = torch.as_tensor(lengths, dtype=torch.int64).to(values.device)
        if lengths.dim() != 1 or len(lengths) == 0 or (lengths < 1).any():
            raise DataError(f"packed clips need lengths >= 1 of shape (B,), got {lengths.tolist()}")
        total = int(lengths.sum())
        if values.shape[0] != total:
            raise DataError(f"lengths sum to {total} frames but values hold {values.shape[0]} rows")
        offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
        clips = torch.repeat_interleave(torch.arange(len(lengths), device=values.device), lengths)
        positions = torch.arange(total, device=values.device) - offsets[clips]
        return cls(values, lengths, offsets, positions, clips, int(lengths.max()))

    @property
    def num_clips(self) -> int:
        """B."""
        return len(self.lengths)

    @property
    def num_frames(self) -> int:
        """N, the real frames of the batch."""
        return self.values.shape[0]

    def to(self, device, non_blocking: bool = False) -> PackedClips:
        """On `device` (max_length stays a host integer)."""

        def move(t: Tensor) -> Tensor:
            return t.to(device, non_blocking=non_blocking)

        return PackedClips(
            move(self.values),
            move(self.lengths),
            move(self.offsets),
            move(self.positions),
            move(self.clips),
            self.max_length,
        )

    def pin_memory(self) -> PackedClips:
        """Page-locked copies, for a DataLoader with pin_memory=True."""
        tensors = (self.values, self.lengths, self.offsets, self.positions, self.clips)
        return PackedClips(*(t.pin_memory() for t in tensors), self.max_length)


def pack(x: Tensor, lengths) -> PackedClips:
    """A padded batch x (B, T, ...) with lengths (B,) -> its valid frames as PackedClips."""
    lengths = torch.as_tensor(lengths, dtype=torch.int64).to(x.device)
    if lengths.shape != (x.shape[0],) or (lengths > x.shape[1]).any():
        raise DataError(f"lengths {lengths.tolist()} do not fit a batch of shape {tuple(x.shape)}")
    valid = torch.arange(x.shape[1], device=x.device) < lengths[:, None]  # (B, T)
    return PackedClips.from_values(x[valid], lengths)


def unpack(values: Tensor, packed: PackedClips, num_frames: int | None = None) -> Tensor:
    """Per-frame values (N, ...) of `packed` -> (B, T, ...) with zeros after each clip's end;
    T = num_frames, or the longest clip."""
    t = packed.max_length if num_frames is None else num_frames
    out = values.new_zeros(packed.num_clips, t, *values.shape[1:])
    out[packed.clips, packed.positions] = values
    return out


def segment_mean(values: Tensor, packed: PackedClips) -> Tensor:
    """Mean of the per-frame values (N, W) over each clip's frames -> (B, W): the pooled clip
    feature of the evaluation protocols (method §5), as `glt.model.pool_valid` on a padded batch."""
    summed = values.new_zeros(packed.num_clips, *values.shape[1:])
    summed.index_add_(0, packed.clips, values)
    return summed / packed.lengths.to(values.dtype).view(-1, *(1,) * (values.dim() - 1))
