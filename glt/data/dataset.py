"""Training batches: a clip dataset, its collate function, and a length-bucketing batch sampler.

Clips are kept at their natural length (method §2, "natural speed"): a batch is zero-padded to
its longest clip and carries the lengths, which the model turns into an attention mask. Grouping
clips of similar length into a batch (`LengthBucketSampler`) keeps that padding small.
`collate_packed` has no padding at all: it concatenates the clips' frames (`glt.packing`), for the
model's pad-free path (`GLTransformer.forward_packed`).

Each item also carries `present` (M,): person m is present when its first frame does not sum to 0
in the stored clip, before any augmentation. That is the authors' rule for the magnitude class 15
of an absent second person (method §4; `glt.targets`).

Reproducible randomness. Augmentation never touches the global RNG: item `index` of epoch `epoch`
is augmented with its own `torch.Generator` seeded from (seed, epoch, index) through numpy's
`SeedSequence` (`item_generator`), and the sampler's order for an epoch is seeded from
(seed, epoch). So a run resumed at epoch e (after `set_epoch(e)` on both) sees exactly the batches
and augmentations the uninterrupted run would have seen, whatever the number of DataLoader
workers or which worker loads which item. The dataset's epoch lives in a shared-memory tensor,
so `set_epoch` also reaches persistent workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, Sampler

from glt.data.store import SkeletonPart
from glt.packing import PackedClips

Transform = Callable[[Tensor, torch.Generator], Tensor]


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixed from non-negative integer keys (numpy `SeedSequence`)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)
    return int(state[0]) & ((1 << 63) - 1)


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The CPU generator that augments item `index` in epoch `epoch` of a run seeded `seed`."""
    return torch.Generator().manual_seed(derive_seed(seed, epoch, index))


def person_present(clip: Tensor) -> Tensor:
    """(M,) bool: person m's first frame does not sum to 0 (the authors' rule, method §4).

    clip: (T, M, V, 3), before augmentation.
    """
    return clip[0].sum(dim=(-2, -1)) != 0


class ClipDataset(Dataset):
    """The clips of one part of a prepared dataset, as tensors at their natural length.

    part: a `SkeletonPart` (`open_dataset(dir).train`). transform: called as
    `transform(clip, generator)` on each (T, M, V, 3) float32 tensor, e.g. `glt.data.augment.Augment`;
    the generator is `item_generator(seed, epoch, index)`. Call `set_epoch(epoch)` before each epoch
    when the transform is random.

    An item is a dict: x (T', M, V, 3) float32 (after the transform), length T', label, index,
    present (M,) bool (from the clip before the transform; see `person_present`).
    """

    def __init__(self, part: SkeletonPart, transform: Transform | None = None, seed: int = 0):
        self.part = part
        self.transform = transform
        self.seed = int(seed)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.part)

    @property
    def lengths(self) -> np.ndarray:
        """(N,) stored (unaugmented) clip lengths, e.g. for `LengthBucketSampler`."""
        return self.part.lengths

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentations of `epoch` (shared with DataLoader workers, persistent too)."""
        self._epoch.fill_(int(epoch))

    def generator(self, index: int) -> torch.Generator:
        """The generator that augments item `index` in the current epoch."""
        return item_generator(self.seed, self.epoch, index)

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"ClipDataset: index {index} out of range for {len(self)} clips")
        clip = torch.from_numpy(np.array(self.part.clip(index), dtype=np.float32))
        present = person_present(clip)
        if self.transform is not None:
            clip = self.transform(clip, self.generator(index))
        return dict(
            x=clip,
            length=int(clip.shape[0]),
            label=int(self.part.labels[index]),
            index=index,
            present=present,
        )


def collate_clips(items: Sequence[dict], num_frames: int | None = None) -> dict:
    """Stack `ClipDataset` items into a batch, zero-padding the frames.

    Returns x (B, T, M, V, 3) float32 with T the longest clip (or `num_frames`, e.g. the model's
    300, when given; use `functools.partial(collate_clips, num_frames=...)` in a DataLoader),
    lengths (B,) int64, labels (B,) int64, index (B,) int64, present (B, M) bool.
    """
    if not items:
        raise ValueError("collate_clips: empty batch")
    x = pad_sequence([it["x"] for it in items], batch_first=True)  # (B, Tmax, M, V, 3)
    if num_frames is not None:
        if x.shape[1] > num_frames:
            raise ValueError(
                f"collate_clips: a clip has {x.shape[1]} frames, more than num_frames={num_frames}"
            )
        x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, num_frames - x.shape[1]))
    return dict(x=x, **_per_clip(items))


def collate_packed(items: Sequence[dict]) -> dict:
    """Concatenate `ClipDataset` items along frames, with no padding.

    Returns x, a `PackedClips` whose values are (N, M, V, 3) float32 (N = the sum of the
    lengths), and as `collate_clips`: lengths (B,), labels (B,), index (B,) int64, present (B, M).
    """
    if not items:
        raise ValueError("collate_packed: empty batch")
    info = _per_clip(items)
    return dict(
        x=PackedClips.from_values(torch.cat([it["x"] for it in items]), info["lengths"]), **info
    )


def _per_clip(items: Sequence[dict]) -> dict:
    """What both collate functions return per clip: lengths, labels, index, present."""
    return dict(
        lengths=torch.tensor([it["length"] for it in items], dtype=torch.int64),
        labels=torch.tensor([it["label"] for it in items], dtype=torch.int64),
        index=torch.tensor([it["index"] for it in items], dtype=torch.int64),
        present=torch.stack([it["present"] for it in items]),
    )


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of clips of similar length, reproducible per (seed, epoch), sharded for DDP.

    Use as a DataLoader's `batch_sampler`. With shuffle=True, each epoch: a random permutation
    (seeded from (seed, epoch)) is cut into pools of `pool_batches * batch_size` clips, each pool is
    sorted by length and cut into batches, and the batches are shuffled. With shuffle=False the
    clips are sorted by length (ties in index order) and batched in that order. Only the last
    batch can be smaller than batch_size; drop_last drops it.

    DDP: rank r of world_size gets batches r, r + world_size, ...; every rank gets the same
    number of batches (drop_last drops the surplus, otherwise batches are repeated from the
    start to fill up), so the ranks step in lockstep. Call `set_epoch(epoch)` before each epoch.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        pool_batches: int = 50,
    ):
        if batch_size < 1 or pool_batches < 1:
            raise ValueError("LengthBucketSampler: batch_size and pool_batches must be at least 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"LengthBucketSampler: rank {rank} not in 0..{world_size - 1}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.pool_batches = pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _all_batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(n, generator=g).numpy()
            pool = np.arange(n) // (self.batch_size * self.pool_batches)
            order = order[np.lexsort((self.lengths[order], pool))]  # by pool, then by length
        else:
            order = np.argsort(self.lengths, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def _rank_batches(self) -> list[np.ndarray]:
        batches = self._all_batches()
        if self.world_size == 1 or not batches:
            return batches
        if self.drop_last:
            total = len(batches) // self.world_size * self.world_size
        else:
            total = -(-len(batches) // self.world_size) * self.world_size
        batches = [batches[i % len(batches)] for i in range(total)]
        return batches[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._rank_batches():
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        count = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.world_size > 1:
            if self.drop_last:
                return count // self.world_size
            return -(-count // self.world_size)
        return count
