"""The supplementary's ablations (method §6): Table A (natural speed vs fixed-length sampling)
and Table B (pretraining on corrupted joints), each row a whole pretraining + linear evaluation,
repeated over seeds.

    glt ablate --data DATA_DIR --out OUT [--table a|b|both] [--preset tiny|nwucla|paper]
               [--rows ...] [--seeds 3 | --seeds 0 1 2]

This module holds the tables (our rows next to the published numbers) and runs them; the command
line is `glt.commands.ablate`, the table files `glt.results.write_table`.

Table A (supplementary B, "Effectiveness of natural-speed input"): the published pipeline feeds
every clip at its natural length, zero-padded in the batch and masked in attention ("natural").
The rows "resample150" and "resample300" instead resample every clip to 150 or 300 frames by
linear interpolation (`glt.data.augment.resample`), in pretraining (`PretrainConfig.resample`;
the interpolation augmentation is then skipped, a fixed length has no speed to jitter) and in
the linear evaluation, train and test clips alike (`glt.data.resampled`); so these rows are
evaluated without the interpolation augmentation, whatever the preset says. Everything else of
the linear protocol is the preset's for every row: with the authors' protocol (the `paper` and
`nwucla` presets) the frozen encoder is in train mode while the head trains and the train clips
are encoded again every epoch, resampled or not. "resample52" is our row, not the paper's (it
has no published number): 52 frames is the length NW-UCLA work usually resamples to. NW-UCLA
clips are short (about 43 frames on average in the train views, 31 in the test view), so 52
frames keeps their speed roughly, while 150 and 300 play them 3.5 and 7 times slower, with
displacements between neighbouring frames that much smaller.

Table B (supplementary D, "Additional study for corrupted input sequence"): "we randomly set the
joint coordinates of the motion sequences to (0, 0, 0) and pretrain the proposed model with the
corrupted sequences", for 0, 5, 10, 15 and 20 % of the joints (`PretrainConfig.corrupt`; our
reading of which joints is in `glt.data.augment.corrupt_joints`). The linear evaluation sees
clean clips.

Every row is run with every seed (`--seeds`): the seed drives the pretraining (weights, batch
order, augmentation, corruption) and the linear evaluation (head, shuffling, augmentation). The
output folder:

    table_a/<row>/seed<n>/ablation.json   the run's settings, checked when it is met again (the
                                          data by content hash: the folder may move)
    table_a/<row>/seed<n>/run/            its pretraining run (`glt.pretrain`, `glt.run`)
    table_a/<row>/seed<n>/eval/           its linear evaluation (`glt.results.save_result`)
    table_a.csv, table_a.md, table_a.png  the table: per row, our top-1 (last and best epoch) as
                                          mean, sample std and range over the seeds, and the paper's
    table_a_seeds.csv                     every run's numbers
    table_b/..., table_b.csv, ...
    changes.csv, changes.md, changes.png  every row's change from its table's baseline (natural
                                          speed, 0 %) over the seeds, its 95 % interval, next to
                                          the paper's change (`compare_with_paper`, written by
                                          `glt ablate`)

A run whose eval/result.json exists is complete: it is read back, not recomputed, so an
interrupted ablation continues where it stopped (an unfinished pretraining resumes from its last
checkpoint). Runs go seed by seed (all rows of seed 0 first), and the table files are rewritten
after every run. Table A's "natural" row and Table B's 0 % row are the same experiment: for each
seed, whichever is asked for second copies the other's evaluation (its ablation.json says from
where).

How long a full NW-UCLA run takes (`--preset nwucla --seeds 3`, both tables: 8 distinct rows x
3 seeds, each 80 pretraining epochs and 120 linear-evaluation epochs), from CPU seconds per
epoch on one thread of a quiet machine, pretraining / linear evaluation (the train clips
encoded again every epoch): natural speed 6.8 / 1.6, 52 frames 6.6 / 1.6, 150 frames 18.9 / 4.9,
300 frames 40.7 / 11.5. Per seed that is about 12 minutes for the natural row and for each
corrupted row, 12 for 52 frames, 35 for 150 and 77 for 300: about 3.1 hours per seed and 9.2
hours of one core for 3 seeds, a projection (the 300-frame row is 42 % of it). Two processes
side by side (`--rows` splits the rows, or one `--table` each) use two cores; they may share
`--out`, and `--finished-only` then rewrites the tables from every finished run; a machine busy with other work is slower: measured with two runs side by side and other
work on 2 cores, 6.6-12.9 s per pretraining epoch at natural speed and 30.7 at 150 frames.
`--finished-only` writes the tables of what is done at any time.

Runs go one after the other in one process (on one GPU with the paper preset); the command is
not meant for `torchrun`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from glt.atomic import atomic_write, staging_dir
from glt.config import LinearConfig, PretrainConfig
from glt.data.resampled import ResampledDataset
from glt.data.store import PreparedDataset, fingerprint, open_dataset
from glt.errors import GLTError
from glt.evaluate import linear_eval
from glt.model import LAYOUT_FIELDS
from glt.pretrain import pretrain
from glt.results import EvalResult, aggregate_seeds, save_result, write_table
from glt.run import epochs_done, load_config, load_encoder, load_metrics

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
    the published NTU-60 linear-evaluation top-1 (%) on the xsub and xview benchmarks (None for
    a row the paper does not have)."""

    key: str  # folder name and `--rows` name
    label: str  # the row's name in the supplementary
    paper_xsub: float | None
    paper_xview: float | None
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
# method and is not reproduced. "resample52" is ours, not the paper's: 52 frames is the length
# NW-UCLA work usually resamples its clips to (NTU-60 clips are resampled to 150 or 300).
TABLE_A = AblationTable(
    "A",
    "natural-speed input vs fixed-length sampling",
    "pretraining input",
    (
        AblationRow("resample52", "Sampling (52 frames)", None, None, resample=52),
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

# Pretraining settings that do not change what a row computes (left out of its settings; rows
# recorded before log_every joined them still hold it, and it is ignored there too).
_NOT_SETTINGS = ("data", "workers", "device", "compile", "log_every")

# --- our rows against the paper's ------------------------------------------------------------------

BASELINES = {"A": "natural", "B": "corrupt00"}  # the row every other row of a table changes
_BASELINE_NAMES = {"A": "natural speed", "B": "0 %"}


def changes_title(table: str) -> str:
    """A title for Table `table`'s changes: "Table A: change from natural speed"."""
    letter = _table(table).letter
    return f"Table {letter}: change from {_BASELINE_NAMES[letter]}"


def _by_row(runs: Sequence[dict], metric: str) -> dict[str, dict[int, float]]:
    """{row: {seed: metric}} of a table's runs."""
    by_row: dict[str, dict[int, float]] = {}
    for run in runs:
        by_row.setdefault(run["row"], {})[int(run["seed"])] = float(run[metric])
    return by_row


def _margin_95(values: np.ndarray) -> float | None:
    """Half-width of the 95 % interval of the mean of `values` (Student's t over them; None for
    one value)."""
    from scipy.stats import t as student

    n = len(values)
    if n < 2:
        return None
    return float(student.ppf(0.975, n - 1) * np.std(values, ddof=1) / np.sqrt(n))


def compare_with_paper(
    table: str, runs: Sequence[dict], num_test: int | None = None, metric: str = "top1_last"
) -> list[dict]:
    """How each row of Table `table` differs from its baseline (natural speed, 0 %), ours next
    to the paper's, and whether the difference is larger than the noise.

    runs: one line per (row, seed) (`glt.results.RUN_COLUMNS`, e.g. read from table_X_seeds.csv).
    Our change is paired by seed: row(seed) - baseline(seed), in points of `metric`, over the
    seeds both have. Its 95 % interval ("margin", the half-width): with two seeds or more, from
    the spread of the changes over the seeds (Student's t with n - 1 degrees of freedom times
    their standard error, `se_seeds`); with one seed, from the test set alone: 1.96 times the
    binomial standard error of a difference between two accuracies on `num_test` test clips
    (`se_test`, default num_test: the runs' own; it treats the two accuracies as independent,
    which overstates the error of two models tested on the same clips). A change outside its
    interval decides: "same direction as the paper" or "opposite direction" (for a row the paper
    does not have: "higher" or "lower"); otherwise "within the noise".

    Returns one dict per non-baseline row that shares a seed with the baseline, in the table's
    order: row, setting, seeds, deltas (per seed), delta (mean), delta_std, se_seeds, se_test,
    margin, paper_delta_xsub, paper_delta_xview, verdict.
    """
    spec = _table(table)
    base = spec.row(BASELINES[spec.letter])
    by_row = _by_row(runs, metric)
    baseline = by_row.get(base.key, {})
    if num_test is None:
        num_test = next((int(r["num_test"]) for r in runs if r.get("num_test")), None)
    out = []
    for row in spec.rows:
        seeds = sorted(set(by_row.get(row.key, {})) & set(baseline))
        if row.key == base.key or not seeds:
            continue
        deltas = np.array([by_row[row.key][s] - baseline[s] for s in seeds])
        n = len(deltas)
        std = float(deltas.std(ddof=1)) if n > 1 else None
        se_seeds = None if std is None else std / np.sqrt(n)
        se_test = None
        if num_test:
            p = np.array([np.mean([by_row[k][s] for s in seeds]) for k in (row.key, base.key)])
            p = p / 100
            se_test = 100 * float(np.sqrt((p * (1 - p)).sum() / num_test))
        margin = _margin_95(deltas)
        if margin is None:
            margin = None if se_test is None else 1.96 * se_test
        paper = {
            b: None if getattr(row, f"paper_{b}") is None
            else round(getattr(row, f"paper_{b}") - getattr(base, f"paper_{b}"), 1)
            for b in ("xsub", "xview")
        }  # fmt: skip
        delta = float(deltas.mean())
        out.append({
            "row": row.key, "setting": row.label, "seeds": n,
            "deltas": [float(d) for d in deltas], "delta": delta, "delta_std": std,
            "se_seeds": se_seeds, "se_test": se_test, "margin": margin,
            "paper_delta_xsub": paper["xsub"], "paper_delta_xview": paper["xview"],
            "verdict": _verdict(delta, margin, paper["xsub"]),
        })  # fmt: skip
    return out


def _verdict(delta: float, margin: float | None, paper: float | None) -> str:
    if margin is None or abs(delta) <= margin:
        return "within the noise"
    if paper is None:
        return "higher" if delta > 0 else "lower"
    return "same direction as the paper" if delta * paper > 0 else "opposite direction"


def corruption_trend(runs: Sequence[dict], metric: str = "top1_last") -> dict:
    """Table B's trend: the least-squares slope of `metric` against the corrupted fraction over
    every run (row and seed), in points per 10 % of joints corrupted, with its standard error,
    and the paper's (xsub) slope over its five rows."""
    lines = [r for r in runs if r["table"] == "B"]
    x = np.array([10 * float(r["corrupt"]) for r in lines])  # tens of percent
    y = np.array([float(r[metric]) for r in lines])
    if len(set(x)) < 2:
        raise GLTError("corruption_trend needs runs of at least two corrupted fractions")
    slope, se = float(np.polyfit(x, y, 1)[0]), None
    if len(x) > 3:  # the slope's standard error needs more points than coefficients + 1
        se = float(np.sqrt(np.polyfit(x, y, 1, cov=True)[1][0, 0]))
    rows = TABLE_B.rows
    paper = float(np.polyfit([10 * r.corrupt for r in rows], [r.paper_xsub for r in rows], 1)[0])
    return {"slope": slope, "slope_se": se, "runs": len(lines), "paper_slope": paper}


def resampling_change(runs: Sequence[dict], metric: str = "top1_last") -> dict | None:
    """Table A's claim as one number: per seed, the mean change from natural speed of the
    sampling rows the paper has (150 and 300 frames), then the mean over the seeds that have
    all of them, with the half-width of its 95 % interval (Student's t over the seeds; None with
    one seed), next to the paper's (xsub) mean change over the same rows. None without such a
    seed."""
    rows = [r for r in TABLE_A.rows if r.resample and r.paper_xsub is not None]
    natural = BASELINES["A"]
    by_row = _by_row([r for r in runs if r["table"] == "A"], metric)
    seeds = sorted(
        set.intersection(*(set(by_row.get(k, {})) for k in [natural, *(r.key for r in rows)]))
    )
    if not seeds:
        return None
    per_seed = np.array(
        [np.mean([by_row[r.key][s] - by_row[natural][s] for r in rows]) for s in seeds]
    )
    paper = float(np.mean([r.paper_xsub for r in rows]) - TABLE_A.row(natural).paper_xsub)
    return {
        "rows": [r.key for r in rows],
        "seeds": len(seeds),
        "per_seed": [float(d) for d in per_seed],
        "delta": float(per_seed.mean()),
        "margin": _margin_95(per_seed),
        "paper_delta_xsub": paper,
    }


def claim_lines(table_a: Sequence[dict] | None, table_b: Sequence[dict] | None) -> list[str]:
    """Each claim as one sentence, where the runs allow it: Table A's resampling cost
    (`resampling_change`) and Table B's trend (`corruption_trend`, from two fractions on)."""
    lines = []
    cost = resampling_change(table_a) if table_a else None
    if cost is not None:
        margin = "" if cost["margin"] is None else f" ± {cost['margin']:.1f} (95 %)"
        each = ", ".join(f"{d:+.1f}" for d in cost["per_seed"])
        frames = " and ".join(str(TABLE_A.row(k).resample) for k in cost["rows"])
        lines.append(
            f"Table A's resampling cost over {cost['seeds']} seed(s), the {frames}-frame rows "
            f"averaged per seed: {cost['delta']:+.1f} points{margin} [{each}] (paper, NTU-60 "
            f"xsub: {cost['paper_delta_xsub']:+.2f})."
        )
    if table_b and len({r["corrupt"] for r in table_b}) > 1:
        trend = corruption_trend(table_b)
        se = "" if trend["slope_se"] is None else f"standard error {trend['slope_se']:.2f}; "
        lines.append(
            f"Table B's trend over {trend['runs']} runs: {trend['slope']:+.2f} points per "
            f"10 % of joints corrupted ({se}paper, NTU-60 xsub: {trend['paper_slope']:+.2f})."
        )
    return lines


CHANGES = "changes"  # OUT/changes.csv, .md, .png: every row's change next to the paper's


def write_changes(out_dir: str | os.PathLike, title: str | None = None) -> list[Path]:
    """Write each row's change from its table's baseline next to the paper's
    (`compare_with_paper`) for the tables of `out_dir` that have runs (table_X_seeds.csv):
    changes.csv, changes.md (with each claim's sentence, `claim_lines`) and changes.png
    (`glt.viz.plot_paper_deltas`). Returns the paths, [] when no table has a row besides its
    baseline."""
    import matplotlib.pyplot as plt

    from glt import viz
    from glt.results import read_table

    out_dir = Path(out_dir)
    runs = {
        t: read_table(out_dir / f"{spec.folder}_seeds.csv")
        for t, spec in TABLES.items()
        if (out_dir / f"{spec.folder}_seeds.csv").is_file()
    }
    panels = {changes_title(t): compare_with_paper(t, r) for t, r in runs.items()}
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        return []
    lines = [r for rows in panels.values() for r in rows]
    paths = [out_dir / f"{CHANGES}{suffix}" for suffix in (".csv", ".md", ".png")]
    with open(paths[0], "w", newline="") as f:
        columns = [k for k in lines[0] if k != "deltas"] + ["deltas"]
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for line in lines:
            writer.writerow({**line, "deltas": " ".join(f"{d:.2f}" for d in line["deltas"])})
    paths[1].write_text(_changes_markdown(panels, runs.get("a"), runs.get("b")))
    fig = viz.plot_paper_deltas(panels, title=title)
    fig.savefig(paths[2], dpi=100)
    plt.close(fig)
    return paths


def _changes_markdown(
    panels: dict[str, list[dict]], table_a: list[dict] | None, table_b: list[dict] | None
) -> str:
    def points(value) -> str:
        return "-" if value is None else f"{value:+.1f}"

    out = []
    for name, rows in panels.items():
        out += [
            f"{name}: our change in points of last-epoch top-1, mean over seeds (each seed's in "
            "brackets), with the half-width of its 95 % interval; the paper's on NTU-60 "
            "(xsub / xview)",
            "",
            "| row | seeds | ours | ± 95 % | paper xsub / xview | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            each = ", ".join(f"{d:+.1f}" for d in r["deltas"])
            margin = "-" if r["margin"] is None else f"{r['margin']:.1f}"
            paper = f"{points(r['paper_delta_xsub'])} / {points(r['paper_delta_xview'])}"
            out.append(
                f"| {r['setting']} | {r['seeds']} | {r['delta']:+.1f} [{each}] | {margin} | "
                f"{paper} | {r['verdict']} |"
            )
        out.append("")
    for line in claim_lines(table_a, table_b):
        out += [line, ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --- running a table ------------------------------------------------------------------------------


def run_table_a(data_dir, out_dir, **kw) -> list[dict]:
    """Supplementary Table A (natural speed vs sampling to 52 / 150 / 300 frames); see
    `run_table`."""
    return run_table("a", data_dir, out_dir, **kw)


def run_table_b(data_dir, out_dir, **kw) -> list[dict]:
    """Supplementary Table B (pretraining with 0-20 % of joints corrupted); see `run_table`."""
    return run_table("b", data_dir, out_dir, **kw)


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """The seeds an ablation runs: `seeds` seeds 0..seeds-1, or the seeds given."""
    chosen = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not chosen or min(chosen) < 0 or len(set(chosen)) < len(chosen):
        raise GLTError(f"--seeds {seeds}: give a count >= 1 or distinct seeds >= 0")
    return chosen


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
    seeds: int | Sequence[int] | None = None,
    model: dict | None = None,
    pretrain_options: dict | None = None,
    existing_runs: Mapping[str, str | os.PathLike] | None = None,
    finished_only: bool = False,
    device: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run the rows of supplementary Table `table` ("a" or "b") on a prepared dataset, each with
    every seed, and write the table into `out_dir` (see the module docstring for the folders).

    Each run (row, seed) pretrains an encoder (`glt.pretrain.pretrain`, `preset` "tiny",
    "nwucla" or "paper", with `epochs`, `batch_size`, the seed, the GLTConfig overrides `model`
    and any other PretrainConfig fields in `pretrain_options`, e.g. {"max_steps": 20}) and
    evaluates it linearly (`glt.evaluate.linear_eval`; `LinearConfig.preset(preset)` where not
    given) with the same seed. `seeds`: a count n (seeds 0..n-1) or the seeds; without it the
    one seed `seed`. `rows`: the row keys to run (default all). The runs go seed by seed, the
    rows in order within a seed; the table files are rewritten after every run, so an
    interrupted table shows what is done. Complete runs are read back; a run met again with
    other settings is an error. When nothing is computed and the table files exist, nothing is
    written (a finished ablation folder can be read where it cannot be written).
    `existing_runs`: {row key: pretraining run folder} for one seed, runs made elsewhere (e.g.
    the tutorial's shared run) to evaluate as those rows instead of pretraining them again;
    each must be complete and made with exactly the row's pretraining settings (checked).
    `finished_only`: train and evaluate nothing; rewrite the table files from the runs already
    finished (a run of the same experiment is still copied, e.g. natural speed from 0 %), for a
    table of what a long, stopped ablation has done so far.
    `device`: for both steps (default: the GPU if there is one).

    Returns the table as written (table_X.csv, `glt.results.aggregate_seeds`): one dict per
    row of this table with at least one complete run of the chosen seeds made with these
    settings, in the published order; "seeds" says how many.
    """
    spec = _table(table)
    keys = spec.keys if rows is None else list(rows)
    for key in keys:
        spec.row(key)  # an unknown key fails before anything runs
    chosen = [seed] if seeds is None else seed_list(seeds)
    existing = {k: Path(v).resolve() for k, v in (existing_runs or {}).items()}
    for key in existing:
        spec.row(key)
    if existing and len(chosen) > 1:
        raise GLTError("existing runs stand for one seed; give one seed with them")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise GLTError("run the ablations as one process, not under torchrun")
    out_dir = Path(out_dir)
    dataset = open_dataset(data_dir)
    options = {"epochs": epochs, "batch_size": batch_size, **(pretrain_options or {})}
    options = {k: v for k, v in options.items() if v is not None}
    given = dict(epochs=eval_epochs, batch_size=eval_batch_size, lr=eval_lr, augment=eval_augment)
    given = {k: v for k, v in given.items() if v is not None}
    data_id = fingerprint(dataset.root)
    settings = {
        (r.key, s): _row_settings(
            r, dataset, data_id, preset, model or {}, {**options, "seed": s},
            asdict(LinearConfig.preset(preset, **given, seed=s)),
        )
        for r in spec.rows
        for s in chosen
    }  # fmt: skip
    todo = [(key, s) for s in chosen for key in keys]
    changed = False
    for i, (key, s) in enumerate(todo, 1):
        computed = _run_row(
            spec, spec.row(key), s, settings[key, s], dataset, out_dir,
            existing=existing.get(key), finished_only=finished_only, device=device,
            progress=progress, position=f"{i}/{len(todo)}",
        )  # fmt: skip
        if computed:  # the table files follow every new result
            _write(spec, out_dir, settings, chosen, say=False)
            changed = True
    if not (changed or finished_only) and (out_dir / f"{spec.folder}.csv").is_file():
        return aggregate_seeds(_runs(spec, out_dir, settings, chosen))
    return _write(spec, out_dir, settings, chosen, say=progress)


def finished_rows(out_dir: str | os.PathLike, table: str) -> list[str]:
    """The keys of Table `table`'s rows with at least one complete run (seed) in `out_dir`,
    whatever their settings (`run_table` reads those back when the settings match, and refuses
    them otherwise)."""
    spec = _table(table)
    folder = Path(out_dir) / spec.folder
    return [r.key for r in spec.rows if any(_complete(d) for d in folder.glob(f"{r.key}/seed*"))]


def seed_dir(out_dir: str | os.PathLike, table: str, row: str, seed: int) -> Path:
    """The folder of one run of an ablation: OUT/table_X/ROW/seedN."""
    return Path(out_dir) / _table(table).folder / row / f"seed{seed}"


def _table(name: str) -> AblationTable:
    try:
        return TABLES[name.lower()]
    except KeyError:
        raise GLTError(f"unknown table {name!r}; choose one of {sorted(TABLES)}") from None


def _write(
    spec: AblationTable, out_dir: Path, settings: dict, seeds: list[int], say: bool
) -> list[dict]:
    """Write the table from the complete runs made with `settings`; returns its rows."""
    runs = _runs(spec, out_dir, settings, seeds)
    if not runs:
        return []
    paths = write_table(
        runs, out_dir / spec.folder, title=spec.heading, xlabel=spec.xlabel, source=PAPER_SOURCE
    )
    if say:
        tqdm.write(f"Table {spec.letter}: {', '.join(str(p) for p in paths)}")
    return aggregate_seeds(runs)


def _runs(spec: AblationTable, out_dir: Path, settings: dict, seeds: list[int]) -> list[dict]:
    """The complete runs in `out_dir` made with `settings`, as table lines (`_read_run`)."""
    return [
        _read_run(out_dir, spec, r, s)
        for r in spec.rows
        for s in seeds
        if _complete(seed_dir(out_dir, spec.letter, r.key, s))
        and _same_settings(
            _saved_settings(seed_dir(out_dir, spec.letter, r.key, s)), settings[r.key, s]
        )
    ]


def _row_settings(
    row: AblationRow,
    dataset: PreparedDataset,
    data_id: str,
    preset: str,
    model: dict,
    options: dict,
    evaluation: dict,
) -> dict:
    """Everything a row's result depends on: the data (its folder and content hash), the full
    pretraining configuration and the evaluation settings (what ablation.json holds). Invalid
    settings fail here."""
    config = PretrainConfig.from_preset(
        preset,
        dataset.layout,
        model,
        **{**options, "resample": row.resample, "corrupt": row.corrupt},
    )
    pretraining = _pretraining_settings(config)
    augment = evaluation["augment"] and not row.resample  # fixed-length clips: no speed jitter
    return {
        "data": str(Path(dataset.root).resolve()),
        "data_fingerprint": data_id,
        "pretrain": pretraining,
        "eval": {**evaluation, "augment": augment, "resample": row.resample},
    }


def _pretraining_settings(config: PretrainConfig) -> dict:
    return {k: v for k, v in config.to_dict().items() if k not in _NOT_SETTINGS}


def _check_existing_run(run_dir: Path, settings: dict) -> None:
    """Refuse a run given for a row unless it is complete and made with the row's settings."""
    changed = _differences(_pretraining_settings(load_config(run_dir)), settings["pretrain"])
    if changed:
        raise GLTError(
            f"{run_dir} was not pretrained with this row's settings ({'; '.join(changed)})"
        )
    if epochs_done(run_dir) < settings["pretrain"]["epochs"]:
        raise GLTError(
            f"{run_dir} has {epochs_done(run_dir)} of its "
            f"{settings['pretrain']['epochs']} pretraining epochs; finish it first"
        )


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


def _comparable(saved: dict, wanted: dict) -> tuple[dict, dict]:
    """Two rows' settings as they are compared: the data by content where both recorded its
    hash (a folder copied or mounted elsewhere holds the same data), else by path; pretraining
    options that change no result left out."""
    both = "data_fingerprint" in saved and "data_fingerprint" in wanted
    ignored = "data" if both else "data_fingerprint"
    return tuple(
        {
            k: {n: x for n, x in v.items() if n not in _NOT_SETTINGS} if k == "pretrain" else v
            for k, v in d.items()
            if k != ignored
        }
        for d in (saved, wanted)
    )


def _same_settings(saved: dict | None, wanted: dict) -> bool:
    if saved is None:
        return False
    saved, wanted = _comparable(saved, wanted)
    return saved == wanted


def _check_settings(row_dir: Path, settings: dict) -> None:
    """Refuse to continue or reuse a row that was made with other settings."""
    saved = _saved_settings(row_dir)
    if saved is not None and not _same_settings(saved, settings):
        changed = "; ".join(_differences(*_comparable(saved, settings)))
        raise GLTError(
            f"{row_dir} was made with other settings ({changed}); choose another --out, "
            "or delete the row's folder to redo it"
        )


def _equivalent_run(out_dir: Path, row_dir: Path, settings: dict) -> Path | None:
    """A complete run of any table in `out_dir` made with exactly these settings (seed
    included)."""
    for path in sorted(out_dir.glob(f"table_*/*/seed*/{SETTINGS_FILE}")):
        other = path.parent
        if (
            other != row_dir
            and _complete(other)
            and _same_settings(_saved_settings(other), settings)
        ):
            return other
    return None


def _run_row(
    spec: AblationTable,
    row: AblationRow,
    seed: int,
    settings: dict,
    dataset: PreparedDataset,
    out_dir: Path,
    *,
    existing: Path | None,
    finished_only: bool,
    device: str | None,
    progress: bool,
    position: str,
) -> bool:
    """Make one run (row, seed) complete: read it back (returns False), or copy an identical
    run, or evaluate the `existing` pretraining run, or pretrain (resuming an unfinished
    pretraining) and evaluate (returns True)."""
    row_dir = seed_dir(out_dir, spec.letter, row.key, seed)
    name = f"Table {spec.letter} [{position}] {row.key} ({row.label}), seed {seed}"
    say = tqdm.write if progress else lambda line: None
    _check_settings(row_dir, settings)
    if _complete(row_dir):
        say(f"{name}: complete, reading {row_dir / EVAL_DIR}")
        return False
    twin = _equivalent_run(out_dir, row_dir, settings)
    if twin is not None:
        with staging_dir(row_dir / EVAL_DIR, overwrite=True) as tmp:
            shutil.copytree(twin / EVAL_DIR, tmp, dirs_exist_ok=True)
        record = {"run": _record(twin)["run"], "reused_from": str(twin.relative_to(out_dir))}
        _write_record(row_dir, {"settings": settings, **record})
        say(f"{name}: the same experiment as {twin}, its result copied")
        return True
    if finished_only:
        say(f"{name}: not finished, left out")
        return False

    if existing is not None:
        _check_existing_run(existing, settings)
        run_dir = existing
        # Relative, as the run inside out_dir is: the two may move together (a classroom).
        record = {"run": os.path.relpath(existing, out_dir.resolve()), "reused_from": None}
        _write_record(row_dir, {"settings": settings, **record})
        say(f"{name}: the pretraining run {existing} (made elsewhere), then linear evaluation")
    else:
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
        f"(best, epoch {best.get('epoch')}); paper: "
        + ("not in the paper" if row.paper_xsub is None else
           f"{row.paper_xsub} xsub, {row.paper_xview} xview")
    )  # fmt: skip
    return True


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


def _read_run(out_dir: Path, spec: AblationTable, row: AblationRow, seed: int) -> dict:
    """A complete run as a line of the table's runs (`glt.results.RUN_COLUMNS`)."""
    row_dir = seed_dir(out_dir, spec.letter, row.key, seed)
    record = _record(row_dir)
    result = json.loads((row_dir / EVAL_DIR / "result.json").read_text())
    run_dir = out_dir / record["run"]
    metrics = load_metrics(run_dir)
    settings = record["settings"]
    best = result.get("best") or {}
    reused = record.get("reused_from")
    return {
        "table": spec.letter,
        "row": row.key,
        "setting": row.label,
        "resample": row.resample,
        "corrupt": row.corrupt,
        "seed": seed,
        "top1_last": result["top1"],
        "top1_best": best.get("top1"),
        "best_epoch": best.get("epoch"),
        "top5_last": result.get("top5"),
        "num_test": result.get("num_test"),
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
        # the row whose run of the same seed this one copied
        "reused_from": reused and str(Path(reused).parent),
    }


def _benchmark(data_dir: str) -> str:
    """The NTU benchmark a prepared dataset was written for ("xsub", "xview", ...), or "" (also
    for other skeletons: NW-UCLA's "xview" is not the paper's NTU-60 xview)."""
    try:
        dataset = open_dataset(data_dir)
    except (FileNotFoundError, GLTError):
        return ""
    return str(dataset.meta.get("benchmark") or "") if dataset.layout.name == "ntu" else ""
