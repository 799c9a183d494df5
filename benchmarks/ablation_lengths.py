"""Accuracy by clip length of every finished run of a `glt ablate` folder: where in the test set
a row gains or loses against its baseline (e.g. whether resampling hurts short clips most).

    python benchmarks/ablation_lengths.py runs/ablations-nwucla datasets/nwucla/xview
    python benchmarks/ablation_lengths.py OUT DATA --edges 0 20 30 45   # the length bins' edges

Each run's saved classifier (its eval/classifier.pt, head on the run's frozen encoder) predicts
the test clips, prepared as in that row (resampled for Table A's sampling rows); the clips are
grouped by their natural length (frames). Prints a markdown table: per row, the mean top-1 (%)
over its seeds in each length bin and over all clips, the number of seeds, and the number of
test clips per bin. A run that copied another's result (Table A's natural speed from Table B's
0 %) is counted once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from glt.ablations import TABLES
from glt.data.resampled import ResampledDataset
from glt.data.store import open_dataset
from glt.features import extract_features
from glt.results import load_classifier


def correct_by_clip(row_dir: Path, out: Path, dataset) -> np.ndarray:
    """Whether each test clip is classified right by the run in `row_dir`."""
    record = json.loads((row_dir / "ablation.json").read_text())
    frames = record["settings"]["eval"]["resample"]
    model, _ = load_classifier(row_dir / "eval", out / record["run"])
    data = ResampledDataset.of(dataset, frames) if frames else dataset
    x, y = extract_features(model.encoder, data.val, progress=False)
    with torch.no_grad():
        return (model.classifier(x).argmax(1) == y).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder glt ablate wrote")
    parser.add_argument("data", help="the prepared dataset it ran on")
    parser.add_argument("--edges", type=int, nargs="+", default=[0, 20, 30, 45],
                        help="lower edges of the length bins (default 0 20 30 45)")  # fmt: skip
    args = parser.parse_args()
    dataset = open_dataset(args.data)
    bins = np.digitize(np.asarray(dataset.val.lengths), args.edges[1:])
    names = [f"{a}-{b - 1}" for a, b in zip(args.edges, args.edges[1:], strict=False)]
    names.append(f"{args.edges[-1]}+")
    print(f"| row | seeds | {' | '.join(names)} | all |")
    print("|---" * (len(names) + 3) + "|")
    for table in TABLES.values():
        for row in table.rows:
            runs = [
                d
                for d in sorted((args.out / table.folder / row.key).glob("seed*"))
                if (d / "eval" / "result.json").is_file()
                and not json.loads((d / "ablation.json").read_text()).get("reused_from")
            ]
            if not runs:
                continue
            right = np.stack([correct_by_clip(d, args.out, dataset) for d in runs])
            per_bin = [100 * right[:, bins == b].mean() for b in range(len(names))]
            cells = " | ".join(f"{v:.1f}" for v in per_bin)
            print(f"| {row.label} | {len(runs)} | {cells} | {100 * right.mean():.1f} |")
    counts = " | ".join(str(int((bins == b).sum())) for b in range(len(names)))
    print(f"| test clips | | {counts} | {len(bins)} |")


if __name__ == "__main__":
    main()
