"""How fast pretraining runs: the authors' formulation against this package's default path.

`run_bench` times MPDP training steps (method §4) of two variants, on the same clips:

    reference   the authors' formulation restated: fp32, every clip padded to num_frames (300),
                explicit-softmax attention (the attention-recording path's math), targets per clip
                in numpy (float64) in the loader, as the authors' feeder computes them
    fast        the trainer's default (`glt.pretrain`): packed batches, only the real frames
                (`glt.pretrain_packed.packed_train_step`), bf16 autocast on CUDA, optionally
                torch.compile

and two workloads: `natural`, NTU-like lengths (lognormal, median 80 frames, sigma 0.45, rounded
and clipped to 32..300: about 90 frames on average, `natural_lengths`), and `full`, every clip
300 frames. Clips are random (the cost does not depend on their values) and made before timing;
loading and augmenting clips from disk is not timed.

A step is the loader's part (collate; for the reference also the numpy targets), then targets,
forward, loss, backward and AdamW on the device. With no loader workers the device waits for the
loader's part: reported as `data_ms`. The two variants take turns, step by step, so that a busy
machine slows both alike; timers are synchronised on CUDA; every number is the median over the
timed steps, after untimed warm-up steps, and the process's CPU time per step is reported beside
the wall-clock time (on a shared CPU the steadier of the two). MFU counts the matmul FLOPs of the valid frames
only (`glt.mpdp.pretrain_flops` per clip at its own length, x3 for forward and backward), for both
variants, against the peak of a large matmul measured in the same run (bf16 on CUDA when the fast
path runs in bf16, else float32). Peak memory is measured on CUDA only: a step's own peak plus
the weights and AdamW's states. The projection divides one
NTU-60 xsub training epoch (40,091 clips) by the natural workload's samples/s.

The command line is `glt bench` (`glt.commands.bench`); `benchmarks/packed_step.py` compares the
temporal attention mechanisms of the fast path with the same reference.
"""

from __future__ import annotations

import datetime
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from glt.atomic import atomic_write
from glt.config import PretrainConfig
from glt.data.dataset import collate_clips, collate_packed
from glt.device import resolve_device
from glt.errors import GLTError
from glt.layout import NTU
from glt.model import GLTConfig
from glt.mpdp import PretrainModel, combine_terms, mpdp_loss_terms, pretrain_flops
from glt.pretrain_packed import optimizer_step, packed_train_step

NTU60_XSUB_TRAIN_CLIPS = 40_091  # one epoch of the paper's main benchmark
PAPER_EPOCHS = 120
WORKLOADS = ("natural", "full")
# The CPU default: small enough that anyone can rerun it in a minute or two.
REDUCED = {"dim": 8, "depth": 2, "heads": 4}
MODEL_PRESETS = {"paper": {}, "reduced": REDUCED}


# --- clips ----------------------------------------------------------------------------------------


def natural_lengths(count: int, seed: int = 0, longest: int = 300) -> np.ndarray:
    """NTU-like clip lengths: lognormal, median 80, sigma 0.45, rounded, clipped to 32..longest."""
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.lognormal(np.log(80), 0.45, count)), 32, longest).astype(int)


def workload_lengths(workload: str, count: int, longest: int = 300, seed: int = 0) -> np.ndarray:
    """Clip lengths of a workload: `natural` (NTU-like) or `full` (every clip `longest`)."""
    if workload == "natural":
        return natural_lengths(count, seed, longest)
    if workload == "full":
        return np.full(count, longest)
    raise GLTError(f"unknown workload {workload!r}; choose from {WORKLOADS}")


