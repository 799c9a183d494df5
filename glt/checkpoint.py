"""Training checkpoints: written atomically, loadable with `torch.load(weights_only=True)`.

A training checkpoint is a plain dict of tensors and Python primitives:

    model       the model's state dict (unwrapped from DDP and torch.compile)
    optimizer   the optimiser's state dict
    rng         one entry per rank: torch CPU, CUDA, numpy and python random generator states
    epoch       the epoch to run next; batch: batches of it already done (0 at an epoch's end)
    step        optimiser steps taken so far
    config      the run's configuration as a JSON-like dict

An encoder checkpoint keeps only what reading the encoder needs (no optimiser, no pretraining
heads, no generator states: it cannot be resumed), as the encoder glt ships (`glt.shipped`):

    encoder     the encoder's state dict
    epoch, step as above

Files are written with `glt.atomic.atomic_write` (a temporary file renamed over the target), so
a run killed while saving leaves the previous checkpoint intact and no partial file.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from glt.atomic import atomic_write
from glt.errors import GLTError


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


def rng_state() -> dict:
    """This process's random generator states (torch CPU and current CUDA device, numpy, python)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": torch.tensor(internal), "gauss": py_gauss},
    }


def set_rng_state(state: dict) -> None:
    """Restore generator states saved by `rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss"]))


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: list[dict],
    epoch: int,
    batch: int,
    step: int,
    config: dict,
) -> Path:
    """Write a checkpoint atomically (see the module docstring for the keys)."""
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng,
        "epoch": int(epoch),
        "batch": int(batch),
        "step": int(step),
        "config": config,
    }
    with atomic_write(path) as f:
        torch.save(state, f)
    return Path(path)


_KEYS = ("model", "optimizer", "rng", "epoch", "batch", "step", "config")
_ENCODER_KEYS = ("encoder", "epoch", "step")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint` (tensors and primitives only)."""
    return _load_with_keys(Path(path), _KEYS, "checkpoint", map_location)


def save_encoder_checkpoint(
    path: str | os.PathLike, *, encoder: dict, epoch: int, step: int
) -> Path:
    """Write an encoder checkpoint atomically: the encoder's state dict `encoder`, the epoch
    to run next and the steps taken when it was saved."""
    with atomic_write(path) as f:
        torch.save({"encoder": encoder, "epoch": int(epoch), "step": int(step)}, f)
    return Path(path)


def load_encoder_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict:
    """Read an encoder checkpoint written by `save_encoder_checkpoint`."""
    return _load_with_keys(Path(path), _ENCODER_KEYS, "encoder checkpoint", map_location)


def _load_with_keys(
    path: Path, keys: tuple[str, ...], what: str, map_location: str | torch.device
) -> dict:
    """A dict saved with `torch.save` that has every one of `keys` (a GLTError otherwise)."""
    if not path.is_file():
        raise GLTError(f"no {what} at {path}")
    state = load_plain(path, what, map_location)
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise GLTError(f"{path} is not a glt {what} (no {', '.join(missing)})")
    return state


def load_plain(path: Path, what: str, map_location: str | torch.device = "cpu"):
    """A file saved with `torch.save` holding only tensors and plain values, read with
    `weights_only=True`: nothing in it can run code. A damaged or foreign file is a GLTError
    naming it (instead of torch's own advice, which is to unpickle it anyway)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        reason = "it is not a file of tensors and plain values (glt never unpickles others)"
    except (RuntimeError, OSError, EOFError, ValueError):
        reason = "truncated, damaged or not a torch file"
    raise GLTError(f"{path} is not a readable {what}: {reason}")
