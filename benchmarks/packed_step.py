"""Time one MPDP pretraining step three ways: the authors' formulation, today's padded path, and
the pad-free (packed) path with each temporal attention mechanism of `glt.varlen`.

    python benchmarks/packed_step.py                       # D=8, depth 2, 4 heads, T=300, batch 32
    python benchmarks/packed_step.py --lengths full        # every clip 300 frames
    python benchmarks/packed_step.py --synthetic WORK      # the tiny preset on the synthetic set
    python benchmarks/packed_step.py --synthetic WORK --profile   # where a tiny step's time goes

A step is collate + targets + forward + loss + backward + AdamW, on fixed batches of random
clips (the model's cost does not depend on the values). The variants:

    authors         every clip padded to T = 300, fp32, explicit-softmax attention (the recording
                    path's math), targets per clip in numpy (float64) as the authors' feeder
    padded          `glt.pretrain.train_step`: padded to the batch's longest clip, SDPA
    packed:<mech>   `glt.pretrain_packed.packed_train_step` with temporal attention <mech>

Natural lengths are drawn from a lognormal with median 80 frames and sigma 0.45 (NTU-like: about
90 frames on average), rounded and clipped to 32..300, seeded (`glt.bench.natural_lengths`).
`glt bench` times the default path against the same reference with more measures (MFU, memory,
data wait, projections); this script compares the temporal attention mechanisms. Steps are timed round-robin over
the variants (so that a noisy machine slows all alike); the report gives the median, the fastest
and the slowest step, samples/s from the median, the ratio to `authors`, and the same ratio in
the process's CPU seconds. On a machine shared with other work, run with OMP_WAIT_POLICY=PASSIVE
so that waiting threads do not spin and the CPU seconds count work only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from glt.bench import (
    authors_targets,
    natural_lengths,
    random_items,
    reference_batch,
    reference_step,
)
from glt.data.dataset import collate_clips, collate_packed
from glt.layout import NTU
from glt.model import GLTConfig
from glt.mpdp import PretrainModel, combine_terms, mpdp_loss_terms
from glt.pretrain import PretrainConfig, train_step
from glt.pretrain_packed import packed_train_step
from glt.targets import displacement_targets, displacement_targets_packed
from glt.varlen import MECHANISMS

CPU_MECHANISMS = ("padded_qkv", "per_clip", "nested", "block_diagonal")  # flex: no CPU backward


def authors_step(model, items, optimizer, config: PretrainConfig) -> torch.Tensor:
    """The authors' formulation (`glt.bench`): padded to num_frames, numpy targets in the
    loader, explicit softmax."""
    device = next(model.parameters()).device
    return reference_step(model, reference_batch(items, config), optimizer, config, device)


def padded_step(model, items, optimizer, config: PretrainConfig) -> torch.Tensor:
    """Today's padded path: `glt.pretrain.train_step`."""
    device = next(model.parameters()).device
    return train_step(model, collate_clips(items), optimizer, config, device)


def packed_step(mechanism: str) -> Callable:
    """The pad-free path with the temporal attention `mechanism`."""

    def step(model, items, optimizer, config: PretrainConfig) -> torch.Tensor:
        device = next(model.parameters()).device
        batch = collate_packed(items)
        return packed_train_step(model, batch, optimizer, config, device, mechanism)

    return step


def variants(mechanisms=CPU_MECHANISMS, authors: bool = True) -> dict[str, Callable]:
    out = {"authors": authors_step} if authors else {}
    out["padded"] = padded_step
    out.update({f"packed:{m}": packed_step(m) for m in mechanisms})
    return out


