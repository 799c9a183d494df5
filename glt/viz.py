"""Figures: positional-embedding similarity, attention maps, embeddings, results and skeletons.

Every function takes arrays (numpy, or torch tensors, which are copied to numpy) and returns a
matplotlib `Figure` (or, for `skeleton_animation`, a `FuncAnimation`); nothing is shown or saved
here. The supplementary's figures (method §6) are:

- Fig. A, `positional_similarity`: cosine similarity between one learned positional-embedding
  vector M[t, j] and every M[t', j'], one tile per chosen (frame, token);
- Figs. B and C, `attention_grid`: temporal (T x T) and spatial (J x J) attention maps, one tile per
  block and head, averaged over evaluation clips (`glt.features.average_attention` computes them).

Heat maps use one fixed colormap, viridis ("yellow = large", as in the paper), one colour bar
shared by all tiles of a figure, and light grey for entries that are undefined (NaN), e.g. pairs
of frames that no averaged clip was long enough to have.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure

from glt.layout import SkeletonLayout

CMAP = "viridis"
MISSING_COLOR = "0.85"  # NaN entries (undefined averages) are drawn light grey
PERSON_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def _np(x) -> np.ndarray:
    """A float numpy copy of an array-like or a (possibly GPU, possibly grad) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _cmap():
    return plt.get_cmap(CMAP).with_extremes(bad=MISSING_COLOR)


def _grid(rows: int, cols: int, tile: float, extra_width: float = 0.8):
    """A figure with rows x cols square-ish tiles; axes always returned as a 2-D array."""
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cols * tile + extra_width, rows * tile),
        squeeze=False,
        layout="constrained",
    )
    return fig, axes


def _tick_labels(ax, labels: Sequence[str] | None, n: int, axis: str, max_ticks: int = 12):
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


# --- Fig. A: learned positional embedding -------------------------------------------------------


def cosine_similarity_map(pos_emb, frame: int, token: int) -> np.ndarray:
    """Cosine similarity between M[frame, token] and every M[t, j] of `pos_emb` (T, J, D) -> (T, J).

    Zero vectors (e.g. an embedding still at its zero initialisation) have similarity 0.
    """
    m = _np(pos_emb)
    if m.ndim == 4 and m.shape[0] == 1:  # a stored (1, T, J, D) parameter
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"pos_emb must be (T, J, D), got shape {m.shape}")
    norms = np.linalg.norm(m, axis=-1)
    query = m[frame, token]
    denom = norms * norms[frame, token]
    dots = m @ query
    return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)


def positional_similarity(
    pos_emb,
    frames: Sequence[int],
    joints: Sequence[int],
    *,
    token_labels: Sequence[str] | None = None,
    title: str | None = None,
    tile: float = 2.4,
) -> Figure:
    """Fig. A (method §6): similarity of positional-embedding vectors, one tile per query.

    pos_emb: (T, J, D) learned positional embedding M of one block (a (1, T, J, D) parameter is
    accepted). The figure is a grid with one row per query frame in `frames` and one column per
    query token in `joints` (token indices, token = joint * persons + person). Each tile is the
    T x J map of cos(M[t, j], M[t', j']) over all t' (vertical axis) and j' (horizontal axis); the
    query itself is circled in red.
    """
    frames, joints = list(frames), list(joints)
    if not frames or not joints:
        raise ValueError("positional_similarity: give at least one frame and one joint")
    maps = [[cosine_similarity_map(pos_emb, t, j) for j in joints] for t in frames]
    num_frames, num_tokens = maps[0][0].shape
    vmin = min(float(np.min(m)) for row in maps for m in row)
    fig, axes = _grid(len(frames), len(joints), tile)
    for r, t in enumerate(frames):
        for c, j in enumerate(joints):
            ax = axes[r, c]
            image = ax.imshow(
                maps[r][c],
                cmap=_cmap(),
                vmin=vmin,
                vmax=1.0,
                aspect="auto",
                interpolation="nearest",
            )
            ax.scatter([j], [t], s=80, facecolors="none", edgecolors="red", linewidths=1.5)
            name = token_labels[j] if token_labels is not None else f"token {j}"
            ax.set_title(f"frame {t}, {name}", fontsize=8)
            ax.set_xlabel("token j'", fontsize=7)
            ax.set_ylabel("frame t'", fontsize=7)
            _tick_labels(ax, None, num_tokens, "x", max_ticks=6)
            _tick_labels(ax, None, num_frames, "y", max_ticks=6)
    fig.colorbar(image, ax=axes, shrink=0.8, label="cosine similarity")
    if title:
        fig.suptitle(title)
    return fig


