"""The `glt` command line: synthetic data, preparing datasets, pretraining, evaluation, ablations.

It parses, calls the library and prints; one module per verb, or family of verbs:

    glt synth      write a synthetic NTU-like dataset of .skeleton files     (synth.py)
    glt prepare    turn raw recordings (NTU RGB+D, NW-UCLA) into a prepared dataset  (prepare.py)
    glt import / export    other projects' preprocessed skeleton files       (formats.py)
    glt pretrain   multi-interval pose displacement pretraining              (pretrain.py)
    glt linear / knn / semi / finetune / transfer / test    evaluation protocols (evaluate.py)
    glt ablate     the supplementary's Tables A and B                        (ablate.py)
    glt bench      training speed: the authors' formulation against the default  (bench.py)

Each module has `register(subparsers)`, which adds its verbs, and `handle(args)`, which runs one
and returns the exit status. Errors the user can fix (`glt.errors.GLTError`, and the system's:
missing or existing files, no permission, a full disk) are printed as one line, without a
traceback (set GLT_DEBUG=1 for one).
"""

from __future__ import annotations

import argparse
import os
import sys

from glt.commands import ablate, bench, evaluate, formats, prepare, pretrain, synth
from glt.errors import GLTError

VERBS = (synth, prepare, formats, pretrain, evaluate, ablate, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glt", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in VERBS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.handle(args)
    except (GLTError, OSError) as e:  # OSError: missing or existing files, a full disk, ...
        if os.environ.get("GLT_DEBUG"):
            raise
        print(f"glt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glt {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
