"""Per-clip preprocessing of GL-Transformer (method §2), for any `SkeletonLayout`.

A raw clip (T, M, V, 3) in camera space becomes (L, M, V, 3) float32:

1. crop to `max_frames`; L = number of frames whose joint 0 of person 0 is not all zero;
2. every joint minus the layout's centre joint of the same person and frame; the centre slot then
   holds the global translation, centre(t) - centre(0);
3. per person and per frame, a rotation about the vertical axis that makes the shoulder line
   parallel to the x axis (sign rule in `shoulder_angles`);
4. the first L frames are kept. The authors fill frames >= L with the pad value 99.9; we store
   clips at their natural length instead (glt/data/store.py).

Precision, found by experiment against the authors' outputs in the reference fixture: their raw
array is float32, so steps 2-3 up to the angles and their cos/sin run in float32; the rotation
itself is a float64 product (their matrix is float64, filled from float32 cos/sin) rounded back
to float32. This scheme reproduces all fixture values bit for bit on our machine; float32
throughout matches 83% of values exactly (max error 6e-8), float64 throughout 70% (8.6e-7).
"""

from __future__ import annotations

import numpy as np

from glt.errors import DataError
from glt.layout import SkeletonLayout

_EPS = np.float32(1e-4)  # added to |v| before the division, as the authors


def valid_length(raw: np.ndarray) -> int:
    """Frames whose joint 0 of person 0 is not all zero (method §2 step 1).

    **Quirk (kept):** this counts such frames anywhere in the clip instead of finding the first
    empty one, so a clip with empty frames in the middle loses that many frames at its end.
    """
    return int(np.count_nonzero(np.abs(raw[:, 0, 0, :]).sum(axis=-1) != 0))


def shoulder_angles(clip: np.ndarray, layout: SkeletonLayout, max_frames: int = 300) -> np.ndarray:
    """Per-frame rotation angle in degrees, (T, M) float32, of method §2 step 3.

    v = right shoulder - left shoulder with v.y = 0; theta = arccos(v.x / (|v| + 1e-4)); if the
    sum of v.z over the clip is >= 0 (per person), all angles of that person are negated.
    `clip` is the relative-coordinate clip, (T, M, V, 3) float32; absent frames give v = 0,
    theta = 90 degrees, and leave the sum unchanged.
    """
    v = clip[:, :, layout.right_shoulder] - clip[:, :, layout.left_shoulder]  # (T, M, 3)
    v[..., 1] = 0
    norm = np.sqrt(np.square(v).sum(axis=-1))
    theta = np.arccos(v[..., 0] / (norm + _EPS)) * np.float32(180 / np.pi)
    # The authors sum over the padded max_frames axis. The extra frames hold zeros, but float32
    # pairwise summation depends on the length: sum over the same padded length.
    vz = np.zeros((clip.shape[1], max(len(clip), max_frames)), dtype=np.float32)
    vz[:, : len(clip)] = v[..., 2].T
    flip = vz.sum(axis=1) >= 0  # (M,)
    return np.where(flip, -theta, theta)


def rotate_y(clip: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotate every frame of every person about the y axis: p <- R(theta) p, float32 result.

    R(theta) = [[cos, 0, -sin], [0, 1, 0], [sin, 0, cos]] (method §2 step 3). cos and sin are
    taken in float32 and the product in float64, as the authors' code does.
    """
    rad = degrees * np.float32(np.pi) / np.float32(180)
    c = np.cos(rad).astype(np.float64)[:, :, None]  # (T, M, 1)
    s = np.sin(rad).astype(np.float64)[:, :, None]
    x, y, z = (clip[..., k].astype(np.float64) for k in range(3))  # (T, M, V) each
    out = np.empty(clip.shape, dtype=np.float32)
    out[..., 0] = c * x - s * z
    out[..., 1] = y
    out[..., 2] = s * x + c * z
    return out


def preprocess(raw: np.ndarray, layout: SkeletonLayout, max_frames: int = 300) -> np.ndarray:
    """GL-Transformer's preprocessing of one clip (method §2), at natural length.

    raw: (T, M, V, 3) camera-space coordinates, absent persons as zeros; M and V as `layout`.
    Returns (L, M, V, 3) float32 with L = min(valid_length, max_frames); L = 0 when person 0
    never appears. Relative coordinates to `layout.center`, whose slot then carries the global
    translation; per-frame rotation from `layout.left_shoulder` / `right_shoulder`.
    """
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 4 or raw.shape[1:] != (layout.num_persons, layout.num_joints, 3):
        raise DataError(
            f"preprocess: clip of shape {raw.shape}, expected (T, {layout.num_persons}, "
            f"{layout.num_joints}, 3) for layout {layout.name!r}"
        )
    raw = raw[:max_frames]
    length = valid_length(raw)
    centre = raw[:, :, layout.center : layout.center + 1]  # (T, M, 1, 3)
    clip = raw - centre
    clip[:, :, layout.center] = raw[:, :, layout.center] - raw[:1, :, layout.center]
    clip = rotate_y(clip, shoulder_angles(clip, layout, max_frames))
    return clip[:length]
