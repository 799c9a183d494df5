"""NTU RGB+D 60 / 120: clip names, benchmarks, class names and a bit-exact `.skeleton` reader.

Reproduces the authors' data scripts (method §1: data/preprocessing/ntu60_gendata.py and
ntu120_gendata.py of the public code):

- `NTUName`: `SsssCcccPpppRrrrAaaa` -> setup, camera, subject (performer), replication, action;
  label = action - 1.
- `split_of(name, benchmark)`: "train" or "val" for xsub / xview (NTU-60) and xsub / xset (NTU-120).
- `read_skeleton_file(path, dataset)`: (T, 2, 25, 3) float64 camera-space x, y, z. NTU-60 keeps the
  first two body slots of every frame in file order; NTU-120 reads up to four and keeps the two
  with the largest energy. Leading frames whose joint 1 of slot 1 has x == 0 are dropped and at
  most 300 frames are kept. `read_xyz` returns the same in the authors' (3, T, 25, 2) layout.

The reader takes a short path first: the count lines give where every body's lines are, numpy
checks that each line holds the fields it should and converts the x, y, z fields of all joint
lines in one `np.fromstring` call, which reads numbers as Python's `float` does (the same
float64 values, bit for bit). A file the short path cannot validate goes to a careful
line-by-line pass, which defines what is accepted and raises a `SkeletonFileError` naming the
file, the line and what was expected there. Lines end with LF or CRLF; fields the reader does
not use (body and joint metadata) must hold number characters and come in the right count on
every line; x, y, z of every body, dropped ones included, must be finite numbers.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glt.errors import DataError, SkeletonFileError

NUM_JOINTS = 25
MAX_FRAMES = 300
# bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState
# isRestricted leanX leanY trackingState
BODY_FIELDS = 10
JOINT_FIELDS = 12  # x y z depthX depthY colorX colorY orientationW/X/Y/Z trackingState

# ---------------------------------------------------------------------------------------------
# Names, benchmarks, classes (method §1)

# xsub training subjects: NTU-60's list (first row), then the ones NTU-120 adds. NTU-60 clips have
# subjects 1-40 only, so one set serves both datasets.
TRAIN_SUBJECTS = frozenset(
    [1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38]
    + [45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86]
    + [89, 91, 92, 93, 94, 95, 97, 98, 100, 103]
)
TRAIN_CAMERAS = frozenset([2, 3])  # xview
BENCHMARKS = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}

NTU60_CLASSES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up", "clapping", "reading", "writing", "tear up paper",
    "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses",
    "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving",
    "kicking something", "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute",
    "put the palms together", "cross hands in front (say stop)", "sneeze/cough", "staggering",
    "falling", "touch head (headache)", "touch chest (stomachache/heart pain)",
    "touch back (backache)", "touch neck (neckache)", "nausea or vomiting",
    "use a fan (feeling warm)", "punching/slapping other person", "kicking other person",
    "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket",
    "handshaking", "walking towards each other", "walking apart from each other",
)  # fmt: skip

NTU120_CLASSES = NTU60_CLASSES + (
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quiet)", "flick hair", "thumb up",
    "thumb down", "make ok sign", "make victory sign", "staple book", "counting money",
    "cutting nails", "cutting paper (using scissors)", "snapping fingers", "open bottle",
    "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag",
    "take off bag", "put something into a bag", "take something out of a bag", "open a box",
    "move heavy objects", "shake fist", "throw up cap/hat", "hands up (both hands)",
    "cross arms", "arm circles", "arm swings", "running on the spot", "butt kicks (kick backward)",
    "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person",
    "knock over other person (hit with body)", "grab other person's stuff",
    "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person's ear", "exchange things with other person",
    "support somebody with hand", "finger-guessing game (playing rock-paper-scissors)",
)  # fmt: skip

CLASSES = {"ntu60": NTU60_CLASSES, "ntu120": NTU120_CLASSES}

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NTUName:
    """The fields of an NTU clip name `SsssCcccPpppRrrrAaaa` (all 1-based, as in the name)."""

    setup: int
    camera: int
    subject: int  # the performer, P
    replication: int
    action: int

    @classmethod
    def parse(cls, name: str | os.PathLike) -> NTUName:
        """Parse a clip name, a file name (`.skeleton` optional) or a path."""
        stem = clip_name(name)
        m = _NAME.fullmatch(stem)
        if m is None:
            raise DataError(f"{stem!r} is not an NTU clip name (SsssCcccPpppRrrrAaaa)")
        return cls(*(int(g) for g in m.groups()))

    @property
    def label(self) -> int:
        """0-based class index (action - 1)."""
        return self.action - 1

    def __str__(self) -> str:
        return (
            f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}"
            f"R{self.replication:03d}A{self.action:03d}"
        )


NTU_FIELDS = (
    "subject",
    "camera",
    "setup",
    "replication",
)  # per-clip fields a prepared dataset keeps


def ntu_fields(names: Sequence[NTUName]) -> dict[str, list[int]]:
    """The per-clip fields (`NTU_FIELDS`) of parsed NTU clip names, as `write_dataset`'s info."""
    return {f: [getattr(n, f) for n in names] for f in NTU_FIELDS}


