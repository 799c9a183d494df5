"""Skeleton data in other projects' formats: import them as prepared datasets, export to them.

    import_dataset(fmt, sources, out_dir, ...)   fmt: pyskl, mmaction2, ctrgcn, mamp, stgcn, authors
    export_dataset(fmt, dataset, out_dir, ...)   fmt: authors, stgcn

One module per source project: pyskl.py (pyskl's and MMAction2's pickles, 3D and 2D), ctrgcn.py
(CTR-GCN's and MAMP's npz), stgcn.py (ST-GCN's folders and those of 2s-AGCN, MS-G3D, AimCLR),
authors.py (GL-Transformer's own files, a variant of ST-GCN's). Every import writes through
`write_dataset` (the preprocessing and the on-disk format of `glt prepare`) and reports how its
clips differ from `glt prepare` on the raw recordings (`ImportResult`, OUT/import.json).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from glt.data.formats.authors import export_authors_folder
from glt.data.formats.common import ImportResult
from glt.data.formats.ctrgcn import import_ctrgcn
from glt.data.formats.pyskl import import_pyskl
from glt.data.formats.stgcn import export_stgcn, import_stgcn
from glt.errors import GLTError

IMPORTS = {
    "pyskl": import_pyskl,
    "mmaction2": import_pyskl,
    "ctrgcn": import_ctrgcn,
    "mamp": import_ctrgcn,
    "stgcn": import_stgcn,
    "authors": partial(import_stgcn, kinds=("position",)),
}
EXPORTS = {"authors": export_authors_folder, "stgcn": export_stgcn}

__all__ = ["EXPORTS", "IMPORTS", "ImportResult", "export_dataset", "import_dataset"]


def import_dataset(
    fmt: str,
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    strict: bool = False,
    **options,
) -> ImportResult:
    """Import files of another project as prepared datasets, OUT/<benchmark>/ each.

    sources: pyskl / mmaction2: one annotation pickle; ctrgcn / mamp: npz files (one per
    benchmark); stgcn / authors: benchmark folders (xsub/, ...) or folders of them. options:
    `names=` (ctrgcn, mamp: CTR-GCN's skes_available_name.txt), `labels=` (stgcn, authors: the
    folder of the label pickles when not beside the arrays), `layout=` (stgcn, authors).
    strict: the checks of units and orientation (glt.data.checks) fail instead of warning.
    The result lists the folders, how the clips differ from `glt prepare` on the raw recordings
    and the checks' warnings; OUT/import.json records the same.
    """
    if fmt not in IMPORTS:
        raise GLTError(f"unknown format {fmt!r}; choose from {', '.join(IMPORTS)}")
    if not sources:
        raise GLTError(f"{fmt}: no source given")
    unknown = sorted(set(options) - set(inspect.signature(IMPORTS[fmt]).parameters))
    if unknown:
        raise GLTError(f"{fmt} takes no {', '.join('--' + k for k in unknown)}")
    return IMPORTS[fmt](list(sources), out_dir, overwrite=overwrite, strict=strict, fmt=fmt,
                        **options)  # fmt: skip


def export_dataset(
    fmt: str,
    dataset: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a prepared dataset's parts in another project's layout into `out_dir`.

    authors: {part}_position.npy padded with 99.9 and {part}_label.pkl (GL-Transformer's code);
    stgcn: {part}_data_joint.npy zero-padded and {part}_label.pkl (2s-AGCN, MS-G3D, ...). The
    arrays hold the preprocessed clips (method §2), padded to `max_frames` (default: the
    dataset's, 300).
    """
    if fmt not in EXPORTS:
        raise GLTError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORTS)}")
    if max_frames is not None and max_frames < 1:
        raise GLTError(f"invalid export settings: max_frames={max_frames} must be at least 1")
    return EXPORTS[fmt](dataset, out_dir, max_frames=max_frames, overwrite=overwrite)
