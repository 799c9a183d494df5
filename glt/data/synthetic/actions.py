"""The action scripts: the `Motion` of each performer in one repetition of each action.

Each script starts from a standing rest (breathing, swaying, an idle posture of the arms) and adds
key poses, oscillations and walking, drawing the tempo, amplitude, timing and key poses of every
repetition from the take's random generator. Actions come in groups that share a pool of postures
and differ in how they move, so that a classifier has to look at motion. Two-person scripts also
say where each performer stands and which way they face.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from glt.data.synthetic.body import LEFT, RIGHT, SIDE, Body, _unit
from glt.data.synthetic.motion import (
    FPS,
    Motion,
    _blend,
    _keys,
    _minjerk,
    _pulse,
    _ramp,
    _wobble,
)

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


_SINGLE = {1: _drink, 7: _throw, 8: _sit_down, 9: _stand_up, 10: _clap, 23: _wave, 24: _kick,
           26: _hop, 27: _jump, 31: _point, 34: _rub, 38: _salute, 39: _palms,
           43: _fall}  # fmt: skip
_PAIR = {
    50: partial(_attack, push=False),
    52: partial(_attack, push=True),
    55: partial(_greet, hug=True),
    58: partial(_greet, hug=False),
    59: partial(_walk, apart=False),
    60: partial(_walk, apart=True),
}
_MIRRORABLE = frozenset(SYNTH_ACTIONS) - {58}  # handshakes are right-handed