def clip_name(path: str | os.PathLike) -> str:
    """`dir/S001C001P001R001A001.skeleton` -> `S001C001P001R001A001`."""
    return Path(path).name.removesuffix(".skeleton")


def in_dataset(name: NTUName, dataset: str) -> bool:
    """Whether a clip belongs to NTU-60 (setups 1-17, actions 1-60) or NTU-120 (all)."""
    if dataset == "ntu60":
        return name.setup <= 17 and name.action <= 60
    if dataset == "ntu120":
        return True
    raise ValueError(f"unknown NTU dataset {dataset!r}; use 'ntu60' or 'ntu120'")


def split_of(name: NTUName, benchmark: str) -> str:
    """'train' or 'val' for a clip under a benchmark (method §1)."""
    if benchmark == "xsub":
        train = name.subject in TRAIN_SUBJECTS
    elif benchmark == "xview":
        train = name.camera in TRAIN_CAMERAS
    elif benchmark == "xset":
        train = name.setup % 2 == 0
    else:
        raise ValueError(f"unknown benchmark {benchmark!r}; use xsub, xview or xset")
    return "train" if train else "val"


def read_name_list(path: str | os.PathLike) -> set[str]:
    """Clip names listed one per line (e.g. NTU_RGBD_samples_with_missing_skeletons.txt).

    Blank lines and lines starting with '#' are ignored; a `.skeleton` suffix is optional.
    """
    names = set()
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(clip_name(line))
    return names


# ---------------------------------------------------------------------------------------------
# The reader


def read_skeleton_file(
    path: str | os.PathLike, dataset: str = "ntu60", max_frames: int = MAX_FRAMES
) -> np.ndarray:
    """Read an NTU `.skeleton` file as the authors' scripts do: (T, 2, 25, 3) float64.

    NTU-60: the first two body slots of each frame in file order. NTU-120: up to four slots, then
    the two of largest energy (`select_bodies`). Then leading frames whose joint 1 of slot 1 has
    x == 0 are dropped (`drop_leading_empty`) and at most `max_frames` frames are kept.
    Raises `SkeletonFileError` (file, line, what was expected) on a malformed file.
    """
    if dataset not in BENCHMARKS:
        raise ValueError(f"unknown NTU dataset {dataset!r}; use 'ntu60' or 'ntu120'")
    bodies = parse_skeleton(Path(path).read_bytes(), path, 2 if dataset == "ntu60" else 4)
    if dataset == "ntu120":
        bodies = select_bodies(bodies)
    return drop_leading_empty(bodies)[:max_frames]


def read_skeleton_files(
    paths: list[str | os.PathLike], dataset: str = "ntu60", max_frames: int = MAX_FRAMES
) -> list[np.ndarray | SkeletonFileError]:
    """`read_skeleton_file` for many files: per file its array or, for a file that is malformed
    or cannot be read, its `SkeletonFileError` (not raised)."""
    results = []
    for path in paths:
        try:
            results.append(read_skeleton_file(path, dataset, max_frames))
        except SkeletonFileError as e:
            results.append(e)
        except OSError as e:
            reason = f"cannot read the file: {e.strerror or e}"
            results.append(SkeletonFileError(path, None, reason))
    return results


def read_xyz(path: str | os.PathLike, dataset: str = "ntu60") -> np.ndarray:
    """`read_skeleton_file` in the authors' layout (3, T, 25, 2), for comparing with their code."""
    return np.ascontiguousarray(read_skeleton_file(path, dataset).transpose(3, 0, 2, 1))


