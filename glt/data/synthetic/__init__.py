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
4. **Scene.** As in NTU RGB+D: three cameras at the same height, at 0 (C001), +45 (C002) and
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

The package follows that order: `motion` (the channels and the curves they are built from),
`body` (bodies and kinematics), `actions` (the action scripts), `scene` (performances, cameras,
sensor) and `files` (clip keys, the `.skeleton` text, `write_synthetic`).
"""

from __future__ import annotations

from glt.data.synthetic.actions import SYNTH_ACTIONS, TWO_PERSON_ACTIONS
from glt.data.synthetic.body import NUM_JOINTS, Body, make_body, pose
from glt.data.synthetic.files import (
    BODY_ID_BASE,
    COLOR_CAMERA,
    DEFAULT_SUBJECTS,
    DEPTH_CAMERA,
    clip_keys,
    format_skeleton,
    write_synthetic,
)
from glt.data.synthetic.motion import FPS, Motion
from glt.data.synthetic.scene import (
    CAMERA_ANGLES,
    FACED_CAMERA,
    JITTER,
    MAX_FRAMES,
    MIN_FRAMES,
    ClipKey,
    camera_pose,
    clip_length,
    performance,
    setup_of,
    synthesize_clip,
)

__all__ = [
    "BODY_ID_BASE",
    "CAMERA_ANGLES",
    "COLOR_CAMERA",
    "DEFAULT_SUBJECTS",
    "DEPTH_CAMERA",
    "FACED_CAMERA",
    "FPS",
    "JITTER",
    "MAX_FRAMES",
    "MIN_FRAMES",
    "NUM_JOINTS",
    "SYNTH_ACTIONS",
    "TWO_PERSON_ACTIONS",
    "Body",
    "ClipKey",
    "Motion",
    "camera_pose",
    "clip_keys",
    "clip_length",
    "format_skeleton",
    "make_body",
    "performance",
    "pose",
    "setup_of",
    "synthesize_clip",
    "write_synthetic",
]
