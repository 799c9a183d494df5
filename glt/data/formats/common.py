"""What every importer shares: clips and their names, the benchmark folders, the summary.

An importer reads its files into `Clips` (arrays, labels, names) and a split per benchmark, and
`write_benchmarks` writes them through `write_dataset` (the method's preprocessing, the checks of
`glt.data.checks`, the on-disk format of glt/data/store.py) as OUT/<benchmark>/ folders, all under
one temporary folder renamed at the end, with OUT/import.json: the format, the source files,
what differs from `glt prepare` on the raw recordings, and the checks' findings. Clip names that
are NTU names give the class names, the per-clip fields and a check of every label.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glt.atomic import staging_dir
from glt.data.ntu import CLASSES, NTUName, in_dataset, ntu_fields
from glt.data.store import open_dataset, write_dataset
from glt.errors import DataError, DataWarning
from glt.layout import SkeletonLayout


@dataclass
class ImportResult:
    """What an import wrote and what the user should know about it."""

    format: str
    out_dir: Path
    benchmarks: dict[str, dict[str, int]]  # benchmark -> {"train": n, "val": n}
    differences: list[str]  # how the clips differ from `glt prepare` on the raw recordings
    checks: dict[str, list[str]]  # benchmark -> findings of glt.data.checks (units, y up)
    counts: dict[str, int] = field(default_factory=dict)  # clips left out, and why

    def lines(self) -> list[str]:
        """The summary as lines of text, for the command line."""
        lines = [f"imported {self.format} into {self.out_dir}"]
        for benchmark, parts in self.benchmarks.items():
            lines.append(f"  {benchmark}: train {parts['train']}, val {parts['val']}")
        lines += [f"  {what}: {n}" for what, n in self.counts.items() if n]
        lines += [f"differs from the raw route: {d}" for d in self.differences]
        for benchmark, found in self.checks.items():
            lines += [f"warning ({benchmark}): {f}" for f in found]
        return lines


@dataclass
class Clips:
    """Clips read from a source, before the method's preprocessing."""

    sequences: Sequence  # (T, M, V, 3) arrays, e.g. a `Lazy` that converts them when read
    labels: list[int]
    names: list[str]
    preprocessed: bool = False  # the source already applied the method's preprocessing

    def __len__(self) -> int:
        return len(self.labels)


def ntu_classes(names: Sequence[str]) -> tuple[list[NTUName] | None, str | None]:
    """The parsed NTU names and the dataset they belong to, or (None, None) if not all are."""
    try:
        parsed = [NTUName.parse(n) for n in names]
    except DataError:
        return None, None
    return parsed, "ntu60" if all(in_dataset(p, "ntu60") for p in parsed) else "ntu120"


def check_labels(source: str | os.PathLike, clips: Clips, num_classes: int | None = None) -> None:
    """Labels must be class indices; with NTU names, the name's action - 1."""
    labels = np.asarray(clips.labels, dtype=np.int64)
    bad = labels[(labels < 0) | (labels >= (num_classes or np.iinfo(np.int64).max))]
    if len(bad):
        allowed = f"0..{num_classes - 1}" if num_classes else "0-based class indices"
        raise DataError(f"{source}: label {bad[0]} out of range ({allowed})")
    parsed, _ = ntu_classes(clips.names)
    for name, label, p in zip(clips.names, clips.labels, parsed or [], strict=False):
        if label != p.label:
            raise DataError(
                f"{source}: clip {name} has label {label}, but its name says action {p.action} "
                f"(label {p.label})"
            )


