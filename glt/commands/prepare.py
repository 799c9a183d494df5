"""`glt prepare ntu60|ntu120|nwucla`: raw recordings -> prepared datasets (`glt.data.prepare`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from glt import paths
from glt.data import prepare
from glt.errors import DataError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="turn raw recordings (NTU RGB+D, NW-UCLA) into a prepared dataset",
        description=prepare.__doc__.split("\n\n")[0],
    )
    p.add_argument("dataset", choices=prepare.DATASETS)
    p.add_argument("--raw", action="append", required=True, metavar="DIR",
                   help="folder of raw files, searched recursively; repeat for NTU-120's two "
                        "folders (NW-UCLA: the folder with all_sqe/ and val_label.pkl)")  # fmt: skip
    p.add_argument("--missing", metavar="FILE",
                   help="clip names to leave out, one per line (the official lists of samples "
                        "with missing skeletons)")  # fmt: skip
    p.add_argument("--out", metavar="DIR", help="output folder (default: $GLT_DATA/DATASET)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad file instead of skipping it")  # fmt: skip
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (default: all CPUs; 0: read in this process)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else paths.data_dir() / args.dataset
    options = dict(missing=args.missing, strict=args.strict, workers=args.workers,
                   overwrite=args.overwrite)  # fmt: skip
    if args.dataset == "nwucla":
        if len(args.raw) != 1:
            raise DataError("nwucla takes one --raw folder")
        summary = prepare.prepare_nwucla(args.raw[0], out, **options)
    else:
        summary = prepare.prepare_ntu(args.raw, out, args.dataset, **options)
    print(
        f"prepared {summary['dataset']}: {summary['clips']} clips from {summary['files']} files, "
        f"{summary['skipped']} skipped, {summary['excluded_by_list']} left out by --missing"
    )
    for benchmark, parts in summary["benchmarks"].items():
        print(f"  {out / benchmark}: train {parts['train']}, val {parts['val']}")
    if summary["skipped"]:
        lines = (out / "skipped.txt").read_text().splitlines()
        print(f"skipped files (all {len(lines)} in {out / 'skipped.txt'}):")
        for line in lines[:5]:
            print("  " + line.replace("\t", ": "))
    return 0
