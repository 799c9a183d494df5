"""What a frozen encoder computes over a dataset: pooled clip features and averaged attention.

- `extract_features`: the representation every evaluation protocol starts from (method §5):
  the encoder output averaged over each clip's valid frames -> one (W,) vector per clip. Only
  the real frames are computed: batches are packed (`glt.packing`, `GLTransformer.forward_packed`)
  and pooled with `segment_mean`; on valid frames this equals the padded forward.
- `AttentionAverage` / `average_attention`: the supplementary's Figs. B and C (method §6):
  temporal (T x T) and spatial (J x J) attention maps per block and head, averaged over clips.
  Padding never dilutes the average: a temporal entry (query q, key k) is averaged over the clips
  where both q and k are valid frames; a spatial map is averaged over the valid frames of all
  clips. The arithmetic lives in `temporal_attention_sums` / `spatial_attention_sums`, which take
  plain tensors.

The encoder runs without gradients, in eval mode unless asked for train mode (the authors' linear
protocol), under bf16 autocast on CUDA unless asked for float32. Clips are batched in order of
length (little padding for the attention maps, which need padded batches); results come back in
dataset order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from glt.data.dataset import ClipDataset, Transform, collate_clips, collate_packed
from glt.data.store import SkeletonPart
from glt.device import autocast, resolve_device
from glt.model import GLTransformer, frame_mask
from glt.packing import segment_mean

BATCH_SIZE = 64  # clips per encoder forward when extracting features


class _CropThen:
    """A transform that crops a clip to the encoder's `max_frames`, after an optional transform."""

    def __init__(self, transform: Transform | None, max_frames: int):
        self.transform = transform
        self.max_frames = max_frames

    def __call__(self, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.transform is not None:
            clip = self.transform(clip, generator)
        return clip[: self.max_frames]


def clip_dataset(
    data: SkeletonPart | ClipDataset,
    max_frames: int,
    transform: Transform | None = None,
    seed: int = 0,
) -> ClipDataset:
    """A `ClipDataset` over `data` whose clips never exceed `max_frames` (the encoder's T).

    Longer clips are cropped to their first `max_frames` frames (after `transform`), as the
    authors' data pipeline keeps at most 300 frames (method §1).
    """
    epoch = 0
    if isinstance(data, ClipDataset):
        if transform is not None:
            raise ValueError("give the transform to the ClipDataset, or pass a SkeletonPart")
        if data.lengths.max(initial=0) <= max_frames and data.transform is None:
            return data
        transform, seed, epoch, data = data.transform, data.seed, data.epoch, data.part
    if transform is None and data.lengths.max(initial=0) <= max_frames:
        dataset = ClipDataset(data, None, seed=seed)
    else:
        dataset = ClipDataset(data, _CropThen(transform, max_frames), seed=seed)
    dataset.set_epoch(epoch)
    return dataset


def ordered_loader(
    dataset: ClipDataset,
    batch_size: int,
    indices: Sequence[int] | None = None,
    workers: int = 0,
    collate=collate_clips,
) -> DataLoader:
    """A loader over `indices` (default: all clips) in batches of similar length, no shuffling;
    padded batches, or packed ones with `collate=collate_packed`."""
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    order = indices[np.argsort(dataset.lengths[indices], kind="stable")]
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=workers)


