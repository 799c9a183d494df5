"""`glt prepare`: raw NTU RGB+D 60 / 120 or NW-UCLA recordings -> prepared datasets.

    glt prepare ntu60 --raw nturgb+d_skeletons \
        --missing NTU_RGBD_samples_with_missing_skeletons.txt --out datasets/ntu60
    glt prepare ntu120 --raw nturgb+d_skeletons --raw nturgb+d120_skeletons \
        --missing NTU_RGBD120_samples_with_missing_skeletons.txt --out datasets/ntu120
    glt prepare nwucla --raw nw-ucla --out datasets/nwucla

Every file is read once, by worker processes, and preprocessed once (method §2); all the
benchmarks of the dataset are then written from those clips (method §1 and §7):

    OUT/xsub/  OUT/xview/     NTU-60, each a prepared dataset (glt/data/store.py)
    OUT/xsub/  OUT/xset/      NTU-120
    OUT/xview/                NW-UCLA: views 1 and 2 train, view 3 val
    OUT/skipped.txt           files that could not be used: name <TAB> reason
    OUT/prepare.json          dataset, sources, counts per benchmark and part, skipped

OUT is built under a temporary name and renamed when complete. A bad file is skipped and
listed; with `strict` (--strict) the first one stops the run with its error instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
from tqdm import tqdm

from glt.atomic import staging_dir
from glt.data import nwucla
from glt.data.ntu import (
    BENCHMARKS,
    CLASSES,
    NTUName,
    clip_name,
    in_dataset,
    ntu_fields,
    read_name_list,
    read_skeleton_files,
    split_of,
)
from glt.data.preprocess import preprocess
from glt.data.store import write_dataset
from glt.errors import DataError, GLTError, SkeletonFileError
from glt.layout import NTU, NWUCLA

DATASETS = ("ntu60", "ntu120", "nwucla")
_BATCH = 32  # files per task
_NO_SKELETON = "no skeleton: joint 1 of body 1 is zero in every frame"


def prepare_ntu(
    raw_dirs: str | os.PathLike | Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    dataset: str = "ntu60",
    *,
    missing: str | os.PathLike | None = None,
    strict: bool = False,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Prepare NTU RGB+D 60 or 120 from folders of `.skeleton` files (searched recursively).

    Writes OUT/xsub and OUT/xview (ntu60) or OUT/xsub and OUT/xset (ntu120). `missing`: a file
    of clip names to leave out (the official lists of samples with missing skeletons). Files of
    the other dataset are ignored (NTU-60 = setups 1-17, actions 1-60). workers: processes
    (default: all CPUs; 0 reads in this process). Returns the summary also saved as
    OUT/prepare.json.
    """
    if dataset not in BENCHMARKS:
        raise ValueError(f"prepare_ntu: dataset must be 'ntu60' or 'ntu120', not {dataset!r}")
    raw_dirs = _as_list(raw_dirs)
    files = _find(raw_dirs, "*.skeleton")
    excluded = read_name_list(missing) if missing is not None else set()
    counts = {"files": len(files), "excluded_by_list": 0, "not_in_dataset": 0}
    skipped, tasks, names = [], [], []
    for name, path in files.items():
        if name in excluded:
            counts["excluded_by_list"] += 1
            continue
        try:
            parsed = NTUName.parse(name)
        except DataError as e:
            skipped.append((name, str(e)))
            continue
        if not in_dataset(parsed, dataset):
            counts["not_in_dataset"] += 1
            continue
        tasks.append((str(path), dataset))
        names.append(parsed)

    def write(tmp: Path, clips: _ClipFile, kept: list[int], summary: dict) -> dict:
        kept_names = [names[i] for i in kept]
        parts = {}
        for benchmark in BENCHMARKS[dataset]:
            splits = [split_of(n, benchmark) for n in kept_names]
            write_dataset(
                tmp / benchmark,
                clips,
                [n.label for n in kept_names],
                splits,
                NTU,
                names=[str(n) for n in kept_names],
                info=ntu_fields(kept_names),
                class_names=CLASSES[dataset],
                preprocessed=True,
                metadata={**summary, "benchmark": benchmark},
                shown_as=Path(out_dir) / benchmark,
            )
            parts[benchmark] = {p: splits.count(p) for p in ("train", "val")}
        return parts

    return _prepare(
        dataset, raw_dirs, out_dir, _read_ntu, tasks, NTU, write, counts, skipped,
        strict=strict, workers=workers, overwrite=overwrite, progress=progress,
    )  # fmt: skip


