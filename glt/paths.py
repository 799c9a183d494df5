"""Where things live: the repository root, the shared folder beside it, and default outputs.

`../shared` (genuine data samples and the authors' reference outputs) resolves from the
repository root; `GLT_SHARED` overrides it. `GLT_DATA` and `GLT_RUNS` override where prepared
datasets and training runs go, `GLT_NWUCLA` where the tutorial finds your NW-UCLA download,
`GLT_CLASSROOM` a tutorial work folder a teacher prepared, which the notebooks only read.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _home() -> Path:
    """Where default outputs go: the repository, or the working directory when glt runs from an
    installed wheel (not inside site-packages)."""
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()


def shared_dir() -> Path:
    """The shared folder: `$GLT_SHARED`, else `../shared` next to the repository."""
    env = os.environ.get("GLT_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def official_fixture() -> Path:
    """The authors' reference outputs: `$GLT_OFFICIAL_FIXTURE`, else the shared default."""
    env = os.environ.get("GLT_OFFICIAL_FIXTURE")
    return Path(env) if env else shared_dir() / "fixtures" / "official_small.pt"


def ntu_samples_dir() -> Path:
    return shared_dir() / "data" / "ntu-samples"


def nwucla_dir() -> Path:
    """The NW-UCLA copy in the shared folder (tests and CI)."""
    return shared_dir() / "data" / "nw-ucla"


def nwucla_recordings_dir() -> Path:
    """Your own NW-UCLA download (notebook 07): `$GLT_NWUCLA`, else `data/nw-ucla` in the
    repository (the working directory outside one)."""
    env = os.environ.get("GLT_NWUCLA")
    return Path(env) if env else _home() / "data" / "nw-ucla"


def classroom_dir() -> Path | None:
    """A teacher's prepared tutorial work folder (`python -m glt.tutorial --classroom DIR` makes
    DIR/work), whose data and runs the notebooks read in place: `$GLT_CLASSROOM`, else None."""
    env = os.environ.get("GLT_CLASSROOM")
    return Path(env) if env else None


def data_dir() -> Path:
    """Prepared datasets: `$GLT_DATA`, else `datasets/` in the repository (the working directory
    outside one)."""
    env = os.environ.get("GLT_DATA")
    return Path(env) if env else _home() / "datasets"


def runs_dir() -> Path:
    """Training runs and notebook outputs: `$GLT_RUNS`, else `runs/` in the repository (the
    working directory outside one)."""
    env = os.environ.get("GLT_RUNS")
    return Path(env) if env else _home() / "runs"
