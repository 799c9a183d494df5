"""The on-disk format of a prepared dataset, and `write_dataset`, the one way to make one.

A prepared dataset is a folder:

    metadata.json        layout, parts, class names, how it was made
    train_frames.npy     (F, M, V, 3) float32: every train clip's frames, one after another
    train_index.npz      offsets (N+1,), labels (N,), names (N,), and per-clip integer fields
    val_frames.npy / val_index.npz

Clips are stored at their natural length (no padding) after the preprocessing of method §2,
so clip i of a part is `frames[offsets[i]:offsets[i+1]]`. The frames file is memory-mapped on
reading: a full NTU-120 benchmark never has to fit in RAM.

`write_subset` copies at most n clips of each class of a prepared dataset, for quick runs;
`fingerprint` is a content hash of one, the same wherever and whenever it was written.

Folders are written under a temporary name and renamed at the end (`glt.atomic.staging_dir`),
so an interrupted run never leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glt.atomic import staging_dir
from glt.data.checks import KeypointSurvey
from glt.data.preprocess import preprocess
from glt.errors import DataError, DataWarning
from glt.layout import SkeletonLayout

FORMAT = "glt-skeleton"
VERSION = 1
PARTS = ("train", "val")


@dataclass
class SkeletonPart:
    """One part (train or val) of a prepared dataset."""

    frames: np.ndarray  # (F, M, V, 3) float32, memory-mapped
    offsets: np.ndarray  # (N + 1,) int64
    labels: np.ndarray  # (N,) int64
    names: np.ndarray  # (N,) str
    info: dict[str, np.ndarray] = field(default_factory=dict)  # per-clip integer fields

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getstate__(self):
        # A memory map travels to DataLoader workers as its file name, not as a copy of the data.
        state = dict(self.__dict__)
        if isinstance(self.frames, np.memmap):
            state["frames"] = ("memmap", self.frames.filename)
        return state

    def __setstate__(self, state):
        frames = state["frames"]
        if isinstance(frames, tuple) and frames[0] == "memmap":
            state["frames"] = np.load(frames[1], mmap_mode="r")
        self.__dict__.update(state)

    def clip(self, i: int) -> np.ndarray:
        """Clip i as a (T, M, V, 3) float32 array (a copy: writable, and the file stays shared)."""
        return np.array(self.frames[self.offsets[i] : self.offsets[i + 1]])


@dataclass
class PreparedDataset:
    """A prepared dataset folder: its metadata and its parts."""

    root: Path
    meta: dict
    layout: SkeletonLayout

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    @property
    def class_names(self) -> list[str] | None:
        return self.meta.get("class_names")

    @property
    def parts(self) -> list[str]:
        return list(self.meta["parts"])

    def part(self, name: str) -> SkeletonPart:
        """Part `name`, its files checked against each other and the metadata (`DataError`
        naming the file otherwise); the frames stay on disk, memory-mapped."""
        if name not in self.meta["parts"]:
            raise DataError(f"{self.root} has no part {name!r}; it has {self.parts}")
        index = _read_index(self.root / f"{name}_index.npz", int(self.meta["parts"][name]),
                            self.num_classes)  # fmt: skip
        frames_path = self.root / f"{name}_frames.npy"
        frames = _open_frames(frames_path, self.layout)
        total, recorded = int(index["offsets"][-1]), self.meta.get("frames", {}).get(name)
        if len(frames) != total:
            raise DataError(
                f"{frames_path}: {len(frames)} frames, but {name}_index.npz says {total}"
            )
        if recorded not in (None, total):
            raise DataError(
                f"{self.root / 'metadata.json'}: {recorded} {name} frames, but {name}_index.npz "
                f"and {name}_frames.npy hold {total}"
            )
        fixed = {"offsets", "labels", "names"}
        return SkeletonPart(
            frames=frames,
            offsets=index["offsets"],
            labels=index["labels"],
            names=index["names"],
            info={k: v for k, v in index.items() if k not in fixed},
        )

    @property
    def train(self) -> SkeletonPart:
        return self.part("train")

    @property
    def val(self) -> SkeletonPart:
        return self.part("val")


def open_dataset(root: str | os.PathLike) -> PreparedDataset:
    """Open a folder written by `write_dataset` (or `glt prepare`)."""
    root = Path(root)
    meta_path = root / "metadata.json"
    if not meta_path.is_file():
        hint = ""
        if root.is_dir():
            subs = sorted(p.name for p in root.iterdir() if (p / "metadata.json").is_file())
            if subs:
                hint = f"; it holds the benchmarks {subs}: pass one of them"
        raise FileNotFoundError(f"{root} is not a prepared dataset (no metadata.json){hint}")
    meta, layout = _read_metadata(meta_path)
    dataset = PreparedDataset(root=root, meta=meta, layout=layout)
    for name in dataset.parts:
        dataset.part(name)  # checks the part's files now, not when training reaches them
    return dataset


# Metadata that says where a dataset was made from (machine paths), not what it holds.
_PROVENANCE = ("sources",)


def fingerprint(root: str | os.PathLike) -> str:
    """A content hash of the prepared dataset in `root`, "sha256:<hex>": its metadata (less the
    paths it was made from) and every part's frames, offsets, labels, names and per-clip
    fields. Two folders made by the same steps from the same recordings have the same one (the
    index files' zip timestamps do not enter it)."""
    dataset = open_dataset(root)
    meta = {k: v for k, v in dataset.meta.items() if k not in _PROVENANCE}
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in dataset.parts:
        part = dataset.part(name)
        arrays = {"frames": part.frames, "offsets": part.offsets, "labels": part.labels,
                  "names": part.names, **part.info}  # fmt: skip
        for key in sorted(arrays):
            array = np.ascontiguousarray(arrays[key])
            digest.update(f"{name}/{key} {array.dtype.str} {array.shape}".encode())
            digest.update(array.tobytes())
    return f"sha256:{digest.hexdigest()}"


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _read_metadata(path: Path) -> tuple[dict, SkeletonLayout]:
    """metadata.json and the layout in it, checked: the fields every reader relies on."""
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({_first_line(e)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DataError(f"{path}: format {found!r}, expected {FORMAT!r}")
    parts = meta.get("parts")
    if not (isinstance(parts, dict) and parts and set(parts) <= set(PARTS)
            and all(isinstance(n, int) and n >= 1 for n in parts.values())):  # fmt: skip
        raise DataError(f"{path}: 'parts' must map some of {PARTS} to clip counts, not {parts!r}")
    if not (isinstance(meta.get("num_classes"), int) and meta["num_classes"] >= 1):
        raise DataError(f"{path}: 'num_classes' must be a positive integer")
    try:
        layout = SkeletonLayout.from_dict(meta["layout"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: 'layout' is not a skeleton layout ({_first_line(e)})") from None
    return meta, layout


def _read_index(path: Path, clips: int, num_classes: int) -> dict[str, np.ndarray]:
    """A part's index, checked: `clips` clips with increasing offsets and labels in range."""
    if not path.is_file():
        raise DataError(f"{path}: missing (the index of a part listed in metadata.json)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            index = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: not a readable index ({_first_line(e)})") from None
    missing = sorted({"offsets", "labels", "names"} - set(index))
    if missing:
        raise DataError(f"{path}: no {', '.join(missing)} array")
    offsets, labels = index["offsets"], index["labels"]
    for key, array in index.items():
        want = clips + 1 if key == "offsets" else clips
        kinds, what = ("U", "strings") if key == "names" else ("iu", "integers")
        if array.shape != (want,) or array.dtype.kind not in kinds:
            raise DataError(
                f"{path}: {key} has shape {array.shape} and dtype {array.dtype}, expected "
                f"({want},) {what} (metadata.json: {clips} clips)"
            )
    if offsets[0] != 0 or (np.diff(offsets) < 1).any():
        raise DataError(f"{path}: offsets must start at 0 and increase (every clip has frames)")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"{path}: labels outside 0..{num_classes - 1} (metadata.json's classes)")
    return index


def _open_frames(path: Path, layout: SkeletonLayout) -> np.ndarray:
    """A part's frames, memory-mapped, checked: float32 (F, M, V, 3) for `layout`."""
    if not path.is_file():
        raise DataError(f"{path}: missing (the frames of a part listed in metadata.json)")
    try:
        frames = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not a readable frames array ({_first_line(e)})") from None
    want = (layout.num_persons, layout.num_joints, 3)
    if frames.dtype != np.float32 or frames.ndim != 4 or frames.shape[1:] != want:
        raise DataError(
            f"{path}: {frames.dtype} array of shape {frames.shape}, expected float32 "
            f"(F, {want[0]}, {want[1]}, 3) for layout {layout.name!r}"
        )
    return frames


def write_dataset(
    out_dir: str | os.PathLike,
    sequences: Sequence[np.ndarray],
    labels: Sequence[int],
    splits: Sequence[str],
    layout: SkeletonLayout,
    *,
    names: Sequence[str] | None = None,
    info: Mapping[str, Sequence[int]] | None = None,
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
    preprocessed: bool = False,
    max_frames: int = 300,
    metadata: Mapping | None = None,
    overwrite: bool = False,
    strict: bool = False,
    shown_as: str | os.PathLike | None = None,
) -> Path:
    """Preprocess skeleton sequences and write them as a prepared dataset.

    sequences: one (T, M, V, 3) array per clip, in camera space (metres, y up), with absent
        persons as zeros; M and V must match `layout`. With `preprocessed=True` they are taken
        as already preprocessed (method §2) and stored as they are.
    labels: class index per clip (0-based). splits: "train" or "val" per clip.
    names: a name per clip (default clip00000, ...). info: per-clip integer fields to keep,
        e.g. {"subject": [...], "camera": [...]}.
    The sequences are checked for units and orientation (`glt.data.checks`): each problem is a
    `DataWarning` naming the folder (`shown_as`, for a caller that writes under a temporary
    name) and is listed in metadata.json ("checks"); with `strict` it is a `DataError` instead
    and nothing is written.
    Returns the folder written. Refuses to replace an existing folder unless `overwrite`.
    """
    out_dir = Path(out_dir)
    n = len(sequences)
    if n == 0:
        raise DataError("write_dataset: no sequences given")
    if len(labels) != n or len(splits) != n:
        raise DataError(
            f"write_dataset: {n} sequences but {len(labels)} labels and {len(splits)} splits"
        )
    names = [f"clip{i:05d}" for i in range(n)] if names is None else [str(s) for s in names]
    if len(names) != n:
        raise DataError(f"write_dataset: {n} sequences but {len(names)} names")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(f"write_dataset: clip names must be unique; repeated: {repeated[:5]}")
    if max_frames < 1:
        raise DataError(f"write_dataset: max_frames={max_frames} must be at least 1")
    info = {k: np.asarray(v, dtype=np.int64) for k, v in (info or {}).items()}
    for k, v in info.items():
        if v.shape != (n,):
            raise DataError(f"write_dataset: info[{k!r}] has {v.shape} values, expected ({n},)")
        if k in ("offsets", "labels", "names"):
            raise DataError(f"write_dataset: info field {k!r} is reserved")
    labels = _class_indices(labels, names)
    if labels.min() < 0:
        raise DataError("write_dataset: labels must be 0-based class indices")
    unknown = sorted(set(splits) - set(PARTS))
    if unknown:
        raise DataError(f"write_dataset: unknown split(s) {unknown}; use 'train' or 'val'")
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else int(labels.max()) + 1
    if labels.max() >= num_classes:
        raise DataError(f"write_dataset: label {labels.max()} but only {num_classes} classes")

    clips = []
    want = (layout.num_persons, layout.num_joints, 3)
    survey = KeypointSurvey(layout)
    for i, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.float32)
        if seq.ndim != 4 or seq.shape[1:] != want:
            raise DataError(
                f"write_dataset: clip {i} ({names[i]}) has shape {seq.shape}, expected (T, {want[0]}, "
                f"{want[1]}, 3) for layout {layout.name!r}"
            )
        if not np.isfinite(seq).all():
            raise DataError(f"write_dataset: clip {i} ({names[i]}) holds NaN or infinite values")
        survey.add(seq)
        if preprocessed:
            clip = seq[:max_frames]
        else:
            clip = preprocess(seq, layout, max_frames=max_frames)
        if len(clip) == 0:
            raise DataError(f"write_dataset: clip {i} ({names[i]}) has no valid frame")
        clips.append(clip)

    checks = survey.findings()
    shown = shown_as or out_dir  # a caller writing under a temporary name gives the final one
    if checks and strict:
        raise DataError(f"{shown}: {'; '.join(checks)}")
    for finding in checks:
        warnings.warn(f"{shown}: {finding}", DataWarning, stacklevel=2)

    parts = {p: [i for i in range(n) if splits[i] == p] for p in PARTS}
    parts = {p: idx for p, idx in parts.items() if idx}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "layout": layout.to_dict(),
        "num_classes": int(num_classes),
        "class_names": list(class_names) if class_names is not None else None,
        "max_frames": max_frames,
        "parts": {p: len(idx) for p, idx in parts.items()},
        "frames": {p: int(sum(len(clips[i]) for i in idx)) for p, idx in parts.items()},
        "checks": checks,
        **dict(metadata or {}),
    }

    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        for p, idx in parts.items():
            lengths = np.array([len(clips[i]) for i in idx], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            frames = np.lib.format.open_memmap(
                tmp / f"{p}_frames.npy", mode="w+", dtype=np.float32,
                shape=(int(offsets[-1]), *want),
            )  # fmt: skip
            for k, i in enumerate(idx):
                frames[offsets[k] : offsets[k + 1]] = clips[i]
            frames.flush()
            del frames
            np.savez(
                tmp / f"{p}_index.npz",
                offsets=offsets,
                labels=labels[idx],
                names=np.array([names[i] for i in idx]),
                **{k: v[idx] for k, v in info.items()},
            )
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


def _class_indices(labels: Sequence, names: list[str]) -> np.ndarray:
    """`labels` as int64, refusing what is not an integer (a float 1.7 is not class 1, NaN is no
    class): the error names the first such clip."""
    values = np.asarray(labels)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
    else:
        bad = np.ones(len(values), dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"write_dataset: clip {i} ({names[i]}) has label {values[i].item()!r}; labels must be "
            "integer class indices"
        )
    return values.astype(np.int64)


def write_subset(
    dataset: PreparedDataset,
    out_dir: str | os.PathLike,
    max_per_class: int,
    *,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """A smaller copy of `dataset` in `out_dir`: at most `max_per_class` clips of each class in
    each part, drawn at random (seeded) and kept in their order; for quick runs such as CI's."""
    if max_per_class < 1:
        raise DataError(f"write_subset: max_per_class={max_per_class}, must be at least 1")
    rng = np.random.default_rng(seed)
    sequences, labels, splits, names, info = [], [], [], [], {}
    for name in dataset.parts:
        part = dataset.part(name)
        chosen = [rng.permutation(np.flatnonzero(part.labels == c))[:max_per_class]
                  for c in np.unique(part.labels)]  # fmt: skip
        keep = np.sort(np.concatenate(chosen))
        sequences += [part.clip(i) for i in keep]
        labels += part.labels[keep].tolist()
        splits += [name] * len(keep)
        names += part.names[keep].tolist()
        for field_name, values in part.info.items():
            info.setdefault(field_name, []).extend(values[keep].tolist())
    return write_dataset(
        out_dir, sequences, labels, splits, dataset.layout, names=names, info=info,
        class_names=dataset.class_names, num_classes=dataset.num_classes, preprocessed=True,
        max_frames=dataset.meta["max_frames"], overwrite=overwrite,
        metadata={"subset_of": str(dataset.root), "max_per_class": max_per_class, "seed": seed},
    )  # fmt: skip
