"""Tests for glt.data.dataset: clip items, collation, length bucketing, reproducible randomness."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from glt.data.augment import Augment
from glt.data.dataset import (
    ClipDataset,
    LengthBucketSampler,
    collate_clips,
    derive_seed,
    item_generator,
    person_present,
)
from glt.data.store import SkeletonPart, open_dataset, write_dataset
from glt.layout import NTU

LENGTHS = [12, 5, 30, 1, 18, 7, 25, 9, 14, 3, 21, 16]


def _clips(lengths=LENGTHS, seed=0):
    rng = np.random.default_rng(seed)
    clips = []
    for i, t in enumerate(lengths):
        clip = rng.normal(size=(t, NTU.num_persons, NTU.num_joints, 3)).astype(np.float32)
        if i % 3 == 1:
            clip[:, 1] = 0  # no second person
        if i % 3 == 2 and t > 1:
            clip[0, 1] = 0  # second person enters after the first frame: absent by the rule
        clips.append(clip)
    return clips


def _part(clips) -> SkeletonPart:
    """An in-memory part laid out as the store lays it out."""
    lengths = np.array([len(c) for c in clips])
    return SkeletonPart(
        frames=np.concatenate(clips),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        labels=np.arange(len(clips), dtype=np.int64) % 4,
        names=np.array([f"c{i}" for i in range(len(clips))]),
    )


@pytest.fixture
def part():
    return _part(_clips())


def test_item_from_prepared_folder(tmp_path):
    clips = _clips()
    write_dataset(
        tmp_path / "ds", clips, [i % 4 for i in range(len(clips))], ["train"] * len(clips), NTU,
        preprocessed=True,
    )  # fmt: skip
    ds = ClipDataset(open_dataset(tmp_path / "ds").train)
    assert len(ds) == len(clips)
    item = ds[2]
    assert torch.equal(item["x"], torch.from_numpy(clips[2]))
    assert item["length"] == LENGTHS[2] and item["label"] == 2 and item["index"] == 2


def test_item_fields(part):
    ds = ClipDataset(part)
    for i in range(len(ds)):
        item = ds[i]
        assert item["x"].shape == (LENGTHS[i], 2, 25, 3) and item["x"].dtype == torch.float32
        assert item["length"] == LENGTHS[i]
        assert item["label"] == i % 4 and item["index"] == i
        second = i % 3 == 0 or (i % 3 == 2 and LENGTHS[i] == 1)
        assert item["present"].tolist() == [True, second]
    np.testing.assert_array_equal(ds.lengths, LENGTHS)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_presence_is_taken_before_the_transform(part):
    ds = ClipDataset(part, transform=lambda clip, g: torch.zeros(4, *clip.shape[1:]))
    item = ds[0]
    assert item["present"].tolist() == [True, True]
    assert item["length"] == 4 and (item["x"] == 0).all()


def test_person_present_rule():
    clip = torch.zeros(3, 2, 4, 3)
    clip[0, 0, 0] = torch.tensor([1.0, -1.0, 0.5])
    clip[1:, 1] = 1.0  # appears later only
    assert person_present(clip).tolist() == [True, False]


def test_transform_gets_a_per_item_per_epoch_generator(part):
    aug = Augment(NTU)
    ds = ClipDataset(part, transform=aug, seed=7)
    a = ds[4]["x"]
    assert torch.equal(a, ds[4]["x"])  # same epoch, same item: same augmentation
    assert torch.equal(a, aug(torch.from_numpy(part.clip(4)), item_generator(7, 0, 4)))
    ds.set_epoch(1)
    assert ds.epoch == 1
    b = ds[4]["x"]
    assert a.shape != b.shape or not torch.equal(a, b)
    fresh = ClipDataset(part, transform=aug, seed=7)  # a resumed run
    fresh.set_epoch(1)
    assert torch.equal(fresh[4]["x"], b)
    other_seed = ClipDataset(part, transform=aug, seed=8)
    other_seed.set_epoch(1)
    c = other_seed[4]["x"]
    assert c.shape != b.shape or not torch.equal(c, b)


def test_derive_seed_is_stable_and_mixes():
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    seeds = {derive_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**63 for s in seeds)


def test_collate_pads_with_zeros(part):
    ds = ClipDataset(part)
    batch = collate_clips([ds[0], ds[1], ds[2]])
    assert batch["x"].shape == (3, 30, 2, 25, 3)
    assert batch["lengths"].tolist() == [12, 5, 30] and batch["lengths"].dtype == torch.int64
    assert batch["labels"].tolist() == [0, 1, 2] and batch["index"].tolist() == [0, 1, 2]
    assert batch["present"].shape == (3, 2) and batch["present"].dtype == torch.bool
    assert torch.equal(batch["x"][1, :5], ds[1]["x"])
    assert (batch["x"][1, 5:] == 0).all() and (batch["x"][0, 12:] == 0).all()


def test_collate_fixed_length(part):
    ds = ClipDataset(part)
    batch = collate_clips([ds[0], ds[1]], num_frames=40)
    assert batch["x"].shape == (2, 40, 2, 25, 3)
    assert (batch["x"][0, 12:] == 0).all()
    with pytest.raises(ValueError):
        collate_clips([ds[2]], num_frames=20)


def _epoch(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("shuffle", [True, False])
def test_sampler_covers_every_index_once(shuffle):
    lengths = np.random.default_rng(0).integers(1, 300, size=103)
    sampler = LengthBucketSampler(lengths, batch_size=8, shuffle=shuffle, pool_batches=4)
    for epoch in range(3):
        batches = _epoch(sampler, epoch)
        assert len(batches) == len(sampler) == 13
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(103))
        assert sum(len(b) < 8 for b in batches) == 1


def test_sampler_deterministic_per_seed_and_epoch():
    lengths = np.random.default_rng(1).integers(1, 300, size=64)

    def make(seed):
        return LengthBucketSampler(lengths, batch_size=4, seed=seed, pool_batches=4)

    a, b = make(0), make(0)
    assert _epoch(a, 0) == _epoch(b, 0)
    assert _epoch(a, 1) == _epoch(b, 1)  # a run resumed at epoch 1 sees the same batches
    assert _epoch(a, 0) != _epoch(a, 1)
    assert _epoch(make(1), 0) != _epoch(make(0), 0)


def test_sampler_groups_similar_lengths():
    lengths = np.random.default_rng(2).integers(1, 300, size=512)
    sampler = LengthBucketSampler(lengths, batch_size=16, pool_batches=8)
    bucketed = sum(lengths[b].max() * len(b) for b in _epoch(sampler, 0))
    rng = np.random.default_rng(3)
    random = sum(lengths[b].max() * len(b) for b in np.array_split(rng.permutation(512), 32))
    assert bucketed < 0.7 * random
    ordered = list(LengthBucketSampler(lengths, batch_size=16, shuffle=False))
    maxima = [lengths[b].max() for b in ordered]
    assert maxima == sorted(maxima)


def test_sampler_drop_last():
    sampler = LengthBucketSampler(np.arange(1, 22), batch_size=4, drop_last=True)
    batches = _epoch(sampler, 0)
    assert len(batches) == len(sampler) == 5 and all(len(b) == 4 for b in batches)


@pytest.mark.parametrize("drop_last", [True, False])
def test_sampler_ddp_shards(drop_last):
    lengths = np.random.default_rng(4).integers(1, 300, size=101)
    world = 3
    shards = []
    for rank in range(world):
        s = LengthBucketSampler(
            lengths, 4, seed=5, drop_last=drop_last, rank=rank, world_size=world
        )
        shards.append(_epoch(s, 2))
        assert len(shards[-1]) == len(s)
    assert len({len(b) for b in shards}) == 1  # every rank takes the same number of steps
    sets = [{i for b in shard for i in b} for shard in shards]
    union = set().union(*sets)
    if drop_last:
        assert all(not (sets[a] & sets[b]) for a in range(world) for b in range(a + 1, world))
        assert len(union) == sum(len(s) for s in sets) == 24 * 4  # 25 batches -> 24, all full
    else:
        assert union == set(range(101))  # 26 batches padded to 27 by repeating one
        assert sum(len(s) for s in sets) <= 101 + 4


def test_dataloader_workers_match_main_process(part):
    """Per-item generators make the augmentations independent of workers; set_epoch reaches
    persistent workers."""
    ds = ClipDataset(part, transform=Augment(NTU), seed=3)
    sampler = LengthBucketSampler(ds.lengths, batch_size=4, seed=3)
    collate = functools.partial(collate_clips, num_frames=40)

    def run(loader, epoch):
        ds.set_epoch(epoch)
        sampler.set_epoch(epoch)
        return [b["x"] for b in loader]

    serial = DataLoader(ds, batch_sampler=sampler, collate_fn=collate)
    workers = DataLoader(
        ds, batch_sampler=sampler, collate_fn=collate, num_workers=2, persistent_workers=True
    )
    for epoch in (0, 1):
        expected = run(serial, epoch)
        got = run(workers, epoch)
        assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert not torch.equal(run(serial, 0)[0], run(serial, 1)[0])