def random_items(lengths, seed: int = 0) -> list[dict]:
    """`ClipDataset`-like items of the given lengths (NTU layout, second person absent in every
    third clip)."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i, t in enumerate(int(t) for t in lengths):
        x = 0.1 * torch.randn(t, NTU.num_persons, NTU.num_joints, 3, generator=g)
        if i % 3 == 2:
            x[:, 1] = 0
        items.append(dict(x=x, length=t, label=0, index=i, present=x[0].sum(dim=(-2, -1)) != 0))
    return items


# --- the reference: the authors' formulation ---------------------------------------------------


def authors_targets(clip: np.ndarray, present: np.ndarray, intervals) -> tuple[np.ndarray, ...]:
    """The authors' feeder restated: one clip (T, M, V, 3), every frame, in float64 numpy ->
    direction and magnitude classes (T, R, J), token = joint * M + person (method §4)."""
    x = clip.astype(np.float64)
    frames = np.arange(len(x))
    directions, magnitudes = [], []
    for r in intervals:
        d = x[np.maximum(frames - r, 0)] - x
        sign = np.sign(d) + 1
        directions.append(sign[..., 0] + 3 * sign[..., 1] + 9 * sign[..., 2])
        norm = np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)
        magnitude = np.where(norm == 0, 0, np.minimum(norm // 0.01 + 1, 14))
        magnitude[:, 1:][:, ~present[1:]] = 15  # an absent second person
        magnitudes.append(magnitude)
    return tuple(
        rearrange(np.stack(c, axis=1).astype(np.int64), "t r m v -> t r (v m)")
        for c in (directions, magnitudes)
    )


def reference_batch(items: list[dict], config: PretrainConfig) -> dict:
    """The authors' loader: clips padded to num_frames, targets per clip in numpy."""
    batch = collate_clips(items, num_frames=config.model.num_frames)
    present = batch["present"].numpy()
    targets = [
        authors_targets(clip, p, config.model.intervals)
        for clip, p in zip(batch["x"].numpy(), present, strict=True)
    ]
    batch["dir_target"], batch["mag_target"] = (
        torch.from_numpy(np.stack(t)) for t in zip(*targets, strict=True)
    )
    return batch


def reference_step(
    model: PretrainModel,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    config: PretrainConfig,
    device: torch.device,
) -> torch.Tensor:
    """The authors' step on a `reference_batch`: fp32, explicit-softmax attention on every frame."""
    x, lengths = batch["x"].to(device), batch["lengths"].to(device)
    dir_target, mag_target = batch["dir_target"].to(device), batch["mag_target"].to(device)
    features, _ = model.encoder(x, lengths, return_attention=True)
    dir_logits, mag_logits = model.heads(features)
    terms = mpdp_loss_terms(dir_logits, mag_logits, dir_target, mag_target, lengths, config.model)
    loss = combine_terms(terms, config.lambda_global, config.lambda_mag)
    return optimizer_step(model, optimizer, loss, terms, lengths.sum().float(), config.clip_grad)


def fast_batch(items: list[dict], config: PretrainConfig) -> dict:
    """The trainer's loader: the clips' frames packed, no padding."""
    return collate_packed(items)


# A variant: the loader's part (host) and the step (device).
VARIANTS: dict[str, tuple[Callable, Callable]] = {
    "reference": (reference_batch, reference_step),
    "fast": (fast_batch, packed_train_step),
}


# --- measuring --------------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int | None = None) -> float:
    """FLOP/s of the fastest of a few (size x size) matmuls in `dtype` on `device`."""
    size = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(8):
        _synchronize(device)
        start = time.perf_counter()
        a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


class _Variant:
    """One variant's model (a fresh one, seed 0), optimiser and measurements."""

    def __init__(self, name: str, config: PretrainConfig, device: torch.device, compile: bool):
        self.name, self.config, self.device = name, config, device
        self.prepare, self.step = VARIANTS[name]
        torch.manual_seed(0)
        self.net = PretrainModel(config.model).to(device).train()
        self.model = torch.compile(self.net) if compile and name == "fast" else self.net
        self.optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay,
            fused=device.type == "cuda",
        )  # fmt: skip
        # what stays allocated between steps: the weights and AdamW's two states
        self.static_bytes = 3 * sum(p.numel() * p.element_size() for p in self.net.parameters())
        self.wall, self.data, self.cpu, self.peak = [], [], [], []
        self.error, self.loss = None, None

    def run(self, items: list[dict], timed: bool) -> None:
        """One step on `items`, timed (synchronised) when `timed`; out of memory ends it."""
        cuda = self.device.type == "cuda"
        if cuda:  # the authors' fp32; TF32 where the fast path leaves fp32
            torch.set_float32_matmul_precision("highest" if self.name == "reference" else "high")
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
        _synchronize(self.device)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            batch = self.prepare(items, self.config)
            loaded = time.perf_counter()
            stats = self.step(self.model, batch, self.optimizer, self.config, self.device)
            _synchronize(self.device)
        except torch.OutOfMemoryError as e:
            self.error = str(e).splitlines()[0]
            del self.model, self.net, self.optimizer
            gc.collect()
            torch.cuda.empty_cache()
            return
        if timed:
            self.wall.append(time.perf_counter() - start)
            self.cpu.append(time.process_time() - cpu)
            self.data.append(loaded - start)
            self.loss = float(stats[0])
            if cuda:
                step_peak = torch.cuda.max_memory_allocated(self.device) - before
                self.peak.append((step_peak + self.static_bytes) / 2**30)

    def summary(self, batch_size: int) -> dict:
        if self.error is not None:
            return {"out_of_memory": True, "error": self.error}
        median = statistics.median(self.wall)
        return {
            "out_of_memory": False,
            "ms_per_step": 1000 * median,
            "ms_per_step_min": 1000 * min(self.wall),
            "ms_per_step_max": 1000 * max(self.wall),
            "cpu_ms_per_step": 1000 * statistics.median(self.cpu),
            "data_ms": 1000 * statistics.median(self.data),
            "samples_per_s": batch_size / median,
            "loss": self.loss,
            "peak_memory_gb": max(self.peak) if self.peak else None,
        }


