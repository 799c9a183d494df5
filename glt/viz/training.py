"""Figures of training and results: metric curves, the pretraining loss, a confusion matrix and
an ablation table next to the paper's numbers."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from glt.mpdp import LOSS_TERMS
from glt.viz.style import as_array, colormap


def confusion_matrix(
    cm, class_names: Sequence[str] | None = None, *, title: str | None = None, annotate=None
) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted class) with rows normalised.

    cm: (K, K) counts. Each row is divided by its total, so a cell is the fraction of that class's
    clips predicted as the column's class; rows without clips stay empty (grey). Cells are
    annotated with percentages when K <= 15 (or as `annotate` says).
    """
    import seaborn as sns

    counts = as_array(cm)
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
        cmap=colormap(),
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


def plot_loss(metrics: Sequence[Mapping], *, chance: float | None = None) -> Figure:
    """The pretraining curves from a run's metrics rows (`glt.run.load_metrics(run, kind=None)`):
    total loss, and its direction and magnitude terms (joint and global tokens), against the
    epoch. Epoch rows (a "kind" of "epoch", or none) are drawn as points joined by lines (epoch
    means), step rows, if any, as thin lines behind them; `chance`, if given, as a dotted line
    on the loss panel."""
    epochs = [row for row in metrics if row.get("kind", "epoch") == "epoch"]
    steps = [row for row in metrics if row.get("kind", "epoch") == "step"]
    fig = training_curves(
        epochs or steps, ["loss", LOSS_TERMS], x="epoch", title="MPDP pretraining",
        steps=steps if epochs else None,
    )  # fmt: skip
    loss_ax, terms_ax = fig.axes[:2]
    loss_ax.set_ylabel("loss (weighted sum)")
    terms_ax.set_ylabel("cross-entropy per term")
    if chance is not None:
        line = loss_ax.axhline(chance, color="grey", ls=":", label="chance level")
        legend = loss_ax.get_legend()
        handles = legend.legend_handles if legend is not None else []
        loss_ax.legend(handles=[*handles, line], fontsize=7)
    for ax in (loss_ax, terms_ax):
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def plot_table(
    rows: Sequence[Mapping], title: str | None = None, xlabel: str | None = None
) -> Figure:
    """A bar chart of an ablation table (`glt.ablations`): our top-1 (last and best epoch) next
    to the paper's, per row (rows with "setting", "top1_last", "top1_best", "paper_xsub",
    "paper_xview", "benchmark", "table"). Rows over several seeds (`glt.results.aggregate_seeds`)
    show the mean, with the range over the seeds (top1_last_min / _max ...) as error bars and
    the number of seeds under the row's name; a paper number that is None has no bar.

    The paper's bars are those of the rows' benchmark (xsub or xview) when the data is one of
    them, otherwise both.
    """
    if not rows:
        raise ValueError("plot_table: no rows given")
    benchmark = rows[0].get("benchmark")
    paper = [benchmark] if benchmark in ("xsub", "xview") else ["xsub", "xview"]
    multi = any(r.get("seeds", 1) > 1 for r in rows)
    over = ": mean, min to max over seeds" if multi else ""
    series = [(f"ours, last epoch{over}", "top1_last"), (f"ours, best epoch{over}", "top1_best")]
    series += [(f"paper, NTU-60 {b}", f"paper_{b}") for b in paper]
    fig, ax = plt.subplots(figsize=(2.8 + 1.5 * len(rows), 3.6), layout="constrained")
    width = 0.8 / len(series)
    x = np.arange(len(rows))
    for i, (label, key) in enumerate(series):
        values = np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)
        spread = None  # the range over seeds, for our bars
        if key.startswith("top1"):
            low = np.array([r.get(f"{key}_min", r[key]) for r in rows], dtype=float)
            high = np.array([r.get(f"{key}_max", r[key]) for r in rows], dtype=float)
            spread = [values - low, high - values]
        bars = ax.bar(
            x + (i - (len(series) - 1) / 2) * width, values, width, label=label,
            yerr=spread, capsize=2, error_kw={"elinewidth": 0.8},
        )  # fmt: skip
        texts = ["" if np.isnan(v) else f"{v:.1f}" for v in values]
        ax.bar_label(bars, texts, fontsize=7, padding=1)
    names = [textwrap.fill(r["setting"], 16) for r in rows]
    if multi:
        names = [f"{n}\n({r['seeds']} seeds)" for n, r in zip(names, rows, strict=True)]
    ax.set_xticks(x, names, fontsize=8)
    ax.set_xlabel(xlabel or "row")
    ax.set_ylabel("linear evaluation top-1 (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or f"Table {rows[0]['table']}", fontsize=9)
    return fig


def plot_paper_deltas(
    panels: Mapping[str, Sequence[Mapping]], title: str | None = None, benchmark: str = "xsub"
) -> Figure:
    """Each ablation row's change from its table's baseline, ours next to the paper's: one panel
    per table (`panels`: {panel title: `glt.ablations.compare_with_paper` rows}).

    Per row: every seed's change as a dot, their mean with its 95 % interval as an error bar
    (the row's "margin"), and the paper's change on NTU-60 `benchmark` as a black diamond
    (none for a row the paper does not have). The changes are in points of top-1, so rows on a
    different dataset compare by direction and size, not by level.
    """
    if not panels or not any(panels.values()):
        raise ValueError("plot_paper_deltas: no rows given")
    widths = [max(2, len(rows)) for rows in panels.values()]  # room for a title over one row
    fig, axes = plt.subplots(
        1, len(panels), figsize=(1.0 + 1.4 * sum(widths), 4.0), layout="constrained",
        width_ratios=widths, squeeze=False,
    )  # fmt: skip
    for ax, (name, rows) in zip(axes[0], panels.items(), strict=True):
        x = np.arange(len(rows))
        paper_label = f"paper, NTU-60 {benchmark}"
        for i, r in enumerate(rows):
            dots = np.asarray(r["deltas"], dtype=float)
            ax.scatter(np.full(len(dots), i - 0.12), dots, s=12, color="C0", alpha=0.6,
                       label="ours, one seed" if i == 0 else None)  # fmt: skip
            ax.errorbar(i + 0.05, r["delta"], yerr=r.get("margin"),
                        fmt="o", color="C0", capsize=3, ms=6,
                        label="ours, mean and 95 % interval" if i == 0 else None)  # fmt: skip
            paper = r.get(f"paper_delta_{benchmark}")
            if paper is not None:
                ax.plot(i + 0.22, paper, "D", color="black", ms=5, label=paper_label)
                paper_label = None  # one legend entry
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(x, [textwrap.fill(r["setting"], 14) for r in rows], fontsize=8)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("change of top-1 (points)")
    handles = {}  # one legend for the figure, below the panels
    for ax in axes[0]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=3, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
