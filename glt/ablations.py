"""The supplementary's ablations (method §6): Table A (natural speed vs fixed-length sampling)
and Table B (pretraining on corrupted joints), each row a whole pretraining + linear evaluation.

    glt ablate --data DATA_DIR --out OUT [--table a|b|both] [--preset tiny|paper] [--rows ...]

Table A (supplementary B, "Effectiveness of natural-speed input"): the published pipeline feeds
every clip at its natural length, zero-padded in the batch and masked in attention ("natural").
The rows "resample150" and "resample300" instead resample every clip to 150 or 300 frames by linear
interpolation (`glt.data.augment.resample`), in pretraining (`PretrainConfig.resample`; the
interpolation augmentation is then skipped, a fixed length has no speed to jitter) and in the
linear evaluation, train and test clips alike (`ResampledDataset`); so these rows are evaluated
without the interpolation augmentation, whatever the preset says.

Table B (supplementary D, "Additional study for corrupted input sequence"): "we randomly set the
joint coordinates of the motion sequences to (0, 0, 0) and pretrain the proposed model with the
corrupted sequences", for 0, 5, 10, 15 and 20 % of the joints (`PretrainConfig.corrupt`; our
reading of which joints is in `glt.data.augment.corrupt_joints`). The linear evaluation sees
clean clips.

The output folder:

    table_a/<row>/ablation.json   the row's settings, checked when the row is met again
    table_a/<row>/run/            its pretraining run (`glt.pretrain`)
    table_a/<row>/eval/           its linear evaluation (`glt.evaluate.save_result`): result.json, ...
    table_a.csv, table_a.md, table_a.png    the table: our top-1 (last and best epoch) and the paper's
    table_b/..., table_b.csv, ...

A row whose eval/result.json exists is complete: it is read back, not recomputed, so an
interrupted ablation continues where it stopped (an unfinished pretraining resumes from its last
checkpoint). Table A's "natural" row and Table B's 0 % row are the same experiment: whichever
is asked for second copies the other's evaluation (its ablation.json says from where).

Rows run one after the other in one process (on one GPU with the paper preset); the command is
not meant for `torchrun`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from glt.atomic import atomic_write, staging_dir
from glt.data.augment import resample
from glt.data.store import PreparedDataset, SkeletonPart, open_dataset
from glt.errors import GLTError
from glt.evaluate import EvalResult, linear_eval, save_result
from glt.paths import runs_dir
from glt.pretrain import (
    TRAIN_PRESETS,
    PretrainConfig,
    load_encoder,
    load_metrics,
    parse_model_overrides,
    pretrain,
)

SETTINGS_FILE = "ablation.json"
RUN_DIR, EVAL_DIR = "run", "eval"

# --- the published tables -------------------------------------------------------------------------

PAPER_SOURCE = (
    "Kim et al., Global-local Motion Transformer for Unsupervised Skeleton-based Action "
    "Learning, ECCV 2022, supplementary Tables A and B: NTU-60 linear evaluation, top-1 (%) "
    "(method §6)"
)


@dataclass(frozen=True)
class AblationRow:
    """One row of a supplementary table: how pretraining (and evaluation) prepare the clips, and
    the published NTU-60 linear-evaluation top-1 (%) on the xsub and xview benchmarks."""

    key: str  # folder name and `--rows` name
    label: str  # the row's name in the supplementary
    paper_xsub: float
    paper_xview: float
    resample: int = 0  # clips resampled to this many frames (0: natural speed)
    corrupt: float = 0.0  # fraction of joints set to (0, 0, 0) in pretraining


@dataclass(frozen=True)
class AblationTable:
    """A supplementary table: its letter, what it studies and its rows in the published order."""

    letter: str
    title: str
    rows: tuple[AblationRow, ...]

    def row(self, key: str) -> AblationRow:
        for r in self.rows:
            if r.key == key:
                return r
        raise GLTError(f"Table {self.letter} has no row {key!r}; its rows: {self.keys}")

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.rows]


# Supplementary Table A (section B). Its first row, H-transformer (69.3 / 72.8), is another
# method and is not reproduced.
TABLE_A = AblationTable(
    "A",
    "natural-speed input vs fixed-length sampling",
    (
        AblationRow("resample150", "Sampling (150 frames)", 75.1, 80.2, resample=150),
        AblationRow("resample300", "Sampling (300 frames)", 73.2, 79.0, resample=300),
        AblationRow("natural", "Natural speed with attention mask", 76.3, 83.8),
    ),
)

# Supplementary Table B (section D).
TABLE_B = AblationTable(
    "B",
    "pretraining on motion sequences with randomly corrupted joints",
    tuple(
        AblationRow(f"corrupt{pct:02d}", f"{pct}%", xsub, xview, corrupt=pct / 100)
        for pct, xsub, xview in (
            (0, 76.3, 83.8),
            (5, 75.7, 82.5),
            (10, 74.2, 81.2),
            (15, 73.7, 79.9),
            (20, 72.4, 79.0),
        )
    ),
)

TABLES = {"a": TABLE_A, "b": TABLE_B}

# Linear-evaluation settings per preset. paper: method §5. tiny (CPU): the train features are
# encoded once (no augmentation), which makes the 100 epochs of the head cost almost nothing.
EVAL_PRESETS: dict[str, dict] = {
    "paper": {"epochs": 120, "batch_size": 1024, "lr": 3e-3, "augment": True},
    "tiny": {"epochs": 100, "batch_size": 256, "lr": 3e-3, "augment": False},
}

# Pretraining settings that do not change what a row computes (left out of its settings).
_NOT_SETTINGS = ("data", "workers", "device", "compile")

COLUMNS = (
    "table", "row", "setting", "resample", "corrupt",
    "top1_last", "top1_best", "best_epoch", "top5_last", "paper_xsub", "paper_xview",
    "benchmark", "data", "preset", "pretrain_epochs", "pretrain_loss", "pretrain_seconds",
    "eval_epochs", "eval_augment", "eval_seconds", "run_dir", "eval_dir", "reused_from",
)  # fmt: skip
_INT_COLUMNS = {"resample", "best_epoch", "pretrain_epochs", "eval_epochs"}
_FLOAT_COLUMNS = {
    "corrupt", "top1_last", "top1_best", "top5_last", "paper_xsub", "paper_xview",
    "pretrain_loss", "pretrain_seconds", "eval_seconds",
}  # fmt: skip


# --- clips resampled for the linear evaluation (Table A) ------------------------------------------


@dataclass
class ResampledPart(SkeletonPart):
    """A dataset part whose clips are resampled to `num_frames` frames as they are read."""

    num_frames: int = 0

    @property
    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.num_frames, dtype=np.int64)

    def clip(self, i: int) -> np.ndarray:
        """Clip i resampled to (num_frames, M, V, 3) float32 (`glt.data.augment.resample`)."""
        return resample(torch.tensor(super().clip(i)), self.num_frames).numpy()


@dataclass
class ResampledDataset(PreparedDataset):
    """A prepared dataset whose parts are `ResampledPart`s: what the linear evaluation of a
    Table A sampling row sees. `ResampledDataset.of(open_dataset(dir), 150)`."""

    num_frames: int = 0

    @classmethod
    def of(cls, dataset: PreparedDataset, num_frames: int) -> ResampledDataset:
        return cls(dataset.root, dataset.meta, dataset.layout, num_frames=num_frames)

    def part(self, name: str) -> ResampledPart:
        p = super().part(name)
        return ResampledPart(p.frames, p.offsets, p.labels, p.names, p.info, self.num_frames)


# --- running a table ------------------------------------------------------------------------------


def run_table_a(data_dir, out_dir, **kw) -> list[dict]:
    """Supplementary Table A (natural speed vs sampling to 150 / 300 frames); see `run_table`."""
    return run_table("a", data_dir, out_dir, **kw)


def run_table_b(data_dir, out_dir, **kw) -> list[dict]:
    """Supplementary Table B (pretraining with 0-20 % of joints corrupted); see `run_table`."""
    return run_table("b", data_dir, out_dir, **kw)


def run_table(
    table: str,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    preset: str = "tiny",
    rows: Sequence[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    eval_epochs: int | None = None,
    eval_batch_size: int | None = None,
    eval_lr: float | None = None,
    eval_augment: bool | None = None,
    seed: int = 0,
    model: dict | None = None,
    pretrain_options: dict | None = None,
    device: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run the rows of supplementary Table `table` ("a" or "b") on a prepared dataset and write
    the table into `out_dir` (see the module docstring for the folder layout).

    Each row pretrains an encoder (`glt.pretrain.pretrain`, `preset` "tiny" or "paper", with
    `epochs`, `batch_size`, `seed`, the GLTConfig overrides `model` and any other PretrainConfig
    fields in `pretrain_options`, e.g. {"max_steps": 20}) and evaluates it linearly
    (`glt.evaluate.linear_eval`; settings of EVAL_PRESETS[preset] unless given). `rows`: the row
    keys to run (default all). Complete rows are read back; a row met again with other settings
    is an error. `device`: for both steps (default: the GPU if there is one).

    Returns the table as written (table_X.csv): one dict per complete row of this table made
    with these settings, in the published order (COLUMNS).
    """
    spec = _table(table)
    keys = spec.keys if rows is None else list(rows)
    for key in keys:
        spec.row(key)  # an unknown key fails before anything runs
    if preset not in EVAL_PRESETS:
        raise GLTError(f"unknown preset {preset!r}; choose one of {sorted(EVAL_PRESETS)}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise GLTError("run the ablations as one process, not under torchrun")
    out_dir = Path(out_dir)
    dataset = open_dataset(data_dir)
    options = {"epochs": epochs, "batch_size": batch_size, "seed": seed, **(pretrain_options or {})}
    options = {k: v for k, v in options.items() if v is not None}
    given = dict(epochs=eval_epochs, batch_size=eval_batch_size, lr=eval_lr, augment=eval_augment)
    evaluation = {
        **EVAL_PRESETS[preset],
        **{k: v for k, v in given.items() if v is not None},
        "seed": seed,
    }
    settings = {
        r.key: _row_settings(r, dataset, preset, model or {}, options, evaluation)
        for r in spec.rows
    }
    for i, key in enumerate(keys, 1):
        row = spec.row(key)
        _run_row(
            spec, row, settings[key], dataset, out_dir,
            device=device, progress=progress, position=f"{i}/{len(keys)}",
        )  # fmt: skip
    table_rows = [
        _read_row(out_dir, spec, r)
        for r in spec.rows
        if _complete(out_dir / _folder(spec) / r.key)
        and _saved_settings(out_dir / _folder(spec) / r.key) == settings[r.key]
    ]
    if table_rows:
        paths = write_table(table_rows, out_dir / _folder(spec))
        if progress:
            tqdm.write(f"Table {spec.letter}: {', '.join(str(p) for p in paths)}")
    return table_rows


def _table(name: str) -> AblationTable:
    try:
        return TABLES[name.lower()]
    except KeyError:
        raise GLTError(f"unknown table {name!r}; choose one of {sorted(TABLES)}") from None


def _folder(spec: AblationTable) -> str:
    return f"table_{spec.letter.lower()}"


def _row_settings(
    row: AblationRow,
    dataset: PreparedDataset,
    preset: str,
    model: dict,
    options: dict,
    evaluation: dict,
) -> dict:
    """Everything a row's result depends on: the data, the full pretraining configuration and
    the evaluation settings (what ablation.json holds). Invalid settings fail here."""
    config = PretrainConfig.from_preset(
        preset,
        dataset.layout,
        model,
        **{**options, "resample": row.resample, "corrupt": row.corrupt},
    )
    pretraining = {k: v for k, v in config.to_dict().items() if k not in _NOT_SETTINGS}
    augment = evaluation["augment"] and not row.resample  # fixed-length clips: no speed jitter
    return {
        "data": str(Path(dataset.root).resolve()),
        "pretrain": pretraining,
        "eval": {**evaluation, "augment": augment, "resample": row.resample},
    }


def _complete(row_dir: Path) -> bool:
    return (row_dir / EVAL_DIR / "result.json").is_file()


def _record(row_dir: Path) -> dict | None:
    path = row_dir / SETTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _saved_settings(row_dir: Path) -> dict | None:
    record = _record(row_dir)
    return None if record is None else record["settings"]


def _write_record(row_dir: Path, record: dict) -> None:
    row_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(row_dir / SETTINGS_FILE, "w") as f:
        f.write(json.dumps(record, indent=2) + "\n")


def _differences(saved, wanted, name: str = "") -> list[str]:
    """'key: old -> new' for every leaf where two nested dicts differ."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [
            line
            for k in sorted(set(saved) | set(wanted))
            for line in _differences(saved.get(k), wanted.get(k), f"{name}.{k}" if name else k)
        ]
    return [] if saved == wanted else [f"{name}: {saved!r} -> {wanted!r}"]


def _check_settings(row_dir: Path, settings: dict) -> None:
    """Refuse to continue or reuse a row that was made with other settings."""
    saved = _saved_settings(row_dir)
    if saved is not None and saved != settings:
        changed = "; ".join(_differences(saved, settings))
        raise GLTError(
            f"{row_dir} was made with other settings ({changed}); choose another --out, "
            "or delete the row's folder to redo it"
        )


def _equivalent_row(out_dir: Path, row_dir: Path, settings: dict) -> Path | None:
    """A complete row of any table in `out_dir` made with exactly these settings."""
    for path in sorted(out_dir.glob(f"table_*/*/{SETTINGS_FILE}")):
        other = path.parent
        if other != row_dir and _complete(other) and _saved_settings(other) == settings:
            return other
    return None


def _run_row(
    spec: AblationTable,
    row: AblationRow,
    settings: dict,
    dataset: PreparedDataset,
    out_dir: Path,
    *,
    device: str | None,
    progress: bool,
    position: str,
) -> None:
    """Make one row complete: read it back, copy an identical row, or pretrain and evaluate."""
    row_dir = out_dir / _folder(spec) / row.key
    name = f"Table {spec.letter} [{position}] {row.key} ({row.label})"
    say = tqdm.write if progress else lambda line: None
    _check_settings(row_dir, settings)
    if _complete(row_dir):
        say(f"{name}: complete, reading {row_dir / EVAL_DIR}")
        return
    twin = _equivalent_row(out_dir, row_dir, settings)
    if twin is not None:
        with staging_dir(row_dir / EVAL_DIR, overwrite=True) as tmp:
            shutil.copytree(twin / EVAL_DIR, tmp, dirs_exist_ok=True)
        record = {"run": _record(twin)["run"], "reused_from": str(twin.relative_to(out_dir))}
        _write_record(row_dir, {"settings": settings, **record})
        say(f"{name}: the same experiment as {twin}, its result copied")
        return

    run_dir = row_dir / RUN_DIR
    record = {"run": str(run_dir.relative_to(out_dir)), "reused_from": None}
    _write_record(row_dir, {"settings": settings, **record})
    clips = f"clips resampled to {row.resample} frames" if row.resample else "natural speed"
    say(
        f"{name}: pretraining (epochs {settings['pretrain']['epochs']}, {clips}, "
        f"{100 * row.corrupt:g} % of joints corrupted), then linear evaluation"
    )
    _pretrain_row(dataset.root, run_dir, settings["pretrain"], device, progress)
    result = _evaluate_row(spec, row, run_dir, dataset, settings["eval"], device, progress)
    save_result(
        result, row_dir / EVAL_DIR, layout=dataset.layout, encoder_run=run_dir, overwrite=True
    )
    best = result.best or {}
    say(
        f"{name}: top-1 {result.top1:.2f} % (last epoch), {best.get('top1', float('nan')):.2f} % "
        f"(best, epoch {best.get('epoch')}); paper: {row.paper_xsub} xsub, "
        f"{row.paper_xview} xview"
    )


def _pretrain_row(
    data_dir: Path, run_dir: Path, pretraining: dict, device: str | None, progress: bool
) -> None:
    """Pretrain a row's encoder with its pretraining settings (or resume an unfinished run)."""
    options = dict(pretraining)
    preset = options.pop("preset")
    layout_fields = ("num_joints", "num_persons", "center_joint")  # they come from the data
    model = {k: v for k, v in options.pop("model").items() if k not in layout_fields}
    pretrain(
        data_dir,
        run_dir,
        preset,
        model=model,
        resume=True,  # starts the run when there is none yet
        progress=progress,
        device=device,
        **options,
    )


def _evaluate_row(
    spec: AblationTable,
    row: AblationRow,
    run_dir: Path,
    dataset: PreparedDataset,
    evaluation: dict,
    device: str | None,
    progress: bool,
) -> EvalResult:
    """Linear evaluation of a row's encoder, on clips prepared as in its pretraining: resampled
    for Table A's sampling rows, as they are (clean) otherwise."""
    data = ResampledDataset.of(dataset, row.resample) if row.resample else dataset
    result = linear_eval(
        load_encoder(run_dir),
        data,
        epochs=evaluation["epochs"],
        batch_size=evaluation["batch_size"],
        lr=evaluation["lr"],
        augment=evaluation["augment"],
        seed=evaluation["seed"],
        device=device,
        progress=progress,
    )
    result.info["encoder"] = str(run_dir)
    result.info["ablation"] = f"Table {spec.letter}, {row.label}"
    result.settings["clips"] = (
        f"resampled to {row.resample} frames" if row.resample else "natural length"
    )
    return result


def _read_row(out_dir: Path, spec: AblationTable, row: AblationRow) -> dict:
    """A complete row as a table line (COLUMNS)."""
    row_dir = out_dir / _folder(spec) / row.key
    record = _record(row_dir)
    result = json.loads((row_dir / EVAL_DIR / "result.json").read_text())
    run_dir = out_dir / record["run"]
    metrics = load_metrics(run_dir)
    settings = record["settings"]
    best = result.get("best") or {}
    return {
        "table": spec.letter,
        "row": row.key,
        "setting": row.label,
        "resample": row.resample,
        "corrupt": row.corrupt,
        "top1_last": result["top1"],
        "top1_best": best.get("top1"),
        "best_epoch": best.get("epoch"),
        "top5_last": result.get("top5"),
        "paper_xsub": row.paper_xsub,
        "paper_xview": row.paper_xview,
        "benchmark": _benchmark(settings["data"]),
        "data": settings["data"],
        "preset": settings["pretrain"]["preset"],
        "pretrain_epochs": metrics[-1]["epoch"] if metrics else None,
        "pretrain_loss": metrics[-1]["loss"] if metrics else None,
        "pretrain_seconds": round(sum(m["seconds"] for m in metrics), 1),
        "eval_epochs": settings["eval"]["epochs"],
        "eval_augment": settings["eval"]["augment"],
        "eval_seconds": result["settings"].get("seconds"),
        "run_dir": str(run_dir),
        "eval_dir": str(row_dir / EVAL_DIR),
        "reused_from": record.get("reused_from"),
    }


def _benchmark(data_dir: str) -> str:
    """The benchmark a prepared dataset was written for ("xsub", "xview", ...), or ""."""
    try:
        return str(open_dataset(data_dir).meta.get("benchmark") or "")
    except (FileNotFoundError, GLTError):
        return ""


# --- the table as files and as a figure -----------------------------------------------------------


def write_table(rows: Sequence[dict], stem: str | os.PathLike) -> list[Path]:
    """Write rows (`run_table`'s) as STEM.csv, STEM.md and STEM.png; returns the paths."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    csv_path, md_path, png_path = (stem.with_suffix(s) for s in (".csv", ".md", ".png"))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows([{k: ("" if r.get(k) is None else r[k]) for k in COLUMNS} for r in rows])
    md_path.write_text(table_markdown(rows))
    fig = plot_table(rows)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return [csv_path, md_path, png_path]


def read_table(path: str | os.PathLike) -> list[dict]:
    """The rows of a table_X.csv written by `run_table`, with numbers as numbers (None if empty)."""

    def convert(key: str, value: str):
        if value == "":
            return None
        if key in _INT_COLUMNS:
            return int(value)
        if key in _FLOAT_COLUMNS:
            return float(value)
        if key == "eval_augment":
            return value == "True"
        return value

    with open(path, newline="") as f:
        return [{k: convert(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def _fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_markdown(rows: Sequence[dict]) -> str:
    """The table in markdown: our top-1 (last and best epoch) next to the paper's."""
    if not rows:
        raise ValueError("table_markdown: no rows given")
    spec = _table(rows[0]["table"])
    first = rows[0]
    lines = [
        f"# Table {spec.letter}: {spec.title}",
        "",
        f"Ours: data {first['data']}, {first['preset']} preset, pretraining epochs: "
        f"{first['pretrain_epochs']}, linear-evaluation epochs: {first['eval_epochs']}. "
        "Paper: NTU-60, linear evaluation.",
        "",
        "| Type | ours top-1 (%), last | ours top-1 (%), best (epoch) "
        "| paper xsub (%) | paper xview (%) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        best = f"{_fmt(r['top1_best'])} ({r['best_epoch']})" if r["top1_best"] is not None else "-"
        lines.append(
            f"| {r['setting']} | {_fmt(r['top1_last'])} | {best} "
            f"| {r['paper_xsub']:.1f} | {r['paper_xview']:.1f} |"
        )
    lines += [
        "",
        "Last: the last epoch of the linear evaluation. Best: the best test top-1 over the epochs "
        "after the first half, as the authors' code reports it (method §5).",
        f"Paper numbers: {PAPER_SOURCE}.",
    ]
    return "\n".join(lines) + "\n"


def plot_table(rows: Sequence[dict], title: str | None = None):
    """A bar chart of a table: our top-1 (last and best epoch) next to the paper's, per row.

    The paper's bars are those of the rows' benchmark (xsub or xview) when the data is one of
    them, otherwise both. Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("plot_table: no rows given")
    benchmark = rows[0].get("benchmark")
    paper = [benchmark] if benchmark in ("xsub", "xview") else ["xsub", "xview"]
    series = [("ours, last epoch", "top1_last"), ("ours, best epoch", "top1_best")]
    series += [(f"paper, NTU-60 {b}", f"paper_{b}") for b in paper]
    fig, ax = plt.subplots(figsize=(2.8 + 1.5 * len(rows), 3.6), layout="constrained")
    width = 0.8 / len(series)
    x = np.arange(len(rows))
    for i, (label, key) in enumerate(series):
        values = [np.nan if r.get(key) is None else r[key] for r in rows]
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, [textwrap.fill(r["setting"], 16) for r in rows], fontsize=8)
    ax.set_xlabel("pretraining input" if rows[0]["table"] == "A" else "corrupted joints")
    ax.set_ylabel("linear evaluation top-1 (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or f"Table {rows[0]['table']}: {_table(rows[0]['table']).title}", fontsize=9)
    return fig


# --- command line ---------------------------------------------------------------------------------


# fmt: off
def add_commands(subparsers) -> None:
    """Add `glt ablate`."""
    p = subparsers.add_parser(
        "ablate",
        help="the supplementary's Tables A and B (pretraining + linear evaluation per row)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--data", required=True, type=Path, metavar="DATA_DIR",
                   help="prepared benchmark folder, e.g. datasets/ntu60/xsub")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default $GLT_RUNS/ablations-PRESET)")
    p.add_argument("--table", choices=("a", "b", "both"), default="both", help="default both")
    p.add_argument("--rows", nargs="+", metavar="ROW",
                   help="run only these rows: " + ", ".join(TABLE_A.keys + TABLE_B.keys))
    p.add_argument("--preset", choices=sorted(TRAIN_PRESETS), default="tiny",
                   help="model, pretraining and evaluation sizes (default tiny; paper on a GPU)")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model setting, e.g. --model depth=1")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="pretraining and evaluation seed (default 0)")
    g = p.add_argument_group("pretraining (defaults: the preset's)")
    g.add_argument("--epochs", type=int, metavar="N", help="paper 120, tiny 5")
    g.add_argument("--batch-size", type=int, metavar="N", help="paper 128, tiny 16")
    g.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps")
    g = p.add_argument_group("linear evaluation (defaults: the preset's)")
    g.add_argument("--eval-epochs", type=int, metavar="N", help="paper 120, tiny 100")
    g.add_argument("--eval-batch-size", type=int, metavar="N", help="paper 1024, tiny 256")
    g.add_argument("--eval-augment", action=argparse.BooleanOptionalAction,
                   help="interpolation augmentation for the natural-speed rows (paper on; "
                   "tiny off: the train features are encoded once)")
    r = p.add_argument_group("how it runs")
    r.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU if there is one)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cli)
# fmt: on


def _cli(args: argparse.Namespace) -> int:
    tables = ["a", "b"] if args.table == "both" else [args.table]
    if args.rows:
        unknown = sorted(set(args.rows) - {k for t in tables for k in TABLES[t].keys})
        if unknown:
            choices = ", ".join(k for t in tables for k in TABLES[t].keys)
            raise GLTError(f"unknown row(s) {unknown}; choose from {choices}")
        tables = [t for t in tables if set(args.rows) & set(TABLES[t].keys)]
    out = args.out or runs_dir() / f"ablations-{args.preset}"
    for t in tables:
        rows = run_table(
            t,
            args.data,
            out,
            preset=args.preset,
            rows=None if not args.rows else [k for k in TABLES[t].keys if k in args.rows],
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_epochs=args.eval_epochs,
            eval_batch_size=args.eval_batch_size,
            eval_augment=args.eval_augment,
            seed=args.seed,
            model=parse_model_overrides(args.model),
            pretrain_options={"max_steps": args.max_steps},
            device=args.device,
            progress=not args.quiet,
        )
        print(table_markdown(rows))
    print(f"Ablation folder: {out}")
    return 0
