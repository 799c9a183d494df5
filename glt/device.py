"""Where the model runs: choosing the device, and bf16 autocast on CUDA.

Every command takes `--device` (cpu, cuda, cuda:1 ...); without it a GPU is used when there is
one. Under `torchrun` each rank takes the GPU of its local rank (`glt.distributed`).
"""

from __future__ import annotations

import contextlib

import torch

from glt.errors import GLTError


def resolve_device(device: str | torch.device | None = None, local_rank: int = 0) -> torch.device:
    """`device` as a torch.device; None or "auto" means this rank's GPU if there is one, else the
    CPU. "cuda" without an index is this rank's GPU; asking for CUDA without one is an error."""
    if device is None or device == "auto":
        return (
            torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        )
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise GLTError(f"--device {device}: not a device; e.g. cpu, cuda or cuda:1") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise GLTError(f"--device {device}: CUDA is not available on this machine")
        if resolved.index is None:
            resolved = torch.device("cuda", local_rank)
        if resolved.index >= torch.cuda.device_count():
            raise GLTError(
                f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    return resolved


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (when `enabled`); nothing elsewhere: the CPU always runs float32."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
