"""A prepared dataset seen through fixed-length resampling (supplementary Table A, method §6).

`ResampledDataset.of(open_dataset(dir), 150)` reads every clip of every part resampled to 150
frames by linear interpolation (`glt.data.augment.resample`) as it is read: what the linear
evaluation of a Table A sampling row sees (`glt.ablations`). Nothing is written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glt.data.augment import resample
from glt.data.store import PreparedDataset, SkeletonPart


@dataclass
class ResampledPart(SkeletonPart):
    """A dataset part whose clips are resampled to `num_frames` frames as they are read."""

    num_frames: int = 0

    @property
    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.num_frames, dtype=np.int64)

    def clip(self, i: int) -> np.ndarray:
        """Clip i resampled to (num_frames, M, V, 3) float32 (`glt.data.augment.resample`)."""
        return resample(torch.tensor(super().clip(i)), self.num_frames).numpy()


@dataclass
class ResampledDataset(PreparedDataset):
    """A prepared dataset whose parts are `ResampledPart`s."""

    num_frames: int = 0

    @classmethod
    def of(cls, dataset: PreparedDataset, num_frames: int) -> ResampledDataset:
        return cls(dataset.root, dataset.meta, dataset.layout, num_frames=num_frames)

    def part(self, name: str) -> ResampledPart:
        p = super().part(name)
        return ResampledPart(p.frames, p.offsets, p.labels, p.names, p.info, self.num_frames)
