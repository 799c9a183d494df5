"""Synthetic NTU-like recordings: the tutorial's default data when NTU RGB+D is not at hand.

`write_synthetic` (CLI: `glt synth`) writes genuine NTU RGB+D `.skeleton` text files (method §1:
the names `SsssCcccPpppRrrrAaaa.skeleton`, the line layout, camera-space metres with y up and z
away from the camera), so the NTU reader and `glt prepare ntu60` take them unchanged. The clips
come from a small generative model of people acting in front of three Kinects:

1. **Body.** Each subject (performer `Pppp`) has a 25-joint Kinect skeleton (the NTU joints and
   bones, `glt.layout.NTU`) with their own size (head joint 1.2-1.6 m above the floor), torso,
   arm, leg, shoulder and hip proportions, handedness (one in five is left-handed and mostly acts
   with the left hand, the others now and then), a habitual posture (slouch, head carriage,
   stance width) and a personal tempo and amplitude.
2. **Motion.** An action is a few time-varying channels: the pelvis position and orientation, the
   bending of the spine and neck, the two wrist targets (in the chest's frame) and the two ankle
   targets (on the floor). Each action script builds them from key poses joined by minimum-jerk
   transitions (the smooth, bell-shaped speed profile of human reaching), oscillations (waving,
   clapping, stepping) and slow random wobble (breathing, swaying, fidgeting). Every repetition
   draws its own tempo, amplitude, timing and key poses; an arm that an action does not use takes
   an idle posture (hanging, hands folded in front, hand on the hip).
3. **Kinematics.** Forward kinematics places the pelvis, spine, neck, head, shoulders and hips;
   analytic two-bone inverse kinematics places elbows and knees from the wrist and ankle targets
   (a pole vector says where the elbow or knee points), so hands reach and feet stay planted while
   the pelvis moves. Hands, hand tips, thumbs and feet follow the limbs.
4. **Scene.** As in NTU (NTU.md): three cameras at the same height, at 0 (C001), +45 (C002) and
   -45 (C003) degrees around the acting area, 2.5-3.5 m away; height and distances change with
   the setup `Ssss`. In replication R001 the performer faces camera 2, in R002 camera 3, so camera 1
   always sees a 45-degree view and cameras 2 and 3 see a front and a side view. The three cameras
   record the same performance, each starting and stopping on its own.
5. **Sensor.** Camera-space coordinates get Kinect-like jitter (larger at hands and feet, with the
   odd burst on a hand tip), and now and then frames are lost (written with 0 bodies), sometimes at
   the start of a file, where the NTU reader drops them. Depth and colour pixel coordinates come
   from a pinhole model fitted to genuine NTU files; orientations are a fixed identity quaternion.

The task is meant to be fair, so that a classifier has to look at motion: the clip length is drawn
independently of the action (40-250 frames), and the actions come in groups that share a pool of
postures and differ in how they move. Sitting down and standing up are one motion played both
ways, and falling ends sitting too (on the floor); walking towards and apart share gait and
posture; drinking, saluting and waving put the hand in the same places near the face; clapping,
rubbing the hands and pressing the palms together all hold the hands in front of the chest;
pointing and throwing end with the arm out in front; hopping and kicking lift the same foot to
the same places; punching and pushing, handshaking and hugging are pairs built the same way.
`tests/test_synthetic.py` checks that the per-clip mean pose (relative to joint 21, as in
method §2) classifies far worse than simple motion statistics, and length or person count
hardly better than chance.

Everything is deterministic: a performance comes from random generators seeded with (seed, setup,
subject, replication, action), a camera's share from the whole clip name, so a seed gives
byte-identical files whatever subset is generated, in any order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from glt.data.store import staging_dir
from glt.errors import DataError

FPS = 30
NUM_JOINTS = 25

SYNTH_ACTIONS: dict[int, str] = {
    1: "drink water",
    7: "throw",
    8: "sitting down",
    9: "standing up (from sitting position)",
    10: "clapping",
    23: "hand waving",
    24: "kicking something",
    26: "hopping (one foot jumping)",
    27: "jump up",
    31: "pointing to something with finger",
    34: "rub two hands together",
    38: "salute",
    39: "put the palms together",
    43: "falling",
    50: "punching/slapping other person",
    52: "pushing other person",
    55: "hugging other person",
    58: "handshaking",
    59: "walking towards each other",
    60: "walking apart from each other",
}
"""NTU action id -> the NTU name of every action the generator performs (label = id - 1)."""

TWO_PERSON_ACTIONS = frozenset({50, 52, 55, 58, 59, 60})
CAMERA_ANGLES = {1: 0.0, 2: 45.0, 3: -45.0}  # degrees around the acting area, per camera id
FACED_CAMERA = {1: 2, 0: 3}  # replication number % 2 -> the camera the performer faces
DEFAULT_SUBJECTS = 7  # 7 subjects x 2 replications x 3 cameras x 20 actions = 840 clips
MIN_FRAMES, MAX_FRAMES = 40, 250

# Joint indices (0-based) of the NTU layout; arms and legs are listed left (0) then right (1).
BASE, MID, NECK, HEAD, SPINE_SHOULDER = 0, 1, 2, 3, 20
ARMS = ((4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24))  # shoulder elbow wrist hand tip thumb
LEGS = ((12, 13, 14, 15), (16, 17, 18, 19))  # hip knee ankle foot
LEFT, RIGHT = 0, 1
SIDE = np.array([-1.0, 1.0])  # x sign of the left and right side (x points to the body's right)
MIRROR = np.array([0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23,
                   24, 21, 22])  # fmt: skip  # left <-> right

# Pinhole models fitted to genuine NTU files: pixel = f * x / z + c (image y points down).
DEPTH_CAMERA = (367.9, 256.9, 367.4, 208.6)  # fx, cx, fy, cy of the 512 x 424 depth image
COLOR_CAMERA = (1054.3, 976.7, 1045.3, 564.1)  # the same for the 1920 x 1080 colour image
# Sensor noise per joint (metres): steady trunk, noisier limbs, very noisy hand tips and thumbs.
JITTER = 1e-3 * np.array([3, 3, 3, 4, 5, 6, 8, 12, 5, 6, 8, 12, 4, 6, 8, 12, 4, 6, 8, 12, 3,
                          18, 18, 18, 18])  # fmt: skip
BODY_ID_BASE = 2**56  # Kinect body ids are 2**56 plus a counter


def _rng(*key: int) -> np.random.Generator:
    """A generator that depends only on `key` (not on what was generated before)."""
    return np.random.default_rng([int(k) for k in key])


# ---------------------------------------------------------------------------------------------
# Bodies


@dataclass(frozen=True)
class Body:
    """One performer: size, proportions and habits (lengths in metres, angles in radians)."""

    scale: float  # 1.0: the head joint 1.44 m above the floor, about 1.55 m tall
    torso: float  # the proportions are factors about 1
    arm: float
    leg: float
    shoulders: float
    hips: float
    left_handed: bool
    slouch: float  # habitual forward bend of the spine
    head_forward: float  # habitual flexion of the neck
    stance: float  # half the distance between the ankles, at scale 1
    tempo: float  # > 1 moves slower
    amplitude: float  # > 1 moves larger

    @property
    def lumbar(self) -> float:
        return 0.27 * self.scale * self.torso

    @property
    def thoracic(self) -> float:
        return 0.21 * self.scale * self.torso

    @property
    def neck(self) -> float:
        return 0.07 * self.scale

    @property
    def head(self) -> float:
        return 0.115 * self.scale

    @property
    def shoulder_half(self) -> float:
        return 0.155 * self.scale * self.shoulders

    @property
    def upper_arm(self) -> float:
        return 0.25 * self.scale * self.arm

    @property
    def forearm(self) -> float:
        return 0.225 * self.scale * self.arm

    @property
    def arm_length(self) -> float:
        """Shoulder to wrist, stretched."""
        return self.upper_arm + self.forearm

    @property
    def hand(self) -> float:
        return 0.07 * self.scale

    @property
    def hip_half(self) -> float:
        return 0.075 * self.scale * self.hips

    @property
    def thigh(self) -> float:
        return 0.34 * self.scale * self.leg

    @property
    def shin(self) -> float:
        return 0.34 * self.scale * self.leg

    @property
    def ankle_height(self) -> float:
        return 0.08 * self.scale

    @property
    def foot(self) -> float:
        return 0.105 * self.scale

    @property
    def pelvis_height(self) -> float:
        """Height of the base of the spine when standing with soft knees."""
        return self.ankle_height + 0.99 * (self.thigh + self.shin) + 0.01 * self.scale

    def shoulder_at(self, side: int) -> np.ndarray:
        """A shoulder's position (3,) in the chest frame (origin at joint 21)."""
        return np.array([SIDE[side] * self.shoulder_half, -0.02 * self.scale, 0.0])


