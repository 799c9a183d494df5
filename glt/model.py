"""The GL-Transformer encoder (method §3), its configuration, and helpers to size it.

Shape letters, used in every comment and einops pattern of this package's model code:

    B batch, T frames, M persons, V joints, J = V*M tokens per frame, C = 3 coordinates,
    D width per token, W = J*D width per frame, H heads, R intervals.

A clip enters as (B, T, M, V, C) (or already as tokens, (B, T, J, C)) together with its true
lengths (B,); frames at index >= length are padding. Token j = joint * M + person, as in the
authors' code, so the global-translation tokens are `centre * M + m` (method §2, §3).

One block (method §3), on x (B, T, J, D), with P the block's positional embedding (T, J, D):

    x = x + P                                      # before the spatial attention
    x = x + DropPath(SpatialMHA(LN(x)))            # over the J tokens of each frame
    x = x + P (flattened to (T, W))                # quirk: the same P is added a second time
    x = x + DropPath(TemporalMHA(LN(x), mask))     # over the T frames, one W-wide token each
    x = x + DropPath(FFN(LN(x)))

Two ways to run the same weights. `forward(x, lengths)` takes a zero-padded batch (B, T, ...) and
computes every frame, pad frames too, as the authors' code: the reference, and the only path that
records attention maps. `forward_packed(packed)` takes a `glt.packing.PackedClips` (the N real
frames of the batch, clip after clip) and computes only those: the embeddings, the spatial
attention (per frame), the norms, feed-forward layers and the final MLP run on the N rows; the
positional embedding of a frame is P_b[its position in its own clip]; the temporal attention runs
per clip through one of `glt.varlen`'s mechanisms. On valid frames both give the same features.
A block runs on rows (frames) either way; `PaddedFrames` and `PackedFrames` say where each row
sits, which is all that differs between the two paths.

Quirks of the authors' code that are reproduced here (and named where they happen):
- the learnable positional embedding P_b is added twice per block (before each attention);
- pad frames are masked only as temporal attention *keys* (score -1e9); pad queries still
  compute, so pad-frame outputs are meaningless but valid-frame outputs do not depend on them;
- DropPath on the spatial branch drops whole *frames* (it acts on the (B*T, J, D) tensor),
  on the temporal and feed-forward branches whole clips (one draw per clip, on every path).

`pos_emb="sinusoidal"` replaces P_b with the fixed sin/cos tables of the authors' ablation
(method §7): a spatial table (J, D) before the spatial attention and a temporal table (T, W)
before the temporal attention, the same in every block.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from glt.errors import DataError, GLTError
from glt.layout import NTU, SkeletonLayout
from glt.packing import PackedClips, segment_mean
from glt.varlen import temporal_attention

POS_EMB_KINDS = ("learned", "sinusoidal")
LAYOUT_FIELDS = ("num_joints", "num_persons", "center_joint")  # set by the data's SkeletonLayout


@dataclass
class GLTConfig:
    """Sizes and regularisation of a GL-Transformer; the defaults are the paper's (method §3).

    The skeleton enters only through `num_joints`, `num_persons` and `center_joint` (whose slot
    carries the global translation); build those from a `SkeletonLayout` with `from_layout`.
    """

    num_frames: int = 300  # longest clip the model accepts (the size of P_b)
    num_joints: int = 25  # V
    num_persons: int = 2  # M
    center_joint: int = 20  # its token carries the global translation (embedded by emb_global)
    in_channels: int = 3  # C
    dim: int = 48  # D, width per token
    depth: int = 4  # number of blocks
    heads: int = 8  # H, for both the spatial and the temporal attention
    ff_expand: float = 2.0  # feed-forward hidden width = int(W * ff_expand)
    qkv_bias: bool = True
    dropout: float = 0.1  # after the embedding, the attention projections and the FFN
    attn_dropout: float = 0.1  # on the attention weights
    drop_path: float = 0.1  # largest stochastic-depth rate; block i uses linspace(0, it, depth)[i]
    pos_emb: str = "learned"  # "learned" (P_b per block) or "sinusoidal" (fixed, method §7)
    intervals: tuple[int, ...] = (1, 5, 10)  # MPDP intervals (method §4), used by glt.mpdp

    def __post_init__(self):
        problems = _wrong_types(self)
        if problems:
            raise GLTError("invalid model settings: " + "; ".join(problems))
        self.intervals = tuple(int(r) for r in self.intervals)
        for name in ("num_frames", "num_joints", "num_persons", "in_channels", "dim", "depth"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} must be at least 1")
        if not 0 <= self.center_joint < self.num_joints:
            problems.append(
                f"center_joint={self.center_joint} is not a joint in 0..{self.num_joints - 1}"
            )
        if self.heads < 1 or self.dim % self.heads:
            problems.append(f"dim={self.dim} must be a multiple of heads={self.heads}")
        if self.pos_emb not in POS_EMB_KINDS:
            problems.append(f"pos_emb={self.pos_emb!r} is not one of {POS_EMB_KINDS}")
        if not self.intervals or min(self.intervals) < 1:
            problems.append(f"intervals={self.intervals} must be positive frame counts")
        if not 0 < self.ff_expand < math.inf:
            problems.append(f"ff_expand={self.ff_expand} must be a positive finite number")
        for name in ("dropout", "attn_dropout", "drop_path"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} must be a rate in [0, 1)")
        if problems:
            raise GLTError("invalid model settings: " + "; ".join(problems))

    @property
    def num_tokens(self) -> int:
        """J: tokens per frame, one per joint and person."""
        return self.num_joints * self.num_persons

    @property
    def width(self) -> int:
        """W = J * D: the width of one frame token and of the encoder output."""
        return self.num_tokens * self.dim

    @property
    def global_tokens(self) -> tuple[int, ...]:
        """The tokens carrying the global translation: the centre joint of every person."""
        return tuple(self.center_joint * self.num_persons + m for m in range(self.num_persons))

    @property
    def num_intervals(self) -> int:
        """R: number of MPDP intervals."""
        return len(self.intervals)

    @classmethod
    def from_layout(cls, layout: SkeletonLayout, **kw) -> GLTConfig:
        """A config for `layout` (joints, persons, centre joint); `kw` sets the other fields."""
        return cls(
            num_joints=layout.num_joints,
            num_persons=layout.num_persons,
            center_joint=layout.center,
            **kw,
        )

    def check_layout(self, layout: SkeletonLayout, where: str = "the dataset") -> None:
        """Raise DataError unless `layout` (of the data in `where`) has this model's tokens:
        the same joints, persons and centre joint (`LAYOUT_FIELDS`)."""
        want = (self.num_joints, self.num_persons, self.center_joint)
        have = (layout.num_joints, layout.num_persons, layout.center)
        if want != have:
            raise DataError(
                f"the encoder expects {want[0]} joints x {want[1]} persons (centre joint "
                f"{want[2]}), but {where} has layout {layout.name!r} with {have[0]} joints x "
                f"{have[1]} persons (centre joint {have[2]}): an encoder only transfers between "
                "datasets with the same token layout"
            )

    @classmethod
    def preset(cls, name: str, layout: SkeletonLayout = NTU, **overrides) -> GLTConfig:
        """A named preset (`paper`, `tiny` or `nwucla`, see PRESETS) for `layout`, with `overrides`
        of any field but the layout's (`LAYOUT_FIELDS`)."""
        if name not in PRESETS:
            raise GLTError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        _refuse_unknown(overrides)
        fixed = sorted(set(overrides) & set(LAYOUT_FIELDS))
        if fixed:
            raise GLTError(
                f"{', '.join(fixed)} cannot be set: the data's layout ({layout.name!r}) sets "
                f"{', '.join(LAYOUT_FIELDS)}"
            )
        return cls.from_layout(layout, **{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        """A JSON-friendly dict; `GLTConfig.from_dict` reads it back."""
        d = asdict(self)
        d["intervals"] = list(self.intervals)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GLTConfig:
        """The inverse of `to_dict`; unknown keys are an error."""
        _refuse_unknown(d)
        return cls(**d)


def _refuse_unknown(settings: dict) -> None:
    """Raise GLTError naming the keys of `settings` that are not GLTConfig fields."""
    known = [f.name for f in fields(GLTConfig)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise GLTError(
            f"unknown model setting{plural} {', '.join(unknown)}; known: {', '.join(known)}"
        )


def _wrong_types(config: GLTConfig) -> list[str]:
    """A line per field whose value is not of its default's type (an int where a float goes
    is fine): `--model KEY=VALUE` values arrive as whatever JSON they parse as."""
    problems = []
    for f in fields(config):
        value, default = getattr(config, f.name), f.default
        if isinstance(default, tuple):
            ok = isinstance(value, (tuple, list)) and all(map(_is_int, value))
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = _is_int(value)
        elif isinstance(default, float):
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            problems.append(f"{f.name}={value!r} must be of type {type(default).__name__}")
    return problems


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


PRESETS: dict[str, dict] = {
    # The published model (method §3): about 199M parameters with the NTU layout.
    "paper": {},
    # For CPU tests, CI and the tutorial: same structure and frame budget, W = 50 * 4 = 200
    # (the size of the authors' fixture). No dropout on the attention weights: with it,
    # PyTorch's CPU attention leaves its fused kernel and a training step is 3-4x slower.
    "tiny": {"dim": 4, "heads": 2, "depth": 2, "attn_dropout": 0.0},
    # NW-UCLA on a CPU (20 joints x 1 person): W = 20 * 8 = 160, twice tiny's width per token.
    "nwucla": {"dim": 8, "heads": 2, "depth": 2, "attn_dropout": 0.0},
}


@dataclass
class AttentionMaps:
    """Attention weights recorded by `GLTransformer.forward(..., return_attention=True)`.

    spatial[i]: block i's spatial attention (B, T, H, J, J) (query token, key token);
    temporal[i]: block i's temporal attention (B, H, T, T) (query frame, key frame).
    The weights are taken after the softmax and before attention dropout.
    """

    spatial: list[torch.Tensor]
    temporal: list[torch.Tensor]


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos encoding (length, dim) of the authors' ablation (method §7).

    table[p, 2i] = sin(p / 10000^(2i/dim)), table[p, 2i+1] = cos(p / 10000^(2i/dim)).
    """
    position = torch.arange(length, dtype=torch.float32)[:, None]
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)[:, : dim // 2]
    return table


def frame_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B, T) bool: True on the valid frames (index < length) of each clip."""
    return torch.arange(num_frames, device=lengths.device) < lengths[:, None]


def pool_valid(features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of features (B, T, W) over each clip's valid frames -> (B, W) (method §5).

    `lengths=None` averages all frames. Pad frames never enter, whatever they hold.
    """
    if lengths is None:
        return features.mean(dim=1)
    lengths = lengths.to(features.device)
    valid = frame_mask(lengths, features.shape[1])
    summed = features.masked_fill(~valid[:, :, None], 0.0).sum(dim=1)
    return summed / lengths[:, None].to(features.dtype)


class DropPath(nn.Module):
    """Stochastic depth: in training, zero the residual branch of a random subset of the
    entries along dim 0 (probability p) and scale the others by 1/(1-p), as timm's DropPath.

    With `groups`, a (len(x),) tensor of group indices in 0..num_groups-1, the entries of a group
    are dropped together (one draw per group): the rows of one packed clip."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(
        self, x: torch.Tensor, groups: torch.Tensor | None = None, num_groups: int = 0
    ) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty(x.shape[0] if groups is None else num_groups).bernoulli_(keep)
        if groups is not None:
            mask = mask[groups]
        return x * mask.view(-1, *(1,) * (x.dim() - 1)) / keep


class Attention(nn.Module):
    """Multi-head self-attention over a sequence (N, L, E), with an optional key mask (N, L).

    The fast path calls `F.scaled_dot_product_attention`; with `return_attention=True` it uses
    an explicit softmax with the authors' masking (masked keys get score -1e9, method §3)
    and also returns the weights (N, H, L, L). Both give the same output. `forward_packed`
    attends over packed rows through a `glt.varlen` core instead.
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool, attn_dropout: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_dropout = attn_dropout
        self.proj = nn.Linear(dim, dim)
        self.proj_dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None = None, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q, k, v = rearrange(self.qkv(x), "n l (three h e) -> three n h l e", three=3, h=self.heads)
        mask = None if key_mask is None else rearrange(key_mask, "n l -> n 1 1 l")
        attn_dropout = self.attn_dropout if self.training else 0.0
        if return_attention:
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (N, H, L, L)
            if mask is not None:
                scores = scores.masked_fill(~mask, -1e9)
            attn = scores.softmax(dim=-1)
            out = F.dropout(attn, attn_dropout, self.training) @ v
        else:
            attn = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=attn_dropout)
        out = rearrange(out, "n h l e -> n l (h e)")
        return self.proj_dropout(self.proj(out)), attn

    def forward_packed(self, x: torch.Tensor, core) -> torch.Tensor:
        """x (N, E), the rows of packed clips; core from `glt.varlen.temporal_attention`,
        which keeps each clip's rows to themselves -> (N, E)."""
        qkv = rearrange(self.qkv(x), "n (three h e) -> n three h e", three=3, h=self.heads)
        out = core(qkv, self.attn_dropout if self.training else 0.0)  # (N, H, E)
        return self.proj_dropout(self.proj(rearrange(out, "n h e -> n (h e)")))


class FeedForward(nn.Module):
    """Linear(W, hidden), GELU, Dropout, Linear(hidden, W), Dropout (method §3)."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class PaddedFrames:
    """The rows (B*T, ...) of a padded batch, pad frames included: row b*T + t is frame t of
    clip b. The temporal attention sees each clip's T frames, pad keys masked (method §3)."""

    def __init__(self, batch: int, frames: int, key_mask: torch.Tensor | None):
        self.batch, self.frames, self.key_mask = batch, frames, key_mask

    def add_positions(self, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """x (B*T, ...) + table[t] (table (>= T, ...)) for the frame t of every row."""
        by_clip = x.view(self.batch, self.frames, *x.shape[1:])
        return (by_clip + table[: self.frames]).view_as(x)

    def attend(self, attention: Attention, x: torch.Tensor, record: bool):
        """Temporal attention of x (B*T, W) -> (B*T, W), weights (B, H, T, T) or None."""
        out, weights = attention(x.view(self.batch, self.frames, -1), self.key_mask, record)
        return out.view_as(x), weights

    def drop_clips(self, drop_path: DropPath, h: torch.Tensor) -> torch.Tensor:
        """DropPath of whole clips on h (B*T, W)."""
        return drop_path(h.view(self.batch, self.frames, -1)).view_as(h)


class PackedFrames:
    """The rows (N, ...) of a `PackedClips`: only real frames. The temporal attention runs per
    clip through `glt.varlen` (`mechanism`, built once and shared by every block)."""

    def __init__(self, packed: PackedClips, mechanism: str = "auto"):
        self.packed = packed
        self.core = temporal_attention(packed, mechanism)

    def add_positions(self, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """x (N, ...) + table[position of the row's frame in its own clip]."""
        # index_select, not table[positions]: the backward of advanced indexing adds into the
        # table with atomics on several CPU threads, in a different order every run
        return x + table.index_select(0, self.packed.positions)

    def attend(self, attention: Attention, x: torch.Tensor, record: bool):
        if record:
            raise GLTError("attention maps are recorded on the padded path: use forward()")
        return attention.forward_packed(x, self.core), None

    def drop_clips(self, drop_path: DropPath, h: torch.Tensor) -> torch.Tensor:
        """DropPath of whole clips on h (N, W): one draw per clip, broadcast to its rows."""
        return drop_path(h, self.packed.clips, self.packed.num_clips)


Frames = PaddedFrames | PackedFrames


class Block(nn.Module):
    """One GL-Transformer block: spatial MHA, temporal MHA, feed-forward (method §3)."""

    def __init__(self, config: GLTConfig, drop_path: float):
        super().__init__()
        c = config
        self.num_tokens = c.num_tokens
        self.learned = c.pos_emb == "learned"
        if self.learned:
            # P_b (T, J, D), zero-initialised, one per block.
            self.pos_emb = nn.Parameter(torch.zeros(c.num_frames, c.num_tokens, c.dim))
        else:
            self.register_buffer("pe_sp", sinusoidal_table(c.num_tokens, c.dim), persistent=False)
            self.register_buffer("pe_tm", sinusoidal_table(c.num_frames, c.width), persistent=False)
        self.norm_sp = nn.LayerNorm(c.dim)
        self.attn_sp = Attention(c.dim, c.heads, c.qkv_bias, c.attn_dropout, c.dropout)
        self.norm_tm = nn.LayerNorm(c.width)
        self.attn_tm = Attention(c.width, c.heads, c.qkv_bias, c.attn_dropout, c.dropout)
        self.norm_ff = nn.LayerNorm(c.width)
        self.ff = FeedForward(c.width, int(c.width * c.ff_expand), c.dropout)
        self.drop_path = DropPath(drop_path)

    def positions(self, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What is added before the spatial attention ((T, J, D) or (J, D)) and before the
        temporal attention ((T, W)) for a clip of `num_frames` frames."""
        if self.learned:
            pos = self.pos_emb[:num_frames]
            return pos, rearrange(pos, "t j d -> t (j d)")  # quirk: the same P_b, twice
        return self.pe_sp, self.pe_tm[:num_frames]

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x (B, T, J, D), key_mask (B, T) or None -> x (B, T, J, D) [, spatial, temporal maps]."""
        b, t = x.shape[:2]
        rows = rearrange(x, "b t j d -> (b t) j d")
        rows, attn_sp, attn_tm = self.run(rows, PaddedFrames(b, t, key_mask), return_attention)
        if attn_sp is not None:
            attn_sp = rearrange(attn_sp, "(b t) h q k -> b t h q k", b=b)
        return rearrange(rows, "(b t) j d -> b t j d", b=b), attn_sp, attn_tm

    def forward_packed(self, x: torch.Tensor, frames: PackedFrames) -> torch.Tensor:
        """x (N, J, D), the rows of packed clips -> (N, J, D)."""
        return self.run(x, frames)[0]

    def run(self, x: torch.Tensor, frames: Frames, record: bool = False):
        """The block on rows x (R, J, D) placed by `frames` -> x (R, J, D), spatial maps
        (R, H, J, J) and temporal maps (B, H, T, T) when `record` (padded frames only)."""
        if self.learned:
            xs = frames.add_positions(x, self.pos_emb)
            pos_tm = rearrange(self.pos_emb, "t j d -> t (j d)")  # quirk: the same P_b, twice
        else:
            xs, pos_tm = x + self.pe_sp, self.pe_tm
        h, attn_sp = self.attn_sp(self.norm_sp(xs), None, record)
        xs = xs + self.drop_path(h)  # quirk: drops whole frames

        xt = frames.add_positions(rearrange(xs, "r j d -> r (j d)"), pos_tm)
        h, attn_tm = frames.attend(self.attn_tm, self.norm_tm(xt), record)
        xt = xt + frames.drop_clips(self.drop_path, h)
        xt = xt + frames.drop_clips(self.drop_path, self.ff(self.norm_ff(xt)))
        return rearrange(xt, "r (j d) -> r j d", j=self.num_tokens), attn_sp, attn_tm


class GLTransformer(nn.Module):
    """The GL-Transformer encoder (method §3): skeleton clips -> per-frame features (B, T, W).

    Embedding (`embed_global` for the global-translation tokens, `embed` for the others), dropout,
    `depth` blocks, LayerNorm(W), then an MLP Linear-GELU-LayerNorm-Linear-GELU-LayerNorm.
    """

    def __init__(self, config: GLTConfig):
        super().__init__()
        c = self.config = config
        self.embed = nn.Linear(c.in_channels, c.dim)
        self.embed_global = nn.Linear(c.in_channels, c.dim)
        is_global = torch.zeros(c.num_tokens, dtype=torch.bool)
        is_global[list(c.global_tokens)] = True
        self.register_buffer("is_global", is_global, persistent=False)
        self.dropout = nn.Dropout(c.dropout)
        rates = torch.linspace(0, c.drop_path, c.depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(Block(c, rate) for rate in rates)
        self.norm = nn.LayerNorm(c.width)
        self.mlp = nn.Sequential(
            nn.Linear(c.width, c.width),
            nn.GELU(),
            nn.LayerNorm(c.width),
            nn.Linear(c.width, c.width),
            nn.GELU(),
            nn.LayerNorm(c.width),
        )

    def frame_tokens(self, x: torch.Tensor, leading: str = "B, T") -> torch.Tensor:
        """Bring frames to tokens: x (*lead, M, V, C) or (*lead, J, C) -> (*lead, J, C), where
        `leading` names the leading dims ("B, T" for a padded batch, "N" for packed rows).
        Checks the frame's shape and that every value is finite; raises DataError."""
        c = self.config
        lead = leading.count(",") + 1
        if x.dim() == lead + 3:
            if tuple(x.shape[lead : lead + 2]) != (c.num_persons, c.num_joints):
                raise DataError(
                    f"expected clips of shape ({leading}, M={c.num_persons}, V={c.num_joints}, "
                    f"C), got {tuple(x.shape)}"
                )
            x = rearrange(x, "... m v c -> ... (v m) c")
        elif x.dim() != lead + 2 or x.shape[lead] != c.num_tokens:
            raise DataError(
                f"expected clips ({leading}, M={c.num_persons}, V={c.num_joints}, C) or tokens "
                f"({leading}, J={c.num_tokens}, C), got shape {tuple(x.shape)}"
            )
        if x.shape[-1] != c.in_channels:
            raise DataError(f"expected {c.in_channels} coordinates per joint, got {x.shape[-1]}")
        if x.numel() == 0:
            raise DataError(f"empty batch: shape {tuple(x.shape)}")
        return x

    def tokens(self, x: torch.Tensor, lengths=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Check a batch and bring it to tokens: x (B, T, M, V, C) or (B, T, J, C) ->
        (B, T, J, C), lengths (B,) int64 on x's device (or None). Raises DataError."""
        c = self.config
        x = self.frame_tokens(x)
        b, t = x.shape[:2]
        if t > c.num_frames:
            raise DataError(f"clips have {t} frames; this model accepts at most {c.num_frames}")
        bad = ~torch.isfinite(x).flatten(1).all(dim=1)
        if bad.any():
            raise DataError(
                f"NaN or inf in clip(s) {bad.nonzero().flatten().tolist()} of the batch"
            )
        if lengths is None:
            return x, None
        lengths = torch.as_tensor(lengths, device=x.device)
        if lengths.shape != (b,) or lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise DataError(
                f"lengths must be integers of shape ({b},), got {lengths.dtype} {tuple(lengths.shape)}"
            )
        if (lengths < 1).any() or (lengths > t).any():
            raise DataError(
                f"lengths must lie in 1..{t} (the batch's frames), got {lengths.tolist()}"
            )
        return x, lengths.long()

    def packed_tokens(self, packed: PackedClips) -> torch.Tensor:
        """Check packed clips and bring their values to tokens (N, J, C). Raises DataError."""
        x = self.frame_tokens(packed.values, leading="N")
        if packed.max_length > self.config.num_frames:
            raise DataError(
                f"a clip has {packed.max_length} frames; this model accepts at most "
                f"{self.config.num_frames}"
            )
        bad = ~torch.isfinite(x).flatten(1).all(dim=1)
        if bad.any():
            clips = packed.clips[bad].unique().tolist()
            raise DataError(f"NaN or inf in clip(s) {clips} of the batch")
        return x

    def embed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (..., J, C) -> embeddings (..., J, D), after dropout."""
        x = torch.where(self.is_global[:, None], self.embed_global(x), self.embed(x))
        return self.dropout(x)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks' output (..., J, D) -> features (..., W): LayerNorm(W) and the MLP."""
        return self.mlp(self.norm(rearrange(x, "... j d -> ... (j d)")))

    def forward(self, x: torch.Tensor, lengths=None, return_attention: bool = False):
        """x (B, T, M, V, C) or (B, T, J, C), lengths (B,) or None (all frames valid) ->
        features (B, T, W) [, AttentionMaps]. T may be anything up to config.num_frames."""
        x, lengths = self.tokens(x, lengths)
        key_mask = None if lengths is None else frame_mask(lengths, x.shape[1])

        x = self.embed_tokens(x)  # (B, T, J, D)
        maps = AttentionMaps(spatial=[], temporal=[])
        for block in self.blocks:
            x, attn_sp, attn_tm = block(x, key_mask, return_attention)
            if return_attention:
                maps.spatial.append(attn_sp)
                maps.temporal.append(attn_tm)
        x = self.head(x)
        return (x, maps) if return_attention else x

    def forward_packed(self, packed: PackedClips, attention: str = "auto") -> torch.Tensor:
        """Packed clips (values (N, M, V, C) or (N, J, C)) -> features (N, W) of their real
        frames only; equal to `forward` on the valid frames. `attention` chooses the temporal
        attention mechanism (`glt.varlen.MECHANISMS`, or "auto")."""
        x = self.embed_tokens(self.packed_tokens(packed))  # (N, J, D)
        frames = PackedFrames(packed, attention)
        for block in self.blocks:
            x = block.forward_packed(x, frames)
        return self.head(x)


class GLTClassifier(nn.Module):
    """Encoder + one Linear on the features averaged over valid frames (method §5): the
    model of the authors' linear evaluation (`ActionRecognition`), also used for fine-tuning."""

    def __init__(self, config: GLTConfig, num_classes: int, encoder: GLTransformer | None = None):
        """`encoder`: an encoder of this config to wrap (shared, not copied); default: a new one."""
        super().__init__()
        self.encoder = GLTransformer(config) if encoder is None else encoder
        self.classifier = nn.Linear(config.width, num_classes)

    def forward(
        self, x: torch.Tensor | PackedClips, lengths=None, attention: str = "auto"
    ) -> torch.Tensor:
        """x as for GLTransformer -> logits (B, classes); or packed clips -> `forward_packed`
        (through `forward`, so that wrappers such as DDP see the call)."""
        if isinstance(x, PackedClips):
            return self.forward_packed(x, attention)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device)
        return self.classifier(pool_valid(self.encoder(x, lengths), lengths))

    def forward_packed(self, packed: PackedClips, attention: str = "auto") -> torch.Tensor:
        """Packed clips -> logits (B, classes), pooled over each clip's frames."""
        features = self.encoder.forward_packed(packed, attention)
        return self.classifier(segment_mean(features, packed))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers excluded) of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def forward_flops(config: GLTConfig, num_frames: int | None = None) -> int:
    """Matmul FLOPs (2 per multiply-add) of one clip's encoder forward, counted analytically.

    Every frame of the `num_frames` (default config.num_frames, i.e. a padded clip) is computed,
    as in the model. Element-wise work (norms, softmax, GELU) is left out; a training step costs
    about 3x the forward. `glt.mpdp.pretrain_flops` adds the MPDP heads.
    """
    c = config
    t = c.num_frames if num_frames is None else num_frames
    j, d, w = c.num_tokens, c.dim, c.width
    hidden = int(w * c.ff_expand)
    embed = 2 * (2 * t * j * c.in_channels * d)  # both embeddings run on every token
    spatial = 2 * t * j * d * 3 * d + 2 * (2 * t * j * j * d) + 2 * t * j * d * d
    temporal = 2 * t * w * 3 * w + 2 * (2 * t * t * w) + 2 * t * w * w
    feedforward = 2 * (2 * t * w * hidden)
    mlp = 2 * (2 * t * w * w)
    return embed + c.depth * (spatial + temporal + feedforward) + mlp
