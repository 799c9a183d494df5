"""The `glt` command line. Each verb lives next to the code it runs.

glt synth      write a synthetic NTU-like dataset of .skeleton files
glt prepare    turn raw recordings (NTU RGB+D, NW-UCLA) into a prepared dataset
glt pretrain   multi-interval pose displacement pretraining
glt linear / knn / semi / finetune / transfer / test    evaluation protocols
glt ablate     the supplementary's Tables A and B
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from glt.errors import GLTError

# Modules that add verbs; each defines add_commands(subparsers).
COMMAND_MODULES = (
    "glt.data.synthetic",
    "glt.data.prepare",
    "glt.pretrain",
    "glt.evaluate",
    "glt.ablations",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glt", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (GLTError, FileNotFoundError, FileExistsError) as e:
        if os.environ.get("GLT_DEBUG"):
            raise
        print(f"glt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glt {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
