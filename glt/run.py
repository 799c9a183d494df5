"""A pretraining run is a folder, and this module owns its files; nobody else knows their names.

    config.json     the full configuration (`glt.config.PretrainConfig`: model and training),
                    written when the run starts
    checkpoint.pt   written atomically after every epoch (`glt.checkpoint`)
    metrics.jsonl   one row per epoch ({"kind": "epoch", ...}: loss and its four terms, lr, grad
                    norm, samples/s, ...) and, at step 1 and every `log_every` steps, a row
                    {"kind": "step", ...} with the loss and its terms of that single step
    loss.png        the loss curves (`glt.viz.plot_loss`), redrawn after every epoch

An encoder run (`save_encoder_run`) holds config.json, metrics.jsonl and, instead of the
checkpoint, encoder.pt: the encoder's weights alone (`glt.checkpoint`'s encoder checkpoint). It
reads like a run (`load_encoder`, `load_metrics`, `epochs_done`) but cannot be resumed; the
encoder glt ships is one (`glt.shipped`).

The trainer (`glt.pretrain`) writes through `save_config`, `save_state` and `MetricsLog`;
evaluation, the ablations and the notebooks read through `load_config`, `load_encoder`,
`load_metrics` and `epochs_done`, which take no lock and write nothing: a run can be read
from a read-only folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from glt import viz
from glt.atomic import atomic_write
from glt.checkpoint import (
    load_checkpoint,
    load_encoder_checkpoint,
    save_checkpoint,
    save_encoder_checkpoint,
)
from glt.config import PretrainConfig
from glt.errors import GLTError
from glt.model import GLTransformer

_CONFIG = "config.json"
_CHECKPOINT = "checkpoint.pt"
_ENCODER = "encoder.pt"  # of an encoder run
_METRICS = "metrics.jsonl"
_PLOT = "loss.png"

KINDS = ("epoch", "step")  # of metrics rows


# --- configuration and checkpoint -----------------------------------------------------------------


def is_run(run_dir: str | os.PathLike) -> bool:
    """Whether `run_dir` holds a pretraining run (its config.json)."""
    return (Path(run_dir) / _CONFIG).is_file()


def load_config(run_dir: str | os.PathLike) -> PretrainConfig:
    """The configuration of the run in `run_dir` (its config.json)."""
    if not is_run(run_dir):
        raise GLTError(f"{run_dir} is not a pretraining run (no {_CONFIG})")
    path = Path(run_dir) / _CONFIG
    try:
        return PretrainConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError, GLTError) as e:  # bad JSON, fields or values
        raise GLTError(f"{path}: not a pretraining configuration ({e})") from None


def save_config(run_dir: str | os.PathLike, config: PretrainConfig) -> None:
    """Write the run's config.json (atomically), making the folder if needed."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / _CONFIG, "w") as f:
        f.write(json.dumps(config.to_dict(), indent=2) + "\n")


def load_state(run_dir: str | os.PathLike) -> dict | None:
    """The run's last checkpoint on the CPU (keys: `glt.checkpoint`), None before its first."""
    path = Path(run_dir) / _CHECKPOINT
    return load_checkpoint(path) if path.is_file() else None


def save_state(run_dir: str | os.PathLike, **state) -> Path:
    """Write the run's checkpoint atomically (`glt.checkpoint.save_checkpoint`'s arguments)."""
    return save_checkpoint(Path(run_dir) / _CHECKPOINT, **state)


def _last_state(run_dir: Path, map_location: str | torch.device = "cpu") -> dict | None:
    """The run's checkpoint or, in an encoder run, its encoder checkpoint (keys as in
    `glt.checkpoint`); None before the first."""
    for name, load in ((_CHECKPOINT, load_checkpoint), (_ENCODER, load_encoder_checkpoint)):
        if (run_dir / name).is_file():
            return load(run_dir / name, map_location)
    return None


