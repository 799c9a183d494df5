"""The performers' bodies and the kinematics that pose them.

Each subject has a 25-joint Kinect skeleton (the NTU joints and bones, `glt.layout.NTU`) with
their own size, segment proportions, handedness, habitual posture and tempo (`make_body`).
`pose` places the joints of a body performing a `Motion`: forward kinematics for the pelvis,
spine, neck, head, shoulders and hips; analytic two-bone inverse kinematics for elbows and knees
from the wrist and ankle targets; hands, hand tips, thumbs and feet follow the limbs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glt.data.synthetic.motion import Motion

NUM_JOINTS = 25

# Joint indices (0-based) of the NTU layout; arms and legs are listed left (0) then right (1).
BASE, MID, NECK, HEAD, SPINE_SHOULDER = 0, 1, 2, 3, 20
ARMS = ((4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24))  # shoulder elbow wrist hand tip thumb
LEGS = ((12, 13, 14, 15), (16, 17, 18, 19))  # hip knee ankle foot
LEFT, RIGHT = 0, 1
SIDE = np.array([-1.0, 1.0])  # x sign of the left and right side (x points to the body's right)
MIRROR = np.array([0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23,
                   24, 21, 22])  # fmt: skip  # left <-> right


def _rng(*key: int) -> np.random.Generator:
    """A generator that depends only on `key` (not on what was generated before)."""
    return np.random.default_rng([int(k) for k in key])


def _segment(metres: float, proportion: str = "") -> property:
    """A segment's length: `metres` at scale 1, times the body's `proportion` factor if named."""
    if not proportion:
        return property(lambda body: metres * body.scale)
    return property(lambda body: metres * body.scale * getattr(body, proportion))


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

    # Segment lengths: metres at scale 1, stretched by the proportion that governs each.
    lumbar = _segment(0.27, "torso")  # base of the spine to the middle of the spine
    thoracic = _segment(0.21, "torso")  # middle of the spine to joint 21
    neck = _segment(0.07)
    head = _segment(0.115)
    shoulder_half = _segment(0.155, "shoulders")  # joint 21 to a shoulder, sideways
    upper_arm = _segment(0.25, "arm")
    forearm = _segment(0.225, "arm")
    hand = _segment(0.07)  # wrist to hand
    hip_half = _segment(0.075, "hips")  # base of the spine to a hip, sideways
    thigh = _segment(0.34, "leg")
    shin = _segment(0.34, "leg")
    ankle_height = _segment(0.08)
    foot = _segment(0.105)  # ankle to foot joint

    @property
    def arm_length(self) -> float:
        """Shoulder to wrist, stretched."""
        return self.upper_arm + self.forearm

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
