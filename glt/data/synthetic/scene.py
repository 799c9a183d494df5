"""Performances in the scene and what each camera records of them.

A performance places the performers of one repetition in the acting area (`performance`). As in
NTU, three cameras at the same height stand at 0 (C001), +45 (C002) and -45 (C003) degrees around
it (`camera_pose`); in replication R001 the performer faces camera 2, in R002 camera 3. Each
camera's recording (`synthesize_clip`) is the performance in its coordinates with Kinect-like
jitter, starting and stopping on its own, with now and then a lost frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glt.data.synthetic.actions import _MIRRORABLE, _PAIR, _SINGLE, SYNTH_ACTIONS, _Actor, _Take
from glt.data.synthetic.body import (
    MIRROR,
    NUM_JOINTS,
    Body,
    _rng,
    _rotation,
    _unit,
    make_body,
    pose,
)
from glt.errors import DataError

CAMERA_ANGLES = {1: 0.0, 2: 45.0, 3: -45.0}  # degrees around the acting area, per camera id
FACED_CAMERA = {1: 2, 0: 3}  # replication number % 2 -> the camera the performer faces
MIN_FRAMES, MAX_FRAMES = 40, 250
# Sensor noise per joint (metres): steady trunk, noisier limbs, very noisy hand tips and thumbs.
JITTER = 1e-3 * np.array([3, 3, 3, 4, 5, 6, 8, 12, 5, 6, 8, 12, 4, 6, 8, 12, 4, 6, 8, 12, 3,
                          18, 18, 18, 18])  # fmt: skip


@dataclass(frozen=True)
class ClipKey:
    """The five numbers of an NTU file name."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def name(self) -> str:
        """`SsssCcccPpppRrrrAaaa`, as NTU names its files."""
        return (
            f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}"
            f"R{self.replication:03d}A{self.action:03d}"
        )


def setup_of(subject: int) -> int:
    """The setup (S001-S017) in which a subject is recorded: subjects cycle through the 17."""
    return 1 + (subject - 1) % 17


def clip_length(seed: int, setup: int, subject: int, replication: int, action: int) -> int:
    """Frames of a performance: one distribution for every action, 44-250, median about 96."""
    rng = _rng(seed, 3, setup, subject, replication, action)
    frames = MIN_FRAMES + 4 + round(52 * np.exp(rng.normal(0.0, 0.5)))
    return int(min(frames, MAX_FRAMES))


def performance(seed: int, setup: int, subject: int, replication: int, action: int) -> np.ndarray:
    """One performance in the scene frame: (P, T, 25, 3), P = 1 or 2 persons, metres, y up.

    The scene frame has its origin on the floor at the centre of the acting area, and its -z axis
    points to the camera that the performer faces. Two-person actions pair the subject with a
    partner body of their own; either may be listed first, as the Kinect tracker lists them.
    """
    if action not in SYNTH_ACTIONS:
        raise DataError(
            f"action A{action:03d} is not synthesised; choose from {sorted(SYNTH_ACTIONS)}"
        )
    T = clip_length(seed, setup, subject, replication, action)
    rng = _rng(seed, 4, setup, subject, replication, action)

    def take(body: Body, rng: np.random.Generator) -> _Take:
        tempo = body.tempo * float(np.exp(rng.normal(0, 0.1)))
        return _Take(rng, body, T, tempo, body.amplitude * float(np.exp(rng.normal(0, 0.12))))

    body = make_body(seed, subject)
    if action in _SINGLE:
        actors = [_Actor(m, body, 0.0, 0.0, 0.0) for m in _SINGLE[action](take(body, rng))]
    else:
        partner = make_body(seed, 1000 + subject)
        partner_rng = _rng(seed, 5, setup, subject, replication, action)
        actors = _PAIR[action]((take(body, rng), take(partner, partner_rng)))
    out = []
    for actor in actors:
        p = pose(actor.body, actor.motion)
        p[..., 1] -= np.minimum(p[..., 1].min(axis=1, keepdims=True), 0.0)  # never below the floor
        # Left-handed performers mostly use their left hand, the others now and then.
        if action in _MIRRORABLE and rng.random() < (0.75 if actor.body.left_handed else 0.12):
            p = p[:, MIRROR] * np.array([-1.0, 1.0, 1.0])
        yaw = _rotation(1, actor.yaw + rng.normal(0, 0.12))
        out.append(np.einsum("ij,tvj->tvi", yaw, p) + np.array([actor.x, 0.0, actor.z]))
    if rng.random() < 0.5:
        out.reverse()
    return np.stack(out)


