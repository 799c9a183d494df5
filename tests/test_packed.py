"""The pad-free path (glt.packing, glt.varlen, forward_packed, packed targets and loss) against
the padded reference: equal on every valid frame."""

from __future__ import annotations

import pytest
import torch

from glt.compat import logits_from_authors
from glt.data.dataset import collate_clips, collate_packed
from glt.errors import DataError, GLTError
from glt.layout import NTU
from glt.model import GLTClassifier, GLTConfig, PackedFrames, frame_mask, pool_valid
from glt.mpdp import PretrainModel, mpdp_loss, mpdp_loss_terms
from glt.packing import PackedClips, pack, segment_mean, unpack
from glt.pretrain import PretrainConfig, train_step
from glt.pretrain_packed import packed_train_step
from glt.targets import displacement_targets, displacement_targets_packed
from glt.varlen import MECHANISMS, temporal_attention

# PyTorch's own notes on the CPU fallbacks of nested tensors and uncompiled FlexAttention.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning"),
    pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile:UserWarning"),
]

TRAINABLE = [m for m in MECHANISMS if m != "flex"]  # flex has no CPU backward
LENGTHS = [12, 1, 5, 8]  # a full num_frames clip and a one-frame clip


def small_config(**kw) -> GLTConfig:
    kw = {"num_frames": 12, "dropout": 0.0, "drop_path": 0.0, "attn_dropout": 0.0, **kw}
    return GLTConfig.preset("tiny", layout=NTU, **kw)


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Non-zero positional embeddings and norms, so that every use of them shows."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "pos_emb" in name or "norm" in name:
                param.normal_()
    return model


def clips(config: GLTConfig, lengths=LENGTHS) -> tuple[torch.Tensor, torch.Tensor]:
    """Random padded clips (B, T, M, V, 3), junk in the pad frames, second person of clip 2
    absent; and their lengths."""
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), config.num_persons, config.num_joints, 3)
    if len(lengths) > 2:
        x[2, :, 1] = 0
    x[~frame_mask(lengths, x.shape[1])] = 7.0
    return x, lengths


def items(x: torch.Tensor, lengths: torch.Tensor) -> list[dict]:
    """`ClipDataset`-like items of padded clips."""
    return [
        dict(x=x[i, :n], length=n, label=i, index=10 + i, present=x[i, 0].sum(dim=(-2, -1)) != 0)
        for i, n in enumerate(lengths.tolist())
    ]


# --- packed batches ---------------------------------------------------------------------------


def test_pack_index_and_unpack():
    x = torch.randn(3, 6, 2)
    lengths = torch.tensor([2, 6, 1])
    packed = pack(x, lengths)
    assert packed.num_clips == 3 and packed.num_frames == 9 and packed.max_length == 6
    assert packed.offsets.tolist() == [0, 2, 8, 9]
    assert packed.clips.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 2]
    assert packed.positions.tolist() == [0, 1, 0, 1, 2, 3, 4, 5, 0]
    torch.testing.assert_close(packed.values[2:8], x[1])
    valid = frame_mask(lengths, 6)
    expected = x.masked_fill(~valid[:, :, None], 0.0)
    torch.testing.assert_close(unpack(packed.values, packed), expected)
    assert unpack(packed.values, packed, num_frames=8).shape == (3, 8, 2)
    with pytest.raises(DataError, match="do not fit"):
        pack(x, torch.tensor([2, 7, 1]))
    with pytest.raises(DataError, match="lengths sum to"):
        PackedClips.from_values(x[0], lengths)
    with pytest.raises(DataError, match="lengths >= 1"):
        PackedClips.from_values(x[0, :2], torch.tensor([2, 0]))


def test_collate_packed_holds_the_padded_batch_valid_frames():
    x, lengths = clips(small_config())
    batch = collate_packed(items(x, lengths))
    padded = collate_clips(items(x, lengths))
    assert isinstance(batch["x"], PackedClips)
    torch.testing.assert_close(batch["x"].values, pack(padded["x"], padded["lengths"]).values)
    for key in ("lengths", "labels", "index", "present"):
        assert torch.equal(batch[key], padded[key]), key
    moved = batch["x"].to("cpu")
    assert moved.max_length == 12 and torch.equal(moved.clips, batch["x"].clips)


# --- the encoder and heads --------------------------------------------------------------------


