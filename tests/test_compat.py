"""Bridges to the authors' code (glt.compat), and equivalence with their outputs."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from glt.compat import (
    PAD_VALUE,
    authors_encoder_state,
    authors_state_dict,
    config_from_authors,
    from_authors_input,
    load_authors,
    logits_from_authors,
    logits_to_authors,
    targets_from_authors,
    targets_to_authors,
    to_authors_input,
)
from glt.errors import DataError, GLTError
from glt.layout import NTU, NWUCLA
from glt.model import GLTClassifier, GLTConfig, GLTransformer, frame_mask
from glt.mpdp import PretrainModel, mpdp_loss

KINDS = {
    "encoder": GLTransformer,
    "pretrain": PretrainModel,
    "classifier": lambda config: GLTClassifier(config, num_classes=4),
}


def small_config(layout=NTU, **kw) -> GLTConfig:
    return GLTConfig.preset("tiny", layout=layout, **{"num_frames": 6, **kw})


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Non-default values everywhere (positional embeddings and norms included)."""
    with torch.no_grad():
        for param in model.parameters():
            param.normal_()
    return model


# --- state dicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", [NTU, NWUCLA], ids=lambda l: l.name)
@pytest.mark.parametrize("pos_emb", ["learned", "sinusoidal"])
def test_export_then_load_round_trip(kind, layout, pos_emb):
    config = small_config(layout, pos_emb=pos_emb)
    source = randomise(KINDS[kind](config)).eval()
    target = KINDS[kind](config).eval()
    load_authors(target, authors_state_dict(source))
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    x = torch.randn(2, 5, config.num_persons, config.num_joints, 3)
    outputs = [model(x, [5, 2]) for model in (source, target)]
    outputs = [out if isinstance(out, tuple) else (out,) for out in outputs]  # PretrainModel: 2
    for a, b in zip(*outputs, strict=True):
        assert torch.equal(a, b)


def test_export_uses_the_authors_names_and_shapes():
    config = small_config()
    exported = authors_state_dict(PretrainModel(config))
    j, d, t, w = config.num_tokens, config.dim, config.num_frames, config.width
    expected = {
        "transformer.emb.weight": (d, 3),
        "transformer.emb_global.bias": (d,),
        "transformer.pred_token_emb": (1, 1, j, d),
        "transformer.encoder_blocks.1.positional_emb": (1, t, j, d),
        "transformer.encoder_blocks.0.tm_pos_encoder.pe": (1, t, w),
        "transformer.encoder_blocks.0.sp_pos_encoder.pe": (1, j, d),
        "transformer.encoder_blocks.0.norm1_sp.weight": (d,),
        "transformer.encoder_blocks.0.attention_tm.qkv.weight": (3 * w, w),
        "transformer.encoder_blocks.0.norm2.bias": (w,),
        "transformer.encoder_blocks.0.feedforward.fc2.weight": (w, 2 * w),
        "transformer.mlp.5.weight": (w,),
        "dir_pred_list.2.linear.0.weight": (j * 27, w),
        "mag_pred_list.0.linear.0.bias": (j * 16,),
    }
    for key, shape in expected.items():
        assert tuple(exported[key].shape) == shape, key
    encoder_keys = set(authors_state_dict(GLTransformer(config)))
    assert {"transformer." + k for k in encoder_keys} == {
        k for k in exported if k.startswith("transformer.")
    }
    assert set(authors_state_dict(GLTClassifier(config, 3))) - {
        "transformer." + k for k in encoder_keys
    } == {
        "linear.weight",
        "linear.bias",
    }


def test_load_accepts_the_data_parallel_prefix():
    config = small_config()
    source = randomise(PretrainModel(config))
    wrapped = {"module." + k: v for k, v in authors_state_dict(source).items()}
    target = load_authors(PretrainModel(config), wrapped)
    assert torch.equal(target.heads.mag[1].weight, source.heads.mag[1].weight)


