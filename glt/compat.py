"""Bridges to the authors' public code: state dicts, model input, and logit/target layouts.

State dicts (method §3, §4, §5). The authors' modules and ours correspond one to one:

    theirs (model/transformer.py, pretrain.py, downstream.py)     ours (glt.model, glt.mpdp)
    ST_Transformer                  (what `Pretrain.save` writes)  GLTransformer
    Pretrain = transformer + dir_pred_list + mag_pred_list         PretrainModel = encoder + heads
    ActionRecognition = transformer + linear (linear evaluation)   GLTClassifier = encoder + classifier

Inside the encoder only names differ (`_ENCODER_NAMES`, `_BLOCK_NAMES`), plus the leading 1
of `positional_emb` (1, T, J, D) against our `pos_emb` (T, J, D). Their state dicts also hold
entries our model does not need, which `load_authors` ignores and `authors_state_dict` writes so
that their code loads ours: `pred_token_emb` (never used), the fixed sin/cos tables
`tm_pos_encoder.pe` / `sp_pos_encoder.pe` of every block, and `positional_emb` when our model
uses the sinusoidal variant. A `module.` prefix (from `nn.DataParallel`) is accepted.

Input. The authors feed (N, C, T, J) clips whose pad frames hold 99.9 (the sentinel, detected
as x[:, 0, t, 0] == 99.9); we feed (N, T, J, C) with explicit lengths and zeros in pad frames.

Outputs. Their heads give (N, K, T, R*J) logits and their targets are (N, T, R*J), interval-
major (index r*J + token); ours are (N, T, R, J, K) and (N, T, R, J). Tokens are ordered
alike (token = joint * M + person), so only the axes move.
"""

from __future__ import annotations

import torch
from einops import rearrange

from glt.data.formats.authors import PAD_VALUE
from glt.errors import DataError, GLTError
from glt.layout import NTU, SkeletonLayout
from glt.model import GLTClassifier, GLTConfig, GLTransformer, frame_mask, sinusoidal_table
from glt.mpdp import PretrainModel

# Our encoder's submodule names -> theirs; Attention (qkv, proj), FeedForward (fc1, fc2) and
# the MLP's indices are named alike.
_ENCODER_NAMES = {
    "embed": "emb",
    "embed_global": "emb_global",
    "blocks": "encoder_blocks",
    "norm": "norm",
    "mlp": "mlp",
}
_BLOCK_NAMES = {
    "pos_emb": "positional_emb",
    "norm_sp": "norm1_sp",
    "attn_sp": "attention_sp",
    "norm_tm": "norm1_tm",
    "attn_tm": "attention_tm",
    "norm_ff": "norm2",
    "ff": "feedforward",
}
AuthorsModel = GLTransformer | PretrainModel | GLTClassifier


def config_from_authors(args: dict, layout: SkeletonLayout = NTU, **overrides) -> GLTConfig:
    """A GLTConfig from the authors' argument names (num_frame, num_joint, input_channel,
    dim_emb, depth, num_heads, qkv_bias, ff_expand, intervals, do_rate, attn_do_rate,
    drop_path_rate, positional_emb_type); absent ones keep our defaults."""
    if "num_joint" in args and args["num_joint"] != layout.num_tokens:
        raise GLTError(
            f"num_joint={args['num_joint']} does not match layout {layout.name!r} "
            f"({layout.num_tokens} tokens)"
        )
    names = {
        "num_frame": "num_frames",
        "input_channel": "in_channels",
        "dim_emb": "dim",
        "depth": "depth",
        "num_heads": "heads",
        "qkv_bias": "qkv_bias",
        "ff_expand": "ff_expand",
        "intervals": "intervals",
        "do_rate": "dropout",
        "attn_do_rate": "attn_dropout",
        "drop_path_rate": "drop_path",
    }
    kw = {ours: args[theirs] for theirs, ours in names.items() if theirs in args}
    if "positional_emb_type" in args:
        kw["pos_emb"] = "sinusoidal" if args["positional_emb_type"] == "fix" else "learned"
    return GLTConfig.from_layout(layout, **{**kw, **overrides})


