"""MPDP heads and loss (glt.mpdp, method §4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from glt.compat import config_from_authors, logits_from_authors, targets_from_authors
from glt.errors import DataError
from glt.layout import NTU, NWUCLA
from glt.model import GLTConfig
from glt.mpdp import (
    MPDPHeads,
    PretrainModel,
    global_token_mask,
    mpdp_loss,
    mpdp_loss_terms,
    pretrain_flops,
)
from glt.targets import NUM_DIRECTIONS, NUM_MAGNITUDES


def small_config(layout=NTU, **kw) -> GLTConfig:
    kw = {"num_frames": 12, "dropout": 0.0, "drop_path": 0.0, **kw}
    return GLTConfig.preset("tiny", layout=layout, **kw)


def random_batch(config: GLTConfig, batch: int, frames: int):
    """Random logits and targets (B, T, R, J, ...) for the loss."""
    shape = (batch, frames, config.num_intervals, config.num_tokens)
    return (
        torch.randn(*shape, NUM_DIRECTIONS),
        torch.randn(*shape, NUM_MAGNITUDES),
        torch.randint(0, NUM_DIRECTIONS, shape),
        torch.randint(0, NUM_MAGNITUDES, shape),
    )


@pytest.mark.parametrize("layout", [NTU, NWUCLA], ids=lambda l: l.name)
@pytest.mark.parametrize("intervals", [(1,), (1, 5, 10)])
def test_pretrain_model_shapes_and_backward(layout, intervals):
    config = small_config(layout, intervals=intervals)
    model = PretrainModel(config)
    x = torch.randn(2, 9, config.num_persons, config.num_joints, 3)
    lengths = torch.tensor([9, 5])
    dir_logits, mag_logits = model(x, lengths)
    r, j = len(intervals), config.num_tokens
    assert dir_logits.shape == (2, 9, r, j, NUM_DIRECTIONS)
    assert mag_logits.shape == (2, 9, r, j, NUM_MAGNITUDES)
    *_, dir_target, mag_target = random_batch(config, 2, 9)
    loss = mpdp_loss(dir_logits, mag_logits, dir_target, mag_target, lengths, config)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_heads_are_per_interval_linears_in_token_major_order():
    config = small_config(intervals=(1, 5))
    heads = MPDPHeads(config)
    features = torch.randn(2, 3, config.width)
    dir_logits, mag_logits = heads(features)
    # interval 1, token 7, class 4 is output 7*27 + 4 of the second direction Linear
    torch.testing.assert_close(dir_logits[:, :, 1, 7, 4], heads.dir[1](features)[..., 7 * 27 + 4])
    torch.testing.assert_close(mag_logits[:, :, 0, 3, 15], heads.mag[0](features)[..., 3 * 16 + 15])


def test_global_token_mask():
    config = GLTConfig.preset("tiny")  # NTU: global tokens 40 and 41, intervals 1, 5, 10
    authors = global_token_mask(config, authors_weighting=True)
    corrected = global_token_mask(config, authors_weighting=False)
    assert authors.nonzero().tolist() == [[0, 40], [0, 41]]
    assert corrected.nonzero().tolist() == [[r, t] for r in range(3) for t in (40, 41)]


@pytest.mark.parametrize("authors_weighting", [True, False])
def test_loss_equals_an_explicit_computation(authors_weighting):
    config = small_config(NTU)
    lengths = torch.tensor([6, 2, 4])
    dir_logits, mag_logits, dir_target, mag_target = random_batch(config, 3, 6)
    lam_g, lam_m = 0.3, 0.7

    def group_means(logits, target):
        glob, joint = [], []
        for i, n in enumerate(lengths.tolist()):
            for t in range(n):
                for r in range(config.num_intervals):
                    for j in range(config.num_tokens):
                        ce = F.cross_entropy(logits[i, t, r, j], target[i, t, r, j])
                        is_global = j in config.global_tokens and (r == 0 or not authors_weighting)
                        (glob if is_global else joint).append(ce)
        return torch.stack(glob).mean(), torch.stack(joint).mean()

    dg, dj = group_means(dir_logits, dir_target)
    mg, mj = group_means(mag_logits, mag_target)
    expected = (lam_g * dg + dj) + lam_m * (lam_g * mg + mj)
    loss = mpdp_loss(
        dir_logits, mag_logits, dir_target, mag_target, lengths, config,
        lambda_global=lam_g, lambda_mag=lam_m, authors_weighting=authors_weighting,
    )  # fmt: skip
    torch.testing.assert_close(loss, expected)
    terms = mpdp_loss_terms(
        dir_logits, mag_logits, dir_target, mag_target, lengths, config, authors_weighting
    )
    torch.testing.assert_close(terms["dir_global"], dg)
    torch.testing.assert_close(terms["mag_joint"], mj)


def test_weightings_agree_for_one_interval_only():
    args = lambda config: (*random_batch(config, 2, 5), torch.tensor([5, 3]), config)  # noqa: E731
    one = small_config(intervals=(1,))
    batch = args(one)
    assert mpdp_loss(*batch) == mpdp_loss(*batch, authors_weighting=False)
    three = small_config()
    batch = args(three)
    assert mpdp_loss(*batch) != mpdp_loss(*batch, authors_weighting=False)


def test_loss_ignores_pad_frames():
    config = small_config()
    lengths = torch.tensor([5, 2])
    dir_logits, mag_logits, dir_target, mag_target = random_batch(config, 2, 5)
    loss = mpdp_loss(dir_logits, mag_logits, dir_target, mag_target, lengths, config)
    dir_logits[1, 2:] = float("nan")
    mag_logits[1, 2:] = float("inf")
    dir_target[1, 2:] = 999  # out of range: must never be looked up
    mag_target[1, 2:] = -1
    again = mpdp_loss(dir_logits, mag_logits, dir_target, mag_target, lengths, config)
    assert torch.isfinite(again) and again == loss


def test_loss_rejects_wrong_shapes():
    config = small_config()
    dir_logits, mag_logits, dir_target, mag_target = random_batch(config, 2, 5)
    with pytest.raises(DataError, match="mag_target"):
        mpdp_loss(dir_logits, mag_logits, dir_target, mag_target[:, :, :2], [5, 5], config)
    with pytest.raises(DataError, match="dir_logits"):
        mpdp_loss(dir_logits[..., :26], mag_logits, dir_target, mag_target, [5, 5], config)


def test_pretraining_fits_a_fixed_batch():
    """A few optimiser steps on one batch lower the loss: the heads and the encoder learn."""
    config = small_config(NWUCLA, num_frames=8)
    model = PretrainModel(config)
    x = torch.randn(4, 8, 1, 20, 3)
    lengths = torch.tensor([8, 8, 5, 3])
    *_, dir_target, mag_target = random_batch(config, 4, 8)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        loss = mpdp_loss(*model(x, lengths), dir_target, mag_target, lengths, config)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_pretrain_flops_match_the_flop_counter():
    config = small_config()
    model = PretrainModel(config).eval()
    with FlopCounterMode(display=False) as counter:  # on the recording path, as in test_model
        model.heads(model.encoder(torch.randn(1, 7, 2, 25, 3), return_attention=True)[0])
    assert counter.get_total_flops() == pretrain_flops(config, 7)


@pytest.mark.official
def test_loss_reproduces_the_authors(official):
    """The authors' loss on their own head outputs and targets (lambda_global 0.05, lambda_mag 1
    are mpdp_loss's defaults, as in their code)."""
    config = config_from_authors(official["config"])
    r = config.num_intervals
    loss = mpdp_loss(
        logits_from_authors(official["out_dir"], r),
        logits_from_authors(official["out_mag"], r),
        targets_from_authors(official["dir_gt"], r),
        targets_from_authors(official["mag_gt"], r),
        torch.as_tensor(official["lengths"]),
        config,
    )
    torch.testing.assert_close(loss, official["loss"], rtol=1e-5, atol=1e-6)