def make_body(seed: int, subject: int) -> Body:
    """The body of performer `subject`: the same in every clip of a seed."""
    rng = _rng(seed, 1, subject)
    n = rng.normal
    return Body(
        scale=float(np.clip(n(1.0, 0.06), 0.85, 1.13)),  # NTU's subjects are aged 10 to 35
        torso=n(1.0, 0.03),
        arm=n(1.0, 0.035),
        leg=n(1.0, 0.035),
        shoulders=n(1.0, 0.05),
        hips=n(1.0, 0.07),
        left_handed=bool(rng.random() < 0.2),
        slouch=n(0.05, 0.04),
        head_forward=n(0.05, 0.06),
        stance=rng.uniform(0.07, 0.14),
        tempo=float(np.exp(n(0.0, 0.1))),
        amplitude=float(np.exp(n(0.0, 0.1))),
    )


# ---------------------------------------------------------------------------------------------
# Motion channels and kinematics


@dataclass
class Motion:
    """What one performer does, frame by frame (T frames).

    The performer frame has x to the performer's right, y up and z to their back (forward is -z),
    with its origin on the floor. `heading` turns the whole performance about the vertical axis
    through that origin (to walk off in a new direction). The pelvis position and the ankle
    targets are in the performer frame, the wrist targets and elbow poles in the chest frame
    (origin at joint 21, turning with the chest). Angles are radians.
    """

    root: np.ndarray  # (T, 3) base of the spine
    heading: np.ndarray  # (T,)
    pelvis: np.ndarray  # (T, 3) forward pitch, roll to the right, yaw to the left
    spine: np.ndarray  # (T, 3) forward flexion, bend to the right, twist to the left
    neck: np.ndarray  # (T, 3) the same for the neck: nodding, tilting, shaking the head
    hands: np.ndarray  # (T, 2, 3) wrist targets, left then right
    elbows: np.ndarray  # (T, 2, 3) where the elbows point
    feet: np.ndarray  # (T, 2, 3) ankle targets
    toes: np.ndarray  # (T, 2) extra downward pitch of the feet

    @property
    def num_frames(self) -> int:
        return len(self.root)

    def reversed(self) -> Motion:
        """The same motion played backwards."""
        return Motion(**{k: v[::-1].copy() for k, v in vars(self).items()})


def _minjerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile on [0, 1]: the smooth start and stop of human point-to-point moves."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10 - 15 * s + 6 * s**2)


def _keys(num_frames: int, times: Sequence[float], values) -> np.ndarray:
    """Minimum-jerk interpolation between `values` at key `times`: (T, *value_shape)."""
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    t = np.arange(num_frames, dtype=float)
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    span = np.maximum(times[i + 1] - times[i], 1e-6)
    s = _minjerk((t - times[i]) / span).reshape(-1, *([1] * (values.ndim - 1)))
    return values[i] + s * (values[i + 1] - values[i])


def _ramp(num_frames: int, start: float, duration: float) -> np.ndarray:
    """(T,) 0 before `start`, 1 after `start + duration`, a minimum-jerk step in between."""
    return _minjerk((np.arange(num_frames) - start) / max(duration, 1e-6))