def time_steps(
    config: PretrainConfig,
    batches: list[list[dict]],
    steps: dict[str, Callable],
    reps: int,
    device: str = "cpu",
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and process-CPU seconds per step of each variant on `device`, timed round-robin:
    `reps` rounds over `batches`, after two untimed warm-up steps per variant. Every variant
    trains its own copy of the same model."""
    device = torch.device(device)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    state = {}
    for name in steps:
        torch.manual_seed(0)
        model = PretrainModel(config.model).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
        for items in batches[:2]:
            steps[name](model, items, optimizer, config)
        state[name] = (model, optimizer)
    seconds = {name: ([], []) for name in steps}
    for rep in range(reps):
        items = batches[rep % len(batches)]
        for name, step in steps.items():
            model, optimizer = state[name]
            synchronize()
            wall, cpu = time.perf_counter(), time.process_time()
            step(model, items, optimizer, config)
            synchronize()
            seconds[name][0].append(time.perf_counter() - wall)
            seconds[name][1].append(time.process_time() - cpu)
    return seconds


def report(seconds: dict[str, tuple[list, list]], batch_size: int, title: str) -> str:
    """A Markdown table per variant: wall-clock seconds per step (median, fastest, slowest),
    samples/s and the ratio to `authors` from the median, and the same ratio from the process's
    CPU seconds (less sensitive to other processes on a shared machine)."""

    def ratio(name: str, which: int) -> str:
        if "authors" not in seconds:
            return "-"
        base = statistics.median(seconds["authors"][which])
        return f"{base / statistics.median(seconds[name][which]):.2f}"

    lines = [
        f"{title}",
        "",
        "| variant | median s | min s | max s | samples/s | x authors | CPU s | x authors (CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (wall, cpu) in seconds.items():
        median = statistics.median(wall)
        lines.append(
            f"| {name} | {median:.3f} | {min(wall):.3f} | {max(wall):.3f} | "
            f"{batch_size / median:.1f} | {ratio(name, 0)} | {statistics.median(cpu):.2f} | "
            f"{ratio(name, 1)} |"
        )
    return "\n".join(lines)


def synthetic_batches(work_dir: str, batch_size: int, count: int, seed: int = 0) -> list[list]:
    """Batches of the synthetic NTU-like benchmark's train part (made on first use), as the tiny
    preset's trainer draws them (length-sorted pools of 4 batches), unaugmented."""
    from glt.data.dataset import ClipDataset, LengthBucketSampler
    from glt.data.store import open_dataset
    from glt.workspace import synthetic_benchmark

    part = open_dataset(synthetic_benchmark(work_dir, "xsub")).train
    dataset = ClipDataset(part)
    sampler = LengthBucketSampler(part.lengths, batch_size, seed=seed, pool_batches=4)
    return [[dataset[i] for i in batch] for batch, _ in zip(sampler, range(count), strict=False)]


class Laps:
    """A stopwatch: `lap(name)` records the seconds since the previous lap (or `start`)."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}
        self.last = time.perf_counter()

    def start(self) -> None:
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.times.setdefault(name, []).append(now - self.last)
        self.last = now


def phase_times(config: PretrainConfig, items: list[dict], mechanism: str | None, reps: int = 5):
    """Median seconds of each phase of a step, padded (mechanism None) or packed: collate,
    targets, encoder forward, heads forward, loss, backward (loss and heads, then encoder),
    optimiser step."""
    torch.manual_seed(0)
    model = PretrainModel(config.model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    intervals = config.model.intervals
    lap = Laps()
    for rep in range(reps + 1):  # the first is a warm-up
        if rep == 1:
            lap.times.clear()
        lap.start()
        if mechanism is None:
            batch = collate_clips(items)
            lap("collate")
            x, lengths = batch["x"], batch["lengths"]
            targets = displacement_targets(x, lengths, batch["present"], intervals)
            lap("targets")
            features = model.encoder(x, lengths)
        else:
            batch = collate_packed(items)
            lap("collate")
            x, lengths = batch["x"], None
            targets = displacement_targets_packed(x, batch["present"], intervals)
            lap("targets")
            features = model.encoder.forward_packed(x, mechanism)
        lap("encoder forward")
        cut = features.detach().requires_grad_()  # to time the two backward halves apart
        logits = model.heads(cut)
        lap("heads forward")
        terms = mpdp_loss_terms(*logits, *targets, lengths, config.model)
        loss = combine_terms(terms, config.lambda_global, config.lambda_mag)
        lap("loss")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lap("loss + heads backward")
        features.backward(cut.grad)
        lap("encoder backward")
        optimizer.step()
        lap("optimizer")
    return {name: statistics.median(t) for name, t in lap.times.items()}


def profile_step(config: PretrainConfig, items: list[dict], step: Callable, rows: int = 15) -> str:
    """The profiler's operators of three steps, by self CPU time, after two warm-up steps."""
    torch.manual_seed(0)
    model = PretrainModel(config.model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    for _ in range(2):
        step(model, items, optimizer, config)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step(model, items, optimizer, config)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def check_authors_targets(config: PretrainConfig, items: list[dict]) -> None:
    """The numpy restatement gives `glt.targets`' classes on every valid frame."""
    batch = collate_clips(items)
    ours = displacement_targets(
        batch["x"], batch["lengths"], batch["present"], config.model.intervals
    )
    for i, item in enumerate(items):
        theirs = authors_targets(item["x"].numpy(), item["present"].numpy(), config.model.intervals)
        for a, b in zip(ours, theirs, strict=True):
            if not np.array_equal(a[i, : item["length"]].numpy(), b):
                raise AssertionError("authors_targets disagrees with glt.targets")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", choices=("natural", "full"), default="natural")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--attn-dropout", type=float, default=0.1)
    parser.add_argument("--reps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--batches", type=int, default=3, help="distinct batches cycled over")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="e.g. cuda (timing only, no --profile)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA, not authors")
    parser.add_argument(
        "--mechanisms",
        help=f"comma-separated (default: {','.join(CPU_MECHANISMS)} on the CPU, all on CUDA)",
    )
    parser.add_argument("--no-authors", action="store_true", help="skip the authors' variant")
    parser.add_argument("--synthetic", metavar="WORK", help="tiny preset on the synthetic set")
    parser.add_argument("--profile", action="store_true", help="profile padded and packed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    default = CPU_MECHANISMS if args.device == "cpu" else tuple(MECHANISMS)
    mechanisms = [m for m in (args.mechanisms or ",".join(default)).split(",") if m]
    unknown = sorted(set(mechanisms) - set(MECHANISMS))
    if unknown:
        parser.error(f"unknown mechanisms {unknown}; choose from {sorted(MECHANISMS)}")

    if args.synthetic:
        config = PretrainConfig.from_preset("tiny", NTU, bf16=args.bf16)
        batch_size = config.batch_size
        batches = synthetic_batches(args.synthetic, batch_size, args.batches)
        lengths = [it["length"] for b in batches for it in b]
        title = (
            f"tiny preset, batch {batch_size}, synthetic xsub train batches "
            f"(frames per clip: mean {np.mean(lengths):.0f}, {min(lengths)}..{max(lengths)})"
        )
    else:
        model = GLTConfig.preset(
            "paper", NTU, dim=args.dim, depth=args.depth, heads=args.heads,
            attn_dropout=args.attn_dropout,
        )  # fmt: skip
        config = PretrainConfig(model=model, bf16=args.bf16)
        batch_size = args.batch_size
        count = batch_size * args.batches
        drawn = natural_lengths(count) if args.lengths == "natural" else np.full(count, 300)
        items = random_items(drawn)
        batches = [items[i : i + batch_size] for i in range(0, count, batch_size)]
        title = (
            f"D={args.dim}, depth {args.depth}, {args.heads} heads, T=300, batch {batch_size}, "
            f"attn dropout {args.attn_dropout}, {args.lengths} lengths (mean "
            f"{drawn.mean():.0f}, {drawn.min()}..{drawn.max()}), {args.threads} threads"
        )
    title += f", {args.device}" + (" bf16" if args.bf16 else "")
    if args.profile:
        print(f"{title}\n\nmedian seconds per phase, {args.reps} steps on one batch\n")
        phases = {
            "padded": phase_times(config, batches[0], None, args.reps),
            **{m: phase_times(config, batches[0], m, args.reps) for m in mechanisms},
        }
        print("| phase | " + " | ".join(phases) + " |\n|---|" + "---|" * len(phases))
        for phase in phases["padded"]:
            print(f"| {phase} | " + " | ".join(f"{p[phase]:.4f}" for p in phases.values()) + " |")
        print("| total | " + " | ".join(f"{sum(p.values()):.4f}" for p in phases.values()) + " |")
        for name, step in (("padded", padded_step), (mechanisms[0], packed_step(mechanisms[0]))):
            print(f"\n## operators, {name}\n{profile_step(config, batches[0], step)}")
        return
    if not args.no_authors:
        check_authors_targets(config, batches[0])
    steps = variants(mechanisms, authors=not args.no_authors)
    seconds = time_steps(config, batches, steps, args.reps, args.device)
    print(report(seconds, batch_size, title))


if __name__ == "__main__":
    main()
