"""pyskl's and MMAction2's annotation pickles: import them as prepared datasets.

Both projects (pyskl tools/data/README.md, MMAction2 tools/data/skeleton/README.md) store a
dataset as one pickle:

    dict(split={"xsub_train": [frame_dir, ...], "xsub_val": [...], ...},
         annotations=[dict(frame_dir=..., label=0-based, keypoint=(M, T, V, C), total_frames=T,
                           keypoint_score=(M, T, V), img_shape=(h, w)), ...])

- 3D (ntu60_3danno.pkl, ntu120_3danno.pkl; MMAction2's ntu60_3d.pkl, ntu120_3d.pkl): the 25 Kinect
  joints in camera coordinates (metres, y up), float16 as their scripts write them (pyskl's
  ntu_preproc.py, MMAction2's gen_ntu_rgbd_raw.py), M = 1 or 2. These go through the same steps
  as `glt prepare` (leading frames without body 1 dropped, the method's preprocessing).
- 2D (ntu60_hrnet.pkl, ntu120_hrnet.pkl; MMAction2's ntu60_2d.pkl, ...): the 17 COCO keypoints
  of HRNet in pixels, with scores and the frame size. `coco_clip` makes them layout `COCO`
  (glt.layout): a neck added, z = 0, y up, metres (see `TORSO`).

Each split pair {b}_train / {b}_val (or _test) becomes OUT/{b}; a plain train / val (or test)
pair becomes OUT/default. The first two persons of a clip are kept, as pyskl's FormatGCNInput.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glt.data.formats.common import (
    Clips,
    ImportResult,
    Lazy,
    check_labels,
    padded,
    write_benchmarks,
)
from glt.data.formats.pickles import load_pickle
from glt.data.ntu import drop_leading_empty
from glt.errors import DataError
from glt.layout import COCO, NTU

# Metres from body 1's torso, the distance from the shoulders' midpoint to the hips' midpoint: its
# median in the genuine NTU samples' 3D joints is 0.43 m (5-95%: 0.37-0.50 m) and, seen by a
# pinhole camera, it spans pixels in proportion to the body's distance. Scaling each clip so that
# body 1's median torso is 0.43 m gives metres at the body's depth, whatever the camera and the
# distance; the torso is used rather than the height because it hardly changes with the pose, and
# rather than the shoulder width because it does not shrink when the body turns.
TORSO = 0.43
_SHOULDERS, _HIPS = [5, 6], [11, 12]

DIFFERENCES_3D = [
    "bodies as chosen by the script that wrote the pickle: pyskl's ntu_preproc.py follows body "
    "IDs, drops bodies seen in at most 11 frames and those too wide for their height, puts the "
    "body with the most motion first and leaves out frames without any body; MMAction2's "
    "gen_ntu_rgbd_raw.py keeps the two of largest energy among four (glt's NTU-120 rule, for "
    "NTU-60 too); `glt prepare ntu60` keeps the first two bodies of each frame in file order",
]
DIFFERENCES_2D = [
    "2D keypoints estimated from the video (COCO's 17, by HRNet), not Kinect's 3D joints: z = 0, "
    "so the view alignment can only mirror a frame; keypoint scores are not used",
    f"pixels turned to metres: centred on the frame, y flipped to point up, scaled per clip so "
    f"that body 1's median torso (shoulders' to hips' midpoint) is {TORSO} m, as in NTU's 3D joints",
]


def import_pyskl(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    strict: bool = False,
    fmt: str = "pyskl",
) -> ImportResult:
    """Import one annotation pickle as OUT/<benchmark>/ for each split pair it names."""
    if len(sources) != 1:
        raise DataError(f"{fmt}: give one annotation pickle, not {len(sources)} files")
    path = Path(sources[0])
    split, annotations, missing = read_annotations(path)
    two_d = next(iter(annotations.values()))["keypoint"].shape[-1] == 2
    listed = {n for names in split.values() for n in names}
    counts = {"annotations_none": missing, "more_than_two_persons": 0, "empty_clips": 0}
    counts["listed_without_annotation"] = len(listed - annotations.keys())
    differences = list(DIFFERENCES_2D if two_d else DIFFERENCES_3D)
    if not two_d and any(a["keypoint"].dtype == np.float16 for a in annotations.values()):
        differences.append(
            "coordinates rounded to float16 by the script (steps of 1-4 mm at 1-8 m from the "
            "camera), which the view alignment turns into up to 1 cm far from the centre joint"
        )

    clips = {}  # name -> (make, arg)
    for name, ann in annotations.items():
        keypoint = ann["keypoint"]
        counts["more_than_two_persons"] += len(keypoint) > 2
        if two_d:
            scale = _scale(keypoint)
            if scale is None:
                counts["empty_clips"] += 1
                continue
            clips[name] = (coco_clip, (keypoint, ann["img_shape"], scale))
        elif keypoint[0].any():
            clips[name] = (_ntu_clip, keypoint)
        else:
            counts["empty_clips"] += 1

    benchmarks = {}
    for benchmark, (train, val) in _pairs(path, split).items():
        chosen = [(n, "train") for n in split[train] if n in clips]
        chosen += [(n, "val") for n in split[val] if n in clips]
        part = Clips(
            Lazy([clips[n] for n, _ in chosen]),
            [int(annotations[n]["label"]) for n, _ in chosen],
            [n for n, _ in chosen],
        )
        check_labels(path, part)
        benchmarks[benchmark] = (part, [s for _, s in chosen])
    if counts["more_than_two_persons"]:
        differences.append(
            f"{counts['more_than_two_persons']} clips have more than two persons: the first two kept"
        )
    return write_benchmarks(
        fmt, [path], out_dir, benchmarks, COCO if two_d else NTU, differences,
        counts=counts, overwrite=overwrite, strict=strict,
    )  # fmt: skip


def read_annotations(path: str | os.PathLike) -> tuple[dict, dict[str, dict], int]:
    """The pickle's split, its annotations by frame_dir (checked), and how many were None."""
    content = load_pickle(path)
    if not isinstance(content, dict) or not {"split", "annotations"} <= content.keys():
        found = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise DataError(
            f"{path}: expected dict(split=..., annotations=[...]) as pyskl and MMAction2 write; "
            f"found {found}"
        )
    split, annotations = content["split"], content["annotations"]
    if not isinstance(split, dict) or not all(isinstance(v, (list, tuple)) for v in split.values()):
        raise DataError(f"{path}: 'split' must map split names to lists of frame_dir names")
    if not isinstance(annotations, (list, tuple)):
        raise DataError(f"{path}: 'annotations' must be a list of dicts")
    found, shapes = {}, set()
    for i, ann in enumerate(annotations):
        if ann is None:  # pyskl's ntu_preproc.py writes None for a file without any body
            continue
        where = f"{path}: annotations[{i}]"
        if not isinstance(ann, dict):
            raise DataError(f"{where} is a {type(ann).__name__}, expected a dict")
        for key in ("frame_dir", "label", "keypoint"):
            if key not in ann:
                raise DataError(f"{where} has no key {key!r}")
        name, keypoint = str(ann["frame_dir"]), ann["keypoint"]
        where += f" ({name})"
        shape = getattr(keypoint, "shape", None)
        if shape is None or len(shape) != 4 or shape[2:] not in ((25, 3), (17, 2)) or not shape[0]:
            raise DataError(
                f"{where}: 'keypoint' has shape {shape}, expected (M, T, 25, 3) for NTU's 3D "
                "joints or (M, T, 17, 2) for COCO's 2D keypoints"
            )
        if ann.get("total_frames", shape[1]) != shape[1]:
            raise DataError(f"{where}: total_frames {ann['total_frames']} but {shape[1]} frames")
        size = ann.get("img_shape")
        if shape[3] == 2 and not (
            isinstance(size, (tuple, list)) and len(size) == 2 and min(size) > 0
        ):
            raise DataError(f"{where}: 'img_shape' is {size!r}, expected (height, width) for 2D")
        if not isinstance(ann["label"], (int, np.integer)):
            raise DataError(f"{where}: 'label' is {ann['label']!r}, expected an integer")
        if name in found:
            raise DataError(f"{where}: frame_dir {name} appears twice")
        found[name] = ann
        shapes.add(shape[2:])
    if not found:
        raise DataError(f"{path}: no annotation")
    if len(shapes) > 1:
        raise DataError(f"{path}: annotations mix 3D and 2D keypoints")
    return split, found, len(annotations) - len(found)