def select_bodies(bodies: np.ndarray, keep: int = 2) -> np.ndarray:
    """NTU-120: keep the `keep` body slots of largest energy, largest first (method §1).

    bodies: (T, S, 25, 3). Energy of a slot = sum over x, y, z of the standard deviation over its
    frames whose coordinates do not sum to 0 (0 if there are none), as the authors'
    `get_nonzero_std`. Equal energies go to the later slot first: the authors reverse an
    ascending argsort, which numpy does stably for a handful of values.
    """
    energy = np.array([_energy(np.ascontiguousarray(bodies[:, s])) for s in range(bodies.shape[1])])
    order = np.argsort(energy, kind="stable")[::-1][:keep]
    return bodies[:, order]


def _energy(body: np.ndarray) -> float:
    frames = body[body.sum(-1).sum(-1) != 0]  # (T', 25, 3); written as the authors', same rounding
    if len(frames) == 0:
        return 0.0
    return float(frames[:, :, 0].std() + frames[:, :, 1].std() + frames[:, :, 2].std())


def drop_leading_empty(bodies: np.ndarray) -> np.ndarray:
    """Drop leading frames whose joint 1 of slot 1 has x == 0 (method §1).

    **Quirk (kept):** when every frame has x == 0 the authors' loop stops at the last frame, so
    one empty frame remains.
    """
    x = bodies[:, 0, 0, 0]
    if len(x) == 0 or x[0] != 0:
        return bodies
    nonzero = np.flatnonzero(x != 0)
    start = int(nonzero[0]) if len(nonzero) else len(x) - 1
    return bodies[start:]


def parse_skeleton(data: bytes, path: str | os.PathLike, max_bodies: int = 2) -> np.ndarray:
    """Parse the text of a `.skeleton` file: (frames, max_bodies, 25, 3) float64 x, y, z.

    Body slots are filled in file order; slots beyond a frame's body count stay zero, bodies
    beyond `max_bodies` are checked and dropped. Raises `SkeletonFileError` on malformed input.
    """
    short = _parse_short(data, max_bodies)
    return short if short is not None else _parse_careful(data, path, max_bodies)


# --- short path ---------------------------------------------------------------------------------

_NUMBER_BYTES = b"0123456789.-+eE \r\n"
_BODY_LINES = 2 + NUM_JOINTS  # a body's info line, its joint count, its joint lines


def _parse_short(data: bytes, max_bodies: int) -> np.ndarray | None:
    """`parse_skeleton` in a few numpy calls; None unless the file is laid out exactly as the
    careful pass expects, and then the careful pass's array.

    The count lines, read with `int` as the careful pass reads them, say which line holds what;
    numpy checks the number of fields on every line and converts the x, y, z fields of all joint
    lines in one `np.fromstring` call, which converts as Python's `float` does, bit for bit.
    """
    text = data.rstrip()
    if text.translate(None, _NUMBER_BYTES):
        return None  # a letter, a tab...: the careful pass says where
    lines = text.split(b"\n")
    count_lines, bodies = [0], []  # bodies: (frame, slot, info line)
    try:
        frames = int(lines[0])
        if frames < 0:
            return None
        line = 1
        for t in range(frames):
            count = int(lines[line])
            if count < 0:
                return None
            count_lines.append(line)
            for m in range(count):
                info = line + 1 + m * _BODY_LINES
                if int(lines[info + 1]) != NUM_JOINTS:
                    return None
                bodies.append((t, m, info))
            line += 1 + count * _BODY_LINES
    except (ValueError, IndexError):  # a count that is not an integer, or the file ends early
        return None
    if line != len(lines):
        return None
    frame, slot, info = np.array(bodies, np.int64).reshape(-1, 3).T
    fields = np.full(len(lines), JOINT_FIELDS)
    fields[count_lines] = 1
    fields[info + 1] = 1  # the joint counts
    fields[info] = BODY_FIELDS
    a = np.frombuffer(text, np.uint8)
    line_starts = np.concatenate(([0], (a == 10).nonzero()[0] + 1, [len(a)]))
    field_starts = np.diff(a > 32, prepend=False).nonzero()[0][::2]  # > 32: not space, CR, LF
    fields_before = field_starts.searchsorted(line_starts)  # of each line, then of the end
    if not np.array_equal(fields_before, np.concatenate(([0], fields.cumsum()))):
        return None  # a line with fields missing or extra
    # The text of each joint line from its first field to its fourth holds its x, y, z. The
    # careful pass asks no more of the other fields than the checks above.
    first = (fields_before[info] + BODY_FIELDS + 1)[:, None] + JOINT_FIELDS * np.arange(NUM_JOINTS)
    inside = np.zeros(len(a) + 1, np.int8)
    inside[field_starts[first]] = 1
    inside[field_starts[first + 3]] = -1
    xyz_text = a[inside.cumsum(dtype=np.int8)[:-1].view(bool)].tobytes()
    try:
        with warnings.catch_warnings():  # older numpy only warns where it stops early
            warnings.simplefilter("error", DeprecationWarning)
            xyz = np.fromstring(xyz_text, sep=" ")
    except (ValueError, DeprecationWarning):
        return None  # a field that is not one whole number
    if len(xyz) != 3 * first.size or not np.isfinite(xyz).all():
        return None  # dropped bodies too: the careful pass checks them
    out = np.zeros((frames, max_bodies, NUM_JOINTS, 3))
    keep = slot < max_bodies
    out[frame[keep], slot[keep]] = xyz.reshape(-1, NUM_JOINTS, 3)[keep]
    return out


