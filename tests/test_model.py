"""The GL-Transformer encoder (glt.model): config, shapes, both attention paths, padding, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from glt.compat import config_from_authors
from glt.errors import DataError, GLTError
from glt.layout import NTU, NWUCLA
from glt.model import (
    Attention,
    DropPath,
    GLTClassifier,
    GLTConfig,
    GLTransformer,
    count_parameters,
    forward_flops,
    frame_mask,
    pool_valid,
    sinusoidal_table,
)
from glt.mpdp import pretrain_flops

LAYOUTS = [NTU, NWUCLA]


def small_config(layout=NTU, **kw) -> GLTConfig:
    """The tiny preset on few frames, deterministic unless asked otherwise."""
    kw = {"num_frames": 12, "dropout": 0.0, "drop_path": 0.0, **kw}
    return GLTConfig.preset("tiny", layout=layout, **kw)


def clips(config: GLTConfig, batch: int, frames: int) -> torch.Tensor:
    return torch.randn(batch, frames, config.num_persons, config.num_joints, config.in_channels)


def test_config_derived_sizes_and_layouts():
    paper = GLTConfig.preset("paper")
    assert (paper.num_frames, paper.dim, paper.heads, paper.depth) == (300, 48, 8, 4)
    assert (paper.num_tokens, paper.width, paper.global_tokens) == (50, 2400, (40, 41))
    ucla = GLTConfig.from_layout(NWUCLA, dim=8, heads=2)
    assert (ucla.num_tokens, ucla.width, ucla.global_tokens) == (20, 160, (NWUCLA.center,))
    tiny = GLTConfig.preset("tiny", layout=NWUCLA, depth=3)
    assert tiny.depth == 3 and tiny.num_tokens == NWUCLA.num_tokens


def test_config_dict_round_trip():
    config = GLTConfig.preset("tiny", pos_emb="sinusoidal", intervals=[1, 3])
    assert config.intervals == (1, 3)
    assert GLTConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"dim": 10, "heads": 4}, "multiple of heads"),
        ({"pos_emb": "rotary"}, "pos_emb"),
        ({"center_joint": 25}, "center_joint"),
        ({"intervals": (0, 5)}, "intervals"),
        ({"depth": 0}, "depth"),
    ],
)
def test_config_rejects_bad_values(kw, message):
    with pytest.raises(GLTError, match=message):
        GLTConfig(**kw)


def test_config_rejects_unknown_preset_and_fields():
    with pytest.raises(GLTError, match="tiny"):
        GLTConfig.preset("huge")
    with pytest.raises(GLTError, match="width"):
        GLTConfig.from_dict({**GLTConfig().to_dict(), "width": 3})


def test_paper_size_matches_reference():
    """method §3: about 199M encoder parameters, about 130 GFLOP per padded clip."""
    config = GLTConfig.preset("paper")
    with torch.device("meta"):
        model = GLTransformer(config)
    assert abs(count_parameters(model) / 1e6 - 199) < 0.5
    assert 120e9 < forward_flops(config) < pretrain_flops(config) < 135e9


def test_flops_match_the_flop_counter():
    """Counted on the recording path, whose matmuls the counter sees (it does not count the
    fused CPU attention kernel of the fast path)."""
    config = small_config(NWUCLA)
    model = GLTransformer(config).eval()
    with FlopCounterMode(display=False) as counter:
        model(clips(config, 2, 9), torch.tensor([9, 4]), return_attention=True)
    assert counter.get_total_flops() == 2 * forward_flops(config, 9)  # 2 clips


def test_paper_preset_runs_forward_and_backward():
    config = GLTConfig.preset("paper", num_frames=4)
    model = GLTransformer(config)
    features = model(clips(config, 1, 4), torch.tensor([3]))
    assert features.shape == (1, 4, 2400)
    features[:, :3].sum().backward()
    assert model.blocks[0].attn_tm.qkv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda l: l.name)
@pytest.mark.parametrize("pos_emb", ["learned", "sinusoidal"])
@pytest.mark.parametrize("as_tokens", [False, True])
def test_shapes_and_backward(layout, pos_emb, as_tokens):
    config = small_config(layout, pos_emb=pos_emb, dropout=0.1, drop_path=0.1, attn_dropout=0.1)
    model = GLTransformer(config).train()
    x = clips(config, 3, 10)
    if as_tokens:
        x = x.permute(0, 1, 3, 2, 4).reshape(3, 10, config.num_tokens, 3)  # token = v*M + m
    features = model(x, torch.tensor([10, 4, 1]))
    assert features.shape == (3, 10, config.width)
    features.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert model.embed_global.weight.grad.abs().sum() > 0


def test_both_input_forms_agree():
    config = small_config()
    model = GLTransformer(config).eval()
    x = clips(config, 2, 6)
    tokens = torch.stack([x[:, :, m, v] for v in range(25) for m in range(2)], dim=2)
    torch.testing.assert_close(model(x), model(tokens))


@pytest.mark.parametrize("pos_emb", ["learned", "sinusoidal"])
def test_positions_enter_before_each_attention(pos_emb):
    """With the attention and feed-forward branches silenced, a block adds its positional
    term twice: P_b before the spatial and again before the temporal attention (quirk)."""
    config = small_config(pos_emb=pos_emb)
    block = GLTransformer(config).blocks[0]
    with torch.no_grad():
        for linear in (block.attn_sp.proj, block.attn_tm.proj, block.ff.fc2):
            linear.weight.zero_()
            linear.bias.zero_()
        if pos_emb == "learned":
            block.pos_emb.normal_()
    x = torch.randn(2, 5, config.num_tokens, config.dim)
    out, _, _ = block(x, key_mask=None)
    if pos_emb == "learned":
        expected = x + 2 * block.pos_emb[:5]
    else:
        temporal = sinusoidal_table(config.num_frames, config.width)[:5]
        expected = (
            x
            + sinusoidal_table(config.num_tokens, config.dim)
            + temporal.reshape(5, -1, config.dim)
        )
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda l: l.name)
def test_global_tokens_use_their_own_embedding(layout):
    """Only the centre joint of each person goes through embed_global (method §3)."""
    config = small_config(layout)
    model = GLTransformer(config).eval()
    seen = []
    model.blocks[0].register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    x = clips(config, 1, 3)
    model(x)
    with torch.no_grad():
        model.embed_global.bias.add_(1.0)
    model(x)
    changed = (seen[1] - seen[0]).abs().amax(dim=(0, 1, 3)) > 0  # per token
    assert changed.nonzero().flatten().tolist() == list(config.global_tokens)


def test_drop_path_rates_and_behaviour():
    config = GLTConfig.preset("tiny", depth=3, drop_path=0.2)
    model = GLTransformer(config)
    assert [b.drop_path.p for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])
    drop = DropPath(0.5).train()
    x = torch.ones(400, 3, 2)
    y = drop(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample.amin(dim=1) == per_sample.amax(dim=1)).all()  # whole samples dropped
    assert 0.3 < (per_sample[:, 0] == 0).float().mean() < 0.7
    assert torch.equal(drop.eval()(x), x)


@pytest.mark.parametrize("with_mask", [False, True])
def test_attention_paths_match_sdpa(with_mask):
    attention = Attention(dim=12, heads=3, qkv_bias=True, attn_dropout=0.0, dropout=0.0)
    x = torch.randn(4, 7, 12)
    mask = frame_mask(torch.tensor([7, 5, 1, 3]), 7) if with_mask else None
    fast, none = attention(x, mask)
    slow, weights = attention(x, mask, return_attention=True)
    assert none is None and weights.shape == (4, 3, 7, 7)
    torch.testing.assert_close(fast, slow)
    q, k, _ = attention.qkv(x).reshape(4, 7, 3, 3, 4).permute(2, 0, 3, 1, 4)
    bias = 0.0 if mask is None else (~mask[:, None, None, :]) * -1e9
    torch.testing.assert_close(weights, F.softmax(q @ k.transpose(-1, -2) / 2 + bias, dim=-1))
    if with_mask:
        assert weights.masked_select(~mask[:, None, None, :]).abs().max() == 0


@pytest.mark.parametrize("pos_emb", ["learned", "sinusoidal"])
def test_fast_path_equals_recording_path(pos_emb):
    config = small_config(pos_emb=pos_emb)
    model = GLTransformer(config).eval()
    with torch.no_grad():  # non-zero positional embeddings, so that their use is tested too
        for block in model.blocks:
            if pos_emb == "learned":
                block.pos_emb.normal_()
    x, lengths = clips(config, 3, 10), torch.tensor([10, 6, 2])
    fast = model(x, lengths)
    slow, maps = model(x, lengths, return_attention=True)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert len(maps.spatial) == len(maps.temporal) == config.depth
    h, j = config.heads, config.num_tokens
    for spatial, temporal in zip(maps.spatial, maps.temporal, strict=True):
        assert spatial.shape == (3, 10, h, j, j) and temporal.shape == (3, h, 10, 10)
        torch.testing.assert_close(spatial.sum(-1), torch.ones(3, 10, h, j))
        pad_keys = ~frame_mask(lengths, 10)[:, None, None, :]
        assert temporal.masked_select(pad_keys).max() == 0


@pytest.mark.parametrize("pos_emb", ["learned", "sinusoidal"])
def test_valid_frames_ignore_padding(pos_emb):
    """Valid outputs do not change when pad frames are appended or hold anything, so batches
    may be padded to their longest clip instead of num_frames."""
    config = small_config(pos_emb=pos_emb)
    model = GLTransformer(config).eval()
    with torch.no_grad():
        for block in model.blocks:
            if pos_emb == "learned":
                block.pos_emb.normal_()
    lengths = torch.tensor([7, 4, 1])
    x = clips(config, 3, 7)
    short = model(x, lengths)
    longer = torch.cat([x, 100 * clips(config, 3, 5)], dim=1)  # 12 frames, junk padding
    longer[1, 4:] = -3.0
    long = model(longer, lengths)
    valid = frame_mask(lengths, 7)
    torch.testing.assert_close(short[valid], long[:, :7][valid], atol=1e-5, rtol=1e-5)
    without_mask = model(longer)  # and the mask matters: unmasked, the pads leak in
    assert not torch.allclose(without_mask[:, :7][valid], short[valid], atol=1e-3)


def _bad(config, **change):
    """A valid (x, lengths) for `config` with one thing changed."""
    x, lengths = clips(config, 2, 5), torch.tensor([5, 3])
    if "x" in change:
        x = change["x"]
    if "nan" in change:
        x[1, 2, 0, 3, 1] = float("nan")
    if "lengths" in change:
        lengths = change["lengths"]
    return x, lengths


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x": torch.zeros(2, 5, 2, 24, 3)}, "V=25"),
        ({"x": torch.zeros(2, 5, 49, 3)}, "J=50"),
        ({"x": torch.zeros(2, 5, 2, 25, 2)}, "3 coordinates"),
        ({"x": torch.zeros(5, 50, 3)}, "shape"),
        ({"x": torch.zeros(0, 5, 2, 25, 3)}, "empty batch"),
        ({"x": torch.zeros(2, 13, 2, 25, 3)}, "at most 12"),
        ({"nan": True}, r"NaN or inf in clip\(s\) \[1\]"),
        ({"lengths": torch.tensor([6, 3])}, "1..5"),
        ({"lengths": torch.tensor([5, 0])}, "1..5"),
        ({"lengths": torch.tensor([5, 3, 2])}, "shape"),
        ({"lengths": torch.tensor([5.0, 3.0])}, "integers"),
    ],
)
def test_bad_input_raises_data_error(change, message):
    config = small_config()
    model = GLTransformer(config)
    x, lengths = _bad(config, **change)
    with pytest.raises(DataError, match=message):
        model(x, lengths)


def test_pool_valid_averages_valid_frames_only():
    features = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 1])
    features[1, 2:] = float("nan")  # whatever pad frames hold
    pooled = pool_valid(features, lengths)
    expected = torch.stack([features[i, :n].mean(0) for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(pooled, expected)
    torch.testing.assert_close(pool_valid(features[:1]), features[0].mean(0, keepdim=True))


def test_classifier_pools_then_classifies():
    config = small_config()
    model = GLTClassifier(config, num_classes=5).eval()
    x, lengths = clips(config, 2, 6), [6, 3]
    logits = model(x, lengths)
    assert logits.shape == (2, 5)
    padded = torch.cat([x, torch.randn_like(x)], dim=1)
    torch.testing.assert_close(model(padded, lengths), logits, atol=1e-5, rtol=1e-5)


def test_sinusoidal_table_formula():
    table = sinusoidal_table(7, 10)
    for p in range(7):
        for i in range(5):
            angle = p / 10000 ** (2 * i / 10)
            assert table[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_table(4, 5).shape == (4, 5)  # odd widths work too


@pytest.mark.official
def test_sinusoidal_tables_equal_the_authors_buffers(official):
    """The authors' fixed encodings (method §7) are stored in every block of the fixture."""
    config = config_from_authors(official["config"])
    state = official["pretrain_state_dict"]
    for i in range(config.depth):
        block = f"transformer.encoder_blocks.{i}."
        tm, sp = state[block + "tm_pos_encoder.pe"], state[block + "sp_pos_encoder.pe"]
        torch.testing.assert_close(sinusoidal_table(config.num_frames, config.width)[None], tm)
        torch.testing.assert_close(sinusoidal_table(config.num_tokens, config.dim)[None], sp)
