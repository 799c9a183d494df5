"""ST-GCN's array layout and the projects that kept it: import their folders, export to it.

ST-GCN's tools/ntu_gendata.py writes, per benchmark folder (xsub/, xview/) and part (train, val):

    {part}_data.npy       (N, 3, T, V, M) float32: x y z, frames, joints, bodies; zero-padded
    {part}_label.pkl      a pickle of (names, labels): file names and 0-based labels

2s-AGCN, MS-G3D and their followers name the array {part}_data_joint.npy, AimCLR and
GL-Transformer {part}_position.npy. What the numbers mean differs by project, so `kind_of`
tells it from the arrays themselves (body 1, joints 2 and 21 are zero where a step made them so):

- "raw": camera coordinates, zero-padded to 300 frames (ST-GCN's and AimCLR's ntu_gendata.py).
- "pre_normalization": 2s-AGCN / MS-G3D data_gen/preprocess.py: body 1's middle of the spine
  (joint 2) subtracted in every frame, each clip rotated so that body 1's spine points along z and
  its shoulders along x in the first frame, then filled to 300 frames with copies of itself.
- "resampled": AimCLR / CrosSCLR's {part}_position.npy: coordinates relative to joint 21 in every
  frame (its own slot zero), resampled to 50 frames, rotated per frame as the method's step 3.
- "authors": GL-Transformer's {part}_position.npy, preprocessed (method §2), padded with 99.9.
- "preprocessed": preprocessed as glt does, zero-padded (`export_stgcn`'s output).

Raw clips then go through the same steps as `glt prepare` (leading frames without body 1
dropped, the method's preprocessing); pre-normalised clips too, after their axes are turned back
to y up and the copies cut off; the others are stored as they are. Each kind's `DIFFERENCES` say
what cannot be undone.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glt.atomic import staging_dir
from glt.data.formats.common import (
    Clips,
    ImportResult,
    Lazy,
    check_labels,
    find_benchmarks,
    lengths_before_padding,
    write_benchmarks,
)
from glt.data.formats.pickles import read_label_pickle
from glt.data.ntu import drop_leading_empty
from glt.data.store import PreparedDataset, SkeletonPart, open_dataset
from glt.errors import DataError
from glt.layout import NTU, SkeletonLayout

PAD_VALUE = 99.9  # what the authors write into every coordinate of a pad frame (method §2 step 4)
_MID_SPINE = 1  # the joint pre_normalization subtracts (NTU joint 2)
_SAMPLE = 256  # clips looked at to tell the kind

DIFFERENCES = {
    "raw": [
        "bodies as chosen by the script that wrote the files: ST-GCN's and AimCLR's "
        "ntu_gendata.py keep the first two of each frame in file order, as `glt prepare ntu60`; "
        "a script that chose otherwise (e.g. by energy) gives other clips where the choice differs",
    ],
    "pre_normalization": [
        "pre_normalization subtracted body 1's middle of the spine in every frame: the "
        "global-translation slot holds the motion of joint 21 relative to joint 2, not the body's path",
        "pre_normalization rotated each clip so that body 1's spine points along z and its shoulders "
        "along x in the first frame; the import turns z back to y up, (x, y, z) -> (x, z, -y), but "
        "the first frame's tilt and the camera's view are gone",
        "pre_normalization filled each clip to 300 frames with copies of itself: cut at the first "
        "exact repetition of body 1; a body that ended earlier keeps its copies up to that point",
        "bodies: the two of largest energy among four (2s-AGCN, MS-G3D), glt's NTU-120 rule; "
        "`glt prepare ntu60` keeps the first two in file order; clips whose first frame lacked "
        "body 1 had their empty frames closed up",
    ],
    "resampled": [
        "resampled to a fixed number of frames by linear interpolation (AimCLR, CrosSCLR): the "
        "clip's length and speed are lost, and the pretraining intervals (1, 5, 10 frames) span "
        "other times",
        "relative to joint 21 in every frame, its own slot included: the global translation is gone",
        "already rotated per frame as the method's step 3: stored as they are",
    ],
    "authors": [],  # GL-Transformer's preprocessing is glt's (method §2)
    "preprocessed": [],
}
_STORED_AS_THEY_ARE = ("resampled", "authors", "preprocessed")


def kind_of(data: np.ndarray, layout: SkeletonLayout = NTU) -> str:
    """What an (N, 3, T, V, M) array holds (see the module's docstring), from up to 256 clips."""
    if (np.asarray(data[:, 0, :, 0, 0]) == PAD_VALUE).any():
        return "authors"
    sample = np.asarray(data[np.linspace(0, len(data) - 1, min(len(data), _SAMPLE)).astype(int)])
    body = sample[..., 0].transpose(0, 2, 3, 1)  # (n, T, V, 3): body 1
    present = np.abs(body).sum(axis=(2, 3)) > 0  # (n, T)
    if not present.any():
        raise DataError("every clip looked at is empty (all zeros)")
    zero = (body == 0).all(axis=-1)  # (n, T, V)
    if zero[present][:, _MID_SPINE].all():
        return "pre_normalization"
    centre = zero[..., layout.center]
    if centre[present].all():
        return "resampled"
    first = present.argmax(axis=1)[present.any(axis=1)]
    if centre[present.any(axis=1)][np.arange(len(first)), first].all():
        return "preprocessed"
    return "raw"


def read_part(
    data_path: str | os.PathLike,
    label_path: str | os.PathLike,
    layout: SkeletonLayout = NTU,
    kind: str | None = None,
) -> tuple[Clips, str, int]:
    """One part's arrays and label pickle -> (clips, kind, number of empty clips left out).

    kind: what the arrays hold (default: `kind_of` tells). Clips are converted when read
    (`Lazy`), from the memory-mapped array.
    """
    data = np.load(data_path, mmap_mode="r")
    names, labels = read_label_pickle(label_path)
    want = (3, layout.num_joints, layout.num_persons)
    if data.ndim != 5 or (data.shape[1], *data.shape[3:]) != want:
        raise DataError(
            f"{data_path}: shape {data.shape}, expected (N, 3, T, {want[1]}, {want[2]}) for "
            f"layout {layout.name!r}"
        )
    if len(data) != len(labels):
        raise DataError(f"{data_path}: {len(data)} clips but {len(labels)} labels in {label_path}")
    try:
        kind = kind or kind_of(data, layout)
    except DataError as e:
        raise DataError(f"{data_path}: {e}") from None
    if kind == "authors":
        lengths = authors_lengths(data)
    elif kind in _STORED_AS_THEY_ARE:  # in blocks: the array need not fit in memory
        blocks = range(0, len(data), 1024)
        nonzero = [(data[i : i + 1024] != 0).any(axis=(1, 3, 4)) for i in blocks]
        lengths = lengths_before_padding(np.concatenate(nonzero))
    else:  # frames where body 1 is present, as the method counts them
        lengths = (np.abs(data[:, :, :, 0, 0]).sum(axis=1) != 0).sum(axis=1)

    def clip(i: int) -> np.ndarray:
        frames = data[i].transpose(1, 3, 2, 0)  # (3, T, V, M) -> (T, M, V, 3)
        if kind in _STORED_AS_THEY_ARE:
            return frames[: lengths[i]]
        if kind == "pre_normalization":
            frames = frames[: loop_length(frames[:, 0])][..., [0, 2, 1]] * np.float32([1, 1, -1])
        return drop_leading_empty(frames)

    kept = [i for i in range(len(data)) if lengths[i] > 0]
    clips = Clips(
        Lazy([(clip, i) for i in kept]),
        [labels[i] for i in kept],
        [names[i] for i in kept],
        preprocessed=kind in _STORED_AS_THEY_ARE,
    )
    check_labels(label_path, clips)
    return clips, kind, len(data) - len(kept)


def authors_lengths(data: np.ndarray) -> np.ndarray:
    """Clip lengths of an (N, 3, T, V, M) array: the first frame whose x of joint 0, person 0
    is the pad value (T when there is none)."""
    padded = np.asarray(data[:, 0, :, 0, 0]) == PAD_VALUE  # (N, T), in the array's precision
    return np.where(padded.any(axis=1), padded.argmax(axis=1), data.shape[2]).astype(np.int64)


def loop_length(body: np.ndarray) -> int:
    """The length of a (T, V, 3) body that pre_normalization filled with copies of itself: the
    first L whose frames from L on repeat frames 0, 1, ... exactly (T if none)."""
    for length in np.flatnonzero((body[1:] == body[0]).all(axis=(1, 2))) + 1:
        copies = np.resize(body[:length], body.shape)  # repeats the first `length` frames
        if np.array_equal(body, copies):
            return int(length)
    return len(body)


def import_stgcn(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    layout: SkeletonLayout = NTU,
    overwrite: bool = False,
    strict: bool = False,
    fmt: str = "stgcn",
    kinds: Sequence[str] = ("data_joint", "data", "position"),
) -> ImportResult:
    """Import folders in ST-GCN's layout as OUT/<benchmark>/ (one per benchmark folder found).

    sources: benchmark folders (holding train_*.npy) or folders of them. labels: where the label
    pickles are when not beside the arrays (a benchmark folder or a folder of them). kinds: the
    array names looked for, {part}_{kind}.npy, the first found.
    """
    benchmarks, found, empty = {}, set(), 0
    for benchmark, parts in find_benchmarks(sources, kinds, labels).items():
        merged, splits, stored = Clips(Lazy([]), [], []), [], set()
        for part, (data_path, label_path) in parts.items():
            clips, kind, n_empty = read_part(data_path, label_path, layout)
            merged.sequences.items += clips.sequences.items
            merged.labels += clips.labels
            merged.names += clips.names
            merged.preprocessed = clips.preprocessed
            splits += [part] * len(clips)
            stored.add(clips.preprocessed)
            found.add(kind)
            empty += n_empty
        if len(stored) > 1:
            raise DataError(f"{benchmark}: train and val were prepared differently")
        benchmarks[benchmark] = (merged, splits)
    differences = [d for kind in sorted(found) for d in DIFFERENCES[kind]]
    return write_benchmarks(
        fmt, list(sources), out_dir, benchmarks, layout, differences,
        counts={"empty_clips": empty}, details={"kind": sorted(found)},
        overwrite=overwrite, strict=strict,
    )  # fmt: skip


def export_folder(
    source: str | os.PathLike | PreparedDataset,
    out_dir: str | os.PathLike,
    kind: str,
    pad: float,
    *,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write every part of a prepared dataset as {part}_{kind}.npy and {part}_label.pkl in
    `out_dir` (written under a temporary name, then renamed). Returns `out_dir`."""
    dataset = source if isinstance(source, PreparedDataset) else open_dataset(source)
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        for name in dataset.parts:
            export_part(
                dataset.part(name), tmp / f"{name}_{kind}.npy", tmp / f"{name}_label.pkl", pad,
                max_frames=max_frames or int(dataset.meta.get("max_frames", 300)),
            )  # fmt: skip
    return Path(out_dir)


def export_stgcn(
    source: str | os.PathLike | PreparedDataset,
    out_dir: str | os.PathLike,
    *,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> Path:
    """A prepared dataset as {part}_data_joint.npy (zero-padded) and {part}_label.pkl.

    The arrays hold the preprocessed clips (method §2), not camera coordinates: feed them to a
    codebase without its own normalisation (2s-AGCN's and MS-G3D's feeders read them as they are).
    """
    return export_folder(source, out_dir, "data_joint", 0.0, max_frames=max_frames,
                         overwrite=overwrite)  # fmt: skip


def export_part(
    part: SkeletonPart,
    data_path: Path,
    label_path: Path,
    pad: float,
    *,
    max_frames: int = 300,
) -> None:
    """One part as an (N, 3, max_frames, V, M) float32 array, frames past a clip's length set to
    `pad` (longer clips are cropped), and a pickle of (names, labels)."""
    _, persons, joints, _ = part.frames.shape
    out = np.lib.format.open_memmap(
        data_path, mode="w+", dtype=np.float32, shape=(len(part), 3, max_frames, joints, persons)
    )
    for i in range(len(part)):
        clip = part.clip(i)[:max_frames]  # (L, M, V, 3)
        out[i] = pad
        out[i, :, : len(clip)] = clip.transpose(3, 0, 2, 1)
    out.flush()
    del out
    with open(label_path, "wb") as f:
        pickle.dump(([str(n) for n in part.names], [int(y) for y in part.labels]), f)
