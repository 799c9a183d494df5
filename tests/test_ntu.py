"""Tests for glt.data.ntu: the .skeleton reader (short and careful paths), names, benchmarks."""

from __future__ import annotations

import numpy as np
import pytest

from glt.data import ntu
from glt.errors import SkeletonFileError

# --- helpers ---------------------------------------------------------------------------------------


def skeleton_text(frames, newline="\n", fmt="{:.7g}", other="0.5") -> str:
    """NTU .skeleton text for frames = [[(25, 3) xyz array per body] per frame]."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for b, xyz in enumerate(bodies):
            lines.append(f"7205759403792{b:04d} 0 1 1 1 1 0 -0.1 0.2 2")
            lines.append("25")
            for x, y, z in xyz:
                coords = " ".join(fmt.format(v) for v in (x, y, z))
                lines.append(f"{coords} 277.4 191.8 1036.2 519.1 -0.2 {other} 0.9 -0.1 2")
    return newline.join(lines) + newline


def random_frames(rng, num_frames=6, bodies=(1, 2, 0, 3)):
    return [
        [rng.normal(size=(25, 3)) for _ in range(bodies[t % len(bodies)])]
        for t in range(num_frames)
    ]


def expected(frames, slots):
    out = np.zeros((len(frames), slots, 25, 3))
    for t, bodies in enumerate(frames):
        for m, xyz in enumerate(bodies[:slots]):
            out[t, m] = [[float(fmt) for fmt in (f"{v:.7g}" for v in row)] for row in xyz]
    return out


def short_path(data: bytes, slots: int):
    """The short path on one file: its array, or None when it defers to the careful pass."""
    return ntu._parse_short(data, slots)


def write(tmp_path, text, name="S001C001P001R001A001.skeleton"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- the authors' outputs ----------------------------------------------------------------------


@pytest.mark.official
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_read_xyz_matches_authors_on_generated_files(official, tmp_path, newline):
    for (name, text), want in zip(
        official["skeleton_files"].items(), official["read_xyz"], strict=True
    ):
        path = write(tmp_path, text.replace("\r\n", "\n").replace("\n", newline), name)
        got = ntu.read_xyz(path, "ntu60")
        np.testing.assert_array_equal(got, want.numpy(), err_msg=name)


@pytest.mark.official
def test_read_xyz_matches_authors_on_genuine_files(official, ntu_samples_dir):
    for name, want in zip(official["real_files"], official["real_read_xyz"], strict=True):
        got = ntu.read_xyz(ntu_samples_dir / name, "ntu60")
        np.testing.assert_array_equal(got, want.numpy(), err_msg=name)


# --- short path == careful path ----------------------------------------------------------------


@pytest.mark.parametrize("slots", [2, 4])
def test_short_path_equals_careful_path_on_genuine_files(ntu_samples_dir, slots):
    paths = sorted(ntu_samples_dir.glob("*.skeleton"))
    assert len(paths) == 16
    crlf = [p for p in paths if b"\r\n" in p.read_bytes()]
    assert 0 < len(crlf) < len(paths)  # both line ends are covered
    for path in paths:
        data = path.read_bytes()
        short = short_path(data, slots)
        assert short is not None, f"{path.name} left the short path"
        careful = ntu._parse_careful(data, path, slots)
        np.testing.assert_array_equal(short, careful)
        np.testing.assert_array_equal(np.signbit(short), np.signbit(careful))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize(
    "fmt",
    ["{:.7g}", "{:.3e}", "{:.10g}", "{:.17g}", "{:.1f}", "{:+.4f}", "{:.0f}", "{:.20f}"],
    ids=str,
)
def test_number_formats_parse_exactly(newline, fmt):
    rng = np.random.default_rng(0)
    frames = random_frames(rng)
    frames[0][0][:3] = [[0.0, -0.0, 1e-7], [-1e-5, 123456.5, -7.0], [0.5, -0.25, 1e5]]
    data = skeleton_text(frames, newline, fmt).encode()
    got = ntu.parse_skeleton(data, "x.skeleton", 4)
    careful = ntu._parse_careful(data, "x.skeleton", 4)
    np.testing.assert_array_equal(got, careful)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(careful))
    for t, bodies in enumerate(frames):  # every value as Python's float() reads the text
        for m, xyz in enumerate(bodies):
            want = [[float(fmt.format(v)) for v in row] for row in xyz]
            np.testing.assert_array_equal(got[t, m], want)
    assert short_path(data, 4) is not None


def test_unusual_spacing_reads_the_same():
    frames = random_frames(np.random.default_rng(1))
    text = skeleton_text(frames).replace(" 277.4", "  277.4").replace(" 2\n", " 2 \n")
    spaced = text.replace("\n25\n", "\n 25 \n").encode()
    assert short_path(spaced, 2) is not None  # spaces anywhere: the short path reads them
    tabbed = text.replace("\n25\n", "\n 25\t\n").encode()
    assert short_path(tabbed, 2) is None  # other whitespace: the careful pass does
    for data in (spaced, tabbed):
        np.testing.assert_array_equal(ntu.parse_skeleton(data, "x", 2), expected(frames, 2))


@pytest.mark.parametrize("dataset", ["ntu60", "ntu120"])
def test_many_files_at_once(ntu_samples_dir, tmp_path, dataset):
    paths = sorted(ntu_samples_dir.glob("*.skeleton"))
    singles = [ntu.read_skeleton_file(p, dataset) for p in paths]
    for got, want in zip(ntu.read_skeleton_files(paths, dataset), singles, strict=True):
        np.testing.assert_array_equal(got, want)
    broken = write(tmp_path, paths[0].read_bytes()[:-500])
    got = ntu.read_skeleton_files([paths[1], broken, paths[2]], dataset)
    assert isinstance(got[1], SkeletonFileError) and got[1].path == str(broken)
    np.testing.assert_array_equal(got[0], singles[1])
    np.testing.assert_array_equal(got[2], singles[2])


# --- reading rules (method §1) ----------------------------------------------------------------


def test_ntu60_keeps_the_first_two_bodies_in_file_order(tmp_path):
    frames = random_frames(np.random.default_rng(2), bodies=(3, 1, 2))
    got = ntu.read_skeleton_file(write(tmp_path, skeleton_text(frames)), "ntu60")
    np.testing.assert_array_equal(got, expected(frames, 2))


def test_ntu120_keeps_the_two_most_energetic_bodies(tmp_path):
    rng = np.random.default_rng(3)
    still = np.full((25, 3), 0.5)
    frames = []
    for t in range(8):
        frames.append(
            [still + 0.01 * t, still + 0.5 * rng.normal(size=(25, 3)), still, still + 0.1 * t]
        )
    got = ntu.read_skeleton_file(write(tmp_path, skeleton_text(frames)), "ntu120")
    want = expected(frames, 4)[:, [1, 3]]  # body 2 moves most, then body 4; 1 and 3 barely
    np.testing.assert_array_equal(got, want)


def test_ntu120_ties_go_to_the_later_slot():
    # Energies (std 0): slot 1 holds a still body, slots 2-4 nothing; the authors' reversed
    # ascending argsort keeps the last slots among equals after the most energetic one.
    bodies = np.zeros((5, 4, 25, 3))
    bodies[:, 0] = np.random.default_rng(4).normal(size=(5, 25, 3))
    bodies[:, 1] = 1.0
    np.testing.assert_array_equal(ntu.select_bodies(bodies), bodies[:, [0, 3]])


def test_leading_frames_without_body_are_dropped(tmp_path):
    frames = random_frames(np.random.default_rng(5), num_frames=5, bodies=(1,))
    frames = [[], []] + frames
    got = ntu.read_skeleton_file(write(tmp_path, skeleton_text(frames)), "ntu60")
    np.testing.assert_array_equal(got, expected(frames, 2)[2:])


def test_all_empty_clip_keeps_one_frame_as_the_authors(tmp_path):
    got = ntu.read_skeleton_file(write(tmp_path, skeleton_text([[], [], []])), "ntu60")
    assert got.shape == (1, 2, 25, 3) and not got.any()


def test_at_most_max_frames_are_kept(tmp_path):
    frames = random_frames(np.random.default_rng(6), num_frames=12, bodies=(1,))
    path = write(tmp_path, skeleton_text(frames))
    assert ntu.read_skeleton_file(path, "ntu60", max_frames=10).shape == (10, 2, 25, 3)
    assert ntu.read_skeleton_file(path, "ntu60").shape == (12, 2, 25, 3)


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="ntu60"):
        ntu.read_skeleton_file(write(tmp_path, skeleton_text([])), "ntu90")


# --- bad input: SkeletonFileError names the file, the line and what was expected ------------------

GOOD = skeleton_text(random_frames(np.random.default_rng(7), num_frames=3, bodies=(1, 2)))
LINES = GOOD.splitlines()  # 1 frames, 2 bodies, 3 body line, 4 joints, 5-29 joints of frame 1


def _replace_line(number, new):
    lines = list(LINES)
    lines[number - 1] = new
    return "\n".join(lines) + "\n"


def _replace_field(number, field, new):
    fields = LINES[number - 1].split()
    fields[field] = new
    return _replace_line(number, " ".join(fields))


BAD_FILES = {
    "empty": ("", 1, "empty"),
    "blank": ("\n \r\n\n", 1, "empty"),
    "truncated": ("\n".join(LINES[:40]) + "\n", 41, "ends early"),
    "truncated mid-line": (GOOD[: GOOD.rindex(" 277.4")], len(LINES), "12 numbers, found 3"),
    "non-numeric x": (_replace_field(7, 0, "abc"), 7, "not a number"),
    "non-numeric unused field": (_replace_field(8, 6, "0,25"), 8, "field 7"),
    "non-numeric body field": (_replace_field(3, 1, "x"), 3, "field 2"),
    "nan": (_replace_field(9, 1, "nan"), 9, "not a number"),
    "two numbers in the last z": (_replace_field(len(LINES), 2, "0.5-3"), len(LINES), "finite"),
    "overflow": (_replace_field(9, 2, "1e999"), 9, "finite"),
    "24 joints": (_replace_line(4, "24"), 4, "expected 25 joints"),
    "missing joint line": ("\n".join(LINES[:10] + LINES[11:]) + "\n", 29, "12 numbers, found 1"),
    "extra field": (_replace_line(12, LINES[11] + " 3"), 12, "12 numbers, found 13"),
    "frame count too large": (_replace_line(1, "4"), len(LINES) + 1, "ends early"),
    "frame count huge": (_replace_line(1, "9" * 15), len(LINES) + 1, "ends early"),
    "frame count too small": (_replace_line(1, "2"), 85, "frame count too small"),
    "frame count not an integer": (_replace_line(1, "3.0"), 1, "the frame count"),
    "negative body count": (_replace_line(2, "-1"), 2, "body count of frame 1"),
    "blank line inside": (_replace_line(2, ""), 2, "an empty line"),
    "binary junk": (b"\x00\xff" + GOOD.encode(), 1, "frame count"),
    "lone CR": (GOOD.replace(" 277.4 ", " 277.4\r1 ", 1), 5, "12 numbers, found 13"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_files_raise_a_precise_error(tmp_path, case):
    text, line, what = BAD_FILES[case]
    path = write(tmp_path, text)
    data = path.read_bytes()
    assert short_path(data, 2) is None  # nothing slips through the short path
    with pytest.raises(SkeletonFileError) as info:
        ntu.read_skeleton_file(path, "ntu60")
    error = info.value
    assert error.path == str(path) and error.line == line, str(error)
    assert what in str(error)
    assert str(error).startswith(f"{path}, line {line}: ")


def test_dropped_bodies_are_checked_too(tmp_path):
    # NTU-60 keeps two body slots, yet a third body's x, y, z must be numbers as well.
    frames = random_frames(np.random.default_rng(9), num_frames=1, bodies=(3,))
    lines = skeleton_text(frames).splitlines()  # body 3: info line 57, joints on lines 59-83
    fields = lines[59].split()
    fields[1] = "6.820+02"
    lines[59] = " ".join(fields)
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert short_path(path.read_bytes(), 2) is None
    with pytest.raises(SkeletonFileError, match="line 60: y of joint 2 of frame 1, body 3 is"):
        ntu.read_skeleton_file(path, "ntu60")


def test_the_good_base_file_reads(tmp_path):
    assert ntu.read_skeleton_file(write(tmp_path, GOOD), "ntu60").shape == (3, 2, 25, 3)


# --- names, benchmarks, classes ------------------------------------------------------------------


def test_names_parse_and_print():
    name = ntu.NTUName.parse("some/dir/S017C003P020R002A058.skeleton")
    assert (name.setup, name.camera, name.subject, name.replication, name.action) == (
        17,
        3,
        20,
        2,
        58,
    )
    assert name.label == 57 and str(name) == "S017C003P020R002A058"
    for bad in ["S01C003P020R002A058", "S017C003P020R002A058x", "hello"]:
        with pytest.raises(ValueError, match="not an NTU clip name"):
            ntu.NTUName.parse(bad)


@pytest.mark.parametrize(
    "name, benchmark, split",
    [
        ("S001C001P001R001A001", "xsub", "train"),
        ("S001C001P003R001A001", "xsub", "val"),
        ("S020C001P103R001A001", "xsub", "train"),
        ("S020C001P104R001A001", "xsub", "val"),
        ("S001C001P001R001A001", "xview", "val"),
        ("S001C002P001R001A001", "xview", "train"),
        ("S001C003P001R001A001", "xview", "train"),
        ("S018C001P001R001A001", "xset", "train"),
        ("S017C001P001R001A001", "xset", "val"),
    ],
)
def test_benchmark_splits(name, benchmark, split):
    assert ntu.split_of(ntu.NTUName.parse(name), benchmark) == split


def test_benchmark_subjects_are_the_published_lists():
    assert len(ntu.TRAIN_SUBJECTS) == 20 + 33
    assert sum(s <= 40 for s in ntu.TRAIN_SUBJECTS) == 20
    with pytest.raises(ValueError, match="benchmark"):
        ntu.split_of(ntu.NTUName.parse("S001C001P001R001A001"), "xdata")


def test_dataset_membership_and_classes():
    assert ntu.in_dataset(ntu.NTUName.parse("S017C001P001R001A060"), "ntu60")
    assert not ntu.in_dataset(ntu.NTUName.parse("S018C001P001R001A001"), "ntu60")
    assert ntu.in_dataset(ntu.NTUName.parse("S032C001P106R002A120"), "ntu120")
    assert len(ntu.NTU60_CLASSES) == 60 and len(set(ntu.NTU120_CLASSES)) == 120
    assert ntu.NTU120_CLASSES[:60] == ntu.NTU60_CLASSES
    assert ntu.NTU60_CLASSES[0] == "drink water" and ntu.NTU120_CLASSES[119].startswith("finger")


def test_name_lists(tmp_path):
    path = tmp_path / "missing.txt"
    path.write_text("# comment\nS001C002P005R002A008\n\n  S001C002P006R001A008.skeleton \r\n")
    assert ntu.read_name_list(path) == {"S001C002P005R002A008", "S001C002P006R001A008"}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_short_path_never_accepts_what_the_careful_pass_refuses(newline):
    # Random small corruptions of a good file whose first frame has a third body, which NTU-60
    # drops: wherever the short path gives an answer, it is the careful pass's answer (and the
    # careful pass raises on the files it refuses).
    rng = np.random.default_rng(8)
    good = skeleton_text(random_frames(rng, num_frames=2, bodies=(3, 1)), newline).encode()
    alphabet = b"0123456789.-+eE \r\nx\t"
    answered = 0
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.integers(1, 3)):
            i = int(rng.integers(len(data)))
            op = rng.integers(5)
            if op == 0:
                del data[i]
            elif op == 1:
                data.insert(i, alphabet[rng.integers(len(alphabet))])
            elif op == 2:
                data[i] = alphabet[rng.integers(len(alphabet))]
            elif op == 3:  # the line holding byte i goes
                start, end = data.rfind(b"\n", 0, i) + 1, data.find(b"\n", i)
                del data[start : end + 1 if end >= 0 else len(data)]
            else:  # truncated
                del data[i:]
            if not data:
                break
        short = short_path(bytes(data), 2)
        if short is None:
            continue
        answered += 1
        np.testing.assert_array_equal(short, ntu._parse_careful(bytes(data), "x", 2))
    assert answered > 50  # many corruptions hit digits and still parse
