"""The pretrained encoder glt ships: notebook 03's default run, so that a class can start at
notebook 04 or 05 without waiting for pretraining.

It is the encoder run (`glt.run.save_encoder_run`) of

    glt pretrain --data DATA --out RUN --preset tiny --epochs 32 --log-every 5 --seed 0

with DATA the synthetic default benchmark, `glt.workspace.synthetic_benchmark(WORK, "xsub")`:
what `glt.workspace.pretrained_run(WORK, DATA, "tiny", 32, log_every=5)` trains. It lies in

    glt/weights/tiny-synthetic/
        config.json     the run's configuration, less its data folder
        encoder.pt      the encoder's weights (float32), epoch and step: no optimiser, no heads
        metrics.jsonl   the run's loss rows, for the loss plots
        made.json       how it was made: the command, the data's fingerprint, glt and torch

`glt.workspace.pretrained_run` reads it in place when a request `matches` it. Remake it from a
finished run with `python -m glt.shipped RUN_DIR` (`make`); `distance` says how far another
run's encoder is from it (the tutorial's CI run checks that it is the same).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

import glt
from glt.atomic import staging_dir
from glt.config import PretrainConfig
from glt.data.store import fingerprint, open_dataset
from glt.errors import GLTError
from glt.run import epochs_done, load_config, load_encoder, save_encoder_run

FOLDER = Path(__file__).resolve().parent / "weights" / "tiny-synthetic"
RECORD = "made.json"


def record(folder: str | os.PathLike = FOLDER) -> dict:
    """How the shipped run was made (its made.json): command, data, epochs, step, versions."""
    return json.loads((Path(folder) / RECORD).read_text())


def matches(data: str | os.PathLike, preset: str, epochs: int, **options) -> bool:
    """Whether pretraining `preset` for `epochs` epochs on `data` with `options`
    (`glt.pretrain.pretrain`'s; `progress` aside) would train the shipped run: the same preset,
    epochs and options, and data with the same content (`glt.data.store.fingerprint`)."""
    config = load_config(FOLDER).to_dict()
    options = {k: v for k, v in options.items() if k != "progress" and v is not None}
    if (preset, epochs) != (config["preset"], config["epochs"]) or any(
        k not in config or config[k] != v for k, v in options.items()
    ):
        return False
    return Path(data).is_dir() and fingerprint(data) == record()["data"]["fingerprint"]


def distance(run_dir: str | os.PathLike, shipped: str | os.PathLike = FOLDER) -> float:
    """The largest absolute difference between a weight of the encoder of `run_dir` and the same
    weight of the shipped one (0.0: identical)."""
    ours, theirs = load_encoder(run_dir).state_dict(), load_encoder(shipped).state_dict()
    shapes = {k: tuple(v.shape) for k, v in ours.items()}
    if shapes != {k: tuple(v.shape) for k, v in theirs.items()}:
        raise GLTError(f"{run_dir}: its encoder is not of the shipped encoder's architecture")
    return max((ours[k] - theirs[k]).abs().max().item() for k in ours)


def make(
    run_dir: str | os.PathLike, out: str | os.PathLike = FOLDER, data: str | os.PathLike = ""
) -> Path:
    """Write the shipped run `out` from the finished run `run_dir`, a plain preset run (the
    preset's settings but epochs, log_every and seed), trained on `data` (default: the folder in
    its config.json), whose fingerprint it records. Replaces `out` atomically."""
    config = load_config(run_dir)
    data = Path(data or config.data)
    dataset = open_dataset(data)
    plain = PretrainConfig.from_preset(
        config.preset, dataset.layout, data=config.data, epochs=config.epochs,
        log_every=config.log_every, seed=config.seed,
    )  # fmt: skip
    changed = sorted(k for k, v in plain.to_dict().items() if config.to_dict()[k] != v)
    if changed:
        raise GLTError(f"{run_dir}: not a plain {config.preset} run (it changes {changed})")
    done = epochs_done(run_dir)
    if done != config.epochs:
        raise GLTError(f"{run_dir}: {done} of its {config.epochs} epochs done")
    made = {
        "command": f"glt pretrain --data DATA --out RUN --preset {config.preset} "
        f"--epochs {config.epochs} --log-every {config.log_every} --seed {config.seed}",
        "data": {
            "dataset": dataset.meta.get("dataset"),
            "benchmark": dataset.meta.get("benchmark"),
            "clips": dataset.meta["parts"],
            "fingerprint": fingerprint(data),
        },
        "glt": glt.__version__,
        "torch": torch.__version__,
    }
    with staging_dir(out, overwrite=True) as tmp:
        save_encoder_run(run_dir, tmp, dataclasses.replace(config, data=""))
        (tmp / RECORD).write_text(json.dumps(made, indent=2) + "\n")
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m glt.shipped", description="Make the shipped run from a finished run."
    )
    parser.add_argument("run", type=Path, metavar="RUN_DIR", help="a finished `glt pretrain` run")
    parser.add_argument("--data", default="", help="its data, if it moved (default: its config's)")
    parser.add_argument("--out", type=Path, default=FOLDER, help="default: the package's folder")
    args = parser.parse_args(argv)
    try:
        out = make(args.run, args.out, args.data)
    except GLTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {size / 1e6:.2f} MB, {json.dumps(record(out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
