"""Figures of the data (notebooks 01 and 03): the preprocessing's translation and view
alignment, clip lengths, resampling, and the pretraining targets (method §2, §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from glt.layout import SkeletonLayout
from glt.viz.style import CMAP, as_array, present_persons


def global_translation(
    clip, layout: SkeletonLayout, length: int | None = None, *, title: str | None = None
) -> Figure:
    """The global translation (x, y, z) against the frame, one panel per present person.

    clip: (T, M, V, 3) with, in the centre joint's slot, the position since frame 0 (the
    preprocessing's step 2, method §2); only the first `length` frames are drawn.
    """
    x = as_array(clip)[:length]
    if x.ndim != 4 or x.shape[1:] != (layout.num_persons, layout.num_joints, 3):
        raise ValueError(f"clip must be (T, M, V, 3) for layout {layout.name!r}, got {x.shape}")
    persons = present_persons(x) or [0]
    fig, axes = plt.subplots(
        1, len(persons), figsize=(4.2 * len(persons), 3), squeeze=False, layout="constrained"
    )
    for ax, m in zip(axes[0], persons, strict=True):
        for k, axis in enumerate("xyz"):
            ax.plot(x[:, m, layout.center, k], label=axis)
        ax.set_title(f"person {m + 1}: global translation", fontsize=10)
        ax.set_xlabel("frame")
        ax.set_ylabel("metres since frame 0")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def shoulder_top_view(
    before,
    after,
    layout: SkeletonLayout,
    length: int | None = None,
    *,
    max_lines: int = 25,
    labels: tuple[str, str] = ("before alignment (camera view)", "after alignment"),
    title: str | None = None,
) -> Figure:
    """The shoulder line seen from above (x-z plane), before and after the view alignment.

    before, after: (T, M, V, 3) clips relative to the centre joint. One row per present person
    (of `before`), one column per clip; each segment goes from the left shoulder (dot) to the
    right shoulder at one frame (at most `max_lines` frames of the first `length`), coloured by
    the frame with one shared colour bar.
    """
    a, b = as_array(before)[:length], as_array(after)[:length]
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"before and after must be (T, M, V, 3) alike, got {a.shape}, {b.shape}")
    persons, n = present_persons(a) or [0], len(a)
    ls, rs = layout.left_shoulder, layout.right_shoulder
    fig, axes = plt.subplots(
        len(persons), 2, figsize=(8.5, 3.3 * len(persons)), sharex=True, sharey=True,
        squeeze=False, layout="constrained",
    )  # fmt: skip
    norm = plt.Normalize(0, max(1, n - 1))
    cmap = plt.get_cmap(CMAP)
    for row, m in enumerate(persons):
        for ax, data, label in zip(axes[row], (a, b), labels, strict=True):
            for k in range(0, n, max(1, n // max_lines)):
                colour = cmap(norm(k))
                ax.plot(data[k, m, [ls, rs], 0], data[k, m, [ls, rs], 2], color=colour, lw=1.5)
                ax.plot(data[k, m, ls, 0], data[k, m, ls, 2], "o", color=colour, ms=3)
            ax.set_title(f"person {m + 1}, {label}", fontsize=10)
            ax.set_xlabel("x (m)")
            ax.set_ylabel("z (m, depth)")
            ax.set_aspect("equal")
            ax.grid(alpha=0.3)
    fig.colorbar(plt.cm.ScalarMappable(norm, cmap), ax=axes, label="frame", shrink=0.7)
    if title:
        fig.suptitle(title)
    return fig


def length_histogram(lengths, title: str | None = None, *, bins: int = 30) -> Figure:
    """A histogram of clip lengths in frames, with the mean as a dashed line."""
    n = as_array(lengths).ravel()
    if n.size == 0:
        raise ValueError("length_histogram: no lengths given")
    fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
    ax.hist(n, bins=bins, color="tab:blue", alpha=0.8)
    ax.axvline(n.mean(), color="black", ls="--", label=f"mean {n.mean():.0f}")
    ax.set_xlabel("clip length (frames, 30 per second)")
    ax.set_ylabel("clips")
    ax.set_title(title or f"Clip lengths, {n.size} clips")
    ax.legend(fontsize=8)
    return fig


def resampling_comparison(
    versions: Mapping[str, object], *, joint: str = "joint", title: str | None = None
) -> Figure:
    """One joint's trajectory at natural speed and resampled: height, and speed per frame.

    versions: name -> (T, 3) positions of the same joint in metres (one entry per length).
    Left: the height (y) against the frame index; right: the displacement per frame (cm) against
    the fraction of the clip, which shrinks as a clip is stretched.
    """
    if not versions:
        raise ValueError("resampling_comparison: no versions given")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), layout="constrained")
    for name, positions in versions.items():
        p = as_array(positions)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"version {name!r} must be (T, 3), got {p.shape}")
        speed = np.linalg.norm(np.diff(p, axis=0), axis=-1) * 100
        axes[0].plot(p[:, 1], label=name)
        axes[1].plot(np.linspace(0, 1, len(speed)), speed, label=name)
    axes[0].set(xlabel="frame index", ylabel=f"{joint} y (m)", title="The same motion, stretched")
    axes[1].set(xlabel="fraction of the clip", ylabel="displacement per frame (cm)",
                title="Per-frame speed changes")  # fmt: skip
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def displacement_target_maps(
    direction,
    magnitude,
    intervals: Sequence[int],
    token_labels: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """The MPDP targets of a few tokens (method §4): one row per interval, direction class
    (left) and magnitude class (right) against the frame, one colour bar per column.

    direction, magnitude: (T, R, K) classes of K tokens (e.g. `glt.targets.displacement_targets`
    of one clip, indexed by the chosen tokens), `token_labels` their K names.
    """
    d, g = as_array(direction), as_array(magnitude)
    if d.shape != g.shape or d.ndim != 3 or d.shape[1] != len(intervals):
        raise ValueError(
            f"direction and magnitude must be (T, R={len(intervals)}, K) alike, "
            f"got {d.shape} and {g.shape}"
        )
    if len(token_labels) != d.shape[2]:
        raise ValueError(f"{len(token_labels)} token labels for {d.shape[2]} tokens")
    columns = {
        "direction": (d, 26, "direction class (13 = still)"),
        "magnitude": (g, 15, "magnitude class (1 cm bins)"),
    }
    rows = len(intervals)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 1.3 + 1.3 * rows), squeeze=False,
                             sharex=True, layout="constrained")  # fmt: skip
    for col, (name, (target, vmax, label)) in enumerate(columns.items()):
        for r, interval in enumerate(intervals):
            ax = axes[r, col]
            image = ax.imshow(target[:, r].T, aspect="auto", interpolation="nearest",
                              cmap=CMAP, vmin=0, vmax=vmax)  # fmt: skip
            ax.set_title(f"{name}, interval r = {interval}", fontsize=9)
            ax.set_yticks(range(len(token_labels)), token_labels, fontsize=7)
            ax.set_ylabel("token", fontsize=8)
            ax.set_xlabel("frame", fontsize=8)
        fig.colorbar(image, ax=axes[:, col], label=label, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def magnitude_targets(
    magnitude,
    intervals: Sequence[int],
    layout: SkeletonLayout,
    *,
    joints: Sequence[str] = ("head", "left hand", "right hand", "right foot"),
    title: str | None = None,
) -> Figure:
    """The magnitude targets of one clip, every token, one panel per interval, one colour bar.

    magnitude: (T, R, J) classes in the model's token order (token = joint * persons + person);
    the rows are regrouped person by person (a white line between persons) and the named
    `joints` are labelled; a person whose tokens are all the absent class (15) is labelled so.
    """
    g = as_array(magnitude)
    if g.ndim != 3 or g.shape[1] != len(intervals) or g.shape[2] != layout.num_tokens:
        raise ValueError(
            f"magnitude must be (T, R={len(intervals)}, J={layout.num_tokens}), got {g.shape}"
        )
    v, persons = layout.num_joints, layout.num_persons
    order = [layout.token(j, m) for m in range(persons) for j in range(v)]
    ticks = {}
    for m in range(persons):
        if np.all(g[:, :, [layout.token(j, m) for j in range(v)]] == 15):
            ticks[m * v + v // 2] = f"person {m + 1} (absent)"
        else:
            ticks.update({m * v + layout.joint_names.index(j): f"p{m + 1} {j}" for j in joints})
    fig, axes = plt.subplots(1, len(intervals), figsize=(4 * len(intervals), 3.6), sharey=True,
                             squeeze=False, layout="constrained")  # fmt: skip
    for r, (ax, interval) in enumerate(zip(axes[0], intervals, strict=True)):
        image = ax.imshow(g[:, r, order].T, aspect="auto", interpolation="nearest",
                          cmap=CMAP, vmin=0, vmax=15)  # fmt: skip
        for m in range(1, persons):
            ax.axhline(m * v - 0.5, color="white", lw=1)
        ax.set_title(f"magnitude class, r = {interval}", fontsize=10)
        ax.set_xlabel("frame")
        ax.set_ylabel("token (person, joint)")
        ax.set_yticks(list(ticks), list(ticks.values()), fontsize=8)
    fig.colorbar(image, ax=axes, label="magnitude class (15 = absent person)")
    if title:
        fig.suptitle(title)
    return fig
