"""Temporal attention over packed clips: each frame attends to the frames of its own clip only.

The packed path (`glt.packing`, `GLTransformer.forward_packed`) computes projections, norms and
feed-forward layers on the N real frames of a batch; only the attention core needs to know where
one clip ends. Each mechanism here is built once per batch from its `PackedClips` (what it needs,
e.g. a mask or an index, is then shared by every block, forward and backward) and called as
`core(qkv, dropout_p)` with qkv (N, 3, H, E) -> (N, H, E). All compute the same softmax attention
as the padded path's key-masked one (method §3) on each clip's valid frames.

    padded_qkv      scatter q, k, v into a (B, Lmax, H, E) buffer, one fused SDPA with a key
                    mask, gather the valid rows back: the projections stay packed, the waste is
                    bounded to the score matmuls of the batch's longest clip.
    per_clip        one SDPA per clip on its own rows: no waste, B small calls per block.
    nested          a nested jagged tensor (`torch.nested.nested_tensor_from_jagged`) through
                    SDPA: flash/efficient varlen kernels on CUDA; on the CPU it falls back to a
                    per-clip math kernel after splitting into a strided nested tensor.
    flex            FlexAttention with a document mask (same clip): compiled on CUDA; on the CPU
                    eager only without gradients (PyTorch has no CPU backward), no dropout.
    block_diagonal  one SDPA over all N rows with an (N, N) same-clip mask: N^2 scores.

The default (`AUTO`) was chosen by measurement (`benchmarks/packed_step.py`, a 2-core CPU shared
with other work). For a training step of D = 8, depth 2, 4 heads, batch 32 at NTU-like lengths
(mean 92 frames), in CPU-seconds a step: per_clip 2.65, padded_qkv 2.85, nested 2.93,
block_diagonal 5.31, against 5.71 for the padded batch and 10.17 for the authors' formulation.
`per_clip` came out ahead of `padded_qkv` in seven of eight such runs (by 0.3-8% of CPU time),
and level with it for the tiny preset and for 300-frame clips: the attention scores are a small
part of the step, the linear layers and MPDP heads (which work on the N rows whatever the
mechanism) are most of it.
`block_diagonal` pays for N^2 scores (4x slower than the others at 300 frames), `nested` for
splitting into a strided nested tensor on every call, and `flex` cannot train on the CPU. So the
CPU uses `per_clip`. CUDA uses `padded_qkv` until the others are measured there: one fused call
whatever the batch size (`per_clip` makes B small calls per block), the padded path's own kernel
(on this CPU its eval features equal the padded path's bit for bit on the authors' fixture), and
dropout and bf16 work. On CUDA, `nested` reaches the varlen flash kernel only for head dims <= 256
that are multiples of 8 (the paper's temporal head dim is 2400 / 8 = 300).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from glt.errors import GLTError
from glt.packing import PackedClips


class PaddedQKV:
    """Scatter q, k, v into a (B, Lmax) buffer, key-masked SDPA, gather the valid rows back."""

    def __init__(self, packed: PackedClips):
        self.batch, self.longest = packed.num_clips, packed.max_length
        self.rows = packed.clips * self.longest + packed.positions  # (N,) rows of the buffer
        frames = torch.arange(self.longest, device=packed.lengths.device)
        self.key_mask = rearrange(frames < packed.lengths[:, None], "b l -> b 1 1 l")

    def __call__(self, qkv: Tensor, dropout_p: float) -> Tensor:
        buffer = qkv.new_zeros(self.batch * self.longest, *qkv.shape[1:])
        buffer = buffer.index_copy(0, self.rows, qkv)
        q, k, v = rearrange(buffer, "(b l) three h e -> three b h l e", b=self.batch)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.key_mask, dropout_p=dropout_p)
        return rearrange(out, "b h l e -> (b l) h e").index_select(0, self.rows)


class PerClip:
    """One SDPA per clip, on its own rows."""

    def __init__(self, packed: PackedClips):
        self.bounds = packed.offsets.tolist()

    def __call__(self, qkv: Tensor, dropout_p: float) -> Tensor:
        qkv = rearrange(qkv, "n three h e -> three h n e")
        outs = [
            F.scaled_dot_product_attention(*qkv[:, :, start:end], dropout_p=dropout_p)
            for start, end in zip(self.bounds[:-1], self.bounds[1:], strict=True)
        ]  # each (H, L, E)
        return rearrange(torch.cat(outs, dim=1), "h n e -> n h e")


class Nested:
    """SDPA on nested jagged tensors (B, H, j, E)."""

    def __init__(self, packed: PackedClips):
        self.offsets, self.longest = packed.offsets, packed.max_length

    def __call__(self, qkv: Tensor, dropout_p: float) -> Tensor:
        q, k, v = (
            torch.nested.nested_tensor_from_jagged(
                t.contiguous(), self.offsets, max_seqlen=self.longest
            ).transpose(1, 2)  # (B, H, j, E)
            for t in qkv.unbind(1)
        )
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        return out.transpose(1, 2).values()


@functools.cache
def _compiled_flex_attention():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=True)


class Flex:
    """FlexAttention over all N rows with a same-clip (document) block mask."""

    def __init__(self, packed: PackedClips):
        from torch.nn.attention.flex_attention import create_block_mask

        clips, n = packed.clips, packed.num_frames

        def same_clip(b, h, q, k):
            return clips[q] == clips[k]

        self.block_mask = create_block_mask(same_clip, None, None, n, n, device=clips.device)

    def __call__(self, qkv: Tensor, dropout_p: float) -> Tensor:
        from torch.nn.attention.flex_attention import flex_attention

        if dropout_p:
            raise GLTError("temporal attention 'flex' has no attention dropout; set attn_dropout=0")
        if qkv.device.type == "cpu" and torch.is_grad_enabled() and qkv.requires_grad:
            raise GLTError("temporal attention 'flex' cannot train on the CPU (no CPU backward)")
        attend = flex_attention if qkv.device.type == "cpu" else _compiled_flex_attention()
        q, k, v = rearrange(qkv, "n three h e -> three 1 h n e")
        return rearrange(attend(q, k, v, block_mask=self.block_mask), "1 h n e -> n h e")


class BlockDiagonal:
    """One SDPA over all N rows with an (N, N) same-clip mask."""

    def __init__(self, packed: PackedClips):
        self.mask = packed.clips[:, None] == packed.clips[None, :]

    def __call__(self, qkv: Tensor, dropout_p: float) -> Tensor:
        q, k, v = rearrange(qkv, "n three h e -> three 1 h n e")
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask, dropout_p=dropout_p)
        return rearrange(out, "1 h n e -> n h e")


MECHANISMS = {
    "padded_qkv": PaddedQKV,
    "per_clip": PerClip,
    "nested": Nested,
    "flex": Flex,
    "block_diagonal": BlockDiagonal,
}

# The default per device type (see the module docstring for the measurements).
AUTO = {"cpu": "per_clip", "cuda": "padded_qkv"}


def temporal_attention(packed: PackedClips, mechanism: str = "auto"):
    """The attention core `core(qkv (N, 3, H, E), dropout_p) -> (N, H, E)` for `packed`;
    "auto" is `AUTO` for the device, or padded_qkv under torch.compile."""
    if mechanism == "auto" and torch.compiler.is_compiling():
        # per_clip slices at host offsets, which torch.compile fails to trace once the shapes
        # turn dynamic (measured on the CPU, torch 2.13); padded_qkv compiles
        mechanism = "padded_qkv"
    if mechanism == "auto":
        mechanism = AUTO.get(packed.values.device.type, "padded_qkv")
    if mechanism not in MECHANISMS:
        raise GLTError(
            f"unknown temporal attention {mechanism!r}; choose one of {sorted(MECHANISMS)} or auto"
        )
    return MECHANISMS[mechanism](packed)
