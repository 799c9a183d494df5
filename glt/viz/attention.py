"""Figures of what the encoder learned (method §6): the supplementary's Fig. A (positional
embedding similarity), Figs. B and C (attention maps), and a t-SNE of clip embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from glt.viz.style import as_array, colormap, thin_ticks, tile_grid

# --- Fig. A: learned positional embedding -------------------------------------------------------


def cosine_similarity_map(pos_emb, frame: int, token: int) -> np.ndarray:
    """Cosine similarity between M[frame, token] and every M[t, j] of `pos_emb` (T, J, D) -> (T, J).

    Zero vectors (e.g. an embedding still at its zero initialisation) have similarity 0.
    """
    m = as_array(pos_emb)
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
    fig, axes = tile_grid(len(frames), len(joints), tile)
    for r, t in enumerate(frames):
        for c, j in enumerate(joints):
            ax = axes[r, c]
            image = ax.imshow(
                maps[r][c],
                cmap=colormap(),
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
            thin_ticks(ax, None, num_tokens, "x", max_ticks=6)
            thin_ticks(ax, None, num_frames, "y", max_ticks=6)
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
    a = as_array(maps)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"maps must be (depth, H, N, N), got shape {a.shape}")
    depth, heads, n, _ = a.shape
    unit = "frame" if kind == "temporal" else "token"
    labels = token_labels if kind == "spatial" else None
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} token labels for {n} tokens")
    vmax = float(np.nanmax(a)) if vmax is None else vmax
    fig, axes = tile_grid(depth, heads, tile)
    for b in range(depth):
        for h in range(heads):
            ax = axes[b, h]
            image = ax.imshow(
                a[b, h],
                cmap=colormap(),
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
                thin_ticks(ax, None, n, "x", max_ticks=6)
                thin_ticks(ax, None, n, "y", max_ticks=6)
            else:  # names only along the outer edges of the grid, where there is room
                thin_ticks(ax, labels if b == depth - 1 else None, n, "x", max_ticks=10)
                thin_ticks(ax, labels if h == 0 else None, n, "y", max_ticks=10)
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

    x = as_array(embeddings).reshape(len(embeddings), -1)
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
