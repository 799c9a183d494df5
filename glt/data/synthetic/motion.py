"""What a performer does (`Motion`) and the curves that action scripts build it from.

A `Motion` holds, frame by frame, the pelvis position and orientation, the bending of the spine
and neck, the wrist and ankle targets and where the elbows point; `glt.data.synthetic.body.pose`
turns it into joint positions. The curves: minimum-jerk key poses (`_keys`), steps (`_ramp`) and
holds (`_pulse`) with the smooth, bell-shaped speed profile of human reaching, and slow random
drift (`_wobble`) for breathing, swaying and fidgeting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FPS = 30


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