def _pairs(path: Path, split: dict) -> dict[str, tuple[str, str]]:
    """benchmark -> (train split, val split): {b}_train with {b}_val or {b}_test; train with
    val or test as "default"."""
    pairs = {}
    for key in split:
        if key == "train" or key.endswith("_train"):
            prefix = key[: -len("train")]
            val = next((prefix + v for v in ("val", "test") if prefix + v in split), None)
            if val is not None:
                pairs[prefix.rstrip("_") or "default"] = (key, val)
    if not pairs:
        raise DataError(
            f"{path}: split has {sorted(split)}; expected pairs like xsub_train / xsub_val"
        )
    for train, val in pairs.values():
        both = set(split[train]) & set(split[val])
        if both:
            raise DataError(f"{path}: {sorted(both)[0]} is in both {train} and {val}")
    return pairs


def _ntu_clip(keypoint: np.ndarray) -> np.ndarray:
    """(M, T, 25, 3) -> (T, 2, 25, 3) float32, leading frames without body 1 dropped."""
    clip = padded(np.asarray(keypoint, dtype=np.float32).transpose(1, 0, 2, 3), 2)
    return drop_leading_empty(clip)


def _scale(keypoint: np.ndarray) -> float | None:
    """Metres per pixel of a 2D clip from body 1's median torso; None if body 1 never appears."""
    body = np.asarray(keypoint[0], dtype=np.float32)  # (T, 17, 2)
    body = body[np.abs(body).sum(axis=(1, 2)) > 0]
    torso = np.linalg.norm(body[:, _SHOULDERS].mean(1) - body[:, _HIPS].mean(1), axis=-1)
    length = float(np.median(torso)) if len(torso) else 0.0
    return TORSO / length if length > 0 else None


def coco_clip(arg: tuple[np.ndarray, tuple[int, int], float]) -> np.ndarray:
    """(keypoint (M, T, 17, 2) pixels, img_shape (h, w), metres per pixel) -> (T, 2, 18, 3)
    float32 in layout `COCO`: centred on the frame, y up, z = 0, the neck (the shoulders'
    midpoint) as joint 17; absent persons stay zero."""
    keypoint, (height, width), scale = arg
    pixels = padded(np.asarray(keypoint, dtype=np.float32).transpose(1, 0, 2, 3), 2)
    present = np.abs(pixels).sum(axis=(2, 3)) > 0  # (T, 2)
    xy = (pixels - np.float32([width / 2, height / 2])) * np.float32([scale, -scale])
    xy = np.concatenate([xy, xy[:, :, _SHOULDERS].mean(axis=2, keepdims=True)], axis=2)
    clip = np.concatenate([xy, np.zeros_like(xy[..., :1])], axis=-1)
    clip[~present] = 0
    return drop_leading_empty(clip)