def _pulse(num_frames: int, on: float, rise: float, off: float, fall: float) -> np.ndarray:
    """(T,) 0 -> 1 from `on` over `rise` frames, back to 0 from `off` over `fall` frames."""
    return _ramp(num_frames, on, rise) * (1.0 - _ramp(num_frames, off, fall))


def _wobble(
    rng: np.random.Generator, num_frames: int, shape, scale: float, hz: float
) -> np.ndarray:
    """Slow random drift (T, *shape): three sinusoids per value, standard deviation `scale`."""
    shape = tuple(np.atleast_1d(shape))
    t = np.arange(num_frames).reshape(-1, *([1] * (len(shape) + 1))) / FPS
    freq = hz * rng.uniform(0.5, 1.5, size=(*shape, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(*shape, 3))
    return scale * np.sqrt(2 / 3) * np.sin(2 * np.pi * freq * t + phase).sum(-1)


def _blend(base: np.ndarray, target, weight: np.ndarray) -> np.ndarray:
    """base + weight * (target - base), with weight (T,) broadcast over the trailing axes."""
    w = weight.reshape(-1, *([1] * (base.ndim - 1)))
    return base + w * (np.asarray(target, dtype=float) - base)


def _rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotations (*angle.shape, 3, 3) by `angle` about the x (0), y (1) or z (2) axis."""
    angle = np.asarray(angle, dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros((*angle.shape, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[..., axis, axis] = 1.0
    r[..., i, i], r[..., i, j], r[..., j, i], r[..., j, j] = c, -s, s, c
    return r


def _bend(angles: np.ndarray) -> np.ndarray:
    """(T, 3) forward flexion, bend to the right, twist to the left -> rotations (T, 3, 3)."""
    flex, bend, twist = angles[:, 0], angles[:, 1], angles[:, 2]
    return _rotation(1, twist) @ _rotation(0, -flex) @ _rotation(2, -bend)


def _apply(rot: np.ndarray, v) -> np.ndarray:
    """Rotate vectors: rot (T, 3, 3) times v (3,) or (T, 3) -> (T, 3)."""
    v = np.broadcast_to(np.asarray(v, dtype=float), (len(rot), 3))
    return np.einsum("tij,tj->ti", rot, v)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-9)


def _two_bone_ik(root, target, upper: float, lower: float, pole):
    """Place a two-bone limb (arm, leg) from its root towards a target, all (T, 3).

    Returns (middle joint, end joint, unit vector towards which the middle joint bends). The end
    reaches `target` when it can (else the limb stretches towards it); the middle joint (elbow,
    knee) bends towards `pole`.
    """
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / (dist + 1e-9)
    dist = np.clip(dist, abs(upper - lower) + 1e-3, (upper + lower) * 0.999)
    cos_a = (upper**2 + dist**2 - lower**2) / (2 * upper * dist)  # law of cosines
    w = _unit(pole - (pole * u).sum(-1, keepdims=True) * u)
    middle = root + upper * (cos_a * u + np.sqrt(1 - cos_a**2) * w)
    return middle, root + dist * u, w


def pose(body: Body, m: Motion) -> np.ndarray:
    """Joint positions (T, 25, 3) of `body` performing `m`, in the performer frame (metres)."""
    p = np.zeros((m.num_frames, NUM_JOINTS, 3))
    turn = _rotation(1, m.heading)
    facing = turn @ _rotation(1, m.pelvis[:, 2])
    pelvis = facing @ _rotation(0, -m.pelvis[:, 0]) @ _rotation(2, -m.pelvis[:, 1])
    half = _bend(m.spine * 0.5)  # the spine bends half at the waist, half at the chest
    waist, chest = pelvis @ half, pelvis @ half @ half
    p[:, BASE] = _apply(turn, m.root)
    p[:, MID] = p[:, BASE] + _apply(pelvis, [0.0, body.lumbar, 0.0])
    p[:, SPINE_SHOULDER] = p[:, MID] + _apply(waist, [0.0, body.thoracic, 0.0])
    p[:, NECK] = p[:, SPINE_SHOULDER] + _apply(chest, [0.0, body.neck, 0.0])
    head = _apply(chest @ _bend(m.neck), [0.0, body.head, -0.02 * body.scale])
    p[:, HEAD] = p[:, NECK] + head

    for side, (shoulder, elbow, wrist, hand, tip, thumb) in enumerate(ARMS):
        p[:, shoulder] = p[:, SPINE_SHOULDER] + _apply(chest, body.shoulder_at(side))
        target = p[:, SPINE_SHOULDER] + _apply(chest, m.hands[:, side])
        pole = _apply(chest, m.elbows[:, side])
        arm = _two_bone_ik(p[:, shoulder], target, body.upper_arm, body.forearm, pole)
        p[:, elbow], p[:, wrist], bend = arm
        along = _unit(p[:, wrist] - p[:, elbow])
        p[:, hand] = p[:, wrist] + body.hand * along
        p[:, tip] = p[:, hand] + 0.06 * body.scale * along
        # The thumb sits on the palm side, away from where the elbow points.
        palm = _unit(bend - (bend * along).sum(-1, keepdims=True) * along)
        p[:, thumb] = p[:, hand] - body.scale * (0.02 * along + 0.03 * palm)

    feet = np.einsum("tij,tkj->tki", turn, m.feet)
    for side, (hip, knee, ankle, foot) in enumerate(LEGS):
        p[:, hip] = p[:, BASE] + _apply(pelvis, [SIDE[side] * body.hip_half, -0.01 * body.scale, 0])
        pole = _apply(facing, [SIDE[side] * 0.15, 0.0, -1.0])  # knees point forward
        p[:, knee], p[:, ankle], _ = _two_bone_ik(
            p[:, hip], feet[:, side], body.thigh, body.shin, pole
        )
        pitch = 0.5 + m.toes[:, side]  # the foot joint is ahead of and below the ankle
        toe = np.stack([np.zeros_like(pitch), -np.sin(pitch), -np.cos(pitch)], -1)
        p[:, foot] = p[:, ankle] + body.foot * _apply(facing, toe)
    return p


# ---------------------------------------------------------------------------------------------
# Actions: each script builds the Motion of one repetition


def _idle_hand(body: Body, side: int, style: str) -> tuple[np.ndarray, np.ndarray]:
    """Wrist target and elbow pole (chest frame) of an arm that is not acting."""
    s, x = body.scale, SIDE[side]
    if style == "front":  # hands folded in front of the belly
        return np.array([0.07 * x, -0.46, -0.2]) * s, np.array([x, -0.3, 0.5])
    if style == "hip":  # hand on the hip, elbow out
        wrist = np.array([x * (body.shoulder_half + 0.03 * s), -0.44 * s, 0.02 * s])
        return wrist, np.array([x, 0.0, 0.3])
    hang = body.shoulder_at(side) + np.array([0.05 * x * s, -0.96 * body.arm_length, 0.03 * s])
    return hang, np.array([0.4 * x, -0.2, 1.0])


def _rest(rng: np.random.Generator, body: Body, num_frames: int) -> Motion:
    """Standing: breathing, swaying, this take's stance and an idle posture of the arms."""
    T, s = num_frames, body.scale
    styles = rng.choice(["hang", "front", "hip"], size=2, p=[0.55, 0.25, 0.2])
    if rng.random() < 0.6:  # mostly both arms alike
        styles[1] = styles[0]
    idle = [_idle_hand(body, k, str(styles[k])) for k in range(2)]
    hands = np.stack([h for h, _ in idle]) + _wobble(rng, T, (2, 3), 0.01 * s, 0.3)
    elbows = np.broadcast_to(np.stack([e for _, e in idle]), (T, 2, 3)).copy()
    root = np.array([0.0, body.pelvis_height, 0.0]) + _wobble(rng, T, 3, 0.008 * s, 0.25)
    root[:, 1] -= np.abs(_wobble(rng, T, (), 0.01 * s, 0.2))  # knees never straighter than that
    feet = np.zeros((T, 2, 3))
    feet[:, :, 0] = SIDE * body.stance * s
    feet[:, :, 1] = body.ankle_height
    feet[:, :, 2] = rng.normal(0.0, 0.04 * s, size=2)
    # A slight lean, the chest turned a little, the head looking about.
    spine = np.array([body.slouch, rng.normal(0, 0.04), rng.normal(0, 0.1)])
    neck = np.array([body.head_forward, rng.normal(0, 0.05), rng.normal(0, 0.15)])
    return Motion(
        root=root,
        heading=np.zeros(T),
        pelvis=_wobble(rng, T, 3, 0.02, 0.3),
        spine=spine + _wobble(rng, T, 3, 0.025, 0.3),
        neck=neck + _wobble(rng, T, 3, 0.06, 0.4),
        hands=hands,
        elbows=elbows,
        feet=feet,
        toes=np.zeros((T, 2)),
    )


@dataclass
class _Take:
    """One repetition by one performer: its random generator, length, tempo and amplitude."""

    rng: np.random.Generator
    body: Body
    num_frames: int
    tempo: float  # > 1 moves slower
    amp: float  # > 1 moves larger

    @property
    def scale(self) -> float:
        return self.body.scale

    def rest(self) -> Motion:
        return _rest(self.rng, self.body, self.num_frames)

    def frames(self, low: float, high: float) -> float:
        """A phase duration in frames, scaled by the tempo."""
        return self.rng.uniform(low, high) * self.tempo

    def jitter(self, v, sd) -> np.ndarray:
        """Key position `v` (metres at scale 1), perturbed by `sd` and scaled to the body."""
        v = np.asarray(v, dtype=float)
        return (v + self.rng.normal(0.0, sd, size=v.shape)) * self.scale

    def window(self) -> tuple[float, float]:
        """Start and end of the clip's active part; the idle parts around it vary widely."""
        T = self.num_frames
        return T * self.rng.uniform(0.03, 0.3), T * (1 - self.rng.uniform(0.03, 0.3))

    def hold(self, rise: float, fall: float, fill=(0.35, 1.0)) -> np.ndarray:
        """Key times (4,): go to a pose, hold it for a random share of the window, come back."""
        start, end = self.window()
        rise, fall = min(rise, 0.25 * (end - start)), min(fall, 0.25 * (end - start))
        free = end - start - rise - fall
        held = self.rng.uniform(*fill) * free
        t0 = start + self.rng.uniform(0, 1) * (free - held)
        return t0 + np.cumsum([0.0, rise, held, fall])

    def envelope(self, keys: np.ndarray) -> np.ndarray:
        """Weight (T,) going 0 -> 1 -> 0 over the four key times of `hold`."""
        rise, fall = keys[1] - keys[0], keys[3] - keys[2]
        return _pulse(self.num_frames, keys[0], rise, keys[2], fall)

    def events(self, duration: float, most: int, span=None) -> np.ndarray:
        """Start times of 1..`most` events of `duration` frames spread over `span` (or window)."""
        start, end = self.window() if span is None else span
        n = int(np.clip((end - start) // duration, 1, most))
        each = (end - start) / n
        slack = np.maximum(each - duration, 0)
        return start + each * np.arange(n) + self.rng.uniform(0, 1, n) * slack

    def phase(self, hz: tuple[float, float]) -> np.ndarray:
        """Phase (T,) of an oscillation at a random frequency in `hz`, slowed by the tempo."""
        f = self.rng.uniform(*hz) / self.tempo
        return 2 * np.pi * f * np.arange(self.num_frames) / FPS + self.rng.uniform(0, 2 * np.pi)


def _reach(m: Motion, side: int, target, weight: np.ndarray, pole=None) -> None:
    """Move a wrist (and where its elbow points) towards `target` (3,) or (T, 3) by `weight`."""
    m.hands[:, side] = _blend(m.hands[:, side], target, weight)
    if pole is not None:
        m.elbows[:, side] = _blend(m.elbows[:, side], pole, weight)


# Drinking, saluting and waving share one pool of postures (the right hand near the face, the
# elbow anywhere from down to out) and differ in how they move: a slow reach with sips, a snap
# to attention and back, or a side-to-side swing.


def _hand_at_face(take: _Take, centre) -> tuple[Motion, np.ndarray, list[float]]:
    target = take.jitter(centre, 0.04)
    pole = [take.rng.uniform(0.3, 1.0), take.rng.uniform(-1.0, 0.1), take.rng.uniform(-0.2, 0.4)]
    return take.rest(), target, pole


def _drink(take: _Take) -> list[Motion]:
    m, target, pole = _hand_at_face(take, [0.08, 0.04, -0.16])
    keys = take.hold(take.frames(18, 30), take.frames(18, 30))
    sips = np.clip(np.sin(take.phase((0.3, 0.8))), 0, 1)
    sips *= _pulse(take.num_frames, keys[1] - 4, 6, keys[2], 6)
    cup = np.outer(sips, [-0.01, 0.05, 0.03]) * take.scale  # tip the cup up
    _reach(m, RIGHT, target + cup, take.envelope(keys), pole)
    m.neck[:, 0] -= 0.35 * sips  # head back to swallow
    return [m]


def _salute(take: _Take) -> list[Motion]:
    m, target, pole = _hand_at_face(take, [0.13, 0.1, -0.13])
    keys = take.hold(take.frames(5, 8), take.frames(6, 10))
    w = take.envelope(keys)
    _reach(m, RIGHT, target, w, pole)
    m.spine[:, 0] -= 0.06 * w  # stand to attention
    return [m]


def _wave(take: _Take) -> list[Motion]:
    m, target, pole = _hand_at_face(take, [0.17, 0.1, -0.11])
    keys = take.hold(take.frames(10, 18), take.frames(10, 18))
    swing = np.sin(take.phase((1.4, 2.6))) * _pulse(take.num_frames, keys[1] - 4, 6, keys[2] - 2, 6)
    target = target + np.outer(swing, [0.1, 0.01, 0.0]) * take.scale * take.amp
    _reach(m, RIGHT, target, take.envelope(keys), pole)
    return [m]


# Pointing and throwing: the right arm goes out in front, held still or whipped through.


def _point(take: _Take) -> list[Motion]:
    m, b = take.rest(), take.body
    keys = take.hold(take.frames(12, 20), take.frames(12, 20), fill=(0.2, 0.8))
    az, el = take.rng.uniform(-0.3, 0.6), take.rng.uniform(-0.35, 0.25)  # where the thing is
    direction = np.array([np.sin(az) * np.cos(el), np.sin(el), -np.cos(az) * np.cos(el)])
    w = take.envelope(keys)
    _reach(m, RIGHT, b.shoulder_at(RIGHT) + 0.93 * b.arm_length * direction, w, [0.3, -1, 0.6])
    m.neck[:, 2] -= 0.5 * az * w  # look at it
    return [m]


def _throw(take: _Take) -> list[Motion]:
    m, T, s, a, b = take.rest(), take.num_frames, take.scale, take.amp, take.body
    # Wind up behind the head, whip the arm through, then watch it go for a while (arm out in
    # front, as when pointing) and come back.
    phases = np.array([take.frames(15, 25), take.frames(5, 8), take.frames(8, 12)])
    hold = take.hold(phases.sum(), take.frames(15, 25), fill=(0.1, 0.7))
    keys = [*(hold[0] + np.cumsum([0.0, *phases]) * (hold[1] - hold[0]) / phases.sum()), *hold[2:]]
    az, el = take.rng.uniform(-0.4, 0.2), take.rng.uniform(-0.45, 0.05)
    aim = np.array([np.sin(az) * np.cos(el), np.sin(el), -np.cos(az) * np.cos(el)])
    follow = b.shoulder_at(RIGHT) + 0.9 * b.arm_length * aim
    rest = m.hands[:, RIGHT].mean(0)
    wind, release = take.jitter([0.25, 0.22, 0.17], 0.03), take.jitter([0.1, 0.02, -0.58], 0.03)
    m.hands[:, RIGHT] += _keys(T, keys, [rest, wind, release, follow, follow, rest]) - rest
    elbow, out = m.elbows[0, RIGHT], [0.4, -1.0, 0.5]
    m.elbows[:, RIGHT] = _keys(T, keys, [elbow, [0.8, -0.5, 0.4], [0.5, -1, 0.2], out, out, elbow])
    trunk = [0, 0, 0], [-0.1, -0.05, -0.4 * a], [0.3 * a, 0, 0.35 * a], [0.25 * a, 0, 0.2]
    m.spine += _keys(T, keys, [*trunk, trunk[-1], [0, 0, 0]])
    step = _keys(T, keys, [0.0, 0.0, 1.0, 1.0, 1.0, 0.0])  # the left foot steps forward
    m.feet[:, LEFT, 2] -= 0.25 * s * step
    m.root += np.outer(step, [0.0, -0.03, -0.1]) * s
    balance = _pulse(T, keys[0], phases[0], keys[4], keys[5] - keys[4])
    _reach(m, LEFT, take.jitter([-0.2, -0.15, -0.3], 0.03), balance)
    return [m]


# Clapping, rubbing the hands and pressing the palms together: both hands in front of the chest,
# the same pool of positions; they move apart, circle, or stay still.


def _hands_together(take: _Take) -> tuple[Motion, np.ndarray, np.ndarray]:
    keys = take.hold(take.frames(10, 18), take.frames(10, 18))
    return take.rest(), take.jitter([0.0, -0.15, -0.3], 0.05), take.envelope(keys)


def _clap(take: _Take) -> list[Motion]:
    m, centre, w = _hands_together(take)
    gap = 0.05 + take.rng.uniform(0.1, 0.25) * take.amp * (1 + np.sin(take.phase((1.8, 3.5)))) / 2
    for side in (LEFT, RIGHT):
        hand = centre + np.outer(gap * SIDE[side], [take.scale, 0.0, 0.0])
        _reach(m, side, hand, w, pole=[SIDE[side], -1.0, 0.3])
    return [m]


def _rub(take: _Take) -> list[Motion]:
    m, centre, w = _hands_together(take)
    gap = 0.05 + take.rng.uniform(0.0, 0.12)
    phase = take.phase((1.8, 3.5))
    radius = take.rng.uniform(0.025, 0.04)
    circle = radius * np.stack([np.zeros_like(phase), np.sin(phase), np.cos(phase)], -1)
    for side in (LEFT, RIGHT):  # the two hands circle against each other
        offset = np.array([gap * SIDE[side], 0.0, 0.0]) + SIDE[side] * circle
        _reach(m, side, centre + offset * take.scale, w, pole=[SIDE[side], -1.0, 0.3])
    return [m]


def _palms(take: _Take) -> list[Motion]:
    m, centre, w = _hands_together(take)
    gap = 0.05 + take.rng.uniform(0.0, 0.06)
    for side in (LEFT, RIGHT):  # pressed together and held still
        hand = centre + np.array([gap * SIDE[side], 0.0, 0.0]) * take.scale
        _reach(m, side, hand, w, pole=[SIDE[side], -1.0, 0.3])
    m.neck[:, 0] += take.rng.uniform(0.0, 0.3) * w  # often with a little bow of the head
    return [m]


# Sitting down and standing up: the same motion, played forwards or backwards. Falling ends
# sitting too, on the floor, after losing balance backwards.


def _sit_down(take: _Take) -> list[Motion]:
    m, T, s = take.rest(), take.num_frames, take.scale
    start, end = take.window()
    span = min(take.frames(35, 55), 0.7 * (end - start))
    t0 = start + take.rng.uniform(0.0, 1.0) * (end - start - span)
    sit = _ramp(T, t0, span)
    lean = np.sin(np.pi * np.clip((np.arange(T) - t0) / span, 0, 1)) ** 1.5
    m.root[:, 1] = _blend(m.root[:, 1], take.rng.uniform(0.48, 0.56) * s, sit)
    m.root[:, 2] += 0.22 * s * sit  # the seat is behind the feet
    m.feet[:, :, 2] -= 0.08 * s * sit[:, None]
    m.spine[:, 0] += 0.55 * take.amp * lean - 0.05 * sit  # lean forward to get up or down
    m.pelvis[:, 0] += 0.35 * lean
    for side in (LEFT, RIGHT):  # hands reach forward for balance, then rest on the thighs
        thigh = take.jitter([0.14 * SIDE[side], -0.42, -0.32], 0.03)
        _reach(m, side, thigh, sit, pole=[0.6 * SIDE[side], -0.5, 1.0])
        _reach(m, side, take.jitter([0.16 * SIDE[side], -0.38, -0.4], 0.03), lean)
    return [m]


def _stand_up(take: _Take) -> list[Motion]:
    return [m.reversed() for m in _sit_down(take)]


def _fall(take: _Take) -> list[Motion]:
    m, T, s = take.rest(), take.num_frames, take.scale
    phases = [take.frames(6, 14), take.frames(8, 14), take.frames(8, 14)]  # stagger, drop, settle
    start, end = take.window()
    t0 = start + take.rng.uniform(0.0, 0.8) * max(end - start - sum(phases), 0)
    k = t0 + np.cumsum([0.0, *phases])
    floor = take.rng.uniform(0.14, 0.2) * s - m.root[0, 1]  # the pelvis on the floor
    m.root[:, 1] += _keys(T, k, [0, 0, 0.8 * floor, floor])
    m.root[:, 0] += _keys(T, k, [0, take.rng.normal(0, 0.06), 0, 0]) * s
    m.root[:, 2] += _keys(T, k, [0, 0.08, 0.3, 0.35]) * s  # backwards
    m.feet[:, :, 2] += _keys(T, k, [0, 0.04, -0.1, -0.15])[:, None] * s  # the legs shoot forward
    m.toes -= _keys(T, k, [0, 0, 0.5, 0.4])[:, None]
    recline = take.rng.uniform(0.1, 0.5)
    m.pelvis[:, 0] -= _keys(T, k, [0, 0.15, 0.45, recline])
    m.spine[:, 0] += _keys(T, k, [0, -0.1, 0.25, 0.2])
    m.neck[:, 0] += _keys(T, k, [0, 0.2, 0.35, 0.1])  # chin in
    for side in (LEFT, RIGHT):  # arms fly out, hands catch the fall behind the hips
        out = take.jitter([0.35 * SIDE[side], -0.2, -0.1], 0.05)
        _reach(m, side, out, _pulse(T, k[0], 6, k[1], 6))
        behind = take.jitter([0.25 * SIDE[side], -0.45, 0.3], 0.04)
        _reach(m, side, behind, _ramp(T, k[1], k[2] - k[1]), pole=[SIDE[side], 0.0, 1.0])
    return [m]


# Hopping and kicking: one foot off the ground (the same pool of lifted-foot positions), either
# bouncing on the other foot or striking out. Jumping up takes off with both feet.


def _lift_foot(take: _Take, m: Motion, side: int, keys: np.ndarray) -> np.ndarray:
    w = take.envelope(keys)
    lifted = m.feet[0, side] + take.jitter([0.02 * SIDE[side], 0.25, 0.05], [0.01, 0.05, 0.12])
    m.feet[:, side] = _blend(m.feet[:, side], lifted, w)
    m.toes[:, side] += 0.4 * w
    m.root[:, 0] -= SIDE[side] * 0.05 * take.scale * w  # balance over the standing foot
    for arm in (LEFT, RIGHT):
        out = take.body.shoulder_at(arm) + take.jitter([0.2 * SIDE[arm], -0.4, -0.08], 0.04)
        _reach(m, arm, out, w)
    return w


def _hop(take: _Take) -> list[Motion]:
    m, T, s = take.rest(), take.num_frames, take.scale
    keys = take.hold(take.frames(8, 14), take.frames(8, 14))
    side = take.rng.integers(2)  # either foot
    up = _lift_foot(take, m, side, keys)
    hops = np.maximum(0, np.sin(take.phase((1.6, 2.4)))) * _pulse(T, keys[1], 3, keys[2] - 3, 3)
    height = take.rng.uniform(0.05, 0.12) * s * take.amp * hops
    m.feet[:, :, 1] += height[:, None]
    m.root[:, 1] += height - 0.03 * s * (1 - hops) * up  # soft knee between hops
    m.toes[:, 1 - side] += 0.5 * hops
    return [m]


def _kick(take: _Take) -> list[Motion]:
    m, T, s = take.rest(), take.num_frames, take.scale
    keys = take.hold(take.frames(8, 14), take.frames(8, 14))
    side = take.rng.integers(2)  # either foot
    _lift_foot(take, m, side, keys)
    for t in take.events(take.frames(14, 20), 2, span=keys[1:3]):
        out, back = take.frames(4, 7), take.frames(7, 12)
        w = _pulse(T, t, out, t + out + 1, back)
        m.feet[:, side] += np.outer(w, [0.0, 0.12, -0.45]) * s * take.amp  # strike forward
        m.toes[:, side] += 0.4 * w
        m.spine[:, 0] -= 0.12 * w
    return [m]


def _jump(take: _Take) -> list[Motion]:
    m, T, b, s = take.rest(), take.num_frames, take.body, take.scale
    duration = take.frames(32, 45)
    h, crouch = take.rng.uniform(0.12, 0.28) * s * take.amp, take.rng.uniform(0.1, 0.18) * s
    # One jump as fractions of its duration: stand, crouch, take off, apex, land, absorb, stand.
    frac = np.array([0.0, 0.3, 0.42, 0.52, 0.62, 0.75, 1.0])
    lift = [0, -crouch, 0.04 * s, h, 0.0, -0.6 * crouch, 0]
    feet = [0, 0, 0, h - 0.04 * s, 0, 0, 0]
    flex = [0, 0.45, 0.05, -0.05, 0.1, 0.3, 0]
    toes = [0, 0, 0.6, 0.4, 0, 0, 0]
    # Arms swing back, then up; some keep their hands where they are.
    arms = np.array([0, -0.6, 0.8, 1.0, 0.4, -0.2, 0]) * take.rng.uniform(0.3, 1.0)
    arms *= take.rng.random() > 0.35
    for t in take.events(duration, 3):
        t = t + frac * duration
        inside = (np.arange(T) >= t[0]) & (np.arange(T) <= t[-1])
        m.root[:, 1] += np.where(inside, _keys(T, t, lift), 0)
        m.feet[:, :, 1] += np.where(inside, _keys(T, t, feet), 0)[:, None]
        m.spine[:, 0] += np.where(inside, _keys(T, t, flex), 0)
        m.toes += np.where(inside, _keys(T, t, toes), 0)[:, None]
        swing = np.where(inside, _keys(T, t, arms), 0)
        for side in (LEFT, RIGHT):
            back = b.shoulder_at(side) + np.array([0.1 * SIDE[side], -0.38, 0.3]) * s
            overhead = _unit(np.array([0.15 * SIDE[side], 1.0, -0.3]))
            up = b.shoulder_at(side) + 0.95 * b.arm_length * overhead
            _reach(m, side, back, np.clip(-swing, 0, 1))
            _reach(m, side, up, np.clip(swing, 0, 1), pole=[SIDE[side], 0.0, 1.0])
    return [m]


# Two-person actions return each performer's Motion and where they stand in the scene.


@dataclass
class _Actor:
    motion: Motion
    body: Body
    x: float  # position in the scene (metres)
    z: float
    yaw: float  # which way they face (rad); 0 faces the camera of the replication


def _face_to_face(takes, motions, gap: float, shift: float = 0.0) -> list[_Actor]:
    """Two performers `gap` metres apart, facing each other, the second `shift` to the right."""
    (a, b), (ma, mb) = takes, motions
    return [
        _Actor(ma, a.body, -gap / 2, -shift / 2, -np.pi / 2),
        _Actor(mb, b.body, gap / 2, shift / 2, np.pi / 2),
    ]


def _gait(take: _Take, m: Motion, distance: np.ndarray) -> None:
    """Walk forward (-z) along `distance` (T,) metres: stepping feet, pelvis bob and arm swing."""
    s = take.scale
    stride = take.rng.uniform(1.1, 1.4) * s  # two steps
    moving = np.clip(np.abs(np.gradient(distance)) * FPS / 0.4, 0, 1)  # from standing into stride
    for side, offset in ((LEFT, 0.0), (RIGHT, 0.5)):
        c = distance / stride + offset
        frac = c - np.floor(c)
        swing = np.clip((frac - 0.6) / 0.4, 0, 1)  # 60 % stance with the foot planted, 40 % swing
        ahead = (np.floor(c) + _minjerk(swing) + 0.3 - offset) * stride
        m.feet[:, side, 2] = _blend(m.feet[:, side, 2] - distance, -ahead, moving)
        m.feet[:, side, 1] += 0.1 * s * np.sin(np.pi * swing) * moving
        m.toes[:, side] += 0.3 * np.sin(np.pi * swing) * moving
        m.hands[:, side, 2] += 0.12 * s * np.sin(2 * np.pi * (c - 0.35)) * moving  # opposite leg
    m.root[:, 2] -= distance
    m.root[:, 1] -= 0.02 * s * (1 + np.cos(4 * np.pi * distance / stride)) / 2 * moving
    m.spine[:, 0] += 0.06 * moving


def _walk(takes: tuple[_Take, _Take], apart: bool) -> list[_Actor]:
    T = takes[0].num_frames
    start, end = takes[0].window()
    walk = min(takes[0].frames(55, 90), end - start)
    t_walk = end - walk if apart else start
    motions, dists = [], []
    for take in takes:
        m = take.rest()
        if apart:  # turn round, then walk away
            turn = take.frames(18, 28)
            m.heading += np.pi * _ramp(T, t_walk - 0.7 * turn, turn) * take.rng.choice([-1, 1])
        d = take.rng.uniform(0.6, 1.1) * take.scale * min(1.0, walk / 70)
        _gait(take, m, d * _ramp(T, t_walk, walk))
        motions.append(m)
        dists.append(d)
    gap = takes[0].rng.uniform(0.7, 1.1) + (0 if apart else sum(dists))
    return _face_to_face(takes, motions, gap)


def _towards(takes: tuple[_Take, _Take]) -> list[_Actor]:
    return _walk(takes, apart=False)


def _apart(takes: tuple[_Take, _Take]) -> list[_Actor]:
    return _walk(takes, apart=True)


# Punching and pushing: one performer raises both hands and strikes out, the other is knocked
# back: a jab or two at the face, or a two-handed shove that sends the partner back a step.


def _attack(takes: tuple[_Take, _Take], push: bool) -> list[_Actor]:
    take, other = takes
    T, b = take.num_frames, take.body
    a, v = take.rest(), other.rest()  # attacker, victim
    keys = take.hold(take.frames(8, 14), take.frames(10, 16), fill=(0.6, 1.0))
    ready = take.envelope(keys)
    for side in (LEFT, RIGHT):
        guard = take.jitter([0.12 * SIDE[side], -0.12, -0.25], 0.05)
        _reach(a, side, guard, ready, pole=[0.6 * SIDE[side], -1.0, 0.5])
    for t in take.events(take.frames(16, 24), 1 if push else 3, span=keys[1:3]):
        out, back = take.frames(4, 7), take.frames(8, 14)
        w = _pulse(T, t, out, t + out + 2, back)
        if push:  # both hands at the partner's chest
            for side in (LEFT, RIGHT):
                aim = _unit(np.array([-0.2 * SIDE[side], -0.25, -1.0]))
                _reach(a, side, b.shoulder_at(side) + 0.95 * b.arm_length * aim, w)
            a.root[:, 2] -= 0.12 * take.scale * _ramp(T, t, out)  # step into it
            a.feet[:, LEFT, 2] -= 0.12 * take.scale * _ramp(T, t, out)
        else:  # a right jab at the face; the punching shoulder comes forward
            aim = _unit(np.array([-0.25, 0.05, -1.0]))
            _reach(a, RIGHT, b.shoulder_at(RIGHT) + 0.97 * b.arm_length * aim, w)
            a.spine[:, 2] += 0.3 * w * take.amp
        a.spine[:, 0] += 0.1 * w
        hit = _ramp(T, t + out, other.frames(3, 6))
        knock = hit * (1 - _ramp(T, t + out + 6, other.frames(10, 16)))
        v.spine[:, 0] -= 0.25 * knock  # the partner recoils
        v.neck[:, 0] -= 0.3 * knock
        back_off = (other.rng.uniform(0.25, 0.5) * hit if push else 0.06 * knock) * other.scale
        v.root[:, 2] += back_off
        v.feet[:, :, 2] += back_off[:, None]
    gap = take.rng.uniform(0.6, 0.8) * (take.scale + other.scale) / 2
    return _face_to_face(takes, (a, v), gap)


def _punch(takes: tuple[_Take, _Take]) -> list[_Actor]:
    return _attack(takes, push=False)


def _push(takes: tuple[_Take, _Take]) -> list[_Actor]:
    return _attack(takes, push=True)


# Handshaking and hugging: both step in and reach for each other, with one hand or both arms.


def _greet(takes: tuple[_Take, _Take], hug: bool) -> list[_Actor]:
    T = takes[0].num_frames
    start, end = takes[0].window()
    step = min(takes[0].frames(20, 30), 0.3 * (end - start))
    t1, t2 = start + step + takes[0].frames(12, 20), end - takes[0].frames(12, 20)
    w = _pulse(T, start + step - 4, t1 - start - step + 4, t2, end - t2)
    shake = 0.035 * np.sin(takes[0].phase((1.8, 3.0))) * _pulse(T, t1 - 3, 5, t2 - 3, 5)
    over = takes[0].rng.random() < 0.5  # whose right arm goes over the other's shoulder
    motions, dists = [], []
    for i, take in enumerate(takes):
        m = take.rest()
        d = take.rng.uniform(0.2, 0.45) * take.scale
        _gait(take, m, d * _ramp(T, start, step))
        if hug:
            high = 1.0 if over == (i == 0) else -1.0
            _reach(m, RIGHT, take.jitter([-0.05, -0.1 + 0.13 * high, -0.4], 0.02), w, [1, 0, 0])
            _reach(m, LEFT, take.jitter([0.05, -0.1 - 0.13 * high, -0.4], 0.02), w, [-1, 0, 0])
            m.spine[:, 1] += 0.08 * w * high  # the heads pass on opposite sides
            m.neck[:, 2] += 0.25 * w * high
        else:
            hand = np.array([0.1, -0.33, -0.4]) * take.scale + np.outer(shake, [0, 1, 0])
            _reach(m, RIGHT, hand, w, pole=[0.4, -1.0, 0.5])
        m.spine[:, 0] += 0.12 * w
        motions.append(m)
        dists.append(d)
    size = (takes[0].scale + takes[1].scale) / 2
    gap = (0.45 if hug else 0.85) * size + sum(dists)
    # For a handshake the partner stands a little to the right, so that the right hands meet.
    return _face_to_face(takes, motions, gap, shift=0.0 if hug else 0.2)


def _handshake(takes: tuple[_Take, _Take]) -> list[_Actor]:
    return _greet(takes, hug=False)


def _hug(takes: tuple[_Take, _Take]) -> list[_Actor]:
    return _greet(takes, hug=True)


_SINGLE = {1: _drink, 7: _throw, 8: _sit_down, 9: _stand_up, 10: _clap, 23: _wave, 24: _kick,
           26: _hop, 27: _jump, 31: _point, 34: _rub, 38: _salute, 39: _palms,
           43: _fall}  # fmt: skip
_PAIR = {50: _punch, 52: _push, 55: _hug, 58: _handshake, 59: _towards, 60: _apart}
_MIRRORABLE = frozenset(SYNTH_ACTIONS) - {58}  # handshakes are right-handed


# ---------------------------------------------------------------------------------------------
# Performances, cameras and clips


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


# ---------------------------------------------------------------------------------------------
# The .skeleton text format (method §1)

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