def _encoder_weights(run_dir: Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """(the encoder's state dict, the checkpoint it is from) of the run's last checkpoint."""
    state = _last_state(run_dir, map_location)
    if state is None:
        raise GLTError(f"no checkpoint at {run_dir / _CHECKPOINT}")
    if "encoder" in state:
        return state["encoder"], state
    prefix = "encoder."  # the encoder inside glt.mpdp.PretrainModel
    weights = {k[len(prefix) :]: v for k, v in state["model"].items() if k.startswith(prefix)}
    return weights, state


def epochs_done(run_dir: str | os.PathLike) -> int:
    """Epochs the run has completed: its checkpoint's next epoch (0 without a checkpoint)."""
    state = _last_state(Path(run_dir))
    return 0 if state is None else int(state["epoch"])


def load_encoder(
    run_dir: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> GLTransformer:
    """The pretrained encoder of the run in `run_dir` (its last checkpoint, or an encoder run's
    encoder.pt), in eval mode.

    Its configuration is `encoder.config`; the run's full configuration is `load_config(run_dir)`.
    """
    net = GLTransformer(load_config(run_dir).model)
    net.load_state_dict(_encoder_weights(Path(run_dir), map_location)[0])
    return net.to(map_location).eval()


def save_encoder_run(
    run_dir: str | os.PathLike, out_dir: str | os.PathLike, config: PretrainConfig | None = None
) -> Path:
    """Write the encoder run of the run in `run_dir` into the folder `out_dir` (made if needed):
    config.json (`config`, by default the run's), encoder.pt (the last checkpoint's encoder,
    epoch and step) and metrics.jsonl (the rows up to that step)."""
    out_dir = Path(out_dir)
    weights, state = _encoder_weights(Path(run_dir))
    save_config(out_dir, config or load_config(run_dir))
    save_encoder_checkpoint(
        out_dir / _ENCODER, encoder=weights, epoch=state["epoch"], step=state["step"]
    )
    rows = [row for row in load_metrics(run_dir, kind=None) if row["step"] <= state["step"]]
    with atomic_write(out_dir / _METRICS, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    return out_dir


# --- metrics and the loss plot --------------------------------------------------------------------


def _kind(row: dict) -> str:
    """The kind of a metrics row, "epoch" or "step" (older rows have none: epoch rows)."""
    return row.get("kind", "epoch")


def load_metrics(run_dir: str | os.PathLike, kind: str | None = "epoch") -> list[dict]:
    """The rows of the run's metrics.jsonl ([] if none); a torn last line (a kill while writing
    it) is ignored, a damaged line before it is a GLTError.

    kind: "epoch" (default) the per-epoch rows, "step" the rows logged every `log_every` steps,
    None all rows in file order. Rows without a "kind" (older runs) are epoch rows.
    """
    if kind not in (*KINDS, None):
        raise GLTError(f"load_metrics: kind must be 'epoch', 'step' or None, not {kind!r}")
    path = Path(run_dir) / _METRICS
    if not path.is_file():
        return []
    rows = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):  # not a write cut short by a kill: the file was damaged
                raise GLTError(f"{path}, line {number}: not a metrics row") from None
    return rows if kind is None else [row for row in rows if _kind(row) == kind]


class MetricsLog:
    """The run's metrics.jsonl and loss.png as the trainer writes them (on rank 0).

    Opening it at a checkpoint's `step` keeps the rows up to that step (a killed run may have
    written later ones), so that a resumed run's file is the uninterrupted run's.
    """

    def __init__(self, run_dir: str | os.PathLike, step: int):
        self.run_dir = Path(run_dir)
        self.rows = [row for row in load_metrics(run_dir, kind=None) if row["step"] <= step]
        with atomic_write(self.run_dir / _METRICS, "w") as f:
            f.writelines(json.dumps(row) + "\n" for row in self.rows)

    def rows_of(self, kind: str) -> list[dict]:
        """The rows of one kind ("epoch" or "step"), in order."""
        return [row for row in self.rows if _kind(row) == kind]

    def append(self, row: dict) -> None:
        """Add a row (with its "kind") to the file."""
        self.rows.append(row)
        with open(self.run_dir / _METRICS, "a") as f:
            f.write(json.dumps(row) + "\n")

    def draw(self) -> None:
        """Redraw loss.png from every row (atomically: a viewer never sees half a file)."""
        fig = viz.plot_loss(self.rows)
        with atomic_write(self.run_dir / _PLOT) as f:
            fig.savefig(f, format="png", dpi=100)
        plt.close(fig)
