"""`glt bench`: training speed, the authors' formulation against the default path (`glt.bench`).

glt bench                                   # CPU: reduced model (D 8, depth 2, 4 heads), batch 32
glt bench --device cuda                     # the paper model, batch 128, bf16
glt bench --out bench.json --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from glt.bench import MODEL_PRESETS, WORKLOADS, append_results, run_bench
from glt.commands.common import DEVICE_HELP, parse_model_overrides
from glt.errors import GLTError
from glt.paths import REPO_ROOT

DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"


# fmt: off
def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time pretraining steps: the authors' formulation against the default path",
        description="Time MPDP training steps of the authors' formulation (fp32, clips padded to "
        "300 frames) and of the default path (real frames only) on NTU-like and 300-frame clips; "
        "project an NTU-60 xsub epoch and the paper's 120 epochs.",
    )
    p.add_argument("--preset", choices=sorted(MODEL_PRESETS),
                   help="model size (default: paper on CUDA, reduced = D 8, depth 2, 4 heads)")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model setting, e.g. --model depth=1")
    p.add_argument("--batch-size", type=int, metavar="N", help="default: 128 on CUDA, 32 on the CPU")
    p.add_argument("--steps", type=int, metavar="N", help="timed steps (default: 10 CUDA, 3 CPU)")
    p.add_argument("--warmup", type=int, metavar="N", help="untimed steps first (default: 3, 1)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated: natural (NTU-like lengths), full (300 frames)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="fast path in float32 on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the fast path")
    p.add_argument("--out", type=Path, default=Path("bench.json"), help="JSON file to write")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="Markdown file to append a row per workload to (default: this "
                   "checkout's benchmarks/RESULTS.md, when it exists)")
    p.add_argument("--no-results", dest="results", action="store_const", const=None,
                   help="append no row")
    p.set_defaults(handle=handle)
# fmt: on


def handle(args: argparse.Namespace) -> int:
    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise GLTError(f"--threads {args.threads}: must be >= 1")
        torch.set_num_threads(args.threads)
    result = run_bench(
        preset=args.preset,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        workloads=[w for w in args.workloads.split(",") if w],
        device=args.device,
        bf16=args.bf16,
        compile=args.compile,
        model=parse_model_overrides(args.model),
    )
    command = shlex.join(["glt", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else "glt bench"
    result["command"] = command
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bench: {result['device']}, {result['preset']} model, batch {result['batch_size']}")
    for workload, e in result["workloads"].items():
        for name in ("reference", "fast"):
            timed = e[name]
            shown = (
                "out of memory"
                if timed["out_of_memory"]
                else (
                    f"{timed['ms_per_step']:.0f} ms/step (CPU {timed['cpu_ms_per_step']:.0f} ms), "
                    f"{timed['samples_per_s']:.1f} samples/s, "
                    f"MFU {timed['mfu']:.2%}, data wait {timed['data_ms']:.0f} ms"
                )
            )
            print(f"  {workload:8s} {name:9s} {shown}")
        if "fast_over_reference" in e:
            print(
                f"  {workload:8s} fast / reference: {e['fast_over_reference']:.2f}x "
                f"(CPU time {e['fast_over_reference_cpu']:.2f}x)"
            )
        for name, p in e.get("projection", {}).items():
            print(
                f"  {name}: one NTU-60 xsub epoch {p['ntu60_xsub_epoch_s'] / 60:.1f} min, "
                f"120 epochs {p['paper_120_epochs_h']:.1f} h"
            )
    print(f"wrote {args.out}")
    if args.results is not None and (args.results.exists() or args.results != DEFAULT_RESULTS):
        append_results(args.results, result, command)
        print(f"appended to {args.results}")
    return 0
