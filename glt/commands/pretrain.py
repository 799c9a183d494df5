"""`glt pretrain`: MPDP pretraining of an encoder (`glt.pretrain`), one process or `torchrun`.

glt pretrain --data DIR --out RUN_DIR [--preset tiny|paper] [--epochs N] ...
torchrun --nproc-per-node 4 -m glt pretrain --data DIR --out RUN_DIR ...   # DDP, same options
"""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from functools import partial

from glt.commands.common import DEVICE_HELP, by_preset, parse_model_overrides
from glt.config import PRETRAIN_PRESETS, PretrainConfig
from glt.model import LAYOUT_FIELDS, GLTConfig
from glt.pretrain import pretrain

_preset = partial(by_preset, PretrainConfig, PRETRAIN_PRESETS)


# fmt: off
def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="MPDP pretraining of a GL-Transformer encoder (method §4)",
        description="Pretraining by multi-interval pose displacement prediction, MPDP (method §4)."
        " Run it under `torchrun --nproc-per-node N` for several GPUs.",
    )
    p.add_argument("--data", help="prepared dataset folder; its train part is used")
    p.add_argument("--out", required=True, help="run folder (config, checkpoint, metrics, plot)")
    p.add_argument("--preset", choices=sorted(PRETRAIN_PRESETS), help="model and training sizes "
                   "(default tiny; paper = the published model)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model setting (" + ", ".join(
                       f.name for f in fields(GLTConfig) if f.name not in LAYOUT_FIELDS
                   ) + "; the data's layout sets the others)")
    g = p.add_argument_group("training (defaults: the preset's; paper = the authors')")
    g.add_argument("--epochs", type=int, metavar="N", help=_preset("epochs"))
    g.add_argument("--batch-size", type=int, metavar="N",
                   help=f"global batch, split across DDP ranks ({_preset('batch_size')})")
    g.add_argument("--lr", type=float, help=f"AdamW learning rate ({_preset('lr')})")
    g.add_argument("--weight-decay", type=float, help=f"AdamW weight decay ({_preset('weight_decay')})")
    g.add_argument("--lr-decay", type=float, help=f"lr factor after every epoch ({_preset('lr_decay')})")
    g.add_argument("--warmup-steps", type=int, metavar="N",
                   help=f"linear lr warm-up ({_preset('warmup_steps')})")
    g.add_argument("--clip-grad", type=float, metavar="NORM",
                   help=f"max gradient norm (0: off; {_preset('clip_grad')})")
    g.add_argument("--lambda-global", type=float,
                   help=f"weight of the global tokens ({_preset('lambda_global')})")
    g.add_argument("--lambda-mag", type=float,
                   help=f"weight of the magnitude loss ({_preset('lambda_mag')})")
    g.add_argument("--corrected-global-weighting", dest="authors_weighting",
                   action="store_const", const=False,
                   help="weight the global tokens of every interval by lambda_global "
                   "(the authors' code does it for the first interval only)")
    g.add_argument("--seed", type=int, help=f"weights, batch order, augmentation ({_preset('seed')})")
    g.add_argument("--corrupt", type=float, metavar="FRACTION",
                   help="set this fraction of joints to (0, 0, 0) (supplementary Table B)")
    g.add_argument("--resample", type=int, metavar="FRAMES",
                   help="resample clips to this many frames instead of natural speed (Table A)")
    g.add_argument("--bucket-pool", type=int, metavar="BATCHES",
                   help="batch clips of similar length, sorting pools of this many batches "
                   f"(less padding, faster; {_preset('bucket_pool')}; 1: random batches as the authors)")
    r = p.add_argument_group("how it runs")
    r.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps in all")
    r.add_argument("--workers", type=int, metavar="N",
                   help="DataLoader workers per rank (default: 0 on the CPU, up to 8 on CUDA)")
    r.add_argument("--device", help=DEVICE_HELP)
    r.add_argument("--compile", action="store_const", const=True, help="torch.compile the model")
    r.add_argument("--no-bf16", dest="bf16", action="store_const", const=False,
                   help="float32 on CUDA instead of bf16 autocast")
    r.add_argument("--padded", dest="packed", action="store_const", const=False,
                   help="pad every batch to its longest clip and compute it whole, as the "
                   "authors' code (default: only the real frames; the same loss, less work)")
    r.add_argument("--log-every", type=int, metavar="N",
                   help="write the loss of step 1 and every N-th step to metrics.jsonl "
                   f"({_preset('log_every')}; 0: off)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handle=handle)
# fmt: on


def handle(args: argparse.Namespace) -> int:
    options = {
        f.name: getattr(args, f.name)
        for f in fields(PretrainConfig)
        if f.name not in ("model", "data", "preset")
    }
    summary = pretrain(
        args.data,
        args.out,
        args.preset,
        model=parse_model_overrides(args.model),
        resume=args.resume,
        progress=not args.quiet,
        **options,
    )
    if int(os.environ.get("RANK", "0")) == 0 and summary["loss"] is not None:
        print(
            f"pretrain: {summary['epoch']} epochs, {summary['step']} steps, "
            f"loss {summary['loss']:.4f}; run folder {summary['run_dir']}"
        )
    return 0
