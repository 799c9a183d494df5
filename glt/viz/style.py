"""What every figure shares: the colormap, person colours, tiled grids, thinned ticks, and
arrays from tensors."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from glt.layout import SkeletonLayout

CMAP = "viridis"
MISSING_COLOR = "0.85"  # NaN entries (undefined averages) are drawn light grey
PERSON_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def as_array(x) -> np.ndarray:
    """A float numpy copy of an array-like or a (possibly GPU, possibly grad) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def colormap():
    """The fixed colormap, with undefined (NaN) entries drawn in MISSING_COLOR."""
    return plt.get_cmap(CMAP).with_extremes(bad=MISSING_COLOR)


def tile_grid(rows: int, cols: int, tile: float, extra_width: float = 0.8):
    """A figure with rows x cols square-ish tiles; axes always returned as a 2-D array."""
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cols * tile + extra_width, rows * tile),
        squeeze=False,
        layout="constrained",
    )
    return fig, axes


def thin_ticks(ax, labels: Sequence[str] | None, n: int, axis: str, max_ticks: int = 12):
    """Put at most `max_ticks` ticks on an axis of `n` cells, named by `labels` if given."""
    step = max(1, int(np.ceil(n / max_ticks)))
    ticks = np.arange(0, n, step)
    names = [str(labels[i]) if labels is not None else str(i) for i in ticks]
    if axis == "x":
        ax.set_xticks(ticks, names, rotation=90 if labels is not None else 0, fontsize=6)
    else:
        ax.set_yticks(ticks, names, fontsize=6)


def token_names(layout: SkeletonLayout, max_chars: int = 16) -> list[str]:
    """Names of the model's tokens in order (token = joint * persons + person), for axis labels:
    the joint name, shortened to `max_chars`, plus " p1", " p2" ... when there are several persons."""
    names = []
    for joint in layout.joint_names:
        short = joint if len(joint) <= max_chars else joint[: max_chars - 1].rstrip() + "."
        for m in range(layout.num_persons):
            names.append(f"{short} p{m + 1}" if layout.num_persons > 1 else short)
    return names


def present_persons(clip: np.ndarray) -> list[int]:
    """Persons with any non-zero coordinate in a (T, M, V, 3) clip."""
    return [m for m in range(clip.shape[1]) if np.any(clip[:, m] != 0)]