# --- Figs. B and C: attention maps --------------------------------------------------------------


def attention_grid(
    maps,
    kind: str = "temporal",
    token_labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
    vmax: float | None = None,
    tile: float = 2.0,
    length: int | None = None,
) -> Figure:
    """Figs. B and C (method §6): attention maps, one tile per block (row) and head (column).

    maps: (depth, H, N, N) averaged attention, N = T frames for kind="temporal", J tokens for
    kind="spatial"; each row of a map is a query, each column a key. Tiles are titled
    "Block i, head h" (1-based) and share one colour scale from 0 to `vmax` (default: the largest
    entry). `token_labels` names the spatial tokens on the axes (thinned to a readable number).
    `length` (temporal maps of one padded clip): its number of valid frames, marked on every tile
    by red dashed lines where the padding starts.
    """
    if kind not in ("temporal", "spatial"):
        raise ValueError(f"kind must be 'temporal' or 'spatial', got {kind!r}")
    a = _np(maps)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"maps must be (depth, H, N, N), got shape {a.shape}")
    depth, heads, n, _ = a.shape
    unit = "frame" if kind == "temporal" else "token"
    labels = token_labels if kind == "spatial" else None
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} token labels for {n} tokens")
    vmax = float(np.nanmax(a)) if vmax is None else vmax
    fig, axes = _grid(depth, heads, tile)
    for b in range(depth):
        for h in range(heads):
            ax = axes[b, h]
            image = ax.imshow(
                a[b, h],
                cmap=_cmap(),
                vmin=0.0,
                vmax=vmax,
                interpolation="nearest",
                aspect="equal",
            )
            ax.set_title(f"Block {b + 1}, head {h + 1}", fontsize=8)
            if length is not None and kind == "temporal":
                ax.axvline(length - 0.5, color="red", lw=0.8, ls="--")
                ax.axhline(length - 0.5, color="red", lw=0.8, ls="--")
            ax.set_xlabel(f"key {unit}", fontsize=7)
            ax.set_ylabel(f"query {unit}", fontsize=7)
            if labels is None:
                _tick_labels(ax, None, n, "x", max_ticks=6)
                _tick_labels(ax, None, n, "y", max_ticks=6)
            else:  # names only along the outer edges of the grid, where there is room
                _tick_labels(ax, labels if b == depth - 1 else None, n, "x", max_ticks=10)
                _tick_labels(ax, labels if h == 0 else None, n, "y", max_ticks=10)
                if b < depth - 1:
                    ax.tick_params(axis="x", labelbottom=False)
                if h > 0:
                    ax.tick_params(axis="y", labelleft=False)
    fig.colorbar(image, ax=axes, shrink=0.6, label=f"{kind} attention weight")
    if title:
        fig.suptitle(title)
    return fig


# --- embeddings and results ---------------------------------------------------------------------


def _class_colors(num_classes: int):
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "turbo")
    if num_classes <= 20:
        return [cmap(i) for i in range(num_classes)]
    return [cmap(i / max(1, num_classes - 1)) for i in range(num_classes)]


