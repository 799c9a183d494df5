"""The tutorial's working folder: the synthetic dataset made once, and each notebook's metrics.

Every notebook can run on its own: the first one to need the synthetic dataset writes it
(`glt synth`, then `glt prepare ntu60`), the others reuse it. A dataset is remade only when it
was made with other settings (recorded in `recipe.json`).

    WORK/synthetic/raw/*.skeleton          genuine-format NTU files
    WORK/synthetic/prepared/{xsub,xview}/  prepared benchmarks (glt/data/store.py)
    WORK/metrics/<notebook>.json           key numbers of each executed notebook
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from glt.paths import runs_dir


def default_work_dir() -> Path:
    """`runs/tutorial-default/work` (under `$GLT_RUNS` if set): where `make tutorial` works."""
    return runs_dir() / "tutorial-default" / "work"


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
    from glt.data.prepare import prepare_ntu
    from glt.data.synthetic import DEFAULT_SUBJECTS, write_synthetic

    root = Path(work_dir) / "synthetic"
    recipe = {"subjects": subjects or DEFAULT_SUBJECTS, "seed": seed}
    recipe_path = root / "recipe.json"
    prepared = root / "prepared"
    if not (recipe_path.is_file() and json.loads(recipe_path.read_text()) == recipe):
        shutil.rmtree(root, ignore_errors=True)
        write_synthetic(root / "raw", seed=seed, subjects=recipe["subjects"])
        prepare_ntu(root / "raw", prepared, dataset="ntu60")
        recipe_path.write_text(json.dumps(recipe) + "\n")  # last: marks the folder complete
    return prepared / benchmark


def save_metrics(work_dir: str | os.PathLike, notebook: str, metrics: dict) -> Path:
    """Write a notebook's key numbers to WORK/metrics/<notebook>.json (checked by the tests)."""
    bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        raise ValueError(f"{notebook}: non-finite metrics {bad}")
    path = Path(work_dir) / "metrics" / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def load_metrics(work_dir: str | os.PathLike) -> dict[str, dict]:
    """Every notebook's metrics in WORK/metrics, by notebook name."""
    folder = Path(work_dir) / "metrics"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
