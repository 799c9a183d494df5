"""The authors' on-disk layout: import it as a prepared dataset, export a prepared part to it.

The public GL-Transformer code trains from two files per part (method §2, their
data/preprocessing/preprocess_ntu.py and feeder/ntu_feeder.py):

    {part}_position.npy   (N, 3, 300, V, M) float32, preprocessed; frames >= the clip's length
                          hold the pad value 99.9 in every coordinate
    {part}_label.pkl      a pickle of (names, labels): the clip names and 0-based labels

`import_authors` turns such files into our prepared format (clips at natural length, see
glt/data/store.py): the length of a clip is its first frame whose x of joint 0, person 0 is 99.9.
`export_authors` writes a prepared part in their layout, e.g. to run their code on our data.
Pickles are read with a restricted unpickler that only builds plain Python data.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glt.data.ntu import NTUName, clip_name
from glt.data.store import PreparedDataset, SkeletonPart, open_dataset, write_dataset
from glt.errors import DataError
from glt.layout import NTU, SkeletonLayout

PAD_VALUE = 99.9  # what the authors write into every coordinate of a pad frame (method §2 step 4)

NTU_FIELDS = ("subject", "camera", "setup", "replication")  # per-clip fields kept from NTU names

_SAFE_BUILTINS = frozenset(
    ["list", "tuple", "dict", "set", "frozenset", "str", "bytes", "int", "float", "bool"]
)


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds lists, dicts, strings and numbers only: no other class, no function call."""

    def find_class(self, module, name):
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refers to {module}.{name}; only plain Python data (lists, dicts, str, int, ...) "
            "is accepted"
        )


def load_pickle(path: str | os.PathLike):
    """Load a pickle of plain Python data safely (no arbitrary code); DataError otherwise."""
    try:
        return _PlainDataUnpickler(io.BytesIO(Path(path).read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise DataError(f"{path}: not a readable pickle of plain data: {e}") from None


def read_label_pickle(path: str | os.PathLike) -> tuple[list[str], list[int]]:
    """The authors' (names, labels) pickle, with names reduced to clip names."""
    content = load_pickle(path)
    if not (isinstance(content, (tuple, list)) and len(content) == 2):
        raise DataError(f"{path}: expected a pickled (names, labels) pair")
    names, labels = content
    if len(names) != len(labels):
        raise DataError(f"{path}: {len(names)} names but {len(labels)} labels")
    try:
        labels = [int(label) for label in labels]
    except (TypeError, ValueError):
        raise DataError(f"{path}: labels must be integers") from None
    return [clip_name(str(name)) for name in names], labels


def authors_lengths(data: np.ndarray) -> np.ndarray:
    """Clip lengths of an (N, 3, T, V, M) array: the first frame whose x of joint 0, person 0
    is the pad value (T when there is none)."""
    padded = np.asarray(data[:, 0, :, 0, 0]) == PAD_VALUE  # (N, T), in the array's precision
    return np.where(padded.any(axis=1), padded.argmax(axis=1), data.shape[2]).astype(np.int64)


def export_authors(
    source: str | os.PathLike | PreparedDataset | SkeletonPart,
    out_prefix: str | os.PathLike,
    *,
    part: str = "train",
    max_frames: int | None = None,
) -> tuple[Path, Path]:
    """Write one prepared part as `{out_prefix}_position.npy` and `{out_prefix}_label.pkl`.

    source: a prepared dataset (folder or `PreparedDataset`, then `part` picks the part) or a
    `SkeletonPart`. max_frames: the padded length T (default: the dataset's, else 300); longer
    clips are cropped. Returns the two paths.
    """
    if not isinstance(source, SkeletonPart):
        dataset = source if isinstance(source, PreparedDataset) else open_dataset(source)
        max_frames = max_frames or int(dataset.meta.get("max_frames", 300))
        source = dataset.part(part)
    max_frames = max_frames or 300
    data_path = Path(f"{out_prefix}_position.npy")
    label_path = Path(f"{out_prefix}_label.pkl")
    data_path.parent.mkdir(parents=True, exist_ok=True)
    _, persons, joints, _ = source.frames.shape
    out = np.lib.format.open_memmap(
        data_path, mode="w+", dtype=np.float32, shape=(len(source), 3, max_frames, joints, persons)
    )
    for i in range(len(source)):
        clip = source.clip(i)[:max_frames]  # (L, M, V, 3)
        out[i] = PAD_VALUE
        out[i, :, : len(clip)] = clip.transpose(3, 0, 2, 1)
    out.flush()
    del out
    with open(label_path, "wb") as f:
        pickle.dump(([str(n) for n in source.names], [int(y) for y in source.labels]), f)
    return data_path, label_path


def import_authors(
    data_path: str | os.PathLike,
    label_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    val_data_path: str | os.PathLike | None = None,
    val_label_path: str | os.PathLike | None = None,
    layout: SkeletonLayout = NTU,
    class_names: list[str] | None = None,
    num_classes: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the authors' preprocessed arrays as a prepared dataset (train part, optional val).

    The arrays are taken as preprocessed (`write_dataset(..., preprocessed=True)`), cut at
    their first pad frame. Clips whose first frame is already a pad frame (empty) are left out
    and counted in metadata.json ("empty_clips"). When all names are NTU clip names, the
    per-clip fields subject, camera, setup and replication are kept.
    """
    if (val_data_path is None) != (val_label_path is None):
        raise ValueError("import_authors: give both val_data_path and val_label_path, or neither")
    parts = [("train", data_path, label_path)]
    if val_data_path is not None:
        parts.append(("val", val_data_path, val_label_path))
    sequences, labels, splits, names = [], [], [], []
    empty, max_frames = 0, 0
    for split, part_data, part_label in parts:
        data = np.load(part_data, mmap_mode="r")
        part_names, part_labels = read_label_pickle(part_label)
        want = (layout.num_joints, layout.num_persons)
        if data.ndim != 5 or data.shape[1] != 3 or data.shape[3:] != want:
            raise DataError(
                f"{part_data}: shape {data.shape}, expected (N, 3, T, {want[0]}, {want[1]}) "
                f"for layout {layout.name!r}"
            )
        if len(data) != len(part_labels):
            raise DataError(f"{part_data}: {len(data)} clips but {len(part_labels)} labels")
        max_frames = max(max_frames, data.shape[2])
        for i, length in enumerate(authors_lengths(data)):
            if length == 0:
                empty += 1
                continue
            # (3, L, V, M) -> (L, M, V, 3), still a view of the memory-mapped file
            sequences.append(data[i, :, :length].transpose(1, 3, 2, 0))
            labels.append(part_labels[i])
            splits.append(split)
            names.append(part_names[i])
    return write_dataset(
        out_dir,
        sequences,
        labels,
        splits,
        layout,
        names=names,
        info=_ntu_info(names),
        class_names=class_names,
        num_classes=num_classes,
        preprocessed=True,
        max_frames=max_frames,
        metadata={"source": "authors' layout", "empty_clips": empty},
        overwrite=overwrite,
    )


def ntu_fields(names: Sequence[NTUName]) -> dict[str, list[int]]:
    """The per-clip fields (`NTU_FIELDS`) of parsed NTU clip names, as `write_dataset`'s info
    (`glt prepare` keeps them too)."""
    return {f: [getattr(n, f) for n in names] for f in NTU_FIELDS}


def _ntu_info(names: list[str]) -> dict[str, list[int]] | None:
    try:
        return ntu_fields([NTUName.parse(n) for n in names])
    except DataError:
        return None
