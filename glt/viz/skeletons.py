"""Skeletons drawn from clips: a strip of poses and an animation (x-y plane, one colour per
person), with a preprocessed clip's global translation put back."""

from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure

from glt.layout import SkeletonLayout
from glt.viz.style import PERSON_COLORS, as_array, present_persons


def skeleton_positions(clip, layout: SkeletonLayout, preprocessed: bool = True) -> np.ndarray:
    """Joint positions to draw from a (T, M, V, 3) clip.

    A preprocessed clip (method §2) holds joints relative to the centre joint and, in the
    centre joint's slot, the global translation since frame 0; this puts the centre back at the
    origin and moves the whole body by the translation, so the skeleton walks as it did. A raw
    clip is returned as it is.
    """
    x = as_array(clip)
    if x.ndim != 4 or x.shape[1:] != (layout.num_persons, layout.num_joints, 3):
        raise ValueError(
            f"clip must be (T, {layout.num_persons}, {layout.num_joints}, 3) for layout "
            f"{layout.name!r}, got shape {x.shape}"
        )
    if not preprocessed:
        return x
    translation = x[:, :, layout.center].copy()  # (T, M, 3)
    x = x.copy()
    x[:, :, layout.center] = 0.0
    return x + translation[:, :, None, :]


def _limits(positions: np.ndarray, persons: list[int]) -> tuple[tuple, tuple]:
    pts = positions[:, persons].reshape(-1, 3) if persons else np.zeros((1, 3))
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 0.1) * 1.1
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def _draw_pose(ax, pose: np.ndarray, layout: SkeletonLayout, persons: list[int]) -> list:
    """Draw the bones and joints of one frame (M, V, 3) in the x-y plane; returns the artists."""
    artists = []
    for m in persons:
        color = PERSON_COLORS[m % len(PERSON_COLORS)]
        for child, parent in layout.bones:
            (line,) = ax.plot(
                pose[m, [child, parent], 0], pose[m, [child, parent], 1], color=color, lw=2
            )
            artists.append(line)
        artists.append(ax.scatter(pose[m, :, 0], pose[m, :, 1], s=8, color=color, zorder=3))
    return artists


def _style_skeleton_axes(ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")


def skeleton_frames(
    clip,
    layout: SkeletonLayout,
    frames: Sequence[int],
    *,
    preprocessed: bool = True,
    title: str | None = None,
) -> Figure:
    """A strip of poses at the given frame indices (x-y projection, one colour per person)."""
    pos = skeleton_positions(clip, layout, preprocessed)
    frames = list(frames)
    if not frames:
        raise ValueError("skeleton_frames: give at least one frame index")
    bad = [t for t in frames if not -len(pos) <= t < len(pos)]
    if bad:
        raise IndexError(f"frames {bad} outside a clip of {len(pos)} frames")
    persons = present_persons(pos)
    xlim, ylim = _limits(pos, persons)
    fig, axes = plt.subplots(
        1, len(frames), figsize=(2.4 * len(frames), 2.8), squeeze=False, layout="constrained"
    )
    for ax, t in zip(axes[0], frames, strict=True):
        _draw_pose(ax, pos[t], layout, persons)
        _style_skeleton_axes(ax, xlim, ylim)
        ax.set_title(f"frame {t % len(pos)}", fontsize=9)
    if len(persons) > 1:
        handles = [
            plt.Line2D([], [], color=PERSON_COLORS[m % len(PERSON_COLORS)], label=f"person {m + 1}")
            for m in persons
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(persons), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def skeleton_animation(
    clip,
    layout: SkeletonLayout,
    *,
    length: int | None = None,
    preprocessed: bool = True,
    fps: float = 30.0,
    title: str | None = None,
) -> animation.FuncAnimation:
    """An animation of a clip in the x-y plane, persons in different colours.

    Only the first `length` frames are drawn (default: all; pass the true length of a padded
    clip). Display inline in a notebook with `IPython.display.HTML(animation_html(anim))`. The figure
    is closed so that a notebook does not also show it as a still.
    """
    pos = skeleton_positions(clip, layout, preprocessed)
    pos = pos[: len(pos) if length is None else int(length)]
    if len(pos) == 0:
        raise ValueError("skeleton_animation: the clip has no frame")
    persons = present_persons(pos)
    xlim, ylim = _limits(pos, persons)
    fig, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    _style_skeleton_axes(ax, xlim, ylim)
    head = f"{title}: " if title else ""
    lines = {
        (m, b): ax.plot([], [], color=PERSON_COLORS[m % len(PERSON_COLORS)], lw=2)[0]
        for m in persons
        for b in range(len(layout.bones))
    }
    dots = {
        m: ax.plot([], [], "o", ms=3, color=PERSON_COLORS[m % len(PERSON_COLORS)])[0]
        for m in persons
    }
    label = ax.set_title("")

    def update(t: int):
        for (m, b), line in lines.items():
            child, parent = layout.bones[b]
            line.set_data(pos[t, m, [child, parent], 0], pos[t, m, [child, parent], 1])
        for m, dot in dots.items():
            dot.set_data(pos[t, m, :, 0], pos[t, m, :, 1])
        label.set_text(f"{head}frame {t + 1}/{len(pos)}")
        return [*lines.values(), *dots.values(), label]

    anim = animation.FuncAnimation(fig, update, frames=len(pos), interval=1000 / fps, blit=False)
    plt.close(fig)
    return anim


def draw_skeleton(ax, positions, layout: SkeletonLayout, frame: int) -> list[int]:
    """Draw one frame of skeleton `positions` (T, M, V, 3) into `ax`, on limits that fit the
    whole clip (so that the frames of a player line up); returns the persons drawn.

    positions: what to draw as it is, e.g. `skeleton_positions(clip, layout)`.
    """
    pos = as_array(positions)
    persons = present_persons(pos)
    _draw_pose(ax, pos[frame], layout, persons)
    _style_skeleton_axes(ax, *_limits(pos, persons))
    return persons


# matplotlib's player draws its buttons with Font Awesome icons loaded from a CDN, so offline
# (a classroom, the exported report) the buttons are blank; text glyphs need no font download.
_OFFLINE_BUTTONS = """<style>
.anim-buttons .fa { font: 13px/1.6 system-ui, sans-serif; transform: none; }
.anim-buttons .fa-minus::before { content: "−"; }
.anim-buttons .fa-fast-backward::before { content: "|◀◀"; }
.anim-buttons .fa-step-backward::before { content: "|◀"; }
.anim-buttons .fa-flip-horizontal::before { content: "◀"; }
.anim-buttons .fa-pause::before { content: "||"; }
.anim-buttons .fa-play:not(.fa-flip-horizontal)::before { content: "▶"; }
.anim-buttons .fa-step-forward::before { content: "▶|"; }
.anim-buttons .fa-fast-forward::before { content: "▶▶|"; }
.anim-buttons .fa-plus::before { content: "+"; }
</style>"""
_ICON_FONT_LINK = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">')


def animation_html(anim: animation.Animation) -> str:
    """The animation as a self-contained HTML player (frames, controls and their icons inline),
    for `IPython.display.HTML`: it plays the same with or without a network."""
    html, found = _ICON_FONT_LINK.subn(_OFFLINE_BUTTONS, anim.to_jshtml())
    if found != 1:  # a newer matplotlib's player: say so rather than show blank buttons
        raise RuntimeError("animation_html: matplotlib's player no longer links Font Awesome")
    return html
