"""Results and their files: an evaluation's folder, a saved classifier, an ablation table.

An evaluation (`glt.evaluate`) returns an `EvalResult`; `save_result` writes it as one folder:

    result.json     the numbers, the settings, the confusion matrix of the last epoch
    result.md       a table
    metrics.jsonl   one row per epoch (per k for kNN)
    classifier.pt   the trained GLTClassifier (format "glt-classifier"): its state dict, without
                    the encoder when that is the frozen encoder of a run folder, plus what
                    rebuilds it; `load_classifier` reads it back

An ablation table (`glt.ablations`) is written as STEM.csv, STEM.md, STEM.png (its rows over their
seeds) and STEM_seeds.csv (every run) (`write_table`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from glt import viz
from glt.atomic import staging_dir
from glt.checkpoint import load_plain
from glt.errors import DataError
from glt.layout import SkeletonLayout
from glt.model import GLTClassifier, GLTConfig
from glt.run import load_encoder

CLASSIFIER_FORMAT = "glt-classifier"


# --- an evaluation ------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """What a protocol produced. `top1`/`top5` are the headline numbers (last epoch, or the
    first k of kNN), in percent; `best` is the authors' best-epoch number for trained protocols."""

    protocol: str
    top1: float
    top5: float | None
    confusion: np.ndarray  # (K, K) counts, rows = true class
    metrics: list[dict] = field(default_factory=list)  # one row per epoch (per k for kNN)
    best: dict | None = None  # {"epoch", "top1", "top5"}
    settings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # data, encoder, clip and class counts
    model: GLTClassifier | None = None  # what a trained protocol trained: encoder + linear head
    with_encoder: bool = False  # keep the encoder's weights with the head (see `state_dict`)
    encoder_config: dict | None = None
    encoder_fingerprint: float | None = None  # `fingerprint` of a frozen encoder's weights

    @property
    def state_dict(self) -> dict | None:
        """The weights to keep, on the CPU: the GLTClassifier's state dict, without the encoder
        unless `with_encoder` (a fine-tuned encoder, or one nothing else can rebuild)."""
        if self.model is None:
            return None
        return {
            k: v.detach().cpu()
            for k, v in self.model.state_dict().items()
            if self.with_encoder or not k.startswith("encoder.")
        }

    def to_dict(self) -> dict:
        """JSON-friendly summary (everything but the weights)."""
        return {
            "protocol": self.protocol,
            "top1": self.top1,
            "top5": self.top5,
            "best": self.best,
            **self.info,
            "settings": self.settings,
            "encoder_config": self.encoder_config,
            "confusion": self.confusion.astype(int).tolist(),
        }

    def to_markdown(self) -> str:
        """A short markdown report: one table of accuracies and the settings."""
        i = self.info
        title = f"# {self.protocol}: {i.get('data_name', '?')}\n\n"
        head = "| protocol | data | encoder | train clips | test clips | top-1 (%) | top-5 (%) |"
        rule = "|---|---|---|---|---|---|---|"
        top5 = "-" if self.top5 is None else f"{self.top5:.2f}"
        cells = (
            f"| {self.protocol} | {i.get('data_name', '-')} | {i.get('encoder', '-')} | "
            f"{i.get('num_train') or '-'} | {i.get('num_test')} | {self.top1:.2f} | {top5} |"
        )
        if self.best is not None:
            head, rule = head + " best top-1 (%) | best epoch |", rule + "---|---|"
            cells += f" {self.best['top1']:.2f} | {self.best['epoch']} |"
        lines = [title + head, rule, cells]
        if self.protocol == "knn":
            lines += ["", "| k | top-1 (%) | top-5 (%) |", "|---|---|---|"]
            for row in self.metrics:
                t5 = "-" if row["top5"] is None else f"{row['top5']:.2f}"
                lines.append(f"| {row['k']} | {row['top1']:.2f} | {t5} |")
        settings = ", ".join(f"{k} {v}" for k, v in self.settings.items())
        lines += ["", f"Settings: {settings}."]
        if self.best is not None:
            lines += [
                "",
                "top-1/top-5: last epoch. Best: the best test top-1 over the epochs after the "
                "first half, as the authors' code reports it (method §5).",
            ]
        return "\n".join(lines) + "\n"


def fingerprint(state_dict: dict) -> float:
    """A checksum of weights (sum of absolute values, float64), to recognise an encoder."""
    return float(sum(v.detach().double().abs().sum().item() for v in state_dict.values()))


