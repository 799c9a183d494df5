"""Throughput of glt's `.skeleton` reader against plain line-by-line Python parsers.

    python scripts/benchmark_reader.py [--samples DIR] [--repeat 30] [--json FILE]

Reads the genuine NTU samples (default ../shared/data/ntu-samples) once per pass with each
reader, alternating readers pass by pass, and keeps each reader's best pass. Times are the CPU
time of this process (time.process_time), on which other programs running on the machine weigh
far less than on wall-clock time, printed beside it. Before timing, every reader's output is checked equal.

Readers:
  glt            glt.data.ntu.parse_skeleton, one file per call (its np.fromstring short path)
  line-by-line   the straightforward parser: split every line, convert every number, keep x, y, z
  dict-per-joint the same into a dict per body and per joint, then x, y, z copied out: the
                 structure of the public NTU preprocessing scripts (the authors' included)
  xyz-only       line by line, converting only x, y, z of each joint line
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from glt import paths
from glt.data.ntu import parse_skeleton


def line_by_line(path: Path) -> np.ndarray:
    """The straightforward reader: every number of every line converted."""
    with open(path) as f:
        lines = f.read().splitlines()
    frames = int(lines[0])
    out = np.zeros((frames, 2, 25, 3))
    i = 1
    for t in range(frames):
        bodies = int(lines[i])
        i += 1
        for m in range(bodies):
            [float(v) for v in lines[i].split()]  # the body line
            joints = int(lines[i + 1])
            i += 2
            for j in range(joints):
                joint = [float(v) for v in lines[i].split()]
                i += 1
                if m < 2:
                    out[t, m, j] = joint[:3]
    return out


BODY_KEYS = ("bodyID", "clippedEdges", "handLeftConfidence", "handLeftState",
             "handRightConfidence", "handRightState", "isRestricted", "leanX", "leanY",
             "trackingState")  # fmt: skip
JOINT_KEYS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW",
              "orientationX", "orientationY", "orientationZ", "trackingState")  # fmt: skip


def dict_per_joint(path: Path) -> np.ndarray:
    """Every number converted into a dict per body and per joint, then x, y, z copied out."""
    frames = []
    with open(path) as f:
        for _ in range(int(f.readline())):
            bodies = []
            for _ in range(int(f.readline())):
                body = dict(zip(BODY_KEYS, map(float, f.readline().split()), strict=True))
                body["joints"] = [
                    dict(zip(JOINT_KEYS, map(float, f.readline().split()), strict=True))
                    for _ in range(int(f.readline()))
                ]
                bodies.append(body)
            frames.append(bodies)
    out = np.zeros((len(frames), 2, 25, 3))
    for t, bodies in enumerate(frames):
        for m, body in enumerate(bodies[:2]):
            for j, joint in enumerate(body["joints"]):
                out[t, m, j] = (joint["x"], joint["y"], joint["z"])
    return out


def xyz_only(path: Path) -> np.ndarray:
    """Line by line, converting only the x, y, z fields."""
    with open(path) as f:
        lines = f.read().splitlines()
    frames = int(lines[0])
    out = np.zeros((frames, 2, 25, 3))
    i = 1
    for t in range(frames):
        bodies = int(lines[i])
        i += 1
        for m in range(bodies):
            joints = int(lines[i + 1])
            i += 2
            if m < 2:
                for j in range(joints):
                    out[t, m, j] = [float(v) for v in lines[i + j].split(maxsplit=3)[:3]]
            i += joints
    return out


def glt_reader(path: Path) -> np.ndarray:
    return parse_skeleton(path.read_bytes(), path)


def one_by_one(reader):
    return lambda paths: [reader(p) for p in paths]


READERS = {
    "glt": one_by_one(glt_reader),
    "line-by-line": one_by_one(line_by_line),
    "dict-per-joint": one_by_one(dict_per_joint),
    "xyz-only": one_by_one(xyz_only),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=paths.ntu_samples_dir())
    parser.add_argument("--repeat", type=int, default=30, help="passes per reader (best kept)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    files = sorted(args.samples.glob("*.skeleton"))
    if not files:
        parser.error(f"no .skeleton files in {args.samples}")
    reference = [glt_reader(f) for f in files]
    for name, reader in READERS.items():
        for f, got, want in zip(files, reader(files), reference, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"{name} on {f.name}")
    frames = sum(len(r) for r in reference)

    best = {name: (float("inf"), float("inf")) for name in READERS}  # (cpu, wall) seconds
    for _ in range(args.repeat):
        for name, reader in READERS.items():
            cpu, wall = time.process_time(), time.perf_counter()
            reader(files)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            best[name] = (min(best[name][0], cpu), min(best[name][1], wall))

    results = {
        "files": len(files),
        "frames": frames,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "frames_per_s": {n: round(frames / cpu) for n, (cpu, _) in best.items()},
        "frames_per_s_wall": {n: round(frames / wall) for n, (_, wall) in best.items()},
    }
    rates = results["frames_per_s"]
    results["speedup"] = {  # of glt's reader over each plain one
        f"glt / {n}": round(rates["glt"] / rates[n], 1) for n in READERS if n != "glt"
    }
    print(f"{len(files)} files, {frames} frames, best of {args.repeat} passes")
    for name in READERS:
        cpu_rate, wall_rate = rates[name], results["frames_per_s_wall"][name]
        print(f"  {name:15s} {cpu_rate:9,d} frames/s (CPU)  {wall_rate:9,d} frames/s (wall)")
    for pair, ratio in results["speedup"].items():
        print(f"  {pair:21s} {ratio}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
