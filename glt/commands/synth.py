"""`glt synth`: write a synthetic NTU-like dataset of .skeleton files (`glt.data.synthetic`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from glt.data.synthetic import DEFAULT_SUBJECTS, SYNTH_ACTIONS, write_synthetic


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic NTU-like dataset of .skeleton files",
        description="Write synthetic NTU RGB+D-format .skeleton files (see glt.data.synthetic).",
    )
    p.add_argument("--out", type=Path, required=True, help="folder to create")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--subjects",
        type=int,
        default=DEFAULT_SUBJECTS,
        help="number of performers (default: %(default)s)",
    )
    p.add_argument(
        "--replications", type=int, default=2, help="repetitions per subject (default: 2)"
    )
    p.add_argument(
        "--cameras", type=int, nargs="+", default=[1, 2, 3], help="camera ids (default: 1 2 3)"
    )
    p.add_argument(
        "--actions", type=int, nargs="+", help="NTU action ids (default: all synthesised)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    paths = write_synthetic(
        args.out,
        seed=args.seed,
        subjects=args.subjects,
        replications=args.replications,
        cameras=args.cameras,
        actions=args.actions,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    n_actions = len(set(args.actions)) if args.actions else len(SYNTH_ACTIONS)
    print(
        f"wrote {len(paths)} .skeleton files ({n_actions} actions, {args.subjects} subjects, "
        f"seed {args.seed}) to {args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0