# --- careful path ------------------------------------------------------------------------------

_NUMBER_CHARS = re.compile(rb"[0-9.eE+\-]+")  # what a field may hold (float() decides the rest)


def _parse_careful(data: bytes, path: str | os.PathLike, max_bodies: int) -> np.ndarray:
    """Line-by-line parse: the definition of a valid file, with precise errors."""
    lines = data.split(b"\n")  # a CR before the LF goes with the other whitespace
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise SkeletonFileError(path, 1, "the file is empty; expected the frame count")
    cursor = 0  # lines consumed = 1-based number of the current line

    def fields(what: str) -> list[bytes]:
        nonlocal cursor
        if cursor >= len(lines):
            message = f"the file ends early (truncated?): expected {what}"
            raise SkeletonFileError(path, cursor + 1, message)
        cursor += 1
        return lines[cursor - 1].split()

    def count(what: str) -> int:
        found = fields(what)
        try:
            value = int(found[0]) if len(found) == 1 else -1
        except ValueError:
            value = -1
        if value < 0:
            message = f"expected {what} (an integer >= 0), found {_show(found)}"
            raise SkeletonFileError(path, cursor, message)
        return value

    def numbers(what: str, expected: int) -> list[bytes]:
        found = fields(what)
        if len(found) != expected:
            raise SkeletonFileError(
                path, cursor, f"expected {what}: {expected} numbers, found {len(found)}"
            )
        for k, field in enumerate(found):
            if not _NUMBER_CHARS.fullmatch(field):
                message = f"field {k + 1} of {what} is {_show([field])}, not a number"
                raise SkeletonFileError(path, cursor, message)
        return found

    def coordinate(field: bytes, axis: str, what: str) -> float:
        try:
            value = float(field)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            message = f"{axis} of {what} is {_show([field])}, expected a finite number"
            raise SkeletonFileError(path, cursor, message)
        return value

    frames = count("the frame count")
    # A frame takes a line at least: a larger count fails below, at the end of the file.
    out = np.zeros((min(frames, len(lines)), max_bodies, NUM_JOINTS, 3))
    for t in range(frames):
        for m in range(count(f"the body count of frame {t + 1}")):
            where = f"frame {t + 1}, body {m + 1}"
            numbers(f"the body line of {where}", BODY_FIELDS)
            joints = count(f"the joint count of {where}")
            if joints != NUM_JOINTS:
                message = f"expected {NUM_JOINTS} joints in {where}, found {joints}"
                raise SkeletonFileError(path, cursor, message)
            for j in range(NUM_JOINTS):
                what = f"joint {j + 1} of {where}"
                x, y, z = numbers(what, JOINT_FIELDS)[:3]
                xyz = [coordinate(x, "x", what), coordinate(y, "y", what), coordinate(z, "z", what)]
                if m < max_bodies:
                    out[t, m, j] = xyz
    if cursor < len(lines):
        raise SkeletonFileError(
            path,
            cursor + 1,
            f"expected the end of the file after the {frames} frames announced on line 1, found "
            "more lines (is the frame count too small?)",
        )
    return out


def _show(fields: list[bytes]) -> str:
    text = b" ".join(fields).decode("ascii", errors="replace")
    return repr(text[:40] + ("..." if len(text) > 40 else "")) if text else "an empty line"