def save_result(
    result: EvalResult,
    out_dir: str | Path,
    *,
    layout: SkeletonLayout | None = None,
    encoder_run: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an evaluation folder (see the module docstring); `encoder_run` names the run folder
    whose frozen encoder the head was trained on. Refuses to replace a folder unless `overwrite`."""
    out_dir = Path(out_dir)
    run = None if encoder_run is None else str(Path(encoder_run).resolve())
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        summary = result.to_dict()
        if run is not None:
            summary["encoder_run"] = run
        (tmp / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        (tmp / "result.md").write_text(result.to_markdown())
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in result.metrics))
        state = result.state_dict
        if state is not None:
            torch.save(
                {
                    "format": CLASSIFIER_FORMAT,
                    "protocol": result.protocol,
                    "encoder_config": result.encoder_config,
                    "num_classes": result.info["num_classes"],
                    "class_names": result.info.get("class_names"),
                    "layout": None if layout is None else layout.to_dict(),
                    "encoder_run": run,
                    "encoder_fingerprint": result.encoder_fingerprint,
                    "state_dict": state,
                },
                tmp / "classifier.pt",
            )
    return out_dir


def load_classifier(
    folder: str | Path, run: str | Path | None = None
) -> tuple[GLTClassifier, dict]:
    """A classifier saved by an evaluation (its classifier.pt) -> (GLTClassifier, metadata).

    When the file holds only the head (frozen protocols), the encoder comes from the run folder
    recorded in it, or from `run` if given (e.g. after moving the run); it must be the encoder
    the head was trained on.
    """
    path = Path(folder) / "classifier.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass the output folder of an evaluation")
    saved = load_plain(path, "classifier")
    found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
    if found != CLASSIFIER_FORMAT:
        raise DataError(f"{path} is not a glt classifier (format {found!r})")
    config = GLTConfig.from_dict(saved["encoder_config"])
    state = saved["state_dict"]
    encoder = None
    if not any(k.startswith("encoder.") for k in state):
        source = run or saved.get("encoder_run")
        if source is None:
            raise DataError(f"{path} holds no encoder and names no run folder; pass --run")
        encoder = load_encoder(source)
        expected = saved.get("encoder_fingerprint")
        same = encoder.config.to_dict() == config.to_dict() and (
            expected is None
            or math.isclose(fingerprint(encoder.state_dict()), expected, rel_tol=1e-9)
        )
        if not same:
            raise DataError(
                f"the encoder of {source} is not the one {path} was trained on "
                "(another run, or the run was trained further)"
            )
        state = {**encoder.state_dict(prefix="encoder."), **state}  # as inside the classifier
    model = GLTClassifier(config, saved["num_classes"], encoder=encoder)
    model.load_state_dict(state)
    return model, {k: v for k, v in saved.items() if k != "state_dict"}


# --- an ablation table ----------------------------------------------------------------------------

# One line per (row, seed) run: what `glt.ablations` reads back from a finished run.
RUN_COLUMNS = (
    "table", "row", "setting", "resample", "corrupt", "seed",
    "top1_last", "top1_best", "best_epoch", "top5_last", "num_test", "paper_xsub", "paper_xview",
    "benchmark", "data", "preset", "pretrain_epochs", "pretrain_loss", "pretrain_seconds",
    "eval_epochs", "eval_augment", "eval_seconds", "run_dir", "eval_dir", "reused_from",
)  # fmt: skip
# One line per row, over its seeds (`aggregate_seeds`): top1_last and top1_best are the means,
# _std the sample standard deviation (None for one seed), _min / _max the range.
TABLE_COLUMNS = (
    "table", "row", "setting", "resample", "corrupt", "seeds", "seed_list",
    "top1_last", "top1_last_std", "top1_last_min", "top1_last_max",
    "top1_best", "top1_best_std", "top1_best_min", "top1_best_max", "best_epochs",
    "top5_last", "num_test", "paper_xsub", "paper_xview", "benchmark", "data", "preset",
    "pretrain_epochs", "pretrain_loss", "pretrain_seconds", "eval_epochs", "eval_augment",
    "eval_seconds", "reused_from",
)  # fmt: skip
_SPREAD = ("top1_last", "top1_best")  # the columns given with their spread over seeds
_MEAN = ("top5_last", "pretrain_loss", "pretrain_seconds", "eval_seconds")  # given as means
_SAME = (
    "table", "setting", "resample", "corrupt", "num_test", "paper_xsub", "paper_xview", "benchmark",
    "data", "preset", "pretrain_epochs", "eval_epochs", "eval_augment",
)  # fmt: skip
_INT_COLUMNS = {
    "resample", "seed", "seeds", "best_epoch", "num_test", "pretrain_epochs", "eval_epochs",
}  # fmt: skip
_TEXT_COLUMNS = {
    "table", "row", "setting", "seed_list", "best_epochs", "benchmark", "data", "preset",
    "run_dir", "eval_dir", "reused_from",
}  # fmt: skip


def aggregate_seeds(runs: Sequence[dict]) -> list[dict]:
    """Table rows (TABLE_COLUMNS) from runs (RUN_COLUMNS): one per row key, in the order the
    keys first appear, over that row's runs (one per seed). Per row: the number of seeds and
    which; the mean, sample standard deviation and range of the last-epoch and best-epoch top-1;
    the means of the other numbers; the settings every run shares (the first run's)."""
    by_row: dict[str, list[dict]] = {}
    for run in runs:
        by_row.setdefault(run["row"], []).append(run)
    rows = []
    for key, group in by_row.items():
        row = {"row": key, **{k: group[0][k] for k in _SAME}}
        row["seeds"] = len(group)
        row["seed_list"] = " ".join(str(r["seed"]) for r in group)
        for k in _SPREAD:
            values = np.array([r[k] for r in group], dtype=float)
            row[k] = float(values.mean())
            row[f"{k}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
            row[f"{k}_min"], row[f"{k}_max"] = float(values.min()), float(values.max())
        for k in _MEAN:
            values = [r[k] for r in group if r.get(k) is not None]
            row[k] = float(np.mean(values)) if values else None
        row["best_epochs"] = " ".join(str(r["best_epoch"]) for r in group)
        sources = sorted({r["reused_from"] for r in group if r.get("reused_from")})
        row["reused_from"] = ", ".join(sources) or None
        rows.append({k: row[k] for k in TABLE_COLUMNS})
    return rows


def _write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{k: ("" if r.get(k) is None else r[k]) for k in columns} for r in rows])


def write_table(
    runs: Sequence[dict], stem: str | os.PathLike, *, title: str, xlabel: str, source: str
) -> list[Path]:
    """Write an ablation table from its runs (RUN_COLUMNS, one per row and seed): the rows over
    their seeds (`aggregate_seeds`) as STEM.csv, STEM.md (`table_markdown`) and STEM.png
    (`glt.viz.plot_table`), and every run as STEM_seeds.csv; returns the four paths."""
    stem = Path(stem)
    rows = aggregate_seeds(runs)
    csv_path, md_path, png_path = (stem.with_suffix(s) for s in (".csv", ".md", ".png"))
    seeds_path = stem.with_name(f"{stem.name}_seeds.csv")
    _write_csv(csv_path, rows, TABLE_COLUMNS)
    _write_csv(seeds_path, runs, RUN_COLUMNS)
    md_path.write_text(table_markdown(rows, title, source))
    fig = viz.plot_table(rows, title=title, xlabel=xlabel)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return [csv_path, md_path, png_path, seeds_path]


def read_table(path: str | os.PathLike) -> list[dict]:
    """The lines of a table's CSV (STEM.csv or STEM_seeds.csv, `write_table`), with numbers as
    numbers (None if empty)."""

    def convert(key: str, value: str):
        if value == "":
            return None
        if key in _INT_COLUMNS:
            return int(value)
        if key == "eval_augment":
            return value == "True"
        if key in _TEXT_COLUMNS:
            return value
        return float(value)

    with open(path, newline="") as f:
        return [{k: convert(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def _fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _spread(row: dict, key: str) -> str:
    """'mean ± std [min, max]' of a column over the row's seeds; the value alone for one seed."""
    if row["seeds"] == 1:
        return _fmt(row[key])
    return (
        f"{_fmt(row[key])} ± {_fmt(row[f'{key}_std'])} "
        f"[{_fmt(row[f'{key}_min'])}, {_fmt(row[f'{key}_max'])}]"
    )


def table_markdown(rows: Sequence[dict], title: str, source: str) -> str:
    """The table in markdown (rows of `aggregate_seeds`): our top-1 (last and best epoch, mean
    ± sample std [min, max] over the seeds) next to the paper's (`source`)."""
    if not rows:
        raise ValueError("table_markdown: no rows given")
    first = rows[0]
    absent = [r["setting"] for r in rows if r["paper_xsub"] is None]
    lines = [
        f"# {title}",
        "",
        f"Ours: data {first['data']}, {first['preset']} preset, pretraining epochs: "
        f"{first['pretrain_epochs']}, linear-evaluation epochs: {first['eval_epochs']}. "
        "Paper: NTU-60, linear evaluation.",
        "",
        "| Type | seeds | ours top-1 (%), last | ours top-1 (%), best "
        "| paper xsub (%) | paper xview (%) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = [
            "not in the paper" if r[k] is None else f"{r[k]:.1f}"
            for k in ("paper_xsub", "paper_xview")
        ]
        lines.append(
            f"| {r['setting']} | {r['seeds']} | {_spread(r, 'top1_last')} "
            f"| {_spread(r, 'top1_best')} | {paper[0]} | {paper[1]} |"
        )
    lines += [
        "",
        "Last: the last epoch of the linear evaluation. Best: the best test top-1 over epoch 1 "
        "and the epochs after the first half, the epochs the authors' code tests (method §5). "
        "With several seeds: "
        "mean ± sample standard deviation [min, max] over the seeds (pretraining and evaluation "
        "both seeded).",
        f"Paper numbers: {source}.",
    ]
    if absent:
        lines.append(f"Not in the paper: {', '.join(absent)} (our addition).")
    return "\n".join(lines) + "\n"
