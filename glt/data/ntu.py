"""NTU RGB+D 60 / 120: clip names, benchmarks, class names and a fast `.skeleton` reader.

Reproduces the authors' data scripts (method §1: data/preprocessing/ntu60_gendata.py and
ntu120_gendata.py of the public code):

- `NTUName`: `SsssCcccPpppRrrrAaaa` -> setup, camera, subject (performer), replication, action;
  label = action - 1.
- `split_of(name, benchmark)`: "train" or "val" for xsub / xview (NTU-60) and xsub / xset (NTU-120).
- `read_skeleton_file(path, dataset)`: (T, 2, 25, 3) float64 camera-space x, y, z. NTU-60 keeps the
  first two body slots of every frame in file order; NTU-120 reads up to four and keeps the two
  with the largest energy. Leading frames whose joint 1 of slot 1 has x == 0 are dropped and at
  most 300 frames are kept. `read_xyz` returns the same in the authors' (3, T, 25, 2) layout.

The reader is fast: numpy finds the lines of the whole file and, from a bit mask of its spaces,
counts the spaces of every line; the lines without spaces give the frame / body structure, and
only the x, y, z fields are converted, all at once and exactly (the same float64 values as
Python's `float`). Anything unexpected sends the file to a careful line-by-line pass, which
defines what is accepted and raises a `SkeletonFileError` naming the file, the line and what was
expected there. Lines end with LF or CRLF; fields the reader does not use (body and joint
metadata) must hold number characters and come in the right count on every line. Both paths
check all of this; the fast one takes single spaces and one-digit body counts only.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import warnings
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
    data = Path(path).read_bytes()
    return _select(parse_skeleton(data, path, _max_bodies(dataset)), dataset, max_frames)


def read_skeleton_files(
    paths: list[str | os.PathLike], dataset: str = "ntu60", max_frames: int = MAX_FRAMES
) -> list[np.ndarray | SkeletonFileError]:
    """`read_skeleton_file` for many files at once, the fast path sharing its numpy work.

    Returns, per file, its array or, for a file that is malformed or cannot be read, the
    `SkeletonFileError` (not raised).
    """
    results, datas, readable = {}, [], []
    for i, path in enumerate(paths):
        try:
            datas.append(Path(path).read_bytes())
            readable.append(i)
        except OSError as e:
            results[i] = SkeletonFileError(path, None, f"cannot read the file: {e.strerror or e}")
    parsed = parse_skeletons(datas, [paths[i] for i in readable], _max_bodies(dataset))
    for i, bodies in zip(readable, parsed, strict=True):
        ok = not isinstance(bodies, SkeletonFileError)
        results[i] = _select(bodies, dataset, max_frames) if ok else bodies
    return [results[i] for i in range(len(paths))]


def _max_bodies(dataset: str) -> int:
    if dataset not in BENCHMARKS:
        raise ValueError(f"unknown NTU dataset {dataset!r}; use 'ntu60' or 'ntu120'")
    return 2 if dataset == "ntu60" else 4


def _select(bodies: np.ndarray, dataset: str, max_frames: int) -> np.ndarray:
    if dataset == "ntu120":
        bodies = select_bodies(bodies)
    return drop_leading_empty(bodies)[:max_frames]


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


def parse_skeletons(
    datas: list[bytes], paths: list[str | os.PathLike], max_bodies: int = 2
) -> list[np.ndarray | SkeletonFileError]:
    """`parse_skeleton` for many files at once: per file its array or its `SkeletonFileError`.

    The fast path runs over the whole batch together; if any file needs the careful pass, each
    file is parsed alone.
    """
    parsed = _parse_fast(datas, max_bodies)
    if parsed is not None:
        return parsed
    results = []
    for data, path in zip(datas, paths, strict=True):
        try:
            results.append(parse_skeleton(data, path, max_bodies))
        except SkeletonFileError as e:
            results.append(e)
    return results


# --- fast path ---------------------------------------------------------------------------------

_NUMBER_BYTES = b"0123456789.-+eE \r\n"
_NUMBER_CHARS = re.compile(rb"[0-9.eE+\-]+")  # what a field may hold (float() decides the rest)
_LF_25_LF, _LF_25_CR = (int.from_bytes(b, "little") for b in (b"\n25\n", b"\n25\r"))
_BODY_SPACES = BODY_FIELDS - 1 + NUM_JOINTS * (JOINT_FIELDS - 1)
_SLOT = 16  # a token is parsed right-aligned in a slot this wide; longer ones go to float()
_U = np.uint64
_ONE, _FOUR = _U(1), _U(4)
# _TOKEN_FLAGS[n]: a 16-byte slot as two words, 0x01 on its last n bytes (a right-aligned token of
# length n)
_TOKEN_FLAGS = (np.arange(_SLOT) >= _SLOT - np.arange(_SLOT + 1)[:, None]).astype(np.uint8).view(_U)
# 10**(1 + digits after the dot), indexed by the number of bits below the dot's flag in
# _parse_numbers: 8j for byte j of the slot's first word, 8j + 1 for byte j of its second, 64 for
# no dot (then 1)
_DOT_SCALE = np.ones(65)
_DOT_SCALE[0:64:8] = 10.0 ** np.arange(16, 8, -1)
_DOT_SCALE[1:64:8] = 10.0 ** np.arange(8, 0, -1)


def _parse_fast(datas: list[bytes], max_bodies: int) -> list[np.ndarray] | None:
    """The reader's fast path over one or more files; None unless all are exactly as expected.

    The files are joined into one text, one LF apart, and read as a run of files: every check
    and every conversion below is one numpy operation for the whole batch.
    """
    if not datas:
        return []
    stripped = [data.rstrip() for data in datas]
    if not all(stripped) or any(d.translate(None, _NUMBER_BYTES) for d in stripped):
        return None  # an empty file, or a letter etc.: the careful pass says where
    text = b"\n".join(stripped)
    a = np.frombuffer(text, np.uint8)
    line_bounds = np.concatenate(([0], (a == 10).nonzero()[0] + 1, [len(a) + 1]))
    starts, ends = line_bounds[:-1], line_bounds[1:] - 1  # line l is text[starts[l]:ends[l]]
    if b"\r" in text:
        cr_ended = a[ends - 1] == 13
        if np.count_nonzero(a == 13) != np.count_nonzero(cr_ended):
            return None  # a CR that does not end a line
        ends -= cr_ended  # and the lines end before it
    space_words, spaces_before_word = _space_bits(a)
    spaces_before = _count_spaces_before(space_words, spaces_before_word, line_bounds)
    line_spaces = spaces_before[1:] - spaces_before[:-1]
    file_start = itertools.accumulate((len(d) + 1 for d in stripped[:-1]), initial=0)
    found = _frames(text, a, starts, ends, line_spaces, starts.searchsorted(list(file_start)))
    if found is None:
        return None
    frames, frame_of_body, slot_of_body, info_line = found
    if not _all_25(a, starts[info_line + 1]):
        return None
    joint_line = (info_line + 2)[:, None] + np.arange(NUM_JOINTS)  # (bodies, 25)
    expected = np.zeros(len(starts), np.int64)
    expected[info_line] = BODY_FIELDS - 1
    expected[joint_line] = JOINT_FIELDS - 1
    if not (line_spaces == expected).all():
        return None  # a line with fields missing or extra
    # So every line holds one field more than spaces, unless a space is doubled, leads or trails
    # (an empty field): then fewer fields begin in the whole text than that.
    in_field = a > 32  # not a space, CR or LF
    field_starts = np.count_nonzero(in_field[1:] > in_field[:-1]) + in_field[0]
    if field_starts != len(starts) + len(info_line) * _BODY_SPACES:
        return None
    line_start = starts[joint_line].ravel()
    if len(line_start) and line_start[0] < _SLOT:
        return None  # cannot happen in a well-formed file; _parse_numbers relies on it
    # Dropped bodies too: the careful pass checks their x, y, z as well.
    xyz = _parse_xyz(text, a, space_words, line_start)
    if xyz is None:
        return None
    keep = slot_of_body < max_bodies
    out = np.zeros((sum(frames), max_bodies, NUM_JOINTS, 3))
    out[frame_of_body[keep], slot_of_body[keep]] = xyz.reshape(-1, NUM_JOINTS, 3)[keep]
    frame_ends = itertools.accumulate(frames)
    return [out[end - count : end] for count, end in zip(frames, frame_ends, strict=True)]


def _frames(text: bytes, a: np.ndarray, starts, ends, line_spaces, first_line):
    """The frames of the files whose frame counts are on lines `first_line`; None unless they
    fit exactly.

    Returns the frame count of each file and, per body in text order, its frame (counted over
    all files), its slot in that frame and its info line (the joint count follows on the next
    line, then the 25 joint lines).
    """
    try:
        frames = [int(text[starts[line] : ends[line]]) for line in first_line]
    except ValueError:  # a frame count that is not an integer
        return None
    if not all(0 <= count < len(starts) for count in frames):  # a frame takes a line at least
        return None
    # A frame opens with its body count: a line without spaces that neither opens a file nor
    # follows a body line (as the joint count does). The careful pass takes counts other than
    # one digit (Kinect tracks at most six bodies).
    opens_file = np.zeros(len(starts), bool)
    opens_file[first_line] = True
    opens_frame = (line_spaces == 0) & ~opens_file
    opens_frame[1:] &= line_spaces[:-1] != BODY_FIELDS - 1
    opening = (opens_file | opens_frame).nonzero()[0]  # in text order
    is_frame = opens_frame[opening]
    digit = a[starts[opening]] - ord("0")  # wraps around below '0'
    if not (~is_frame | ((ends[opening] - starts[opening] == 1) & (digit < 10))).all():
        return None
    body_count = np.where(is_frame, digit, 0).astype(np.int64)
    # Each file takes its first line and each frame its own and 27 lines per body: these must
    # tile the text, with the announced number of frames in each file.
    taken = (1 + (2 + NUM_JOINTS) * body_count).cumsum()
    if not ((taken[:-1] == opening[1:]).all() and taken[-1] == len(starts)):
        return None
    file_opening = np.concatenate(((~is_frame).nonzero()[0], [len(opening)]))
    if not (file_opening[1:] - file_opening[:-1] - 1 == frames).all():
        return None
    frame_line, body_count = opening[is_frame], body_count[is_frame]
    frame_of_body = np.arange(len(body_count)).repeat(body_count)
    first_body = body_count.cumsum() - body_count
    slot_of_body = np.arange(len(frame_of_body)) - first_body.repeat(body_count)
    info_line = frame_line[frame_of_body] + 1 + slot_of_body * (2 + NUM_JOINTS)
    return frames, frame_of_body, slot_of_body, info_line


def _all_25(a: np.ndarray, starts: np.ndarray) -> bool:
    """Whether every line starting at `starts` (neither the first nor the last line) reads
    exactly '25', checked with the LF before it and the LF or CR after it as one uint32."""
    windows = np.ndarray((max(len(a) - 3, 0),), "<u4", a, 0, (1,))  # none in a text of 1-3 bytes
    around = windows[starts - 1]
    return bool(((around == _LF_25_LF) | (around == _LF_25_CR)).all())


def _space_bits(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the spaces of `a` are, as bits: bit i of word w tells whether a[64w + i] is a space
    (two words of zeros follow the end), and the number of spaces before each word."""
    spaces = np.zeros((len(a) // 64 + 2) * 64, bool)
    np.equal(a, 32, out=spaces[: len(a)])
    words = np.packbits(spaces, bitorder="little").view(_U)
    per_word = np.bitwise_count(words)
    return words, per_word.cumsum(dtype=np.int64) - per_word


def _count_spaces_before(words: np.ndarray, before_word: np.ndarray, positions: np.ndarray):
    """The number of spaces in front of each position (words and before_word from _space_bits)."""
    word = positions >> 6
    lower_bits = (_ONE << (positions & 63).astype(_U)) - _ONE
    return before_word[word] + np.bitwise_count(words[word] & lower_bits)


def _after_spaces(words: np.ndarray, positions: np.ndarray, count: int) -> np.ndarray:
    """Offsets from each position to just after each of the first `count` spaces from it
    (words from _space_bits), as (count, positions) int64; the last one is 64 where the 64 bytes
    from the position hold fewer spaces (or its space is the 64th byte)."""
    word, shift = positions >> 6, (positions & 63).astype(_U)
    bits = (words[word] >> shift) | (words[word + 1] << (_U(64) - shift))  # a << 64 gives 0
    after = np.empty((count, len(positions)), np.int64)
    for k in range(count):
        below = bits - _ONE
        after[k] = np.bitwise_count(bits ^ below)  # the lowest bit set and those under it
        bits &= below  # clear that bit
    return after


def _parse_xyz(text: bytes, a: np.ndarray, space_words: np.ndarray, line_start: np.ndarray):
    """x, y, z of the joint lines starting at `line_start`: (lines, 3) float64, or None."""
    if len(line_start) == 0:
        return np.zeros((0, 3))
    after = _after_spaces(space_words, line_start, 3)  # (3, lines): rows run fast in numpy
    for i in (after[2] == 64).nonzero()[0]:  # x, y, z too long for the 64 bytes looked at
        space = line_start[i] - 1
        for k in range(3):
            space = text.index(b" ", space + 1)
            after[k, i] = space + 1 - line_start[i]
    after += line_start
    begins = np.empty_like(after)
    begins[0] = line_start
    begins[1:] = after[:2]
    begins, ends = begins.ravel(), (after - 1).ravel()
    values, exact = _parse_numbers(a, begins, ends)
    for i in (~exact).nonzero()[0]:  # exponents, long mantissas, junk: float() decides
        try:
            values[i] = float(text[begins[i] : ends[i]])
        except ValueError:
            return None
        if not math.isfinite(values[i]):
            return None
    return values.reshape(3, -1).T


def _parse_numbers(buf: np.ndarray, begins: np.ndarray, ends: np.ndarray):
    """Exact vectorised float parsing of decimal tokens buf[begins:ends] such as -0.1974652.

    Each token is read right-aligned into a 16-byte slot, i.e. two little-endian uint64 words,
    and handled eight characters at a time with SWAR bit tricks, so that every numpy operation
    runs over one flat array: flag the digits and the dot, sum the digits with their place
    values (the dot counts as a 0 digit) into an exact integer mantissa < 10**15, and divide
    once by a power of ten, which rounds correctly: the same float64 as Python's float().
    Needs tokens of number characters (0-9 . - + e E) ending at byte 16 or later. Returns
    (values, exact); tokens that are not [-]digits[.digits] of 1 to 15 characters get exact
    False.
    """
    lengths = np.minimum(ends - begins, _SLOT)
    slots = np.ndarray((len(buf) - _SLOT + 1,), f"V{_SLOT}", buf, 0, (1,))
    words = slots[ends - _SLOT].view(_U).reshape(-1, 2)  # (n, 2), needs ends >= _SLOT
    # Flags on bit 0 of each byte. Of the number characters only the digits (0x30-0x39) have
    # bit 4 set, and of the others (. - + e E) only '.' has bit 0 clear. The arrays are updated
    # in place: temporaries cost as much as the work here.
    non_digit = _TOKEN_FLAGS.take(lengths, axis=0)  # for now: 0x01 on the token's bytes
    digit = words >> _FOUR
    digit &= non_digit
    non_digit ^= digit
    dot = ~words
    dot &= non_digit
    digits = digit * _U(15)
    digits &= words
    # Eight digits per word, first character most significant: pairs, fours, eights (Lemire).
    digits *= _U(10 << 8 | 1)
    digits >>= _U(8)
    digits &= _U(0x00FF00FF00FF00FF)
    digits *= _U(100 << 16 | 1)
    digits >>= _U(16)
    digits &= _U(0x0000FFFF0000FFFF)
    digits *= _U(10000 << 32 | 1)
    digits >>= _U(32)
    mantissa = digits[:, 0] * 1e8
    mantissa += digits[:, 1]
    # The flags of both words in one, the second word's one bit up, to count them.
    non_digits = np.bitwise_count(non_digit[:, 0] | (non_digit[:, 1] << _ONE))
    dot = dot[:, 0] | (dot[:, 1] << _ONE)
    dots = np.bitwise_count(dot)
    negative = buf.take(begins) == ord("-")
    exact = (lengths < _SLOT) & (dots <= 1) & (non_digits == dots + negative)
    exact &= lengths > non_digits  # a digit at least
    # With k digits after the dot, mantissa = 10 * 10**k * high + low (high, low: the digits
    # before and after it), so the value (10**k * high + low) / 10**k is the exact integer
    # mantissa + 9 * low over scale = 10 * 10**k; without a dot, low = 0 and scale = 1.
    scale = _DOT_SCALE.take(np.bitwise_count(dot - _ONE))
    low = mantissa - np.floor(mantissa / scale) * scale  # exact: mantissa < 10**15
    np.negative(scale, out=scale, where=negative)
    return (mantissa + 9 * low) / scale, exact


# --- short path --------------------------------------------------------------------------------

_BODY_LINES = 2 + NUM_JOINTS  # a body's info line, its joint count, its joint lines


def _parse_short(data: bytes, max_bodies: int) -> np.ndarray | None:
    """All the numbers of a file read by numpy at once, placed by the record structure; None
    unless the file is laid out exactly as the careful pass expects.

    The count lines are read with `int`, as the careful pass reads them, and give where every
    body's lines are; numpy checks that each line holds the fields it should and converts every
    field with Python's own correctly rounded conversion, so x, y, z are the values `float`
    gives, bit for bit.
    """
    text = data.rstrip()
    if text.translate(None, _NUMBER_BYTES):
        return None  # a letter, a tab...: the careful pass says where
    lines = text.split(b"\n")
    count_lines, bodies = [0], []  # bodies: (frame, slot, info line)
    try:
        frames = int(lines[0])
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
    if frames < 0 or line != len(lines):
        return None
    frame, slot, info = np.array(bodies, np.int64).reshape(-1, 3).T
    fields = np.full(len(lines), JOINT_FIELDS)
    fields[count_lines] = 1
    fields[info + 1] = 1
    fields[info] = BODY_FIELDS
    fields_before = np.concatenate(([0], fields.cumsum()))  # of each line, then of the end
    a = np.frombuffer(text, np.uint8)
    line_starts = np.concatenate(([0], (a == 10).nonzero()[0] + 1, [len(a)]))
    field_starts = np.diff(a > 32, prepend=False).nonzero()[0][::2]  # > 32: not space, CR, LF
    if not np.array_equal(field_starts.searchsorted(line_starts), fields_before):
        return None  # a line with fields missing or extra
    # x, y, z: each joint line's text from its first field up to its fourth, all of it
    # converted at once; the careful pass checks no more of the other fields than the above.
    first = (fields_before[info] + BODY_FIELDS + 1)[:, None] + JOINT_FIELDS * np.arange(NUM_JOINTS)
    first = first.ravel()
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
    if len(xyz) != 3 * len(first) or not np.isfinite(xyz).all():
        return None  # dropped bodies too, as the careful pass checks them
    xyz = xyz.reshape(-1, NUM_JOINTS, 3)
    out = np.zeros((frames, max_bodies, NUM_JOINTS, 3))
    keep = slot < max_bodies
    out[frame[keep], slot[keep]] = xyz[keep]
    return out


# --- careful path ------------------------------------------------------------------------------


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
