"""Interactive views for a live notebook: an attention explorer and a skeleton player.

Both are thin. What to draw for a given state is a plain function that returns a matplotlib
`Figure` (`attention_figure`, `steps_figure`, `targets_figure`), `top_attended` ranks what a query
attends to, and the ipywidgets layer (`LiveFigure`) only wires controls to those functions:

- `attention_explorer`: clip, block, head, and either a query frame (temporal attention) or a
  frame and a query token (spatial attention); the map, the clip's skeleton at that frame and the
  most-attended frames or tokens update together. The encoder runs once per clip
  (`record_attention`), the controls only redraw.
- `skeleton_player`: plays a clip (play/pause and a frame slider) with its MPDP magnitude targets
  (method §4) or its preprocessing steps (method §2) side by side.

Static fallback. Without a kernel (a notebook executed by papermill and read later, or exported
to HTML) a widget cannot redraw, and a viewer without the widget's state shows nothing. So a
`LiveFigure` displays as ONE output carrying two representations of the same picture: the widget
(controls above a PNG of the current state) and that PNG on its own. A live frontend (JupyterLab,
Notebook 7, VS Code) renders the richest representation, the widget, and only it; nbconvert's
HTML, GitHub and other viewers without the widget's state render the PNG. The figure is never
shown twice and never missing. One case needs care: a notebook executed by papermill also
stores the widgets' state (`metadata.widgets`), and nbconvert then exports the widget, whose
scripts load from a CDN; drop that metadata before exporting to get the PNG.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from glt import viz
from glt.data.dataset import person_present
from glt.data.preprocess import preprocess
from glt.device import autocast, resolve_device
from glt.errors import DataError, GLTError
from glt.layout import SkeletonLayout
from glt.model import GLTransformer
from glt.targets import MAX_MOVING_CLASS, displacement_targets

KINDS = ("temporal", "spatial")


def _pose(ax, positions, layout: SkeletonLayout, frame: int, legend: bool = True) -> list[int]:
    """`viz.draw_skeleton`, with a legend naming the persons when there are several."""
    persons = viz.draw_skeleton(ax, positions, layout, frame)
    if legend and len(persons) > 1:
        colors = viz.PERSON_COLORS
        handles = [Line2D([], [], color=colors[m % len(colors)], label=f"person {m + 1}")
                   for m in persons]  # fmt: skip
        ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.7)
    return persons


# --- attention: recording, state, ranking, figure -----------------------------------------------


@dataclass(frozen=True)
class ClipAttention:
    """One clip and every attention map the encoder computed on it (no padding: batch of one)."""

    name: str
    clip: np.ndarray  # (L, M, V, 3), as the encoder saw it
    temporal: np.ndarray  # (depth, H, L, L): query frame, key frame
    spatial: np.ndarray  # (depth, L, H, J, J): per frame, query token, key token


@torch.no_grad()
def record_attention(
    encoder: GLTransformer,
    clips: Sequence,
    names: Sequence[str] | None = None,
    device: str | torch.device | None = None,
) -> list[ClipAttention]:
    """Run `encoder` once on each preprocessed (L, M, V, 3) clip and keep its attention maps.

    Clips longer than the encoder's `num_frames` are cropped. The encoder runs in eval mode
    (bf16 autocast on CUDA) and is given back in the mode it came in. Spatial maps take
    depth * L * H * J^2 floats per clip (about 100 MB for a 300-frame clip and the paper's model),
    so record a few clips, not a dataset.
    """
    names = [f"clip {i + 1}" for i in range(len(clips))] if names is None else list(names)
    if len(names) != len(clips):
        raise GLTError(f"record_attention: {len(names)} names for {len(clips)} clips")
    device = resolve_device(device)
    was_training = encoder.training
    encoder.to(device).eval()
    records = []

    def stacked(per_block: list[torch.Tensor]) -> np.ndarray:
        return torch.stack(per_block)[:, 0].float().cpu().numpy()  # a batch of one clip

    try:
        for name, clip in zip(names, clips, strict=True):
            x = torch.as_tensor(clip, dtype=torch.float32)[: encoder.config.num_frames]
            with autocast(device):
                _, maps = encoder(x[None].to(device), return_attention=True)
            records.append(
                ClipAttention(name, x.numpy(), stacked(maps.temporal), stacked(maps.spatial))
            )
    finally:
        encoder.train(was_training)
    return records


@dataclass(frozen=True)
class AttentionView:
    """What the explorer shows (indices 0-based; titles count blocks and heads from 1).

    kind="temporal": the query frame `frame` of block `block`, head `head` (token unused);
    kind="spatial": the query token `token` at frame `frame`.
    """

    clip: int = 0
    kind: str = "temporal"
    block: int = 0
    head: int = 0
    frame: int = 0
    token: int = 0


def attention_matrix(record: ClipAttention, view: AttentionView) -> tuple[np.ndarray, float]:
    """The map a view looks at, (L, L) temporal or (J, J) spatial, and its colour-scale top:
    the largest weight of all heads of that block (at that frame), so that heads compare."""
    if view.kind not in KINDS:
        raise GLTError(f"attention view: kind must be one of {KINDS}, got {view.kind!r}")
    depth, heads, length = record.temporal.shape[:3]
    tokens = record.spatial.shape[-1]
    limits = {"block": depth, "head": heads, "frame": length, "token": tokens}
    for name, size in limits.items():
        if not 0 <= getattr(view, name) < size:
            raise GLTError(f"attention view: {name}={getattr(view, name)} outside 0..{size - 1}")
    if view.kind == "temporal":
        block = record.temporal[view.block]  # (H, L, L)
    else:
        block = record.spatial[view.block, view.frame]  # (H, J, J)
    return block[view.head], float(np.nanmax(block))


def top_attended(weights, k: int = 5) -> list[tuple[int, float]]:
    """The `k` largest entries of one attention row (N,) as (index, weight), largest first.

    Equal weights keep the lower index first; NaN entries (undefined) are never ranked.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise GLTError(f"top_attended: weights must be one row (N,), got shape {w.shape}")
    order = np.argsort(-w, kind="stable")  # NaN sorts last
    return [(int(i), float(w[i])) for i in order if np.isfinite(w[i])][:k]


def _thin_ticks(ax, labels: Sequence[str], max_ticks: int = 10) -> None:
    ticks = np.arange(0, len(labels), max(1, int(np.ceil(len(labels) / max_ticks))))
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=6)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=6)


