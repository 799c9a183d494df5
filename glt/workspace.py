"""The tutorial's working folder: the synthetic dataset and the pretraining run, each made once,
the model preset for this machine, and each notebook's metrics.

Every notebook can run on its own: the first one to need the synthetic dataset writes it
(`glt synth`, then `glt prepare ntu60`), the others reuse it. A dataset is remade only when it
was made with other settings (recorded in `recipe.json`). Notebooks 03, 04 and 05 share one
pretraining run (`pretrained_run`): whichever comes first trains it, the others load it; the
run of notebook 03's default settings ships with glt (`glt.shipped`), so 04 and 05 need not
train it. Notebook 07 prepares the real NW-UCLA recordings, when you have them, in the same way.

    WORK/synthetic/raw/*.skeleton          genuine-format NTU files
    WORK/synthetic/prepared/{xsub,xview}/  prepared benchmarks (glt/data/store.py)
    WORK/nwucla/prepared/xview/            NW-UCLA's cross-view benchmark
    WORK/nwucla/subset/xview/              a few clips of each class of it, for quick runs
    WORK/runs/pretrain-<preset>/           the shared pretraining run (`glt.run`)
    WORK/metrics/<notebook>.json           key numbers of each executed notebook

A classroom (`glt.paths.classroom_dir`, `$GLT_CLASSROOM`) is such a folder that a teacher made
once (`python -m glt.tutorial --classroom DIR`): its complete datasets and runs of the same
settings are read where they are, never written; everything else goes to WORK.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import glt.shipped
from glt.data import nwucla
from glt.data.prepare import prepare_ntu, prepare_nwucla
from glt.data.store import open_dataset, write_subset
from glt.data.synthetic import DEFAULT_SUBJECTS, write_synthetic
from glt.device import resolve_device
from glt.paths import REPO_ROOT, classroom_dir, nwucla_recordings_dir, runs_dir
from glt.pretrain import pretrain
from glt.run import epochs_done, is_run, load_config

_RECIPE = "recipe.json"  # the settings a folder was made with, written when it is complete


def default_work_dir() -> Path:
    """`runs/tutorial-default/work` (under `$GLT_RUNS` if set): where `make tutorial` works."""
    return runs_dir() / "tutorial-default" / "work"


def model_preset(preset: str) -> str:
    """A notebook's PRESET made concrete: "auto" is "paper" on a GPU and "tiny" on a CPU."""
    if preset != "auto":
        return preset
    return "paper" if resolve_device().type == "cuda" else "tiny"


def synthetic_benchmark(
    work_dir: str | os.PathLike,
    benchmark: str = "xsub",
    *,
    subjects: int | None = None,
    seed: int = 0,
) -> Path:
    """The prepared synthetic NTU-like benchmark folder, made on first use.

    benchmark: "xsub" (cross-subject) or "xview" (cross-view), as NTU-60.
    subjects: performers in the synthetic set (default: the generator's default size).
    """
    recipe = {"subjects": subjects or DEFAULT_SUBJECTS, "seed": seed}

    def make(root: Path) -> None:
        write_synthetic(root / "raw", seed=seed, subjects=recipe["subjects"])
        prepare_ntu(root / "raw", root / "prepared", dataset="ntu60")

    return _made_once(work_dir, "synthetic", recipe, make) / "prepared" / benchmark


def nwucla_recordings(folder: str | os.PathLike = "") -> Path | None:
    """Your NW-UCLA download (`all_sqe/*.json`, see data/README.md), or None when it is not there.

    folder: empty for the default place (`glt.paths.nwucla_recordings_dir`: `$GLT_NWUCLA`, else
    `data/nw-ucla`); a relative path is taken from the repository root.
    """
    path = REPO_ROOT / folder if folder else nwucla_recordings_dir()  # an absolute folder stays
    clips = nwucla.clip_dir(path)
    return path if clips.is_dir() and any(clips.glob("*.json")) else None


def nwucla_benchmark(
    work_dir: str | os.PathLike,
    recordings: str | os.PathLike,
    max_clips_per_class: int = 0,
    *,
    seed: int = 0,
) -> Path:
    """NW-UCLA's prepared cross-view benchmark (views 1 and 2 train, view 3 test), made on first
    use from `recordings` (`glt prepare nwucla`); with `max_clips_per_class` > 0, a seeded subset
    of at most that many clips per class in each part (`glt.data.store.write_subset`)."""
    recipe = {
        "recordings": str(Path(recordings).resolve()),
        "max_clips_per_class": max_clips_per_class,
        "seed": seed,
    }

    def make(root: Path) -> None:
        prepare_nwucla(recordings, root / "prepared", progress=False)
        if max_clips_per_class:
            full = open_dataset(root / "prepared" / "xview")
            write_subset(full, root / "subset" / "xview", max_clips_per_class, seed=seed)

    root = _made_once(work_dir, "nwucla", recipe, make)
    return root / ("subset" if max_clips_per_class else "prepared") / "xview"