def test_load_names_unknown_missing_and_misshapen_keys():
    config = small_config()
    state = authors_state_dict(GLTransformer(config))
    with pytest.raises(GLTError, match=r"unknown keys: bogus\.weight"):
        load_authors(GLTransformer(config), {**state, "bogus.weight": torch.zeros(1)})
    del state["encoder_blocks.1.norm2.bias"]
    with pytest.raises(GLTError, match=r"missing keys: encoder_blocks\.1\.norm2\.bias"):
        load_authors(GLTransformer(config), state)
    longer = authors_state_dict(GLTransformer(small_config(num_frames=9)))
    with pytest.raises(
        GLTError, match=r"positional_emb: \(1, 9, 50, 4\), expected \(1, 6, 50, 4\)"
    ):
        load_authors(GLTransformer(config), longer)


def test_encoder_from_a_full_checkpoint():
    config = small_config()
    source = randomise(PretrainModel(config))
    full = authors_state_dict(source)
    with pytest.raises(GLTError, match="authors_encoder_state"):
        load_authors(GLTransformer(config), full)
    encoder = load_authors(GLTransformer(config), authors_encoder_state(full))
    assert torch.equal(encoder.blocks[1].pos_emb, source.encoder.blocks[1].pos_emb)


def test_config_from_authors_arguments():
    args = {"num_frame": 30, "num_joint": 50, "dim_emb": 6, "depth": 1, "num_heads": 3}
    config = config_from_authors({**args, "positional_emb_type": "fix", "intervals": [1, 2]})
    assert (config.num_frames, config.dim, config.depth, config.heads) == (30, 6, 1, 3)
    assert config.pos_emb == "sinusoidal" and config.intervals == (1, 2)
    assert config_from_authors({"num_joint": 20}, layout=NWUCLA).num_tokens == 20
    with pytest.raises(GLTError, match="num_joint=50"):
        config_from_authors(args, layout=NWUCLA)


# --- input and output layouts --------------------------------------------------------------


def test_authors_input_round_trip():
    x = torch.randn(3, 7, 2, 25, 3)
    lengths = torch.tensor([7, 3, 1])
    theirs = to_authors_input(x, lengths, num_frames=10)
    assert theirs.shape == (3, 3, 10, 50)
    assert (theirs[1, :, 3:] == torch.tensor(PAD_VALUE)).all()
    torch.testing.assert_close(
        theirs[0, :, 2, 2 * 4 + 1], x[0, 2, 1, 4]
    )  # token = 2*joint + person
    tokens, back = from_authors_input(theirs)
    assert torch.equal(back, lengths)
    valid = frame_mask(lengths, 7)
    assert torch.equal(tokens[:, :7][valid], rearrange(x, "n t m v c -> n t (v m) c")[valid])
    assert (tokens[~frame_mask(lengths, 10)] == 0).all()


def test_authors_input_rejects_gaps_and_empty_clips():
    x = torch.zeros(2, 3, 5, 50)
    x[0, :, 2] = PAD_VALUE  # a pad frame between valid ones
    x[1] = PAD_VALUE  # no valid frame
    with pytest.raises(DataError, match=r"clip\(s\) \[0, 1\]"):
        from_authors_input(x)
    with pytest.raises(DataError, match="N, C, T, J"):
        from_authors_input(torch.zeros(5, 50, 3))


def test_logit_and_target_layouts():
    n, k, t, r, j = 2, 27, 4, 3, 50
    theirs = torch.randn(n, k, t, r * j)
    ours = logits_from_authors(theirs, r)
    assert ours.shape == (n, t, r, j, k)
    assert ours[1, 2, 2, 41, 5] == theirs[1, 5, 2, 2 * j + 41]  # interval-major (r*J + token)
    assert torch.equal(logits_to_authors(ours), theirs)
    targets = torch.randint(0, 27, (n, t, r * j))
    assert targets_from_authors(targets, r)[0, 3, 1, 7] == targets[0, 3, j + 7]
    assert torch.equal(targets_to_authors(targets_from_authors(targets, r)), targets)


# --- equivalence with the authors' outputs (every setting from the fixture) -----------------


def valid_frames(official) -> torch.Tensor:
    lengths = torch.as_tensor(official["lengths"])
    return frame_mask(lengths, official["model_input"].shape[2])


@pytest.mark.official
def test_input_lengths_match(official, authors_model):
    _, _, lengths = authors_model
    assert lengths.tolist() == list(official["lengths"])