@pytest.mark.official
@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_packed_reproduces_the_authors_fixture(official, authors_model, mechanism):
    model, x, lengths = authors_model
    valid = frame_mask(lengths, x.shape[1])
    packed = pack(x, lengths)
    with torch.no_grad():
        features = model.encoder.forward_packed(packed, mechanism)
        padded = model.encoder(x, lengths)
        dir_logits, mag_logits = model.heads(features)
    torch.testing.assert_close(features, padded[valid], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features, official["features"][valid], rtol=1e-5, atol=1e-5)
    r = model.config.num_intervals
    for ours, key in ((dir_logits, "out_dir"), (mag_logits, "out_mag")):
        theirs = logits_from_authors(official[key], r)[valid]
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pos_emb", ["learned", "sinusoidal"])
@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_packed_features_equal_padded_on_valid_frames(pos_emb, mechanism):
    config = small_config(pos_emb=pos_emb)
    model = randomised(PretrainModel(config)).eval()
    x, lengths = clips(config)
    valid = frame_mask(lengths, x.shape[1])
    with torch.no_grad():
        padded = model.encoder(x, lengths)
        packed = model.encoder.forward_packed(pack(x, lengths), mechanism)
        dir_logits, mag_logits = model(pack(x, lengths), attention=mechanism)
    assert packed.shape == (sum(LENGTHS), config.width)
    torch.testing.assert_close(packed, padded[valid], rtol=1e-5, atol=1e-5)
    padded_dir, padded_mag = model(x, lengths)
    torch.testing.assert_close(dir_logits, padded_dir[valid], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mag_logits, padded_mag[valid], rtol=1e-5, atol=1e-5)


def test_a_clip_alone_equals_the_clip_in_a_batch():
    """Clips do not see each other: packing with others changes nothing."""
    config = small_config()
    model = randomised(PretrainModel(config)).eval().encoder
    x, lengths = clips(config)
    with torch.no_grad():
        together = model.forward_packed(pack(x, lengths))
        alone = model.forward_packed(pack(x[1:3, :5], lengths[1:3]))
    torch.testing.assert_close(together[12:18], alone, rtol=1e-5, atol=1e-5)


def test_pooled_features_and_classifier_equal_padded():
    config = small_config()
    model = randomised(GLTClassifier(config, num_classes=5)).eval()
    x, lengths = clips(config)
    packed = pack(x, lengths)
    with torch.no_grad():
        pooled = segment_mean(model.encoder.forward_packed(packed), packed)
        expected = pool_valid(model.encoder(x, lengths), lengths)
        torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model(packed), model(x, lengths), rtol=1e-5, atol=1e-5)


def test_packed_input_errors():
    config = small_config(num_frames=6)
    model = PretrainModel(config).encoder
    x, lengths = clips(config, [6, 3])
    x[1, 2, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match=r"NaN or inf in clip\(s\) \[1\]"):
        model.forward_packed(pack(x, lengths))
    with pytest.raises(DataError, match="at most 6"):
        model.forward_packed(pack(torch.randn(1, 7, 2, 25, 3), torch.tensor([7])))
    with pytest.raises(DataError, match=r"\(N, M=2, V=25, C\)"):
        model.forward_packed(PackedClips.from_values(torch.randn(4, 2, 24, 3), [4]))
    with pytest.raises(GLTError, match="unknown temporal attention"):
        model.forward_packed(pack(x[:1], lengths[:1]), "ragged")


def test_flex_refuses_what_it_cannot_do_on_the_cpu():
    packed = pack(torch.randn(2, 4, 3), torch.tensor([4, 2]))
    core = temporal_attention(packed, "flex")
    qkv = torch.randn(6, 3, 2, 4)
    with pytest.raises(GLTError, match="dropout"):
        core(qkv, 0.1)
    with pytest.raises(GLTError, match="CPU"):
        core(qkv.requires_grad_(), 0.0)


# --- targets, loss, gradients -----------------------------------------------------------------


def test_packed_targets_equal_padded_targets_exactly():
    config = small_config()
    x, lengths = clips(config)
    x = (x * 20).round() / 1000  # many zero and bin-edge displacements
    present = x[:, 0].sum(dim=(-2, -1)) != 0
    assert not present[2, 1]
    intervals = (1, 2, 5, 10)  # longer than some clips: t - r clamps to the clip's first frame
    padded = displacement_targets(x, lengths, present, intervals)
    packed = displacement_targets_packed(pack(x, lengths), present, intervals)
    valid = frame_mask(lengths, x.shape[1])
    for ours, reference in zip(packed, padded, strict=True):
        assert ours.shape == (sum(LENGTHS), len(intervals), config.num_tokens)
        assert torch.equal(ours, reference[valid])
    with pytest.raises(ValueError, match="present"):
        displacement_targets_packed(pack(x, lengths), present[:2], intervals)


@pytest.mark.parametrize("mechanism", TRAINABLE)
def test_loss_and_weight_gradients_equal_padded(mechanism):
    """Eval mode (no dropout): the same loss and the same gradient for every weight."""
    config = small_config()
    x, lengths = clips(config)
    present = x[:, 0].sum(dim=(-2, -1)) != 0
    model = randomised(PretrainModel(config)).eval()

    def gradients(loss):
        model.zero_grad()
        loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    targets = displacement_targets(x, lengths, present, config.intervals)
    padded_loss = mpdp_loss(*model(x, lengths), *targets, lengths, config)
    padded = gradients(padded_loss)
    packed_x = pack(x, lengths)
    targets = displacement_targets_packed(packed_x, present, config.intervals)
    packed_loss = mpdp_loss(*model(packed_x, attention=mechanism), *targets, None, config)
    packed = gradients(packed_loss)

    torch.testing.assert_close(packed_loss, padded_loss, rtol=1e-6, atol=1e-6)
    for name, grad in padded.items():
        assert grad.abs().max() > 0 or "pos_emb" in name, name
        scale = grad.abs().max().clamp(min=1e-12)
        torch.testing.assert_close(packed[name], grad, rtol=1e-5, atol=1e-5 * scale, msg=name)