def prepare_nwucla(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    missing: str | os.PathLike | None = None,
    strict: bool = False,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Prepare NW-UCLA from its JSON clips (`raw_dir` or `raw_dir/all_sqe`) as OUT/xview.

    Views 1 and 2 train, view 3 val (method §7). When `raw_dir` holds the official test list
    val_label.pkl, every clip's part is checked against it. Other arguments as `prepare_ntu`.
    """
    raw_dir = Path(raw_dir)
    files = _find([nwucla.clip_dir(raw_dir)], "*.json")
    excluded = read_name_list(missing) if missing is not None else set()
    counts = {"files": len(files), "excluded_by_list": 0}
    skipped, tasks = [], []
    for name, path in files.items():
        if name in excluded:
            counts["excluded_by_list"] += 1
        else:
            tasks.append(str(path))
    val_list = raw_dir / "val_label.pkl"
    official = nwucla.read_val_list(val_list) if val_list.is_file() else None

    def write(tmp: Path, clips: _ClipFile, kept: list[int], summary: dict) -> dict:
        parsed = [nwucla.NWUCLAName.parse(clips.names[i]) for i in range(len(clips))]
        splits = [nwucla.split_of(n) for n in parsed]
        if official is not None:
            for name, split in zip(clips.names, splits, strict=True):
                if (name in official) != (split == "val"):
                    raise DataError(
                        f"{name}: view rule says {split!r} but {val_list} disagrees; "
                        "is this the standard NW-UCLA copy?"
                    )
        write_dataset(
            tmp / "xview",
            clips,
            clips.labels,
            splits,
            NWUCLA,
            names=clips.names,
            info={
                "subject": [n.subject for n in parsed],
                "camera": [n.view for n in parsed],
                "episode": [n.episode for n in parsed],
            },
            class_names=nwucla.CLASSES,
            preprocessed=True,
            metadata={**summary, "benchmark": "xview"},
            shown_as=Path(out_dir) / "xview",
        )
        return {"xview": {p: splits.count(p) for p in ("train", "val")}}

    return _prepare(
        "nwucla", [raw_dir], out_dir, _read_nwucla, tasks, NWUCLA, write, counts, skipped,
        strict=strict, workers=workers, overwrite=overwrite, progress=progress,
    )  # fmt: skip


def _prepare(
    dataset, raw_dirs, out_dir, reader, tasks, layout, write, counts, skipped, *,
    strict, workers, overwrite, progress,
) -> dict:  # fmt: skip
    """Read and preprocess every task once, then let `write` lay out the benchmarks."""
    out_dir = Path(out_dir)
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        clips = _ClipFile(tmp / ".clips.f32", (layout.num_persons, layout.num_joints, 3))
        kept = []
        reading = _parallel(reader, tasks, workers, f"reading {dataset}", progress)
        with closing(reading):  # on an error, stop the workers before the folder goes
            for i, (name, label, clip, error) in enumerate(reading):
                if error is not None:
                    if strict:
                        raise SkeletonFileError(*error)
                    _, line, reason = error
                    skipped.append((name, f"line {line}: {reason}" if line else reason))
                else:
                    clips.append(clip, name, label)
                    kept.append(i)
        clips.close()
        if not kept:
            raise DataError(f"no usable clip in {', '.join(map(str, raw_dirs))}: "
                            + _why_none(skipped, counts))  # fmt: skip
        summary = {
            "dataset": dataset,
            "sources": [str(Path(d).resolve()) for d in raw_dirs],
            **counts,
            "clips": len(kept),
            "skipped": len(skipped),
        }
        summary["benchmarks"] = write(tmp, clips, kept, summary)
        clips.remove()
        (tmp / "skipped.txt").write_text("".join(f"{n}\t{r}\n" for n, r in sorted(skipped)))
        (tmp / "prepare.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _why_none(skipped: list[tuple[str, str]], counts: dict) -> str:
    """Why no file gave a clip: the first reasons files were skipped, and the files left out."""
    why = [f"{name}: {reason}" for name, reason in sorted(skipped)[:3]]
    if len(skipped) > 3:
        why.append(f"{len(skipped) - 3} more skipped")
    left_out = {"excluded_by_list": "left out by --missing", "not_in_dataset": "of another dataset"}
    why += [f"{counts[k]} {what}" for k, what in left_out.items() if counts.get(k)]
    return "; ".join(why)


# --- workers -------------------------------------------------------------------------------------
# Each reads a batch of files and returns per file (name, label or None, clip (L, M, V, 3) float32
# or None, error or None); an error is SkeletonFileError's (path, line, reason), plain data that
# crosses process boundaries.


def _read_ntu(batch: list[tuple[str, str]]) -> list[tuple]:
    paths, dataset = [path for path, _ in batch], batch[0][1]
    raws = read_skeleton_files(paths, dataset)
    return [
        _result(path, clip_name(path), None, raw, NTU)
        for path, raw in zip(paths, raws, strict=True)
    ]


def _read_nwucla(batch: list[str]) -> list[tuple]:
    results = []
    for path in batch:
        name, label = Path(path).stem, None
        try:
            name, label, raw = nwucla.read_clip(path)
        except SkeletonFileError as e:
            raw = e
        except OSError as e:
            raw = SkeletonFileError(path, None, f"cannot read the file: {e.strerror or e}")
        results.append(_result(path, name, label, raw, NWUCLA))
    return results


def _result(path: str, name: str, label: int | None, raw, layout) -> tuple:
    """Preprocess one clip read by a worker; a read error or an empty clip becomes the error."""
    if isinstance(raw, SkeletonFileError):
        return name, None, None, (raw.path, raw.line, raw.reason)
    clip = preprocess(raw, layout)
    if len(clip) == 0:
        return name, None, None, (path, None, _NO_SKELETON)
    return name, label, clip, None


def _parallel(
    fn: Callable, tasks: Sequence, workers: int | None, desc: str, progress: bool
) -> Iterator:
    """The results of fn(batch) over `tasks` in batches, in order, one result per task, by
    `workers` processes (0: in this process)."""
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 0:
        raise GLTError(f"workers must be >= 0, not {workers}")
    # Batches spare a round trip to a worker per file; enough of them keep every worker busy to
    # the end.
    size = max(1, min(_BATCH, len(tasks) // (4 * max(workers, 1))))
    batches = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    pool = ProcessPoolExecutor(workers) if workers else None
    results = pool.map(fn, batches) if pool is not None else map(fn, batches)
    try:
        with tqdm(total=len(tasks), desc=desc, unit="file", disable=not progress) as bar:
            for batch in results:
                yield from batch
                bar.update(len(batch))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


class _ClipFile(Sequence):
    """Clips appended to one scratch file, read back memory-mapped: a corpus need not fit in RAM."""

    def __init__(self, path: Path, frame_shape: tuple[int, ...]):
        self.path, self.frame_shape = path, frame_shape
        self.offsets, self.names, self.labels = [0], [], []
        self._file = open(path, "wb")
        self._frames = None

    def append(self, clip: np.ndarray, name: str, label: int | None) -> None:
        self._file.write(np.ascontiguousarray(clip, dtype=np.float32).tobytes())
        self.offsets.append(self.offsets[-1] + len(clip))
        self.names.append(name)
        self.labels.append(label)

    def close(self) -> None:
        self._file.close()
        if self.offsets[-1]:
            shape = (self.offsets[-1], *self.frame_shape)
            self._frames = np.memmap(self.path, dtype=np.float32, mode="r", shape=shape)

    def remove(self) -> None:
        self._frames = None
        self.path.unlink()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self._frames[self.offsets[i] : self.offsets[i + 1]]


def _as_list(dirs) -> list[Path]:
    return [Path(dirs)] if isinstance(dirs, (str, os.PathLike)) else [Path(d) for d in dirs]


def _find(dirs: list[Path], pattern: str) -> dict[str, Path]:
    """Clip name -> file for every file matching `pattern` under `dirs`, sorted by name."""
    found = {}
    for d in dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"{d} is not a folder")
        for path in d.rglob(pattern):
            name = clip_name(path) if pattern == "*.skeleton" else path.stem
            if name in found:
                raise DataError(f"clip {name} found twice: {found[name]} and {path}")
            found[name] = path
    if not found:
        raise DataError(f"no {pattern} file under {', '.join(map(str, dirs))}")
    return dict(sorted(found.items()))
