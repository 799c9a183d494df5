"""`glt import FORMAT SOURCE... --out DIR` and `glt export FORMAT DATASET --out DIR`: skeleton
data in other projects' formats (`glt.data.formats`)."""

from __future__ import annotations

import argparse
import warnings

from glt.data import formats
from glt.errors import DataWarning
from glt.layout import LAYOUTS

SOURCES_HELP = (
    "pyskl / mmaction2: the annotation pickle (ntu60_3danno.pkl, ntu60_hrnet.pkl, ...); "
    "ctrgcn / mamp: the npz files (NTU60_CS.npz, ...); stgcn / authors: benchmark folders "
    "(holding train_*.npy and the label pickles) or a folder of them"
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="import another project's preprocessed skeletons as prepared datasets",
        description=formats.__doc__.split("\n\n")[0]
        + " Each benchmark found becomes OUT/<benchmark>/; OUT/import.json says how the clips "
        "differ from `glt prepare` on the raw recordings.",
    )
    p.add_argument("format", choices=sorted(formats.IMPORTS))
    p.add_argument("sources", nargs="+", metavar="SOURCE", help=SOURCES_HELP)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--names", metavar="FILE",
                   help="ctrgcn / mamp: CTR-GCN's skes_available_name.txt, the clip names in the "
                        "order the npz were made (without it clips are named train00000, ...)")  # fmt: skip
    p.add_argument("--labels", metavar="DIR",
                   help="stgcn / authors: where the label pickles are, if not beside the arrays")  # fmt: skip
    p.add_argument("--layout", choices=sorted(LAYOUTS),
                   help="stgcn / authors: the skeleton layout (default ntu)")  # fmt: skip
    p.add_argument("--strict", action="store_true",
                   help="stop when the data look like the wrong units or orientation "
                        "(default: warn and record it)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handle=handle_import)

    p = subparsers.add_parser(
        "export",
        help="write a prepared dataset in another project's layout",
        description=formats.export_dataset.__doc__.split("\n\n")[0],
    )
    p.add_argument("format", choices=sorted(formats.EXPORTS))
    p.add_argument("dataset", metavar="DATASET", help="a prepared benchmark folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--max-frames", type=int, metavar="T",
                   help="padded length of the arrays (default: the dataset's, 300)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handle=handle_export)


def handle_import(args: argparse.Namespace) -> int:
    options = {
        "names": args.names,
        "labels": args.labels,
        "layout": LAYOUTS[args.layout] if args.layout else None,
    }
    options = {k: v for k, v in options.items() if v is not None}
    with warnings.catch_warnings():  # the summary below lists them, with the final folders
        warnings.simplefilter("ignore", DataWarning)
        result = formats.import_dataset(
            args.format, args.sources, args.out, overwrite=args.overwrite, strict=args.strict,
            **options,
        )  # fmt: skip
    print("\n".join(result.lines()))
    return 0


def handle_export(args: argparse.Namespace) -> int:
    out = formats.export_dataset(
        args.format, args.dataset, args.out, max_frames=args.max_frames, overwrite=args.overwrite
    )
    print(f"exported {args.dataset} in the {args.format} layout to {out}")
    return 0
