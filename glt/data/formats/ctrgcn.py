"""CTR-GCN's and MAMP's NTU arrays (NTU60_CS.npz, ...): import them as prepared datasets.

CTR-GCN's data/ntu/seq_transformation.py and data/ntu120/seq_transformation.py write one npz per
benchmark; MAMP's are the same scripts with other file names:

    NTU60_CS.npz   NTU60_CV.npz   NTU120_CSub.npz   NTU120_CSet.npz      (CTR-GCN)
    NTU60_XSub.npz NTU60_XView.npz NTU120_XSub.npz  NTU120_XSet.npz      (MAMP)

    x_train, x_test   (N, T, 150) float32: per frame body 1's 25 joints (x y z), then body 2's;
                      T is the longest clip (300), later frames are zero
    y_train, y_test   (N, C) one-hot labels, C = 60 or 120

The bodies are those of their get_raw_denoised_data.py (see `DIFFERENCES`), translated so that
body 1's middle of the spine (joint 2) in its first frame is the origin. The NTU-120 script copies
body 1 into body 2 when there is one body; the import makes that body absent again. The files hold
no clip names: CTR-GCN's list statistics/skes_available_name.txt (`names`) gives them back, with
the NTU per-clip fields, from the order its script writes (by subject, camera or setup number).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glt.data.formats.common import (
    Clips,
    ImportResult,
    Lazy,
    check_labels,
    write_benchmarks,
)
from glt.data.ntu import CLASSES, NTUName, drop_leading_empty, split_of
from glt.errors import DataError
from glt.layout import NTU

_FILE = re.compile(r"NTU(60|120)_(CS|CV|CSub|CSet|XSub|XView|XSet)")
_BENCHMARKS = {"CS": "xsub", "CSub": "xsub", "XSub": "xsub", "CV": "xview", "XView": "xview",
               "CSet": "xset", "XSet": "xset"}  # fmt: skip
_ORDER = {"xsub": "subject", "xview": "camera", "xset": "setup"}  # what the script sorts by

DIFFERENCES = [
    "translated so that body 1's middle of the spine in its first frame is the origin: the "
    "method's preprocessing undoes this up to float32 rounding, except in the global-translation "
    "slot of a body absent in some frames (those frames hold minus its first position) or in the "
    "first frame (it holds positions, not motion)",
    "bodies as CTR-GCN's get_raw_denoised_data.py chose them: bodies seen in at most 11 frames "
    "dropped, then those too wide for their height in most frames, the body with the most motion "
    "first; frames without any body removed; `glt prepare` keeps the first two bodies of each "
    "frame in file order (NTU-60) or the two of largest energy (NTU-120)",
]


def import_ctrgcn(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    names: str | os.PathLike | None = None,
    overwrite: bool = False,
    strict: bool = False,
    fmt: str = "ctrgcn",
) -> ImportResult:
    """Import npz files (one per benchmark, named as their scripts name them) as OUT/<benchmark>/.

    names: CTR-GCN's statistics/skes_available_name.txt (data/ntu120/... for NTU-120), the clip
    names in the order the npz were made from; without it, clips are named train00000, ...
    """
    benchmarks, duplicated, empty, differences = {}, 0, 0, list(DIFFERENCES)
    all_names = _read_names(names) if names is not None else None
    num_classes = set()
    for source in map(Path, sources):
        m = _FILE.fullmatch(source.stem)
        if m is None:
            raise DataError(
                f"{source}: cannot tell the benchmark from the name; expected NTU60_CS.npz, "
                "NTU60_CV.npz, NTU120_CSub.npz, NTU120_CSet.npz (or MAMP's NTU60_XSub.npz, ...)"
            )
        benchmark = _BENCHMARKS[m.group(2)]
        if benchmark in benchmarks:
            raise DataError(f"{source}: a second file for benchmark {benchmark}")
        arrays = _load(source)
        num_classes.add(arrays["y_train"].shape[1])
        clips, splits = Clips(Lazy([]), [], []), []
        order = _order(source, all_names, benchmark, arrays) if all_names else None
        for part, split in (("train", "train"), ("test", "val")):
            x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
            for i in range(len(x)):
                frames = np.flatnonzero(x[i].any(axis=1))
                if len(frames) == 0:
                    empty += 1
                    continue
                bodies = x[i, : frames[-1] + 1].reshape(-1, 2, 25, 3)
                copy = m.group(1) == "120" and np.array_equal(bodies[:, 0], bodies[:, 1])
                duplicated += copy
                clips.sequences.items.append((_clip, (bodies, copy)))
                clips.labels.append(int(y[i].argmax()))
                clips.names.append(order[split][i] if order else f"{part}{i:05d}")
                splits.append(split)
        check_labels(source, clips, num_classes=arrays["y_train"].shape[1])
        benchmarks[benchmark] = (clips, splits)
    if len(num_classes) > 1:
        raise DataError(f"the files mix NTU-60 and NTU-120 ({sorted(num_classes)} classes)")
    (width,) = num_classes
    if duplicated:
        differences.append(
            f"the NTU-120 script copied body 1 into body 2 in {duplicated} one-body clips: made absent"
        )
    if all_names is None:
        differences.append(
            "the npz hold no clip names: clips are named train00000, test00000, ... in file order; "
            "pass CTR-GCN's statistics/skes_available_name.txt to get the NTU names and fields"
        )
    return write_benchmarks(
        fmt, list(sources), out_dir, benchmarks, NTU, differences,
        num_classes=width, class_names=CLASSES["ntu60" if width == 60 else "ntu120"],
        counts={"empty_clips": empty},
        details={"names": str(Path(names).resolve()) if names else None},
        overwrite=overwrite, strict=strict,
    )  # fmt: skip


def _clip(arg) -> np.ndarray:
    bodies, copy = arg  # (L, 2, 25, 3)
    if copy:
        bodies = bodies.copy()
        bodies[:, 1] = 0
    return drop_leading_empty(bodies)


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable npz file: {e}") from None
    for part in ("train", "test"):
        for key in (f"x_{part}", f"y_{part}"):
            if key not in arrays:
                raise DataError(f"{path}: no array {key!r}; it has {sorted(arrays)}")
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or x.shape[2] != 150:
            raise DataError(f"{path}: x_{part} has shape {x.shape}, expected (N, T, 150)")
        if y.ndim != 2 or y.shape[0] != len(x) or y.shape[1] not in (60, 120):
            raise DataError(
                f"{path}: y_{part} has shape {y.shape}, expected ({len(x)}, 60) or ({len(x)}, 120)"
            )
        if not ((y == 0) | (y == 1)).all() or not (y.sum(axis=1) == 1).all():
            raise DataError(f"{path}: y_{part} is not one-hot (one 1 per row, zeros elsewhere)")
    return arrays


def _read_names(path: str | os.PathLike) -> list[NTUName]:
    lines = [line.strip() for line in Path(path).read_text().splitlines()]
    return [NTUName.parse(line) for line in lines if line]


def _order(source: Path, names: list[NTUName], benchmark: str, arrays) -> dict[str, list[str]]:
    """The clip names of x_train and x_test: the names of each part in file order, sorted by the
    benchmark's number (stably), as their get_indices collects them."""
    sizes = {s: len(arrays[f"x_{p}"]) for s, p in (("train", "train"), ("val", "test"))}
    if len(names) != sum(sizes.values()):
        raise DataError(
            f"{source}: {sizes['train']} + {sizes['val']} clips but {len(names)} names in the names "
            "list; is it the list this file was made from?"
        )
    key = _ORDER[benchmark]
    order = {}
    for split in ("train", "val"):
        part = [n for n in names if split_of(n, benchmark) == split]
        if len(part) != sizes[split]:
            raise DataError(
                f"{source}: {sizes[split]} {split} clips but the names list has {len(part)} "
                f"for {benchmark}"
            )
        order[split] = [str(n) for n in sorted(part, key=lambda n: getattr(n, key))]
    return order