def write_benchmarks(
    fmt: str,
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    benchmarks: Mapping[str, tuple[Clips, Sequence[str]]],
    layout: SkeletonLayout,
    differences: list[str],
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    counts: Mapping[str, int] | None = None,
    details: Mapping | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> ImportResult:
    """Write OUT/<benchmark>/ for each (clips, splits) of `benchmarks`, and OUT/import.json.

    splits: "train" or "val" per clip. Clips with NTU names keep the NTU per-clip fields and
    get NTU's class names (unless `class_names` or `num_classes` say otherwise). counts: clips
    left out, by reason; details: anything else to record. Both go to import.json and, with the
    differences, to every benchmark's metadata.json ("source").
    """
    out_dir = Path(out_dir)
    summary = {
        "format": fmt,
        "sources": [str(Path(s).resolve()) for s in sources],
        "differences": differences,
        **dict(counts or {}),
        **dict(details or {}),
    }
    parts, checks = {}, {}
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        for benchmark, (clips, splits) in benchmarks.items():
            parsed, dataset = ntu_classes(clips.names)
            names = class_names
            if names is None and dataset and num_classes in (None, len(CLASSES[dataset])):
                names = CLASSES[dataset]
            with warnings.catch_warnings():  # they would name the temporary folder
                warnings.simplefilter("ignore", DataWarning)
                write_dataset(
                    tmp / benchmark,
                    clips.sequences,
                    clips.labels,
                    splits,
                    layout,
                    names=clips.names,
                    info=ntu_fields(parsed) if parsed else None,
                    class_names=names,
                    num_classes=num_classes,
                    preprocessed=clips.preprocessed,
                    metadata={"source": summary, "benchmark": benchmark},
                )
            parts[benchmark] = {p: list(splits).count(p) for p in ("train", "val")}
            checks[benchmark] = open_dataset(tmp / benchmark).meta["checks"]
            if checks[benchmark] and strict:
                raise DataError(f"{out_dir / benchmark}: {'; '.join(checks[benchmark])}")
            for finding in checks[benchmark]:
                warnings.warn(f"{out_dir / benchmark}: {finding}", DataWarning, stacklevel=3)
        summary.update(benchmarks=parts, checks=checks)
        (tmp / "import.json").write_text(json.dumps(summary, indent=2) + "\n")
    return ImportResult(fmt, out_dir, parts, differences, checks, dict(counts or {}))


def padded(clip: np.ndarray, persons: int) -> np.ndarray:
    """(T, M, V, C) with the first `persons` persons kept, missing ones as zeros."""
    clip = clip[:, :persons]
    if clip.shape[1] < persons:
        pad = np.zeros((len(clip), persons - clip.shape[1], *clip.shape[2:]), clip.dtype)
        clip = np.concatenate([clip, pad], axis=1)
    return clip


def lengths_before_padding(nonzero: np.ndarray) -> np.ndarray:
    """Per clip, the frames up to its last non-zero one; nonzero: (N, T) bool."""
    last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 0)


class Lazy(Sequence):
    """A sequence whose item k is made on access, as fn(arg) for the k-th (fn, arg): clips are
    converted one at a time as `write_dataset` reads them, never all at once."""

    def __init__(self, items: list[tuple[Callable, object]]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> np.ndarray:
        fn, arg = self.items[k]
        return fn(arg)


def find_benchmarks(
    sources: Sequence[str | os.PathLike], kinds: Sequence[str], labels: str | os.PathLike | None
) -> dict[str, dict[str, tuple[Path, Path]]]:
    """benchmark -> part -> (data file, label pickle) in folders laid out as ST-GCN's.

    A folder holding `{part}_{kind}.npy` (the first of `kinds` found) is a benchmark named after
    the folder; otherwise each of its subfolders that does. The label pickle `{part}_label.pkl`
    is beside the data, else in `labels/<benchmark>/` or `labels/`.
    """
    found: dict[str, dict[str, tuple[Path, Path]]] = {}
    for source in map(Path, sources):
        if not source.is_dir():
            raise FileNotFoundError(f"{source} is not a folder")
        folders = [source] if _data_file(source, "train", kinds) else sorted(source.iterdir())
        for folder in folders:
            parts = {}
            for part in ("train", "val"):
                data = _data_file(folder, part, kinds)
                if data is None:
                    continue
                places = [folder] + ([Path(labels) / folder.name, Path(labels)] if labels else [])
                label = next((p / f"{part}_label.pkl" for p in places
                              if (p / f"{part}_label.pkl").is_file()), None)  # fmt: skip
                if label is None:
                    where = " or ".join(str(p) for p in places)
                    raise DataError(f"{data}: no {part}_label.pkl in {where}")
                parts[part] = (data, label)
            if not parts:
                continue
            if folder.name in found:
                raise DataError(f"benchmark {folder.name!r} found twice: {folder}")
            found[folder.name] = parts
    if not found:
        wanted = ", ".join(f"train_{k}.npy" for k in kinds)
        raise DataError(f"no {wanted} in {', '.join(map(str, sources))} or their subfolders")
    return found


def _data_file(folder: Path, part: str, kinds: Sequence[str]) -> Path | None:
    return next(
        (folder / f"{part}_{k}.npy" for k in kinds if (folder / f"{part}_{k}.npy").is_file()), None
    )
