"""Where this process runs: one device, or one rank of a `torchrun` job (DistributedDataParallel).

The same command line serves one CPU, one GPU, several GPUs and several nodes. `torchrun`
(PyTorch's launcher) starts one process per device and sets RANK, WORLD_SIZE and LOCAL_RANK;
`setup()` reads them and joins the process group (nccl on CUDA, gloo on CPU). Without them the
process is a world of one and no process group is made.

    torchrun --nproc-per-node 4 -m glt pretrain --data DIR --out RUN_DIR
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from glt.device import resolve_device


@dataclass(frozen=True)
class Context:
    """This process's place in the job: its rank, the number of ranks, and its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files, draws progress bars and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str | None = None) -> Context:
    """Join the `torchrun` job this process belongs to, if any, and pick its device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if resolved.type == "cuda" else "gloo",
            device_id=resolved if resolved.type == "cuda" else None,
        )
    return Context(rank=rank, local_rank=local_rank, world_size=world_size, device=resolved)


def teardown(together: bool = True) -> None:
    """Leave the process group, if this process joined one.

    Objects that hold the group (a DistributedDataParallel's reducer, often in a reference
    cycle) are freed first: left to the interpreter's exit, gloo sometimes aborts the process
    there ("terminate called without an active exception") after all its work is done.
    together: first wait until every rank is leaving; False after an error, when the other
    ranks may never come.
    """
    if dist.is_initialized():
        gc.collect()
        if together:
            dist.barrier()
        dist.destroy_process_group()


def world_size() -> int:
    """The number of ranks in the job this process joined (1 without one)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over all ranks (in place; a no-op in a world of one)."""
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather(obj) -> list:
    """`obj` from every rank, as a list indexed by rank (any picklable object)."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait until every rank gets here."""
    if dist.is_initialized():
        dist.barrier()
