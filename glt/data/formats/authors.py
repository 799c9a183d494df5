"""The authors' on-disk layout: import it as a prepared dataset, export a prepared part to it.

The public GL-Transformer code trains from two files per part (method §2, their
data/preprocessing/preprocess_ntu.py and feeder/ntu_feeder.py):

    {part}_position.npy   (N, 3, 300, V, M) float32, preprocessed; frames >= the clip's length
                          hold the pad value 99.9 in every coordinate
    {part}_label.pkl      a pickle of (names, labels): the clip names and 0-based labels

This is ST-GCN's layout with another pad value, so glt/data/formats/stgcn.py reads it (whole
folders: `import_stgcn(..., fmt="authors")`); `import_authors` imports one benchmark's files
given by name. The length of a clip is its first frame whose x of joint 0, person 0 is 99.9.
`export_authors` writes a prepared part in their layout, e.g. to run their code on our data.
Label pickles are read with the restricted unpickler of glt/data/formats/pickles.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glt.data.formats.common import ntu_classes
from glt.data.formats.pickles import read_label_pickle
from glt.data.formats.stgcn import PAD_VALUE, authors_lengths, export_folder, export_part, read_part
from glt.data.ntu import ntu_fields
from glt.data.store import PreparedDataset, SkeletonPart, open_dataset, write_dataset
from glt.layout import NTU, SkeletonLayout

__all__ = ["PAD_VALUE", "authors_lengths", "export_authors", "import_authors", "read_label_pickle"]


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
    clips are cropped. Returns the two paths. `export_authors_folder` writes every part.
    """
    if not isinstance(source, SkeletonPart):
        dataset = source if isinstance(source, PreparedDataset) else open_dataset(source)
        max_frames = max_frames or int(dataset.meta.get("max_frames", 300))
        source = dataset.part(part)
    data_path = Path(f"{out_prefix}_position.npy")
    label_path = Path(f"{out_prefix}_label.pkl")
    data_path.parent.mkdir(parents=True, exist_ok=True)
    export_part(source, data_path, label_path, PAD_VALUE, max_frames=max_frames or 300)
    return data_path, label_path


def export_authors_folder(
    source: str | os.PathLike | PreparedDataset,
    out_dir: str | os.PathLike,
    *,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Every part of a prepared dataset as {part}_position.npy and {part}_label.pkl in `out_dir`."""
    return export_folder(source, out_dir, "position", PAD_VALUE, max_frames=max_frames,
                         overwrite=overwrite)  # fmt: skip


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
        clips, _, n_empty = read_part(part_data, part_label, layout, kind="authors")
        max_frames = max(max_frames, np.load(part_data, mmap_mode="r").shape[2])
        sequences += list(clips.sequences)
        labels += clips.labels
        names += clips.names
        splits += [split] * len(clips)
        empty += n_empty
    parsed, _ = ntu_classes(names)
    return write_dataset(
        out_dir,
        sequences,
        labels,
        splits,
        layout,
        names=names,
        info=ntu_fields(parsed) if parsed else None,
        class_names=class_names,
        num_classes=num_classes,
        preprocessed=True,
        max_frames=max_frames,
        metadata={"source": "authors' layout", "empty_clips": empty},
        overwrite=overwrite,
    )