def _made_once(
    work_dir: str | os.PathLike, name: str, recipe: dict, make: Callable[[Path], None]
) -> Path:
    """The folder `name` made by `make(folder)` with `recipe`: the classroom's when it has a
    complete one of the same recipe (read in place), else WORK/<name>, made unless it is
    complete with that recipe already."""
    classroom = classroom_dir()
    if classroom is not None and _has_recipe(classroom / name, recipe):
        return classroom / name
    root = Path(work_dir) / name
    if not _has_recipe(root, recipe):
        shutil.rmtree(root, ignore_errors=True)
        make(root)
        (root / _RECIPE).write_text(json.dumps(recipe) + "\n")  # last: marks the folder complete
    return root


def _has_recipe(root: Path, recipe: dict) -> bool:
    """Whether `root` is complete and was made with `recipe`."""
    path = root / _RECIPE
    return path.is_file() and json.loads(path.read_text()) == recipe


def pretrained_run(
    work_dir: str | os.PathLike,
    data: str | os.PathLike,
    preset: str,
    epochs: int,
    *,
    name: str | None = None,
    shipped: bool = True,
    **options,
) -> Path:
    """The pretraining run of `preset` the notebooks share, WORK/runs/pretrain-<preset> (or
    WORK/runs/<name>), or one made already that it can stand for.

    Training is the expensive step, so it is gated. In this order:
    1. a run in WORK: reused when it has finished `epochs` epochs, else resumed until it has;
    2. else the classroom's run of that name (`glt.paths.classroom_dir`) when it has finished
       `epochs` epochs on `data`, read in place (also where the classroom has moved since);
    3. else, with `shipped`, the run glt ships (`glt.shipped.FOLDER`) when it is this request:
       the same preset, epochs, options and data (`glt.shipped.matches`), read in place;
    4. else a new run in WORK, trained on `data` (`glt.pretrain.pretrain`; `options` such as
       log_every or progress go to it).
    Returns the run folder; read it with `glt.run`, and `run_origin` says which it is.
    """
    folder = name or f"pretrain-{preset}"
    run_dir = Path(work_dir) / "runs" / folder
    if not is_run(run_dir):
        classroom = classroom_dir()
        if classroom is not None and _finished_on(
            classroom / "runs" / folder, data, epochs, classroom
        ):
            return classroom / "runs" / folder
        if shipped and glt.shipped.matches(data, preset, epochs, **options):
            return glt.shipped.FOLDER
    if epochs_done(run_dir) < epochs:
        pretrain(data, run_dir, preset, resume=True, epochs=epochs, **options)
    return run_dir


def _finished_on(run_dir: Path, data: str | os.PathLike, epochs: int, classroom: Path) -> bool:
    """Whether the classroom's `run_dir` has finished `epochs` epochs on the folder `data`.

    A classroom may have been copied or mounted elsewhere since its runs recorded their data
    folder: a recorded path that ends with `data`'s place inside the classroom is the same folder.
    """
    if not is_run(run_dir) or epochs_done(run_dir) < epochs:
        return False
    recorded, data = Path(load_config(run_dir).data).resolve(), Path(data).resolve()
    if recorded == data:
        return True
    classroom = classroom.resolve()
    if not data.is_relative_to(classroom):
        return False
    place = data.relative_to(classroom).parts
    return recorded.parts[-len(place) :] == place


def run_origin(run_dir: str | os.PathLike) -> str:
    """Where a run of `pretrained_run` comes from, in words: "shipped with glt", "the
    classroom's" or "your work folder's"."""
    run_dir = Path(run_dir).resolve()
    classroom = classroom_dir()
    if run_dir == glt.shipped.FOLDER:
        return "shipped with glt"
    if classroom is not None and run_dir.is_relative_to(classroom.resolve()):
        return "the classroom's"
    return "your work folder's"


def ablation_folder(work_dir: str | os.PathLike, name: str) -> Path:
    """WORK/ablations/<name>, where notebook 06 runs its tables, or the classroom's folder of
    that name when WORK has none and the classroom's holds a table (read in place: a finished
    ablation folder is read without being written, `glt.ablations.run_table`)."""
    own = Path(work_dir) / "ablations" / name
    classroom = classroom_dir()
    if not own.exists() and classroom is not None:
        theirs = classroom / "ablations" / name
        if any(theirs.glob("table_*.csv")):
            return theirs
    return own


def save_notebook_metrics(work_dir: str | os.PathLike, notebook: str, metrics: dict) -> Path:
    """Write a notebook's key numbers to WORK/metrics/<notebook>.json (checked by the tests)."""
    bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        raise ValueError(f"{notebook}: non-finite metrics {bad}")
    path = Path(work_dir) / "metrics" / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def load_notebook_metrics(work_dir: str | os.PathLike) -> dict[str, dict]:
    """Every notebook's metrics in WORK/metrics, by notebook name."""
    folder = Path(work_dir) / "metrics"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