def tsne_embeddings(
    embeddings,
    labels,
    class_names: Sequence[str] | None = None,
    *,
    perplexity: float = 30.0,
    seed: int = 0,
    title: str | None = "t-SNE of clip embeddings",
) -> Figure:
    """A 2-D t-SNE (scikit-learn) of (N, F) embeddings, one colour per class, with a legend.

    The perplexity is lowered to (N - 1) / 3 when there are too few points for it.
    """
    from sklearn.manifold import TSNE

    x = _np(embeddings).reshape(len(embeddings), -1)
    y = np.asarray(labels).astype(int)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} embeddings but {len(y)} labels")
    if len(x) < 4:
        raise ValueError("t-SNE needs at least 4 points")
    perplexity = min(perplexity, (len(x) - 1) / 3)
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    classes = np.unique(y)
    num_classes = max(int(y.max()) + 1, len(class_names or ()))
    colors = _class_colors(num_classes)
    fig, ax = plt.subplots(figsize=(7.5 if num_classes <= 20 else 9, 6), layout="constrained")
    for c in classes:
        pick = y == c
        name = class_names[c] if class_names is not None else f"class {c}"
        ax.scatter(xy[pick, 0], xy[pick, 1], s=10, color=colors[c], label=name)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    if title:
        ax.set_title(title)
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=7,
        markerscale=1.5,
        ncol=1 if len(classes) <= 20 else 2,
        frameon=False,
    )
    return fig