def time_variants(
    config: PretrainConfig,
    batches: list[list[dict]],
    steps: int,
    warmup: int,
    device: torch.device,
    compile: bool = False,
) -> dict[str, dict]:
    """Train each variant (`VARIANTS`) from the same initial weights for `warmup` + `steps` steps,
    cycling over `batches`, the variants taking turns step by step (a busy machine slows them
    alike) -> per variant: medians of the timed steps (wall ms, process CPU ms, loader ms),
    samples/s, the last loss, and on CUDA the peak memory: the step's own peak above what was
    allocated before it, plus the weights and AdamW's states (so that the other variant's
    weights do not count)."""
    variants = [_Variant(name, config, device, compile) for name in VARIANTS]
    for i in range(warmup + steps):
        for variant in variants:
            if variant.error is None:
                variant.run(batches[i % len(batches)], timed=i >= warmup)
    return {v.name: v.summary(len(batches[0])) for v in variants}


def bench_config(
    preset: str, batch_size: int, bf16: bool = True, model: dict | None = None
) -> PretrainConfig:
    """The pretraining settings timed: the authors' (PretrainConfig defaults) with the model of
    `preset` ("paper" or "reduced": D = 8, depth 2, 4 heads) and `model` overrides."""
    if preset not in MODEL_PRESETS:
        raise GLTError(f"unknown bench preset {preset!r}; choose from {sorted(MODEL_PRESETS)}")
    overrides = {**MODEL_PRESETS[preset], **(model or {})}
    return PretrainConfig(
        model=GLTConfig.preset("paper", NTU, **overrides), batch_size=batch_size, bf16=bf16
    )


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the torch threads used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    threads = torch.get_num_threads()
    return f"{name}, {os.cpu_count()} cores, {threads} thread{'s' if threads > 1 else ''}"


def run_bench(
    preset: str | None = None,
    batch_size: int | None = None,
    steps: int | None = None,
    warmup: int | None = None,
    workloads=WORKLOADS,
    device: str | torch.device | None = None,
    bf16: bool = True,
    compile: bool = False,
    model: dict | None = None,
    batches: int = 2,
) -> dict:
    """Time `reference` against `fast` on each workload (see the module docstring) -> a JSON-ready
    dict: settings, the matmul peak, and per workload both variants' numbers, the fast/reference
    ratio of samples/s and, for `natural`, the projected NTU-60 xsub epoch and 120 epochs.

    Defaults depend on the device: CUDA the paper model at batch 128, 10 steps after 3 warm-up
    steps; the CPU the reduced model at batch 32, 3 steps after 1. `batches` distinct batches of
    each workload are cycled over.
    """
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        raise GLTError(f"unknown workload {unknown[0]!r}; choose from {', '.join(WORKLOADS)}")
    device = resolve_device(device)
    cuda = device.type == "cuda"
    preset = preset or ("paper" if cuda else "reduced")
    batch_size = (128 if cuda else 32) if batch_size is None else batch_size
    steps = (10 if cuda else 3) if steps is None else steps
    warmup = (3 if cuda else 1) if warmup is None else warmup
    for name, value, least in (
        ("batch_size", batch_size, 1),
        ("steps", steps, 1),
        ("warmup", warmup, 0),
    ):
        if value < least:
            raise GLTError(f"{name}={value} must be >= {least}")
    config = bench_config(preset, batch_size, bf16, model)
    fast_dtype = torch.bfloat16 if cuda and bf16 else torch.float32
    peak = matmul_peak(device, fast_dtype)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device_name(device),
        "torch": torch.__version__,
        "preset": preset,
        "model": config.model.to_dict(),
        "batch_size": batch_size,
        "steps": steps,
        "warmup": warmup,
        "fast_bf16": fast_dtype == torch.bfloat16,
        "fast_compile": compile,
        "matmul_peak_tflops": peak / 1e12,
        "matmul_peak_dtype": str(fast_dtype).removeprefix("torch."),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "workloads": {},
    }
    longest = config.model.num_frames
    for workload in workloads:
        lengths = workload_lengths(workload, batch_size * batches, longest)
        items = random_items(lengths)
        cut = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        # matmul FLOPs of the valid frames of a step: each clip at its own length, x3 (backward)
        flops = [3 * sum(pretrain_flops(config.model, len(it["x"])) for it in b) for b in cut]
        entry = {
            "lengths": {
                "mean": float(lengths.mean()),
                "median": float(np.median(lengths)),
                "min": int(lengths.min()),
                "max": int(lengths.max()),
            },
            "valid_fraction": float(lengths.mean() / longest),
        }
        for name, timed in time_variants(config, cut, steps, warmup, device, compile).items():
            if not timed["out_of_memory"]:
                per_second = statistics.mean(flops) / (timed["ms_per_step"] / 1000)
                timed["mfu"] = per_second / peak
            entry[name] = timed
        ref, fast = entry["reference"], entry["fast"]
        if not (ref["out_of_memory"] or fast["out_of_memory"]):
            entry["fast_over_reference"] = fast["samples_per_s"] / ref["samples_per_s"]
            entry["fast_over_reference_cpu"] = ref["cpu_ms_per_step"] / fast["cpu_ms_per_step"]
        if workload == "natural":
            entry["projection"] = {
                name: _projection(entry[name])
                for name in VARIANTS
                if "samples_per_s" in entry[name]
            }
        result["workloads"][workload] = entry
    return result


