"""`glt ablate`: the supplementary's Tables A and B (`glt.ablations`), one row after another."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from glt import ablations
from glt.ablations import PAPER_SOURCE, TABLES
from glt.commands.common import DEVICE_HELP, by_preset, parse_model_overrides
from glt.config import LINEAR_PRESETS, PRETRAIN_PRESETS, LinearConfig, PretrainConfig
from glt.errors import GLTError
from glt.paths import runs_dir
from glt.results import table_markdown

_pretraining = partial(by_preset, PretrainConfig, PRETRAIN_PRESETS)
_evaluation = partial(by_preset, LinearConfig, LINEAR_PRESETS)


# fmt: off
def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ablate",
        help="the supplementary's Tables A and B (pretraining + linear evaluation per row)",
        description=ablations.__doc__.split("\n\n")[0],
        epilog=next(p for p in ablations.__doc__.split("\n\n") if p.startswith("How long")),
    )
    p.add_argument("--data", required=True, type=Path, metavar="DATA_DIR",
                   help="prepared benchmark folder, e.g. datasets/ntu60/xsub")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default $GLT_RUNS/ablations-PRESET)")
    p.add_argument("--table", choices=("a", "b", "both"), default="both", help="default both")
    p.add_argument("--rows", nargs="+", metavar="ROW",
                   help="run only these rows: " + ", ".join(k for t in TABLES.values() for k in t.keys))
    p.add_argument("--preset", choices=sorted(PRETRAIN_PRESETS), default="tiny",
                   help="model, pretraining and evaluation sizes (default tiny; nwucla for "
                   "NW-UCLA on a CPU; paper on a GPU)")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model setting, e.g. --model depth=1")
    s = p.add_mutually_exclusive_group()
    s.add_argument("--seed", type=int, default=0, metavar="N",
                   help="one pretraining and evaluation seed for every row (default 0)")
    s.add_argument("--seeds", type=int, nargs="+", metavar="N",
                   help="run every row with several seeds: one number n for seeds 0..n-1 "
                   "(--seeds 3), several for those seeds (--seeds 0 1 2); the table gives the "
                   "mean and spread over them")
    g = p.add_argument_group("pretraining (defaults: the preset's)")
    g.add_argument("--epochs", type=int, metavar="N", help=_pretraining("epochs"))
    g.add_argument("--batch-size", type=int, metavar="N", help=_pretraining("batch_size"))
    g.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps")
    g = p.add_argument_group("linear evaluation (defaults: the preset's)")
    g.add_argument("--eval-epochs", type=int, metavar="N", help=_evaluation("epochs"))
    g.add_argument("--eval-batch-size", type=int, metavar="N", help=_evaluation("batch_size"))
    g.add_argument("--eval-augment", action=argparse.BooleanOptionalAction,
                   help="interpolation augmentation for the natural-speed rows "
                   f"({_evaluation('augment')}; the sampling rows never have it)")
    r = p.add_argument_group("how it runs")
    r.add_argument("--finished-only", action="store_true",
                   help="train nothing: write the tables from the runs already finished (e.g. "
                   "while or after a long ablation was stopped)")
    r.add_argument("--device", help=DEVICE_HELP)
    r.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handle=handle)
# fmt: on


def _seeds(given: list[int] | None) -> int | list[int] | None:
    """--seeds: one number is a count (0..n-1), several are the seeds."""
    if given is None:
        return None
    return given[0] if len(given) == 1 else given


def handle(args: argparse.Namespace) -> int:
    tables = ["a", "b"] if args.table == "both" else [args.table]
    if args.rows:
        unknown = sorted(set(args.rows) - {k for t in tables for k in TABLES[t].keys})
        if unknown:
            choices = ", ".join(k for t in tables for k in TABLES[t].keys)
            raise GLTError(f"unknown row(s) {unknown}; choose from {choices}")
        tables = [t for t in tables if set(args.rows) & set(TABLES[t].keys)]
    out = args.out or runs_dir() / f"ablations-{args.preset}"
    for t in tables:
        rows = ablations.run_table(
            t,
            args.data,
            out,
            preset=args.preset,
            rows=None if not args.rows else [k for k in TABLES[t].keys if k in args.rows],
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_epochs=args.eval_epochs,
            eval_batch_size=args.eval_batch_size,
            eval_augment=args.eval_augment,
            seed=args.seed,
            seeds=_seeds(args.seeds),
            model=parse_model_overrides(args.model),
            pretrain_options={"max_steps": args.max_steps},
            finished_only=args.finished_only,
            device=args.device,
            progress=not args.quiet,
        )
        print(table_markdown(rows, TABLES[t].heading, PAPER_SOURCE))
    changes = ablations.write_changes(out)
    if changes:
        print(changes[1].read_text())
    print(f"Ablation folder: {out}")
    return 0