def confusion_matrix(
    cm, class_names: Sequence[str] | None = None, *, title: str | None = None, annotate=None
) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted class) with rows normalised.

    cm: (K, K) counts. Each row is divided by its total, so a cell is the fraction of that class's
    clips predicted as the column's class; rows without clips stay empty (grey). Cells are
    annotated with percentages when K <= 15 (or as `annotate` says).
    """
    import seaborn as sns

    counts = _np(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"cm must be a square (K, K) matrix, got shape {counts.shape}")
    k = len(counts)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    annotate = k <= 15 if annotate is None else annotate
    size = min(18.0, max(5.0, 0.28 * k + 3))
    fig, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    sns.heatmap(
        rates * 100,
        ax=ax,
        cmap=_cmap(),
        vmin=0,
        vmax=100,
        square=True,
        annot=annotate,
        fmt=".0f",
        annot_kws={"fontsize": 7},
        xticklabels=names,
        yticklabels=names,
        cbar_kws={"label": "% of the true class"},
    )
    fontsize = 8 if k <= 30 else 5
    ax.tick_params(axis="both", labelsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return fig


def _common_name(keys: Sequence[str]) -> str:
    """An axis label for keys sharing a panel: their common suffix ("top1" for train_/test_top1)."""
    if len(keys) == 1:
        return keys[0]
    suffix = os.path.commonprefix([k[::-1] for k in keys])[::-1].lstrip("_ ")
    return suffix or ", ".join(keys)


def training_curves(
    metrics: Sequence[Mapping],
    keys: Sequence[str | Sequence[str]],
    *,
    x: str = "epoch",
    title: str | None = None,
    steps: Sequence[Mapping] | None = None,
) -> Figure:
    """Curves from a list of per-step dicts (e.g. metrics.jsonl rows), one panel per key.

    keys: metric names; a tuple of names shares one panel (e.g. ("train_top1", "test_top1")).
    The horizontal axis is `x` when the dicts have it, else the row number. Rows without a key
    are skipped for that key.
    steps: finer rows of the same keys (e.g. the loss logged every few steps, with a fractional
    `x`), drawn as a thin line of the same colour behind each curve, whose points are then
    marked; the legend says which is which.
    """
    if not metrics:
        raise ValueError("training_curves: no metrics given")
    panels = [[k] if isinstance(k, str) else list(k) for k in keys]
    if not panels:
        raise ValueError("training_curves: no keys given")
    steps = list(steps or [])
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False, layout="constrained"
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        for key in panel:
            rows = [(i, m) for i, m in enumerate(metrics) if m.get(key) is not None]
            if not rows:
                raise KeyError(f"training_curves: no row has the key {key!r}")
            fine = [(i, m) for i, m in enumerate(steps) if m.get(key) is not None]
            color = None
            if fine:
                (thin,) = ax.plot(
                    [m.get(x, i) for i, m in fine],
                    [float(m[key]) for _, m in fine],
                    lw=0.8,
                    alpha=0.45,
                )
                color = thin.get_color()
            xs = [m.get(x, i) for i, m in rows]
            ax.plot(
                xs,
                [float(m[key]) for _, m in rows],
                label=key,
                color=color,
                marker="o" if fine else ("." if len(rows) < 30 else None),
                ms=5 if fine else None,
            )
        ax.set_xlabel(x if any(x in m for m in metrics) else "step")
        ax.set_ylabel(_common_name(panel))
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()[0] if len(panel) > 1 else []
        if steps:
            handles += [
                plt.Line2D([], [], color="0.4", lw=0.8, alpha=0.6, label="logged steps"),
                plt.Line2D([], [], color="0.4", marker="o", ms=5, label="epoch means"),
            ]
        if handles:
            ax.legend(handles=handles, fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


# --- data and targets (notebooks 01 and 03) ----------------------------------------------------


def _persons(clip: np.ndarray) -> list[int]:
    """Persons with any non-zero coordinate in a (T, M, V, 3) clip (at least the first)."""
    return [m for m in range(clip.shape[1]) if np.any(clip[:, m] != 0)] or [0]


def global_translation(
    clip, layout: SkeletonLayout, length: int | None = None, *, title: str | None = None
) -> Figure:
    """The global translation (x, y, z) against the frame, one panel per present person.

    clip: (T, M, V, 3) with, in the centre joint's slot, the position since frame 0 (the
    preprocessing's step 2, method §2); only the first `length` frames are drawn.
    """
    x = _np(clip)[:length]
    if x.ndim != 4 or x.shape[1:] != (layout.num_persons, layout.num_joints, 3):
        raise ValueError(f"clip must be (T, M, V, 3) for layout {layout.name!r}, got {x.shape}")
    persons = _persons(x)
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
    a, b = _np(before)[:length], _np(after)[:length]
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"before and after must be (T, M, V, 3) alike, got {a.shape}, {b.shape}")
    persons, n = _persons(a), len(a)
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
    n = _np(lengths).ravel()
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
        p = _np(positions)
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
    d, g = _np(direction), _np(magnitude)
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
    g = _np(magnitude)
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


# --- skeletons ----------------------------------------------------------------------------------


def skeleton_positions(clip, layout: SkeletonLayout, preprocessed: bool = True) -> np.ndarray:
    """Joint positions to draw from a (T, M, V, 3) clip.

    A preprocessed clip (method §2) holds joints relative to the centre joint and, in the
    centre joint's slot, the global translation since frame 0; this puts the centre back at the
    origin and moves the whole body by the translation, so the skeleton walks as it did. A raw
    clip is returned as it is.
    """
    x = _np(clip)
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


def _present(positions: np.ndarray) -> list[int]:
    """Persons that are not all zeros over the clip."""
    return [m for m in range(positions.shape[1]) if np.any(positions[:, m] != 0)]


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
    persons = _present(pos)
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
    clip). Display inline in a notebook with `IPython.display.HTML(anim.to_jshtml())`. The figure
    is closed so that a notebook does not also show it as a still.
    """
    pos = skeleton_positions(clip, layout, preprocessed)
    pos = pos[: len(pos) if length is None else int(length)]
    if len(pos) == 0:
        raise ValueError("skeleton_animation: the clip has no frame")
    persons = _present(pos)
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
    pos = _np(positions)
    persons = _present(pos)
    _draw_pose(ax, pos[frame], layout, persons)
    _style_skeleton_axes(ax, *_limits(pos, persons))
    return persons