def _projection(timed: dict) -> dict:
    epoch = NTU60_XSUB_TRAIN_CLIPS / timed["samples_per_s"]
    return {"ntu60_xsub_epoch_s": epoch, "paper_120_epochs_h": PAPER_EPOCHS * epoch / 3600}


# --- reporting --------------------------------------------------------------------------------

RESULTS_SECTION = "## `glt bench`: the authors' formulation (reference) against the default (fast)"
RESULTS_HEADER = (
    "| date | device | command | workload | ms / step ref, fast | samples/s ref, fast "
    "| fast / ref | MFU ref, fast | peak GiB ref, fast | data wait ms ref, fast "
    "| NTU-60 xsub epoch fast (ref) | 120 epochs fast (ref) |"
)


def _pair(entry: dict, key: str, fmt: str) -> str:
    def one(timed: dict) -> str:
        if timed.get("out_of_memory"):
            return "OOM"
        value = timed.get(key)
        return "-" if value is None else format(value, fmt)

    return f"{one(entry['reference'])}, {one(entry['fast'])}"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def results_rows(result: dict, command: str) -> list[str]:
    """One Markdown table row per workload (see RESULTS_HEADER)."""
    rows = []
    for workload, e in result["workloads"].items():
        lengths = e["lengths"]
        described = f"{workload} (mean {lengths['mean']:.0f}, {lengths['min']}..{lengths['max']})"
        ratio = "-"
        if "fast_over_reference" in e:
            ratio = (
                f"{e['fast_over_reference']:.2f}x (CPU time {e['fast_over_reference_cpu']:.2f}x)"
            )
        epoch, epochs = "-", "-"
        projection = e.get("projection", {})
        if "fast" in projection:
            fast, ref = projection["fast"], projection.get("reference")
            ref_epoch = f" ({_duration(ref['ntu60_xsub_epoch_s'])})" if ref else ""
            ref_all = f" ({_duration(3600 * ref['paper_120_epochs_h'])})" if ref else ""
            epoch = _duration(fast["ntu60_xsub_epoch_s"]) + ref_epoch
            epochs = _duration(3600 * fast["paper_120_epochs_h"]) + ref_all
        device = result["device"]
        if result.get("load_average") is not None:
            device += f", load {result['load_average']:.1f}"  # other work on the machine
        rows.append(
            f"| {result['date']} | {device} | `{command}` | {described} "
            f"| {_pair(e, 'ms_per_step', '.0f')} | {_pair(e, 'samples_per_s', '.1f')} | {ratio} "
            f"| {_pair(e, 'mfu', '.2%')} | {_pair(e, 'peak_memory_gb', '.1f')} "
            f"| {_pair(e, 'data_ms', '.0f')} | {epoch} | {epochs} |"
        )
    return rows


def append_results(path: str | os.PathLike, result: dict, command: str) -> None:
    """Append `result`'s rows to the Markdown file `path`, under RESULTS_SECTION's table (which
    is added at the end of the file if it is not there yet). The table must end the file."""
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if RESULTS_HEADER not in text:
        separator = "|" + "---|" * (RESULTS_HEADER.count("|") - 1)
        text = text.rstrip("\n") + f"\n\n{RESULTS_SECTION}\n\n{RESULTS_HEADER}\n{separator}\n"
    with atomic_write(path, "w") as f:
        f.write(text.rstrip("\n") + "\n" + "\n".join(results_rows(result, command)) + "\n")
