"""Multi-interval pose displacement prediction (MPDP), the pretraining task (method §4).

For each interval r, two linear heads read the encoder's per-frame features (B, T, W) and
predict, for every token, the class of the displacement x[t - r] - x[t]: its direction (27
classes, the sign of each coordinate) and its magnitude (16 classes). The targets come from
`glt.targets.displacement_targets`; the loss is a cross-entropy over the valid frames.

Shape letters as in `glt.model`; here logits are (B, T, R, J, K) with K = 27 or 16 and
targets (B, T, R, J). `glt.compat` converts both to and from the authors' (N, K, T, R*J).
Packed batches (`glt.packing`) give the same per frame on rows: features (N, W), logits
(N, R, J, K), targets (N, R, J) from `glt.targets.displacement_targets_packed`, and a loss
without a mask (every row is a real frame).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from glt.errors import DataError
from glt.model import GLTConfig, GLTransformer, forward_flops, frame_mask
from glt.packing import PackedClips
from glt.targets import NUM_DIRECTIONS, NUM_MAGNITUDES

LOSS_TERMS = ("dir_global", "dir_joint", "mag_global", "mag_joint")  # of `mpdp_loss_terms`


class MPDPHeads(nn.Module):
    """Per interval, Linear(W, J*27) for the direction and Linear(W, J*16) for the magnitude
    (the authors' DirPred / MagPred, method §4)."""

    def __init__(self, config: GLTConfig):
        super().__init__()
        c = config
        self.num_tokens = c.num_tokens
        self.dir = nn.ModuleList(
            nn.Linear(c.width, c.num_tokens * NUM_DIRECTIONS) for _ in c.intervals
        )
        self.mag = nn.ModuleList(
            nn.Linear(c.width, c.num_tokens * NUM_MAGNITUDES) for _ in c.intervals
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (..., W), e.g. (B, T, W) or packed (N, W) -> dir logits (..., R, J, 27),
        mag logits (..., R, J, 16)."""

        def predict(linears: nn.ModuleList) -> torch.Tensor:
            out = torch.stack([linear(features) for linear in linears], dim=-2)  # (..., R, J*K)
            return rearrange(out, "... r (j k) -> ... r j k", j=self.num_tokens)

        return predict(self.dir), predict(self.mag)


class PretrainModel(nn.Module):
    """Encoder + MPDP heads: the authors' `Pretrain` module (state dicts convert with
    `glt.compat`)."""

    def __init__(self, config: GLTConfig):
        super().__init__()
        self.config = config
        self.encoder = GLTransformer(config)
        self.heads = MPDPHeads(config)

    def forward(
        self, x: torch.Tensor | PackedClips, lengths=None, attention: str = "auto"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, M, V, C) or (B, T, J, C), lengths (B,) -> dir (B, T, R, J, 27),
        mag (B, T, R, J, 16) logits; or packed clips -> `forward_packed` (through `forward`,
        so that wrappers such as DDP see the call)."""
        if isinstance(x, PackedClips):
            return self.forward_packed(x, attention)
        return self.heads(self.encoder(x, lengths))

    def forward_packed(
        self, packed: PackedClips, attention: str = "auto"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Packed clips -> dir (N, R, J, 27), mag (N, R, J, 16) logits of their real frames."""
        return self.heads(self.encoder.forward_packed(packed, attention))


def global_token_mask(config: GLTConfig, authors_weighting: bool = True) -> torch.Tensor:
    """(R, J) bool: the (interval, token) pairs whose loss is weighted by lambda_global.

    The global-translation tokens of every interval; with `authors_weighting` (quirk,
    method §4) only those of the first interval, as the authors' code indexes them.
    """
    mask = torch.zeros(config.num_intervals, config.num_tokens, dtype=torch.bool)
    intervals = slice(0, 1) if authors_weighting else slice(None)
    mask[intervals, list(config.global_tokens)] = True
    return mask


def mpdp_loss_terms(
    dir_logits: torch.Tensor,
    mag_logits: torch.Tensor,
    dir_target: torch.Tensor,
    mag_target: torch.Tensor,
    lengths: torch.Tensor | None,
    config: GLTConfig,
    authors_weighting: bool = True,
) -> dict[str, torch.Tensor]:
    """The four mean cross-entropies of the MPDP loss over the valid frames (method §4).

    Logits (B, T, R, J, K) and targets (B, T, R, J) with lengths (B,): pad frames are left out
    whatever their logits and targets hold. Or packed rows, logits (N, R, J, K) and targets
    (N, R, J) with lengths None: every row is a real frame.

    Returns dict(dir_global, dir_joint, mag_global, mag_joint): each the mean over all valid
    frames and over the (interval, token) pairs of its group (`global_token_mask`).
    """
    frames = dir_logits.shape[:2] if lengths is not None else dir_logits.shape[:1]
    expected = tuple(frames) + (config.num_intervals, config.num_tokens)
    for name, tensor, k in (
        ("dir_logits", dir_logits, NUM_DIRECTIONS),
        ("mag_logits", mag_logits, NUM_MAGNITUDES),
        ("dir_target", dir_target, None),
        ("mag_target", mag_target, None),
    ):
        shape = expected + ((k,) if k else ())
        if tuple(tensor.shape) != shape:
            raise DataError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    if lengths is not None:  # keep the valid frames as rows (frames, R, J, ...)
        lengths = torch.as_tensor(lengths, device=dir_logits.device)
        valid = frame_mask(lengths, dir_logits.shape[1])  # (B, T)
        dir_logits, mag_logits = dir_logits[valid], mag_logits[valid]
        dir_target, mag_target = dir_target[valid], mag_target[valid]
    is_global = global_token_mask(config, authors_weighting).to(dir_logits.device)  # (R, J)

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # classes last, as the heads give them: no copy of the largest tensor of the step
        k = logits.shape[-1]
        ce = F.cross_entropy(logits.reshape(-1, k), target.reshape(-1), reduction="none")
        ce = ce.view(target.shape)  # (frames, R, J)
        return ce[:, is_global].mean(), ce[:, ~is_global].mean()

    dir_global, dir_joint = cross_entropy(dir_logits, dir_target)
    mag_global, mag_joint = cross_entropy(mag_logits, mag_target)
    return dict(
        dir_global=dir_global, dir_joint=dir_joint, mag_global=mag_global, mag_joint=mag_joint
    )


def mpdp_loss(
    dir_logits: torch.Tensor,
    mag_logits: torch.Tensor,
    dir_target: torch.Tensor,
    mag_target: torch.Tensor,
    lengths: torch.Tensor | None,
    config: GLTConfig,
    lambda_global: float = 0.05,
    lambda_mag: float = 1.0,
    authors_weighting: bool = True,
) -> torch.Tensor:
    """The MPDP pretraining loss (method §4), a scalar:

        (lambda_global * CE_dir_global + CE_dir_joint)
        + lambda_mag * (lambda_global * CE_mag_global + CE_mag_joint),

    each CE the mean over the valid frames and the tokens of its group (`mpdp_loss_terms`;
    lengths None for packed rows).
    By default the global group is the global tokens of the first interval only, as in the
    authors' code (quirk); `authors_weighting=False` weights those of every interval.
    """
    terms = mpdp_loss_terms(
        dir_logits, mag_logits, dir_target, mag_target, lengths, config, authors_weighting
    )
    return combine_terms(terms, lambda_global, lambda_mag)


def combine_terms(
    terms: dict[str, torch.Tensor], lambda_global: float = 0.05, lambda_mag: float = 1.0
) -> torch.Tensor:
    """The weighted sum of `mpdp_loss_terms` that makes the MPDP loss (method §4)."""
    direction = lambda_global * terms["dir_global"] + terms["dir_joint"]
    magnitude = lambda_global * terms["mag_global"] + terms["mag_joint"]
    return direction + lambda_mag * magnitude


def pretrain_flops(config: GLTConfig, num_frames: int | None = None) -> int:
    """Matmul FLOPs of one clip's `PretrainModel` forward: `glt.model.forward_flops` plus the
    heads (method §3 quotes about 130 GFLOP for the paper size on a padded 300-frame clip)."""
    t = config.num_frames if num_frames is None else num_frames
    classes = NUM_DIRECTIONS + NUM_MAGNITUDES
    heads = config.num_intervals * 2 * t * config.width * config.num_tokens * classes
    return forward_flops(config, t) + heads