@pytest.mark.official
@pytest.mark.parametrize("return_attention", [False, True])
def test_features_reproduce_the_authors(official, authors_model, return_attention):
    model, x, lengths = authors_model
    with torch.no_grad():
        features = model.encoder(x, lengths, return_attention=return_attention)
    if return_attention:
        features = features[0]
    valid = valid_frames(official)
    torch.testing.assert_close(features[valid], official["features"][valid], rtol=1e-5, atol=1e-5)


@pytest.mark.official
def test_pad_frames_compute_as_the_authors(official, authors_model):
    """Fed the same pad values (99.9), even the meaningless pad-frame outputs agree: pad
    queries compute, only pad keys are masked (method §3)."""
    model, _, lengths = authors_model
    raw = rearrange(official["model_input"], "n c t j -> n t j c")
    with torch.no_grad():
        features = model.encoder(raw, lengths)
    torch.testing.assert_close(features, official["features"], rtol=1e-5, atol=1e-5)


@pytest.mark.official
def test_head_outputs_reproduce_the_authors(official, authors_model):
    model, x, lengths = authors_model
    with torch.no_grad():
        dir_logits, mag_logits = model(x, lengths)
    r, valid = model.config.num_intervals, valid_frames(official)
    for ours, key in ((dir_logits, "out_dir"), (mag_logits, "out_mag")):
        theirs = logits_from_authors(official[key], r)
        torch.testing.assert_close(ours[valid], theirs[valid], rtol=1e-5, atol=1e-5)


@pytest.mark.official
def test_loss_from_our_logits_reproduces_the_authors(official, authors_model):
    model, x, lengths = authors_model
    r = model.config.num_intervals
    with torch.no_grad():
        loss = mpdp_loss(
            *model(x, lengths),
            targets_from_authors(official["dir_gt"], r),
            targets_from_authors(official["mag_gt"], r),
            lengths,
            model.config,
        )
    torch.testing.assert_close(loss, official["loss"], rtol=1e-5, atol=1e-5)


@pytest.mark.official
def test_linear_classifier_reproduces_the_authors(official, authors_model):
    """The authors' linear evaluation model (`ActionRecognition`: transformer + linear)."""
    _, x, lengths = authors_model
    config = config_from_authors(official["config"])
    state = {
        **{
            "transformer." + k: v
            for k, v in authors_encoder_state(official["pretrain_state_dict"]).items()
        },
        **{"linear." + k: v for k, v in official["action_linear"].items()},
    }
    num_classes = official["action_linear"]["weight"].shape[0]
    model = load_authors(GLTClassifier(config, num_classes), state).eval()
    with torch.no_grad():
        logits = model(x, lengths)
    torch.testing.assert_close(logits, official["logits"], rtol=1e-5, atol=1e-5)


@pytest.mark.official
def test_export_gives_back_the_authors_state_dict(official, authors_model):
    model, _, _ = authors_model
    theirs = official["pretrain_state_dict"]
    exported = authors_state_dict(model)
    assert set(exported) == set(theirs)
    for key, value in theirs.items():
        if key.endswith("pred_token_emb"):  # never used by their model; we write zeros
            continue
        if key.endswith(".pe"):  # sin/cos tables computed again: rounding differs across CPUs
            torch.testing.assert_close(exported[key], value, rtol=0, atol=1e-6, msg=key)
        else:  # weights copied from the model: bit for bit
            assert torch.equal(exported[key], value), key


@pytest.mark.official
def test_authors_state_dict_with_prefix_and_bad_keys(official):
    config = config_from_authors(official["config"])
    theirs = official["pretrain_state_dict"]
    wrapped = load_authors(PretrainModel(config), {"module." + k: v for k, v in theirs.items()})
    plain = load_authors(PretrainModel(config), theirs)
    for key, value in plain.state_dict().items():
        assert torch.equal(wrapped.state_dict()[key], value), key
    with pytest.raises(GLTError, match=r"unknown keys: transformer\.extra"):
        load_authors(PretrainModel(config), {**theirs, "transformer.extra": torch.zeros(1)})
    dropped = dict(theirs)
    del dropped["dir_pred_list.0.linear.0.weight"]
    with pytest.raises(GLTError, match=r"missing keys: dir_pred_list\.0\.linear\.0\.weight"):
        load_authors(PretrainModel(config), dropped)
