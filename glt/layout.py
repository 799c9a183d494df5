"""Skeleton layouts: which joints a dataset has, how they connect, and which ones the method uses.

GL-Transformer needs three joints of every skeleton (method §2): a centre joint that
coordinates are taken relative to (its slot then carries the global translation), and the two
shoulders used to align the view. A `SkeletonLayout` names them, together with the joints, the
bones (for drawing) and the number of persons; optionally the head and the feet, with which
`glt.data.checks` tells whether y points up. NTU RGB+D, NW-UCLA and COCO's 17 keypoints (with a
neck added as the centre) are presets; any other skeleton is one more `SkeletonLayout`.

Token order inside the model follows the authors' code: token = joint * persons + person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SkeletonLayout:
    """A skeleton's joints (0-based indices throughout) and the joints the method relies on."""

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]  # (child, parent) pairs, for drawing
    center: int  # coordinates become relative to it; its slot carries the global translation
    left_shoulder: int
    right_shoulder: int
    num_persons: int = 1
    head: int | None = None  # the topmost joint of a standing person (for the y-up check)
    feet: tuple[int, ...] = ()  # the lowest joints of a standing person

    def __post_init__(self):
        v = len(self.joint_names)
        named = [("center", self.center), ("left_shoulder", self.left_shoulder),
                 ("right_shoulder", self.right_shoulder)]  # fmt: skip
        named += [("head", self.head)] if self.head is not None else []
        named += [("feet", foot) for foot in self.feet]
        for field, idx in named:
            if not 0 <= idx < v:
                raise ValueError(f"{self.name}: {field}={idx} is not a joint index in 0..{v - 1}")
        for child, parent in self.bones:
            if not (0 <= child < v and 0 <= parent < v):
                raise ValueError(
                    f"{self.name}: bone ({child}, {parent}) names a joint outside 0..{v - 1}"
                )
        if self.num_persons < 1:
            raise ValueError(f"{self.name}: num_persons must be at least 1")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_tokens(self) -> int:
        """Tokens per frame in the model: one per joint and person."""
        return self.num_joints * self.num_persons

    def token(self, joint: int, person: int) -> int:
        return joint * self.num_persons + person

    @property
    def global_tokens(self) -> tuple[int, ...]:
        """The tokens that carry the global translation (the centre joint of every person)."""
        return tuple(self.token(self.center, m) for m in range(self.num_persons))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SkeletonLayout:
        return cls(
            name=d["name"],
            joint_names=tuple(d["joint_names"]),
            bones=tuple(tuple(b) for b in d["bones"]),
            center=d["center"],
            left_shoulder=d["left_shoulder"],
            right_shoulder=d["right_shoulder"],
            num_persons=d["num_persons"],
            head=d.get("head"),  # absent in datasets written before these fields existed
            feet=tuple(d.get("feet", ())),
        )


def _bones(one_based: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((c - 1, p - 1) for c, p in one_based)


NTU_JOINTS = (
    "base of spine", "middle of spine", "neck", "head",
    "left shoulder", "left elbow", "left wrist", "left hand",
    "right shoulder", "right elbow", "right wrist", "right hand",
    "left hip", "left knee", "left ankle", "left foot",
    "right hip", "right knee", "right ankle", "right foot",
    "spine at the shoulders", "tip of the left hand", "left thumb",
    "tip of the right hand", "right thumb",
)  # fmt: skip

NTU = SkeletonLayout(
    name="ntu",
    joint_names=NTU_JOINTS,
    bones=_bones(
        [
            (1, 2),
            (2, 21),
            (3, 21),
            (4, 3),
            (5, 21),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 21),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
            (22, 23),
            (23, 8),
            (24, 25),
            (25, 12),
        ]
    ),  # fmt: skip
    center=20,  # joint 21, spine at the shoulders
    left_shoulder=4,
    right_shoulder=8,
    num_persons=2,
    head=3,
    feet=(15, 19),
)

NWUCLA_JOINTS = (
    "hip centre", "spine", "shoulder centre", "head",
    "left shoulder", "left elbow", "left wrist", "left hand",
    "right shoulder", "right elbow", "right wrist", "right hand",
    "left hip", "left knee", "left ankle", "left foot",
    "right hip", "right knee", "right ankle", "right foot",
)  # fmt: skip

# Kinect v1's 20 joints. The centre is the shoulder centre (joint 3): it is the joint that
# corresponds to NTU's "spine at the shoulders", so the preprocessing and the global-translation
# token mean the same thing on both datasets.
NWUCLA = SkeletonLayout(
    name="nwucla",
    joint_names=NWUCLA_JOINTS,
    bones=_bones(
        [
            (1, 2),
            (2, 3),
            (4, 3),
            (5, 3),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 3),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
        ]
    ),  # fmt: skip
    center=2,
    left_shoulder=4,
    right_shoulder=8,
    num_persons=1,
    head=3,
    feet=(15, 19),
)

COCO_JOINTS = (
    "nose", "left eye", "right eye", "left ear", "right ear", "left shoulder",
    "right shoulder", "left elbow", "right elbow", "left wrist", "right wrist", "left hip",
    "right hip", "left knee", "right knee", "left ankle", "right ankle",
)  # fmt: skip
# (child, parent); joint 17 is the neck added below
COCO_BONES = (
    (0, 17), (1, 0), (2, 0), (3, 1), (4, 2), (5, 17), (6, 17), (7, 5), (8, 6), (9, 7), (10, 8),
    (11, 5), (12, 6), (13, 11), (14, 12), (15, 13), (16, 14),
)  # fmt: skip

# The 17 COCO keypoints of 2D pose estimators (HRNet in pyskl's and MMAction2's pickles). COCO
# has no joint between the shoulders, so a neck, the shoulders' midpoint, is added as joint 17
# and is the centre: the joint closest to NTU's "spine at the shoulders". Two persons, as NTU.
COCO = SkeletonLayout(
    name="coco",
    joint_names=COCO_JOINTS + ("neck (shoulder midpoint)",),
    bones=COCO_BONES,
    center=17,
    left_shoulder=5,
    right_shoulder=6,
    num_persons=2,
    head=0,
    feet=(15, 16),
)

LAYOUTS = {layout.name: layout for layout in (NTU, NWUCLA, COCO)}