def camera_pose(seed: int, setup: int, camera: int) -> tuple[np.ndarray, np.ndarray]:
    """A camera's position (3,) and axes (3, 3, as columns) in the scene frame of replication 1."""
    rng = _rng(seed, 2, setup)
    height = rng.uniform(0.6, 1.3)  # the same for the three cameras of a setup
    dist = rng.uniform(2.5, 3.5, size=3)[camera - 1]
    tilt = np.arctan2(height - 0.9, dist) + rng.normal(0, 0.03)  # aimed at the performer
    # Angles around the area, relative to the camera faced in replication 1 (the scene's -z).
    phi = np.radians(CAMERA_ANGLES[camera] - CAMERA_ANGLES[FACED_CAMERA[1]])
    forward = np.array([np.sin(phi) * np.cos(tilt), -np.sin(tilt), np.cos(phi) * np.cos(tilt)])
    x = _unit(np.cross([0.0, 1.0, 0.0], forward))  # Kinect's x points to the camera's left
    axes = np.stack([x, np.cross(forward, x), forward], axis=1)
    position = np.array([0.0, height, 0.0]) - dist * np.array([np.sin(phi), 0.0, np.cos(phi)])
    return position, axes


def synthesize_clip(seed: int, key: ClipKey, scene: np.ndarray | None = None) -> np.ndarray:
    """One camera's recording: (T, 2, 25, 3) float64 camera-space metres, as written to the file.

    Absent persons and lost frames are all-zero (a lost frame is written with 0 bodies; the NTU
    reader drops leading ones). `scene` may pass `performance(...)` of the clip's performance, to
    compute it once for the three cameras.
    """
    if scene is None:
        scene = performance(seed, key.setup, key.subject, key.replication, key.action)
    # In replication 2 the performers face the other camera: turn the scene by the angle between.
    faced = FACED_CAMERA[key.replication % 2]
    turn = _rotation(1, np.radians(CAMERA_ANGLES[faced] - CAMERA_ANGLES[FACED_CAMERA[1]]))
    where = _rng(seed, 7, key.setup, key.subject, key.replication, key.action)
    area = np.array([where.normal(0, 0.2), 0.0, where.normal(0, 0.2)])  # where in the room
    position, axes = camera_pose(seed, key.setup, key.camera)
    cam = (np.einsum("ij,ptvj->ptvi", turn, scene) + area - position) @ axes  # (P, T, V, 3)

    rng = _rng(seed, 6, key.setup, key.camera, key.subject, key.replication, key.action)
    cam += rng.normal(0.0, 1.0, size=cam.shape) * JITTER[:, None] * [1.0, 1.0, 1.5]  # depth worst
    if rng.random() < 0.3:  # hand tips glitch now and then
        person, joint = rng.integers(len(cam)), rng.choice([21, 22, 23, 24])
        t = rng.integers(cam.shape[1])
        cam[person, t : t + rng.integers(2, 8), joint] += rng.normal(0, 0.04, size=3)
    # Each camera starts and stops on its own, and the tracker loses people now and then.
    first, last = rng.integers(0, 3), cam.shape[1] - rng.integers(0, 3)
    clip = np.zeros((last - first, 2, NUM_JOINTS, 3))
    clip[:, : len(cam)] = cam[:, first:last].transpose(1, 0, 2, 3)
    T = len(clip)
    if rng.random() < 0.1:
        clip[: rng.integers(1, 7)] = 0.0
    if rng.random() < 0.06:
        t = rng.integers(T // 4, 3 * T // 4)
        clip[t : t + rng.integers(1, 5)] = 0.0
    if rng.random() < 0.05:
        clip[T - rng.integers(1, 4) :] = 0.0
    return clip