def attention_figure(
    record: ClipAttention, layout: SkeletonLayout, view: AttentionView, *, top: int = 5
) -> Figure:
    """The explorer's picture of one state: map, skeleton at the frame, most-attended keys.

    Left: the temporal (L x L) or spatial (J x J, at `view.frame`) map of block `view.block`, head
    `view.head`, the query's row framed in red. Middle: the skeleton at the frame; in the
    spatial view its joints are coloured by the weight the query token gives them, the query
    circled in red. Right: the `top` most-attended key frames or tokens. The map, the joints and
    the bars share one colour scale (one colour bar).
    """
    matrix, vmax = attention_matrix(record, view)
    temporal = view.kind == "temporal"
    unit = "frame" if temporal else "token"
    query = view.frame if temporal else view.token
    names = viz.token_names(layout)
    row = matrix[query]
    cmap = colormaps[viz.CMAP]

    fig = Figure(figsize=(13, 4.3), layout="constrained")
    ax_map, ax_pose, ax_rank = fig.subplots(1, 3, width_ratios=[1.2, 1, 0.9])
    image = ax_map.imshow(matrix, cmap=viz.CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    ax_map.axhspan(query - 0.5, query + 0.5, fill=False, edgecolor="red", lw=1.2)
    ax_map.set(title=f"Block {view.block + 1}, head {view.head + 1}",
               xlabel=f"key {unit}", ylabel=f"query {unit}")  # fmt: skip
    if not temporal:
        _thin_ticks(ax_map, names)
    fig.colorbar(image, ax=ax_map, shrink=0.85, label=f"{view.kind} attention weight")

    pos = viz.skeleton_positions(record.clip, layout)
    persons = _pose(ax_pose, pos, layout, view.frame)
    if temporal:
        ax_pose.set_title(f"query frame {view.frame}", fontsize=10)
    else:
        weights = row.reshape(layout.num_joints, layout.num_persons)  # token = joint * M + person
        for m in persons:
            ax_pose.scatter(*pos[view.frame, m, :, :2].T, c=weights[:, m], cmap=viz.CMAP, vmin=0,
                            vmax=vmax, s=15 + 120 * weights[:, m] / vmax, zorder=4,
                            edgecolors="black", linewidths=0.4)  # fmt: skip
        joint, person = divmod(view.token, layout.num_persons)
        ax_pose.scatter(*pos[view.frame, person, joint, :2], s=260, facecolors="none",
                        edgecolors="red", linewidths=1.5, zorder=5)  # fmt: skip
        ax_pose.set_title(f"frame {view.frame}: what {names[view.token]} attends to", fontsize=10)

    ranked = top_attended(row, top)
    ax_rank.barh(range(len(ranked)), [w for _, w in ranked],
                 color=[cmap(w / vmax) for _, w in ranked], edgecolor="black", lw=0.4)  # fmt: skip
    labels = [f"frame {i}" if temporal else names[i] for i, _ in ranked]
    ax_rank.set_yticks(range(len(ranked)), labels, fontsize=8)
    ax_rank.bar_label(ax_rank.containers[0], fmt="%.3f", padding=-34, fontsize=7)
    ax_rank.invert_yaxis()  # the most attended on top
    ax_rank.set(xlim=(0, vmax), xlabel="attention weight", ylabel=f"key {unit}",
                title=f"top {len(ranked)} key {unit}s")  # fmt: skip
    what = f"query frame {view.frame}" if temporal else f"frame {view.frame}, {names[view.token]}"
    fig.suptitle(f"{record.name}: {view.kind} attention, {what}")
    return fig


# --- skeleton player: preprocessing steps and targets -------------------------------------------


def preprocessing_steps(
    raw, layout: SkeletonLayout, max_frames: int = 300
) -> dict[str, np.ndarray]:
    """The poses of a raw (T, M, V, 3) clip after each preprocessing step (method §2), to draw.

    Returns name -> (L, M, V, 3): the camera-space recording; every joint relative to the centre
    joint; and the view-aligned clip of `preprocess`. In the last two the centre joint is drawn at
    the origin (in the model's input its slot carries the global translation instead).
    """
    raw = np.asarray(raw, dtype=np.float32)
    aligned = preprocess(raw, layout, max_frames).copy()
    if len(aligned) == 0:
        raise DataError("preprocessing_steps: the first person never appears in the clip")
    raw = raw[: len(aligned)]
    c = layout.center
    aligned[:, :, c] = 0.0
    return {
        "camera space (raw)": raw,
        "relative to the centre joint": raw - raw[:, :, c : c + 1],
        "view-aligned (shoulders along x)": aligned,
    }


def steps_figure(steps: Mapping[str, np.ndarray], layout: SkeletonLayout, frame: int) -> Figure:
    """One frame of each preprocessing step side by side (see `preprocessing_steps`)."""
    fig = Figure(figsize=(3.6 * len(steps), 3.9), layout="constrained")
    axes = fig.subplots(1, len(steps), squeeze=False)[0]
    for k, (ax, (name, positions)) in enumerate(zip(axes, steps.items(), strict=True)):
        _pose(ax, positions, layout, frame, legend=k == 0)
        ax.set_title(name, fontsize=10)
    length = len(next(iter(steps.values())))
    fig.suptitle(f"Preprocessing steps, frame {frame} of {length}")
    return fig


def clip_magnitudes(clip, intervals: Sequence[int]) -> np.ndarray:
    """The MPDP magnitude classes (T, R, J) of one preprocessed (T, M, V, 3) clip (method §4)."""
    x = torch.as_tensor(clip, dtype=torch.float32)
    present = person_present(x)[None]
    _, magnitude = displacement_targets(x[None], torch.tensor([len(x)]), present, intervals)
    return magnitude[0].numpy()


def targets_figure(
    clip, layout: SkeletonLayout, magnitude, intervals: Sequence[int], frame: int
) -> Figure:
    """One frame of a preprocessed clip with its MPDP targets (method §4), one panel per interval.

    In the panel of interval r each joint is coloured by its magnitude class at that frame
    (`magnitude` (T, R, J), e.g. `clip_magnitudes`), and an arrow shows the x-y part of the
    displacement x[t - r] - x[t] that the direction and magnitude classes describe (to scale).
    """
    x = np.asarray(clip, dtype=np.float64)
    g = np.asarray(magnitude)
    if g.shape != (len(x), len(intervals), layout.num_tokens):
        raise GLTError(
            f"targets_figure: magnitude must be (T={len(x)}, R={len(intervals)}, "
            f"J={layout.num_tokens}), got {g.shape}"
        )
    pos = viz.skeleton_positions(x, layout)
    fig = Figure(figsize=(3.4 * len(intervals) + 1, 3.9), layout="constrained")
    axes = fig.subplots(1, len(intervals), squeeze=False)[0]
    for r, (ax, interval) in enumerate(zip(axes, intervals, strict=True)):
        persons = _pose(ax, pos, layout, frame, legend=r == 0)
        d = x[max(frame - interval, 0)] - x[frame]  # (M, V, 3), the targets' rule for t < r too
        classes = g[frame, r].reshape(layout.num_joints, layout.num_persons)
        for m in persons:
            xy = pos[frame, m, :, :2]
            ax.quiver(*xy.T, *d[m, :, :2].T, angles="xy", scale_units="xy", scale=1,
                      color="black", width=0.006, zorder=4)  # fmt: skip
            dots = ax.scatter(*xy.T, c=classes[:, m], cmap=viz.CMAP, vmin=0, vmax=MAX_MOVING_CLASS,
                              s=28, edgecolors="black", linewidths=0.4, zorder=5)  # fmt: skip
        ax.set_title(f"interval r = {interval}", fontsize=10)
    fig.colorbar(dots, ax=axes, shrink=0.85, label="magnitude class (1 cm bins)")
    fig.suptitle(
        f"Frame {frame} of {len(x)}: magnitude classes; arrows: x[t - r] - x[t] (x-y part)"
    )
    return fig


# --- the ipywidgets layer -----------------------------------------------------------------------


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """A figure rendered to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class LiveFigure:
    """Controls above a picture that `draw(state)` redraws whenever a control changes.

    controls: name -> widget, observed; state is {name: widget.value}. rows: the widgets to show
    above the picture (default: the controls in one wrapping row). Each state is drawn once: its
    PNG is kept, so going back to a state (or playing a clip a second time) costs nothing.
    Displays as the widget plus a PNG of the current state as a static fallback (see the module
    docstring).
    """

    def __init__(
        self,
        controls: Mapping[str, object],
        draw: Callable[[dict], Figure],
        rows: Sequence | None = None,
        dpi: int = 80,
    ):
        import ipywidgets as widgets

        self.controls = dict(controls)
        self.draw = draw
        self.dpi = dpi
        self.image = widgets.Image(format="png")
        if rows is None:
            wrap = widgets.Layout(flex_flow="row wrap")
            rows = [widgets.HBox(list(self.controls.values()), layout=wrap)]
        self.widget = widgets.VBox([*rows, self.image])
        self._pngs: dict[tuple, bytes] = {}
        for control in self.controls.values():
            control.observe(lambda _: self.redraw(), names="value")
        self.redraw()

    @property
    def state(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def figure(self) -> Figure:
        """The figure of the current state."""
        return self.draw(self.state)

    def redraw(self) -> None:
        key = tuple(self.state.items())
        if key not in self._pngs:
            self._pngs[key] = figure_png(self.figure(), self.dpi)
        self.image.value = self._pngs[key]

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle


def attention_explorer(
    encoder: GLTransformer,
    clips: Sequence,
    layout: SkeletonLayout,
    *,
    names: Sequence[str] | None = None,
    view: AttentionView | None = None,
    top: int = 5,
    device: str | torch.device | None = None,
) -> LiveFigure:
    """Explore one encoder's attention on a few preprocessed clips (see `attention_figure`).

    The attention of every clip is recorded once (`record_attention`); the controls (clip,
    temporal/spatial, block, head, frame, query token) only redraw. `view` is the first state
    shown, which is also the static picture of a report (default: the middle frame of the first
    clip, temporal attention of block 1, head 1). Display the result as a cell's last value.
    """
    import ipywidgets as widgets

    records = record_attention(encoder, clips, names, device)
    view = view or AttentionView(frame=len(records[0].clip) // 2)
    depth, heads = records[0].temporal.shape[:2]
    wide = {"style": {"description_width": "initial"}, "layout": widgets.Layout(width="auto")}
    controls = {
        "clip": widgets.Dropdown(options=[(r.name, i) for i, r in enumerate(records)],
                                 value=view.clip, description="clip", **wide),
        "kind": widgets.ToggleButtons(options=KINDS, value=view.kind, description="attention"),
        "block": widgets.Dropdown(options=[(str(b + 1), b) for b in range(depth)],
                                  value=view.block, description="block", **wide),
        "head": widgets.Dropdown(options=[(str(h + 1), h) for h in range(heads)],
                                 value=view.head, description="head", **wide),
        "frame": widgets.IntSlider(value=view.frame, min=0, max=len(records[view.clip].clip) - 1,
                                   description="frame", continuous_update=False),
        "token": widgets.Dropdown(options=[(n, j) for j, n in enumerate(viz.token_names(layout))],
                                  value=view.token, description="query token",
                                  disabled=view.kind == "temporal", **wide),
    }  # fmt: skip

    def follow(_) -> None:  # runs before the redraw: the frame range and the token's relevance
        controls["frame"].max = len(records[controls["clip"].value].clip) - 1
        controls["token"].disabled = controls["kind"].value == "temporal"

    for name in ("clip", "kind"):
        controls[name].observe(follow, names="value")

    def draw(state: dict) -> Figure:
        return attention_figure(records[state["clip"]], layout, AttentionView(**state), top=top)

    return LiveFigure(controls, draw)


def skeleton_player(
    clip,
    layout: SkeletonLayout,
    *,
    show: str = "targets",
    intervals: Sequence[int] = (1, 5, 10),
    frame: int = 0,
    fps: float = 5.0,
) -> LiveFigure:
    """Play a clip frame by frame: a play/pause button linked to a frame slider, above the picture.

    show="targets": `clip` is preprocessed (L, M, V, 3); each frame shows its MPDP magnitude
    classes and displacements for every interval (`targets_figure`).
    show="steps": `clip` is a raw camera-space (T, M, V, 3) recording; each frame shows it after
    every preprocessing step (`preprocessing_steps`, `steps_figure`).
    `frame` is the first frame shown, also the static picture of a report. The kernel draws each
    frame the first time it is shown (a few tenths of a second on a laptop CPU), so the first pass
    may play slower than `fps`; later passes replay the kept pictures.
    """
    import ipywidgets as widgets

    if show == "targets":
        x = np.asarray(clip, dtype=np.float32)
        magnitude = clip_magnitudes(x, intervals)
        num_frames = len(x)

        def draw(state: dict) -> Figure:
            return targets_figure(x, layout, magnitude, intervals, state["frame"])

    elif show == "steps":
        steps = preprocessing_steps(clip, layout)
        num_frames = len(next(iter(steps.values())))

        def draw(state: dict) -> Figure:
            return steps_figure(steps, layout, state["frame"])

    else:
        raise GLTError(f"skeleton_player: show must be 'targets' or 'steps', got {show!r}")
    if not 0 <= frame < num_frames:
        raise GLTError(f"skeleton_player: frame={frame} outside 0..{num_frames - 1}")
    slider = widgets.IntSlider(value=frame, min=0, max=num_frames - 1, description="frame")
    play = widgets.Play(value=frame, min=0, max=num_frames - 1, interval=int(1000 / fps))
    widgets.jslink((play, "value"), (slider, "value"))  # in the browser, no kernel round trip
    return LiveFigure({"frame": slider}, draw, rows=[widgets.HBox([play, slider])])
