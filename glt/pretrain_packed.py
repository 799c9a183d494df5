"""One MPDP pretraining step on a packed batch: only the real frames are computed (method §4).

The same step as `glt.pretrain.train_step` (same targets, loss, optimiser, DDP weighting) on a
`glt.data.dataset.collate_packed` batch: the clips' frames concatenated, with no padding
(`glt.packing`). Targets come from `displacement_targets_packed`, logits from
`PretrainModel` on the packed clips (N, R, J, K), and the loss from `mpdp_loss_terms` on rows,
with no mask. `optimizer_step` is the part both steps share once the loss is known. The
trainer (`glt.pretrain`) takes this step unless asked for padded batches.
"""

from __future__ import annotations

import torch

from glt import distributed
from glt.device import autocast
from glt.mpdp import combine_terms, mpdp_loss_terms
from glt.targets import displacement_targets_packed


def packed_train_step(
    model: torch.nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    config,
    device: torch.device,
    attention: str = "auto",
) -> torch.Tensor:
    """One optimiser step on a batch from `collate_packed`.

    model: a `PretrainModel` (or a DDP wrapper of one); config: a `glt.pretrain.PretrainConfig`;
    attention: the temporal attention mechanism (`glt.varlen`). Returns the detached statistics
    (loss, dir_global, dir_joint, mag_global, mag_joint, grad_norm) as `train_step` does.
    """
    packed = batch["x"].to(device, non_blocking=True)  # values (N, M, V, C)
    present = batch["present"].to(device, non_blocking=True)  # (B, M)
    dir_target, mag_target = displacement_targets_packed(packed, present, config.model.intervals)

    with autocast(device, enabled=config.bf16):
        dir_logits, mag_logits = model(packed, attention=attention)  # (N, R, J, 27), (N, R, J, 16)
    terms = mpdp_loss_terms(
        dir_logits.float(), mag_logits.float(), dir_target, mag_target, None,
        config.model, config.authors_weighting,
    )  # fmt: skip
    loss = combine_terms(terms, config.lambda_global, config.lambda_mag)
    frames = torch.tensor(float(packed.num_frames), device=device)
    return optimizer_step(model, optimizer, loss, terms, frames, config.clip_grad)


def optimizer_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    terms: dict[str, torch.Tensor],
    frames: torch.Tensor,
    clip_grad: float = 0.0,
) -> torch.Tensor:
    """Backward, optional clipping and the optimiser step for a loss over `frames` valid frames.

    Under DDP each rank's loss is weighted by its share of the batch's frames, so that the
    averaged gradient is the whole batch's. Returns (loss, *terms, grad_norm) detached, the
    loss and terms weighted by that share (summed over the ranks they give the batch's values).
    """
    share = frames / distributed.all_reduce_sum(frames.clone())  # this rank's share of the batch
    world = distributed.world_size()

    optimizer.zero_grad(set_to_none=True)
    (loss * share * world).backward()  # DDP averages gradients over the ranks
    params = [p for p in model.parameters() if p.grad is not None]
    if clip_grad:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip_grad)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    optimizer.step()

    # terms in mpdp_loss_terms' order: dir_global, dir_joint, mag_global, mag_joint
    weighted = torch.stack([loss, *terms.values()]).detach() * share
    return torch.cat([weighted, grad_norm.detach().float().reshape(1) / world])
