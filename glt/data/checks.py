"""Checks of the keypoints given to `write_dataset`: are they metres, and does y point up?

The method assumes camera-space metres with y up: the view alignment rotates about y (method §2)
and the magnitude targets are 1 cm bins (method §4). Pixels, normalised image coordinates or a y
axis pointing down go through the preprocessing without an error and train a model barely above
chance, so `write_dataset` surveys what it is given, with the joints every layout names:

- **scale**: the median distance between the two shoulders. Kinect's shoulder joints are 0.27 m
  apart in the genuine NTU samples and 0.32 m in NW-UCLA (medians over all frames); a median
  outside 0.1-1.0 means other units (pixels, millimetres, a 0..1 box).
- **box**: every coordinate within 0..1, as normalised image coordinates.
- **up** (layouts that name the head and the feet): the head below the feet in most frames.

Each problem found is one line saying what was seen and the fix (a scale, a flip). The survey
looks at up to 16 frames of every clip, spread over the clip.
"""

from __future__ import annotations

import numpy as np

from glt.layout import SkeletonLayout

SHOULDER_WIDTH = 0.3  # metres: about a person's, between Kinect's shoulder joints
METRIC_SHOULDERS = (0.1, 1.0)  # a dataset median outside this is not in metres
_FRAMES_PER_CLIP = 16


class KeypointSurvey:
    """Statistics of the clips passed to `add`, and the problems they show (`findings`)."""

    def __init__(self, layout: SkeletonLayout):
        self.layout = layout
        self.widths: list[float] = []  # median shoulder width per clip
        self.in_unit_box = True
        self.head_below = 0  # person-frames with the head below the feet
        self.upright_frames = 0  # person-frames looked at for that

    def add(self, clip: np.ndarray) -> None:
        """Survey one (T, M, V, 3) clip; absent persons (all zeros) are ignored."""
        step = max(1, len(clip) // _FRAMES_PER_CLIP)
        frames = np.asarray(clip[::step], dtype=np.float32)
        people = frames[np.abs(frames).sum(axis=(2, 3)) > 0]  # (n, V, 3) present person-frames
        if len(people) == 0:
            return
        layout = self.layout
        shoulders = people[:, layout.right_shoulder] - people[:, layout.left_shoulder]
        self.widths.append(float(np.median(np.linalg.norm(shoulders, axis=-1))))
        self.in_unit_box &= bool(((people >= 0) & (people <= 1)).all())
        if layout.head is not None and layout.feet:
            feet = people[:, list(layout.feet), 1].mean(axis=-1)
            self.head_below += int(np.count_nonzero(people[:, layout.head, 1] < feet))
            self.upright_frames += len(people)

    def findings(self) -> list[str]:
        """One line per problem: what was seen, and the fix."""
        if not self.widths:
            return []
        found = []
        width = float(np.median(self.widths))
        factor = f"{SHOULDER_WIDTH / width:.2g}" if width > 0 else "a factor"
        seen = f"the shoulders are {width:.3g} apart (median over {len(self.widths)} clips)"
        if self.in_unit_box:
            found.append(
                f"every coordinate lies in 0..1, like normalised image coordinates, and {seen}: "
                f"glt needs metres; multiply by about {factor} (shoulders about {SHOULDER_WIDTH} m apart)"
            )
        elif not METRIC_SHOULDERS[0] <= width <= METRIC_SHOULDERS[1]:
            found.append(
                f"{seen}, a person's are about {SHOULDER_WIDTH} m: the coordinates are not metres "
                f"(pixels? millimetres?); multiply them by about {factor}"
            )
        if self.upright_frames and self.head_below > self.upright_frames / 2:
            share = 100 * self.head_below / self.upright_frames
            found.append(
                f"the head is below the feet in {share:.0f}% of frames: y points down (image "
                "convention?); glt needs y up: flip it (clip[..., 1] *= -1)"
            )
        return found