def strip_module_prefix(state_dict: dict) -> dict:
    """Drop the `module.` prefix that `nn.DataParallel` adds to every key (if all have it)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def authors_encoder_state(state_dict: dict) -> dict:
    """The encoder part of an authors' `Pretrain` or `ActionRecognition` state dict, keyed as
    `Pretrain.save` writes it (the `transformer.` prefix removed): loadable into GLTransformer."""
    sd = strip_module_prefix(state_dict)
    return {k[len("transformer.") :]: v for k, v in sd.items() if k.startswith("transformer.")}


def _encoder_key(key: str) -> str:
    """Our GLTransformer state-dict key -> the authors' ST_Transformer key."""
    parts = key.split(".")
    parts[0] = _ENCODER_NAMES[parts[0]]
    if parts[0] == "encoder_blocks":
        parts[2] = _BLOCK_NAMES[parts[2]]
    return ".".join(parts)


def _authors_key(model: AuthorsModel, key: str) -> str:
    """Our state-dict key of `model` -> the key in the authors' corresponding module."""
    if isinstance(model, GLTransformer):
        return _encoder_key(key)
    head, rest = key.split(".", 1)
    if head == "encoder":
        return "transformer." + _encoder_key(rest)
    if head == "heads":  # heads.dir.0.weight -> dir_pred_list.0.linear.0.weight
        kind, index, param = rest.split(".")
        return f"{kind}_pred_list.{index}.linear.0.{param}"
    if head == "classifier":
        return f"linear.{rest}"
    raise GLTError(f"no authors' counterpart for {key!r}")


def _encoder_and_prefix(model: AuthorsModel) -> tuple[GLTransformer, str]:
    if isinstance(model, GLTransformer):
        return model, ""
    if isinstance(model, (PretrainModel, GLTClassifier)):
        return model.encoder, "transformer."
    raise GLTError(
        f"cannot convert {type(model).__name__}; expected GLTransformer, PretrainModel or GLTClassifier"
    )


def _authors_extras(encoder: GLTransformer, prefix: str) -> dict[str, torch.Tensor]:
    """Entries of the authors' state dict that our model does not hold (see module docstring)."""
    c = encoder.config
    extras = {prefix + "pred_token_emb": torch.zeros(1, 1, c.num_tokens, c.dim)}
    tm = sinusoidal_table(c.num_frames, c.width)[None]  # (1, T, W)
    sp = sinusoidal_table(c.num_tokens, c.dim)[None]  # (1, J, D)
    for i in range(c.depth):
        block = f"{prefix}encoder_blocks.{i}."
        extras[block + "tm_pos_encoder.pe"] = tm.clone()
        extras[block + "sp_pos_encoder.pe"] = sp.clone()
        if c.pos_emb == "sinusoidal":
            extras[block + "positional_emb"] = torch.zeros(1, c.num_frames, c.num_tokens, c.dim)
    return extras


def _is_pos_emb(key: str) -> bool:
    return key.endswith(".pos_emb")


def authors_state_dict(model: AuthorsModel) -> dict[str, torch.Tensor]:
    """`model`'s state dict in the authors' layout: a GLTransformer as `Pretrain.save` writes
    the encoder, a PretrainModel as `Pretrain`, a GLTClassifier as `ActionRecognition`."""
    encoder, prefix = _encoder_and_prefix(model)
    out = {}
    for key, value in model.state_dict().items():
        out[_authors_key(model, key)] = value[None] if _is_pos_emb(key) else value  # (1,T,J,D)
    out.update(_authors_extras(encoder, prefix))
    return out