@torch.no_grad()
def extract_features(
    encoder: GLTransformer,
    data: SkeletonPart | ClipDataset,
    batch_size: int = BATCH_SIZE,
    device: str | torch.device | None = None,
    transform: Transform | None = None,
    *,
    indices: Sequence[int] | None = None,
    seed: int = 0,
    epoch: int | None = None,
    workers: int = 0,
    progress: bool = True,
    desc: str = "features",
    train_mode: bool = False,
    bf16: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip features of a frozen encoder (method §5) -> (features (N, W) float32, labels (N,)).

    data: a part of a prepared dataset (`open_dataset(dir).val`) or a `ClipDataset`.
    transform: an augmentation `transform(clip, generator)` (e.g. `Augment(layout, shear=False)`);
    item i of epoch `epoch` (default: a ClipDataset's own, else 0) is augmented reproducibly
    from (seed, epoch, i). The encoder is moved to `device`, run without gradients in eval mode
    (train_mode=True: in train mode, dropout and DropPath active, as the authors' linear protocol
    does, method §5), under bf16 autocast on CUDA unless bf16=False, and given back in the
    train/eval mode it came in. Features are the encoder output of each clip's real frames only
    (`GLTransformer.forward_packed`), averaged over them (`glt.packing.segment_mean`; equal to
    `glt.model.pool_valid` of the padded forward), on the CPU, in dataset order, or in the order
    of `indices` when only those clips are wanted.
    """
    device = resolve_device(device)
    dataset = clip_dataset(data, encoder.config.num_frames, transform, seed)
    if epoch is not None:
        dataset.set_epoch(epoch)
    was_training = encoder.training
    encoder.to(device).train(train_mode)
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    row = np.full(len(dataset), -1, dtype=np.int64)  # dataset index -> output row
    row[indices] = np.arange(len(indices))
    features = torch.empty(len(indices), encoder.config.width)
    labels = torch.empty(len(indices), dtype=torch.int64)
    try:
        loader = ordered_loader(dataset, batch_size, indices, workers, collate_packed)
        for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
            packed = batch["x"].to(device, non_blocking=True)
            with autocast(device, enabled=bf16):
                out = encoder.forward_packed(packed)  # (frames, W)
            rows = torch.from_numpy(row[batch["index"].numpy()])
            features[rows] = segment_mean(out.float(), packed).cpu()
            labels[rows] = batch["labels"]
    finally:
        encoder.train(was_training)
    return features, labels


# --- attention maps averaged over clips (supplementary Figs. B and C) ---------------------------


def temporal_attention_sums(
    maps: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum temporal attention over clips, valid entries only.

    maps: (B, H, T, T) (query frame, key frame) of one block; lengths (B,). Returns
    sums (H, T, T) over the clips where both the query and the key frame are valid, and
    counts (T, T): how many clips that is for each entry. sums / counts is the average.
    """
    valid = frame_mask(lengths.to(maps.device), maps.shape[-1])  # (B, T)
    pair = valid[:, :, None] & valid[:, None, :]  # (B, T, T)
    sums = torch.einsum("bhqk,bqk->hqk", maps.float(), pair.float())
    return sums, pair.sum(dim=0)


def spatial_attention_sums(maps: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Sum spatial attention over the valid frames of all clips.

    maps: (B, T, H, J, J) (query token, key token) of one block; lengths (B,). Returns sums
    (H, J, J) and the number of valid frames summed over; sums / count is the average.
    """
    valid = frame_mask(lengths.to(maps.device), maps.shape[1])  # (B, T)
    sums = torch.einsum("bthqk,bt->hqk", maps.float(), valid.float())
    return sums, int(valid.sum())


def _add(total: torch.Tensor | None, part: torch.Tensor) -> torch.Tensor:
    """total + part, zero-padding the last two dimensions of both to the larger size."""
    if total is None:
        return part
    size = max(total.shape[-1], part.shape[-1])

    def grow(a: torch.Tensor) -> torch.Tensor:
        pad = size - a.shape[-1]
        return torch.nn.functional.pad(a, (0, pad, 0, pad))

    return grow(total) + grow(part)


class AttentionAverage:
    """Running averages of temporal and spatial attention per block and head over clips.

    Feed it batches with `update(maps, lengths)` (maps: `glt.model.AttentionMaps`, or any object
    with `.temporal` [(B, H, T, T) per block] and `.spatial` [(B, T, H, J, J) per block]); batches
    may have different T. Read `temporal` (depth, H, T, T) and `spatial` (depth, H, J, J) as
    numpy arrays; temporal entries that no clip was long enough to have are NaN.
    """

    def __init__(self):
        self.temporal_sums: list[torch.Tensor | None] = []
        self.temporal_counts: torch.Tensor | None = None  # (T, T) clips per entry
        self.spatial_sums: list[torch.Tensor | None] = []
        self.spatial_count = 0  # valid frames summed over
        self.clips = 0

    def update(self, maps, lengths: torch.Tensor) -> None:
        """Add a batch: attention maps of every block and the batch's clip lengths (B,)."""
        depth = len(maps.temporal)
        if not self.temporal_sums:
            self.temporal_sums, self.spatial_sums = [None] * depth, [None] * depth
        if depth != len(self.temporal_sums) or len(maps.spatial) != depth:
            raise ValueError(
                f"maps of {depth} temporal and {len(maps.spatial)} spatial blocks; "
                f"expected {len(self.temporal_sums)} of each"
            )
        for i in range(depth):
            sums, counts = temporal_attention_sums(maps.temporal[i], lengths)
            self.temporal_sums[i] = _add(self.temporal_sums[i], sums.double().cpu())
            if i == 0:
                self.temporal_counts = _add(self.temporal_counts, counts.cpu())
            sums, count = spatial_attention_sums(maps.spatial[i], lengths)
            self.spatial_sums[i] = _add(self.spatial_sums[i], sums.double().cpu())
            if i == 0:
                self.spatial_count += count
        self.clips += len(lengths)

    @property
    def temporal(self) -> np.ndarray:
        """(depth, H, T, T) average temporal attention; NaN where no clip has both frames."""
        if not self.temporal_sums:
            raise ValueError("AttentionAverage: no batch added yet")
        counts = self.temporal_counts.double()
        out = torch.stack(self.temporal_sums) / counts.clamp(min=1)
        return out.masked_fill(counts == 0, float("nan")).numpy()

    @property
    def spatial(self) -> np.ndarray:
        """(depth, H, J, J) average spatial attention over all valid frames."""
        if not self.spatial_sums:
            raise ValueError("AttentionAverage: no batch added yet")
        return (torch.stack(self.spatial_sums) / self.spatial_count).numpy()


@torch.no_grad()
def average_attention(
    encoder: GLTransformer,
    data: SkeletonPart | ClipDataset,
    num_clips: int | None = 300,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    *,
    seed: int = 0,
    workers: int = 0,
    progress: bool = True,
) -> AttentionAverage:
    """Average attention maps over `num_clips` clips of `data` (supplementary Figs. B and C).

    The clips are drawn at random (seeded) without replacement; `num_clips=None` (or more
    than there are) takes all. The supplementary averages 300 evaluation clips. Spatial maps are
    (B, T, H, J, J) per block, so keep `batch_size` small for the paper-sized model.
    """
    device = resolve_device(device)
    dataset = clip_dataset(data, encoder.config.num_frames)
    n = len(dataset)
    if num_clips is None or num_clips >= n:
        indices = np.arange(n)
    else:
        indices = np.sort(np.random.default_rng(seed).choice(n, size=num_clips, replace=False))
    was_training = encoder.training
    encoder.to(device).eval()
    average = AttentionAverage()
    try:
        loader = ordered_loader(dataset, batch_size, indices, workers)
        for batch in tqdm(loader, desc="attention", disable=not progress, leave=False):
            lengths = batch["lengths"].to(device)
            with autocast(device):
                _, maps = encoder(batch["x"].to(device), lengths, return_attention=True)
            average.update(maps, lengths)
    finally:
        encoder.train(was_training)
    return average
