"""Stopping a pretraining run whose loss or gradient is no longer a finite number.

The trainer hands the statistics of every step (the loss, its terms, the gradient norm) to a
`DivergenceGuard` without waiting for the device; `check`, called where the loop waits anyway
(at a logged step, and at the end of an epoch before the checkpoint is written), raises a
GLTError naming the first step whose statistics were not finite and which ones. The weights of a
diverged step are never saved: the run's last checkpoint stays the last good one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from glt.errors import GLTError


class DivergenceGuard:
    """Remembers, on the device, the first step whose statistics are not all finite.

    names: what each entry of the statistics vector is (e.g. loss, dir_joint, ..., grad_norm).
    kept: what the user still has when the run stops, for the message.
    """

    def __init__(self, names: Sequence[str], kept: str):
        self.names, self.kept = tuple(names), kept
        self.bad_step: torch.Tensor | None = None  # () int64, -1 while every step was finite
        self.bad_stats: torch.Tensor | None = None  # the statistics of that step

    def update(self, stats: torch.Tensor, step: int) -> None:
        """Record `stats` of optimiser step `step` (1-based); no host synchronisation."""
        if self.bad_step is None:
            self.bad_step = torch.full((), -1, dtype=torch.int64, device=stats.device)
            self.bad_stats = torch.zeros_like(stats)
        first = ~torch.isfinite(stats).all() & (self.bad_step < 0)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_stats = torch.where(first, stats, self.bad_stats)

    def check(self) -> None:
        """Raise GLTError if a step so far had a non-finite statistic."""
        if self.bad_step is None or int(self.bad_step) < 0:
            return
        values = dict(zip(self.names, self.bad_stats.tolist(), strict=True))
        bad = ", ".join(f"{name}={value}" for name, value in values.items()
                        if not math.isfinite(value))  # fmt: skip
        raise GLTError(
            f"training diverged at step {int(self.bad_step)}: {bad} (not finite); stopped "
            f"without saving, {self.kept}. Lower --lr, or set --clip-grad, and resume"
        )