def _listing(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_authors(model: AuthorsModel, state_dict: dict) -> AuthorsModel:
    """Load an authors' state dict into `model` (in place; returns it).

    `model` is a GLTransformer (their encoder alone, as `Pretrain.save` writes it; see
    `authors_encoder_state` to take it from a full checkpoint), a PretrainModel (their
    `Pretrain`) or a GLTClassifier (their `ActionRecognition`). Unknown or missing keys and
    wrong shapes raise GLTError naming them.
    """
    encoder, prefix = _encoder_and_prefix(model)
    state_dict = strip_module_prefix(state_dict)
    ours = model.state_dict()
    theirs_to_ours = {_authors_key(model, k): k for k in ours}
    ignored = set(_authors_extras(encoder, prefix))
    unknown = sorted(k for k in state_dict if k not in theirs_to_ours and k not in ignored)
    missing = sorted(k for k in theirs_to_ours if k not in state_dict)
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown keys: {_listing(unknown)}")
        if missing:
            problems.append(f"missing keys: {_listing(missing)}")
        hint = ""
        if isinstance(model, GLTransformer) and any(k.startswith("transformer.") for k in unknown):
            hint = " (a full Pretrain/ActionRecognition checkpoint? use authors_encoder_state)"
        raise GLTError(
            f"the state dict does not fit {type(model).__name__}{hint}: " + "; ".join(problems)
        )
    converted, wrong = {}, []
    for theirs, key in theirs_to_ours.items():
        value = state_dict[theirs]
        expected = ((1,) if _is_pos_emb(key) else ()) + tuple(ours[key].shape)
        if tuple(value.shape) != expected:
            wrong.append(f"{theirs}: {tuple(value.shape)}, expected {expected}")
            continue
        converted[key] = value[0] if _is_pos_emb(key) else value
    if wrong:
        raise GLTError(
            f"shapes in the state dict do not fit this {type(model).__name__} (check num_frames, "
            f"dim, layout, ff_expand, intervals): " + "; ".join(wrong[:12])
        )
    model.load_state_dict(converted)
    return model


def from_authors_input(x, pad_value: float = PAD_VALUE) -> tuple[torch.Tensor, torch.Tensor]:
    """Authors' input (N, C, T, J) with pad frames set to 99.9 -> (x (N, T, J, C) with zeros in
    pad frames, lengths (N,) int64). Pad frames must come after the valid ones."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 4:
        raise DataError(f"expected the authors' input (N, C, T, J), got shape {tuple(x.shape)}")
    valid = x[:, 0, :, 0] != pad_value  # (N, T), the authors' own test
    lengths = valid.sum(dim=1)
    bad = (valid != frame_mask(lengths, x.shape[2])).any(dim=1) | (lengths == 0)
    if bad.any():
        raise DataError(
            f"clip(s) {bad.nonzero().flatten().tolist()} have no valid frame or valid frames "
            f"after a pad frame ({pad_value})"
        )
    x = rearrange(x, "n c t j -> n t j c").masked_fill(~valid[:, :, None, None], 0.0)
    return x, lengths


def to_authors_input(
    x: torch.Tensor, lengths, num_frames: int | None = None, pad_value: float = PAD_VALUE
) -> torch.Tensor:
    """Our clips (N, T, M, V, C) or tokens (N, T, J, C) with lengths (N,) -> the authors' input
    (N, C, T', J) with pad frames set to 99.9, padded to `num_frames` frames if given."""
    if x.dim() == 5:
        x = rearrange(x, "n t m v c -> n t (v m) c")
    n, t = x.shape[:2]
    if num_frames is not None:
        if num_frames < t:
            raise DataError(f"clips have {t} frames, more than num_frames={num_frames}")
        x = torch.cat([x, x.new_zeros(n, num_frames - t, *x.shape[2:])], dim=1)
    lengths = torch.as_tensor(lengths, device=x.device)
    valid = frame_mask(lengths, x.shape[1])
    return rearrange(x.masked_fill(~valid[:, :, None, None], pad_value), "n t j c -> n c t j")


def logits_from_authors(logits: torch.Tensor, num_intervals: int) -> torch.Tensor:
    """Authors' head output (N, K, T, R*J) -> ours (N, T, R, J, K)."""
    return rearrange(logits, "n k t (r j) -> n t r j k", r=num_intervals)


def logits_to_authors(logits: torch.Tensor) -> torch.Tensor:
    """Our logits (N, T, R, J, K) -> the authors' (N, K, T, R*J)."""
    return rearrange(logits, "n t r j k -> n k t (r j)")


def targets_from_authors(targets: torch.Tensor, num_intervals: int) -> torch.Tensor:
    """Authors' class targets (N, T, R*J) -> ours (N, T, R, J)."""
    return rearrange(targets, "n t (r j) -> n t r j", r=num_intervals)


def targets_to_authors(targets: torch.Tensor) -> torch.Tensor:
    """Our class targets (N, T, R, J) -> the authors' (N, T, R*J)."""
    return rearrange(targets, "n t r j -> n t (r j)")