def test_loss_terms_on_rows_take_no_mask_and_check_shapes():
    config = small_config()
    r, j = config.num_intervals, config.num_tokens
    dir_logits, mag_logits = torch.randn(7, r, j, 27), torch.randn(7, r, j, 16)
    dir_target, mag_target = torch.randint(0, 27, (7, r, j)), torch.randint(0, 16, (7, r, j))
    rows = mpdp_loss_terms(dir_logits, mag_logits, dir_target, mag_target, None, config)
    as_clip = mpdp_loss_terms(
        dir_logits[None], mag_logits[None], dir_target[None], mag_target[None],
        torch.tensor([7]), config,
    )  # fmt: skip
    for key, value in rows.items():
        torch.testing.assert_close(value, as_clip[key])
    with pytest.raises(DataError, match="dir_target"):
        mpdp_loss_terms(dir_logits, mag_logits, dir_target[:6], mag_target, None, config)


def test_packed_train_step_equals_padded_train_step():
    """One step from the same weights, without dropout: same statistics, same weights. (SGD:
    Adam's first step is lr * sign(grad), which turns the rounding noise of a gradient that is
    zero in exact arithmetic, e.g. the attention's key bias, into a full step.)"""
    config = PretrainConfig(model=small_config(), bf16=False, clip_grad=1.0, lr=0.1)
    x, lengths = clips(config.model)
    models = []
    for step, collate in ((train_step, collate_clips), (packed_train_step, collate_packed)):
        torch.manual_seed(0)
        model = randomised(PretrainModel(config.model)).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
        stats = step(model, collate(items(x, lengths)), optimizer, config, torch.device("cpu"))
        models.append((model, stats))
    (padded, padded_stats), (packed, packed_stats) = models
    torch.testing.assert_close(packed_stats, padded_stats, rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(packed.named_parameters(), padded.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


# --- DropPath in training ---------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["spatial", "temporal"])
def test_drop_path_drops_frames_in_the_spatial_branch_and_clips_after_it(branch):
    """With every branch's output set to a constant 1 (or 0), what a block adds beyond its
    positions is 0 or 1/keep per row: the same for all rows of a clip after the temporal
    attention, drawn per frame after the spatial attention (quirk, as the padded path)."""
    config = small_config(pos_emb="sinusoidal", drop_path=0.5, depth=2, num_frames=30)
    block = PretrainModel(config).encoder.blocks[1].train()  # rate 0.5
    outputs = {"spatial": block.attn_sp.proj, "temporal": block.attn_tm.proj, "ff": block.ff.fc2}
    with torch.no_grad():
        for name, linear in outputs.items():
            linear.weight.zero_()
            linear.bias.fill_(1.0 if name == branch else 0.0)
    lengths = torch.tensor([30] * 4 + [3] * 30)
    packed = PackedClips.from_values(torch.zeros(int(lengths.sum()), 2), lengths)
    x = torch.zeros(packed.num_frames, config.num_tokens, config.dim)
    with torch.no_grad():
        out = block.forward_packed(x, PackedFrames(packed))
        out = out - block.pe_sp - block.pe_tm[packed.positions].view_as(out)
    per_row = out.flatten(1).round(decimals=4)  # rounding noise of adding and subtracting
    assert (per_row.amin(dim=1) == per_row.amax(dim=1)).all()  # a whole row at once
    added = per_row[:, 0]
    assert set(added.unique().tolist()) == {0.0, 2.0}
    within_clip = [
        added[a:b].unique().numel()
        for a, b in zip(packed.offsets[:-1], packed.offsets[1:], strict=True)
    ]
    if branch == "temporal":
        assert max(within_clip) == 1  # a clip's rows are all kept or all dropped
    else:
        assert max(within_clip[:4]) == 2  # the frames of a 30-frame clip differ


def test_auto_attention_is_padded_qkv_under_torch_compile(monkeypatch):
    """per_clip (the CPU default) fails to compile with dynamic shapes; padded_qkv compiles."""
    from glt.varlen import AUTO, PaddedQKV

    packed = pack(torch.randn(2, 4, 3), torch.tensor([4, 2]))
    assert type(temporal_attention(packed, "auto")) is MECHANISMS[AUTO["cpu"]]
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert isinstance(temporal_attention(packed, "auto"), PaddedQKV)
    assert type(temporal_attention(packed, "per_clip")) is MECHANISMS["per_clip"]  # as asked
