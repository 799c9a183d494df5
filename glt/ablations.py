"""The supplementary's ablations (method §6): Table A (natural speed vs fixed-length sampling)
and Table B (pretraining on corrupted joints), each row a whole pretraining + linear evaluation.

    glt ablate --data DATA_DIR --out OUT [--table a|b|both] [--preset tiny|paper] [--rows ...]

This module holds the tables (our rows next to the published numbers) and runs them; the command
line is `glt.commands.ablate`, the table files `glt.results.write_table`.

Table A (supplementary B, "Effectiveness of natural-speed input"): the published pipeline feeds
every clip at its natural length, zero-padded in the batch and masked in attention ("natural").
The rows "resample150" and "resample300" instead resample every clip to 150 or 300 frames by linear
interpolation (`glt.data.augment.resample`), in pretraining (`PretrainConfig.resample`; the
interpolation augmentation is then skipped, a fixed length has no speed to jitter) and in the
linear evaluation, train and test clips alike (`glt.data.resampled`); so these rows are evaluated
without the interpolation augmentation, whatever the preset says.

Table B (supplementary D, "Additional study for corrupted input sequence"): "we randomly set the
joint coordinates of the motion sequences to (0, 0, 0) and pretrain the proposed model with the
corrupted sequences", for 0, 5, 10, 15 and 20 % of the joints (`PretrainConfig.corrupt`; our
reading of which joints is in `glt.data.augment.corrupt_joints`). The linear evaluation sees
clean clips.

The output folder:

    table_a/<row>/ablation.json   the row's settings, checked when the row is met again
    table_a/<row>/run/            its pretraining run (`glt.pretrain`, `glt.run`)
    table_a/<row>/eval/           its linear evaluation (`glt.results.save_result`): result.json, ...
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

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tqdm.auto import tqdm

from glt.atomic import atomic_write, staging_dir
from glt.config import LinearConfig, PretrainConfig
from glt.data.resampled import ResampledDataset
from glt.data.store import PreparedDataset, open_dataset
from glt.errors import GLTError
from glt.evaluate import linear_eval
from glt.model import LAYOUT_FIELDS
from glt.pretrain import pretrain
from glt.results import EvalResult, save_result, write_table
from glt.run import load_encoder, load_metrics

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
    xlabel: str  # what the rows vary, for the figure
    rows: tuple[AblationRow, ...]

    def row(self, key: str) -> AblationRow:
        for r in self.rows:
            if r.key == key:
                return r
        raise GLTError(f"Table {self.letter} has no row {key!r}; its rows: {self.keys}")

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.rows]

    @property
    def heading(self) -> str:
        return f"Table {self.letter}: {self.title}"

    @property
    def folder(self) -> str:
        return f"table_{self.letter.lower()}"


# Supplementary Table A (section B). Its first row, H-transformer (69.3 / 72.8), is another
# method and is not reproduced.
TABLE_A = AblationTable(
    "A",
    "natural-speed input vs fixed-length sampling",
    "pretraining input",
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
    "corrupted joints",
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

# Pretraining settings that do not change what a row computes (left out of its settings).
_NOT_SETTINGS = ("data", "workers", "device", "compile")

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
    (`glt.evaluate.linear_eval`; `LinearConfig.preset(preset)` unless given). `rows`: the row
    keys to run (default all). Complete rows are read back; a row met again with other settings
    is an error. `device`: for both steps (default: the GPU if there is one).

    Returns the table as written (table_X.csv): one dict per complete row of this table made
    with these settings, in the published order (`glt.results.TABLE_COLUMNS`).
    """
    spec = _table(table)
    keys = spec.keys if rows is None else list(rows)
    for key in keys:
        spec.row(key)  # an unknown key fails before anything runs
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise GLTError("run the ablations as one process, not under torchrun")
    out_dir = Path(out_dir)
    dataset = open_dataset(data_dir)
    options = {"epochs": epochs, "batch_size": batch_size, "seed": seed, **(pretrain_options or {})}
    options = {k: v for k, v in options.items() if v is not None}
    given = dict(epochs=eval_epochs, batch_size=eval_batch_size, lr=eval_lr, augment=eval_augment)
    given = {k: v for k, v in given.items() if v is not None}
    evaluation = asdict(LinearConfig.preset(preset, **given, seed=seed))
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
        if _complete(out_dir / spec.folder / r.key)
        and _saved_settings(out_dir / spec.folder / r.key) == settings[r.key]
    ]
    if table_rows:
        paths = write_table(
            table_rows, out_dir / spec.folder,
            title=spec.heading, xlabel=spec.xlabel, source=PAPER_SOURCE,
        )  # fmt: skip
        if progress:
            tqdm.write(f"Table {spec.letter}: {', '.join(str(p) for p in paths)}")
    return table_rows


def finished_rows(out_dir: str | os.PathLike, table: str) -> list[str]:
    """The keys of Table `table`'s rows that are complete in `out_dir`, whatever their settings
    (`run_table` reads those back when the settings match, and refuses them otherwise)."""
    spec = _table(table)
    return [r.key for r in spec.rows if _complete(Path(out_dir) / spec.folder / r.key)]


def _table(name: str) -> AblationTable:
    try:
        return TABLES[name.lower()]
    except KeyError:
        raise GLTError(f"unknown table {name!r}; choose one of {sorted(TABLES)}") from None


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
    row_dir = out_dir / spec.folder / row.key
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
    model = {k: v for k, v in options.pop("model").items() if k not in LAYOUT_FIELDS}  # data's
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
    protocol = {f.name: evaluation[f.name] for f in fields(LinearConfig)}
    result = linear_eval(load_encoder(run_dir), data, **protocol, device=device, progress=progress)
    result.info["encoder"] = str(run_dir)
    result.info["ablation"] = f"Table {spec.letter}, {row.label}"
    result.settings["clips"] = (
        f"resampled to {row.resample} frames" if row.resample else "natural length"
    )
    return result


def _read_row(out_dir: Path, spec: AblationTable, row: AblationRow) -> dict:
    """A complete row as a table line (`glt.results.TABLE_COLUMNS`)."""
    row_dir = out_dir / spec.folder / row.key
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
