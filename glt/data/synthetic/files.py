"""The dataset on disk: which clips, their NTU `.skeleton` text (method §1), the folder.

`write_synthetic` writes one file per clip key, named `SsssCcccPpppRrrrAaaa.skeleton` in the
genuine line layout, into a staging folder that replaces the output folder at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from glt.atomic import staging_dir
from glt.data.synthetic.actions import SYNTH_ACTIONS
from glt.data.synthetic.body import BASE, NUM_JOINTS, SPINE_SHOULDER, _rng, _unit
from glt.data.synthetic.scene import (
    CAMERA_ANGLES,
    ClipKey,
    performance,
    setup_of,
    synthesize_clip,
)
from glt.errors import DataError

DEFAULT_SUBJECTS = 7  # 7 subjects x 2 replications x 3 cameras x 20 actions = 840 clips
# Pinhole models fitted to genuine NTU files: pixel = f * x / z + c (image y points down).
DEPTH_CAMERA = (367.9, 256.9, 367.4, 208.6)  # fx, cx, fy, cy of the 512 x 424 depth image
COLOR_CAMERA = (1054.3, 976.7, 1045.3, 564.1)  # the same for the 1920 x 1080 colour image
BODY_ID_BASE = 2**56  # Kinect body ids are 2**56 plus a counter

# x y z depthX depthY colorX colorY orientationW X Y Z trackingState
_JOINT_LINE = " ".join(["%.7g"] * 11) + " 2"
# bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState
# isRestricted leanX leanY trackingState
_BODY_LINE = "%d 0 1 1 1 1 0 %.7g %.7g 2"


def format_skeleton(clip: np.ndarray, body_ids: Sequence[int]) -> str:
    """The `.skeleton` text of a (T, M, 25, 3) camera-space clip; all-zero bodies are absent."""
    x, y, z = clip[..., 0], clip[..., 1], np.maximum(clip[..., 2], 0.1)
    (dfx, dcx, dfy, dcy), (cfx, ccx, cfy, ccy) = DEPTH_CAMERA, COLOR_CAMERA
    fields = np.zeros((*clip.shape[:-1], 11))
    fields[..., :3] = clip
    fields[..., 3] = dfx * x / z + dcx
    fields[..., 4] = dcy - dfy * y / z
    fields[..., 5] = cfx * x / z + ccx
    fields[..., 6] = ccy - cfy * y / z
    fields[..., 7] = 1.0  # orientation: the identity quaternion
    trunk = _unit(clip[:, :, SPINE_SHOULDER] - clip[:, :, BASE])
    lean = np.stack([trunk[..., 0], -trunk[..., 2]], -1)  # sideways, towards the camera
    present = np.abs(clip).sum(axis=(2, 3)) > 0  # (T, M)
    lines = [str(len(clip))]
    for t in range(len(clip)):
        bodies = np.flatnonzero(present[t])
        lines.append(str(len(bodies)))
        for m in bodies:
            lines.append(_BODY_LINE % (body_ids[m], *lean[t, m]))
            lines.append(str(NUM_JOINTS))
            lines.extend(_JOINT_LINE % tuple(row) for row in fields[t, m].tolist())
    return "\n".join(lines) + "\n"


def _subject_ids(subjects: int | Iterable[int]) -> list[int]:
    if isinstance(subjects, int):
        ids = list(range(1, subjects + 1))
    else:
        ids = sorted({int(s) for s in subjects})
    if not ids or not all(1 <= s <= 999 for s in ids):
        raise DataError(f"subjects must be a count >= 1 or ids in 1..999, got {subjects!r}")
    return ids


def clip_keys(
    subjects: int | Iterable[int] = DEFAULT_SUBJECTS,
    replications: int = 2,
    cameras: Iterable[int] = (1, 2, 3),
    actions: Iterable[int] | None = None,
) -> list[ClipKey]:
    """The clips that `write_synthetic` writes, sorted by file name."""
    actions = sorted(SYNTH_ACTIONS) if actions is None else sorted({int(a) for a in actions})
    unknown = [a for a in actions if a not in SYNTH_ACTIONS]
    if unknown or not actions:
        raise DataError(
            f"unknown action ids {unknown}; the generator knows {sorted(SYNTH_ACTIONS)}"
        )
    cameras = sorted({int(c) for c in cameras})
    if not cameras or not set(cameras) <= set(CAMERA_ANGLES):
        raise DataError(f"cameras must be among 1, 2, 3, got {cameras}")
    if replications < 1:
        raise DataError(f"replications must be at least 1, got {replications}")
    keys = [
        ClipKey(setup_of(p), c, p, r, a)
        for p in _subject_ids(subjects)
        for r in range(1, replications + 1)
        for a in actions
        for c in cameras
    ]
    return sorted(keys, key=lambda k: k.name)


def write_synthetic(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    subjects: int | Iterable[int] = DEFAULT_SUBJECTS,
    replications: int = 2,
    cameras: Iterable[int] = (1, 2, 3),
    actions: Iterable[int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write a synthetic NTU-like dataset: one NTU-format `.skeleton` file per clip.

    subjects: the number of performers (ids 1..N; NTU-60's cross-subject split then has train
        and val subjects, e.g. 7 -> train 1 2 4 5, val 3 6 7), or a list of ids.
    replications, cameras, actions: which R, C and A numbers to write (default: R001-R002,
        C001-C003, every action of `SYNTH_ACTIONS`).
    The files are written into a temporary folder that is renamed to `out_dir` at the end; an
    existing `out_dir` is replaced only with `overwrite=True`. Returns the paths, sorted.
    """
    if seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed}")
    keys = clip_keys(subjects, replications, cameras, actions)
    performances: dict[tuple[int, int, int, int], list[ClipKey]] = {}
    for k in keys:
        performances.setdefault((k.setup, k.subject, k.replication, k.action), []).append(k)
    out_dir = Path(out_dir)
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        bar = tqdm(
            total=len(keys), desc="synth", unit="clip", disable=not progress or len(keys) < 50
        )
        for (setup, subject, replication, action), group in performances.items():
            scene = performance(seed, setup, subject, replication, action)
            counter = int(_rng(seed, 8, setup, subject, replication, action).integers(1, 99999))
            ids = [BODY_ID_BASE + counter, BODY_ID_BASE + counter + 1]
            for key in group:
                text = format_skeleton(synthesize_clip(seed, key, scene), ids)
                (tmp / f"{key.name}.skeleton").write_text(text)
                bar.update()
        bar.close()
    return [out_dir / f"{k.name}.skeleton" for k in keys]
