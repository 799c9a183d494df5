"""Speed and memory of padded MPDP pretraining steps (method §4): samples/s and peak GPU memory.

    python scripts/benchmark_pretrain.py --out results/benchmark_pretrain.json
    python scripts/benchmark_pretrain.py --out b.json --data datasets/ntu60/xsub --compile

On CUDA the default is the paper model at batch 128 under bf16 autocast; on the CPU the tiny
preset at batch 16, so the script runs (and is tested) anywhere. Without --data every clip is a
random walk of --frames frames (300: the padded worst case the authors always computed); with
--data the batches come from the real pipeline (`glt.pretrain.build_loader`: natural lengths,
augmentation, DataLoader workers), so the number includes waiting for data, if any.

Writes the results as JSON to --out and as a markdown table next to it (same name, .md).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from glt import distributed
from glt.config import PretrainConfig
from glt.data.dataset import ClipDataset
from glt.data.store import open_dataset
from glt.layout import NTU
from glt.model import count_parameters
from glt.mpdp import PretrainModel, pretrain_flops
from glt.pretrain import PretrainTransform, build_loader, open_train_part, train_step


def random_batches(config: PretrainConfig, frames: int, seed: int = 0):
    """Endless batches of full-length random-walk clips (B, frames, M, V, 3), both persons."""
    g = torch.Generator().manual_seed(seed)
    c = config.model
    shape = (config.batch_size, frames, c.num_persons, c.num_joints, 3)
    while True:
        x = torch.randn(shape, generator=g).mul_(0.01).cumsum_(1)
        yield dict(
            x=x,
            lengths=torch.full((config.batch_size,), frames, dtype=torch.int64),
            present=torch.ones(config.batch_size, c.num_persons, dtype=torch.bool),
        )


def dataset_batches(config: PretrainConfig, ctx: distributed.Context):
    """Endless batches from the prepared dataset `config.data`, as `glt pretrain` makes them."""
    layout, part = open_train_part(config.data, config.model)
    dataset = ClipDataset(part, PretrainTransform(config, layout), seed=config.seed)
    loader, sampler = build_loader(config, dataset, ctx)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        yield from loader
        epoch += 1


def benchmark(
    preset: str | None = None,
    batch_size: int | None = None,
    frames: int = 300,
    steps: int = 10,
    warmup: int = 3,
    device: str | None = None,
    compile: bool = False,
    bf16: bool = True,
    data: str | None = None,
    workers: int = -1,
) -> dict:
    """Time `steps` optimiser steps after `warmup` untimed ones; return the measurements."""
    ctx = distributed.setup(device)
    cuda = ctx.device.type == "cuda"
    preset = preset or ("paper" if cuda else "tiny")
    # the padded path (`train_step`), whose frames computed this script counts; `glt bench`
    # times the default, pad-free path against the authors' formulation
    options = dict(bf16=bf16, compile=compile, workers=workers, data=data or "", packed=False)
    if batch_size is not None:
        options["batch_size"] = batch_size
    elif not cuda:
        options["batch_size"] = 16
    layout = NTU
    if data:
        layout = open_dataset(data).layout
    config = PretrainConfig.from_preset(preset, layout, **options)
    if cuda:
        torch.set_float32_matmul_precision("high")

    torch.manual_seed(0)
    net = PretrainModel(config.model).to(ctx.device)
    model = torch.compile(net) if compile else net
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=cuda
    )
    batches = dataset_batches(config, ctx) if data else random_batches(config, frames)

    def sync():
        if cuda:
            torch.cuda.synchronize(ctx.device)

    result = {
        "preset": preset,
        "batch_size": config.batch_size,
        "frames": None if data else frames,
        "data": data,
        "device": torch.cuda.get_device_name(ctx.device) if cuda else platform.processor() or "cpu",
        "bf16": bool(bf16 and cuda),
        "compile": compile,
        "parameters": count_parameters(net),
        "torch": torch.__version__,
    }
    try:
        for _ in range(warmup):
            train_step(model, next(batches), optimizer, config, ctx.device)
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats(ctx.device)
        samples, frames_seen = 0, 0
        started = time.perf_counter()
        for _ in range(steps):
            batch = next(batches)
            stats = train_step(model, batch, optimizer, config, ctx.device)
            samples += len(batch["lengths"])
            frames_seen += int(batch["x"].shape[1]) * len(batch["lengths"])
        sync()
        seconds = time.perf_counter() - started
    except torch.OutOfMemoryError as e:
        result.update(out_of_memory=True, error=str(e).splitlines()[0])
        return result
    finally:
        distributed.teardown()

    # Matmul FLOPs of the padded frames computed: forward + backward = 3 x forward.
    flops = 3 * pretrain_flops(config.model, 1) * frames_seen
    result.update(
        out_of_memory=False,
        steps=steps,
        seconds=seconds,
        samples_per_s=samples / seconds,
        step_ms=1000 * seconds / steps,
        tflops_per_s=flops / seconds / 1e12,
        loss=float(stats[0]),
        peak_memory_gb=torch.cuda.max_memory_allocated(ctx.device) / 2**30 if cuda else None,
    )
    return result


def to_markdown(result: dict) -> str:
    """A two-column markdown table of the measurements."""
    lines = ["| quantity | value |", "|---|---|"]
    for key, value in result.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (+ .md)")
    parser.add_argument("--preset", choices=["paper", "tiny"], help="default: paper on CUDA")
    parser.add_argument("--batch-size", type=int, help="default: 128 on CUDA, 16 on the CPU")
    parser.add_argument("--frames", type=int, default=300, help="clip length without --data")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--device", help="default: the GPU if there is one")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="float32 on CUDA")
    parser.add_argument("--data", help="a prepared dataset: time the real input pipeline too")
    parser.add_argument("--workers", type=int, default=-1, help="DataLoader workers with --data")
    args = parser.parse_args(argv)
    result = benchmark(
        args.preset, args.batch_size, args.frames, args.steps, args.warmup,
        args.device, args.compile, args.bf16, args.data, args.workers,
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(to_markdown(result))
    print(to_markdown(result), end="")
    return result


if __name__ == "__main__":
    main()
