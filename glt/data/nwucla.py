"""NW-UCLA (Northwestern-UCLA Multiview Action3D) as JSON, the copy of method §7.

One JSON file per clip: {"file_name": "a01_s01_e00_v01", "label": 1..10, "skeletons": T x 20 x 3}
(action, subject, episode, view; 20 Kinect v1 joints in metres, one person). The standard
cross-view protocol trains on views 1 and 2 and tests on view 3; `val_label.pkl` beside the
clips is the official list of the 464 test clips and must agree with that rule.

Clips use the layout `glt.layout.NWUCLA` (centre = shoulder centre, which plays the role of
NTU's "spine at the shoulders"); `glt prepare nwucla` preprocesses them as NTU (method §2).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glt.data.formats.pickles import load_pickle
from glt.errors import DataError, SkeletonFileError

NUM_JOINTS = 20
# Labels 1..10 are the actions a01-a06, a08, a09, a11, a12, in this order.
CLASSES = (
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
)  # fmt: skip
TRAIN_VIEWS = frozenset([1, 2])

_NAME = re.compile(r"a(\d\d)_s(\d\d)_e(\d\d)_v(\d\d)")


@dataclass(frozen=True)
class NWUCLAName:
    """The fields of a clip name `aAA_sSS_eEE_vVV`."""

    action: int
    subject: int
    episode: int
    view: int

    @classmethod
    def parse(cls, name: str) -> NWUCLAName:
        m = _NAME.fullmatch(name)
        if m is None:
            raise DataError(f"{name!r} is not an NW-UCLA clip name (aAA_sSS_eEE_vVV)")
        return cls(*(int(g) for g in m.groups()))


def split_of(name: NWUCLAName) -> str:
    """'train' for views 1 and 2, 'val' for view 3 (the standard cross-view protocol)."""
    return "train" if name.view in TRAIN_VIEWS else "val"


def clip_dir(raw_dir: str | os.PathLike) -> Path:
    """The folder holding the JSON clips: `raw_dir/all_sqe` if it exists, else `raw_dir`."""
    raw_dir = Path(raw_dir)
    return raw_dir / "all_sqe" if (raw_dir / "all_sqe").is_dir() else raw_dir


def read_clip(path: str | os.PathLike) -> tuple[str, int, np.ndarray]:
    """One clip: (name, 0-based label, skeletons (T, 1, 20, 3) float32).

    Raises `SkeletonFileError` naming the file (and the line, for broken JSON).
    """
    try:
        content = json.loads(Path(path).read_bytes())
    except ValueError as e:
        raise SkeletonFileError(path, getattr(e, "lineno", None), f"not valid JSON: {e}") from None
    try:
        name, label = str(content["file_name"]), content["label"]
        skeletons = np.asarray(content["skeletons"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as e:
        raise SkeletonFileError(
            path, None, f"expected an object with file_name, label and skeletons (T x 20 x 3): {e}"
        ) from None
    if skeletons.ndim != 3 or skeletons.shape[1:] != (NUM_JOINTS, 3) or len(skeletons) == 0:
        raise SkeletonFileError(
            path, None, f"skeletons of shape {skeletons.shape}, expected (T, 20, 3)"
        )
    if not np.isfinite(skeletons).all():
        raise SkeletonFileError(path, None, "skeletons hold NaN or infinite values")
    if not (isinstance(label, int) and 1 <= label <= len(CLASSES)):
        raise SkeletonFileError(
            path, None, f"label {label!r}, expected an integer in 1..{len(CLASSES)}"
        )
    try:
        NWUCLAName.parse(name)
    except DataError as e:
        raise SkeletonFileError(path, None, f"file_name: {e}") from None
    if name != Path(path).stem:  # the name decides the split: which one is right is unknown
        raise SkeletonFileError(path, None, f"file_name {name!r} disagrees with the file's name")
    return name, label - 1, skeletons[:, None]


def read_val_list(path: str | os.PathLike) -> set[str]:
    """Clip names in the official test list `val_label.pkl`: a pickled list of dicts with a
    "file_name", loaded with a restricted unpickler (glt.data.formats.pickles.load_pickle)."""
    content = load_pickle(path)
    try:
        return {str(entry["file_name"]) for entry in content}
    except (TypeError, KeyError):
        raise DataError(f"{path}: expected a list of dicts with a 'file_name'") from None
