"""Pretraining by multi-interval pose displacement prediction, MPDP (method §4).

    glt pretrain --data DIR --out RUN_DIR [--preset tiny|paper] [--epochs N] ...
    torchrun --nproc-per-node 4 -m glt pretrain --data DIR --out RUN_DIR ...   # DDP, same options

One step: a batch of clips at natural speed from the dataset's train part, augmented as the
authors (temporal interpolation, then shear; `glt.data.augment.Augment`) and zero-padded to the
batch's longest clip; the direction and magnitude classes of the displacements over the intervals
(1, 5, 10), computed on the device (`glt.targets`); the encoder and MPDP heads
(`glt.mpdp.PretrainModel`) under bf16 autocast on CUDA; the authors' loss (`glt.mpdp.mpdp_loss`).
The optimiser is the authors': AdamW, lr 5e-5, weight decay 0.1, batch 128, lr x 0.99 after every
epoch. Gradient clipping, a linear warm-up and corrected global-token weighting are options, as
are the supplementary's ablations: joint corruption (Table B) and fixed-length resampling (Table A).

The run folder:

    config.json     the full configuration (model and training), written when the run starts
    checkpoint.pt   written atomically after every epoch (`glt.checkpoint`)
    metrics.jsonl   one row per epoch ({"kind": "epoch", ...}: loss and its four terms, lr, grad
                    norm, samples/s, ...) and, at step 1 and every `log_every` steps, a row {"kind": "step",
                    ...} with the loss and its terms of that single step (`load_metrics(kind=)`)
    loss.png        the loss curves, redrawn after every epoch

Reproducibility: the batches of epoch e depend only on (seed, e), the augmentation of clip i only
on (seed, e, i) (`glt.data.dataset`), the learning rate only on (epoch, step), and the dropout
generators are saved in the checkpoint. A resumed run therefore repeats the uninterrupted one
exactly (bit for bit on the CPU); a killed run loses at most the epoch it was in.

DDP (`torchrun`, see `glt.distributed`): `--batch-size` is the global batch, split evenly across
the ranks. Each rank's loss is weighted by its share of the batch's valid frames, so the averaged
gradient is the gradient of the loss over the whole batch, as the authors' DataParallel computed it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from glt import distributed
from glt.atomic import atomic_write
from glt.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from glt.data.augment import Augment, resample
from glt.data.dataset import ClipDataset, LengthBucketSampler, collate_clips, derive_seed
from glt.data.store import open_dataset
from glt.errors import GLTError
from glt.layout import SkeletonLayout
from glt.model import GLTConfig, GLTransformer
from glt.mpdp import PretrainModel, combine_terms, mpdp_loss_terms
from glt.targets import displacement_targets

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"

# Training settings per preset, on top of the PretrainConfig defaults (the authors' settings).
# `tiny` is sized for a CPU: small batches at a larger learning rate, for as many steps as its
# features need to beat a random encoder's (on the synthetic default, more than about 700): the
# zero-initialised positional embeddings must first learn the order of the frames. Clipping
# guards against the loss spikes this lr otherwise gives; length-sorted pools of batches save
# most of the padding.
TRAIN_PRESETS: dict[str, dict] = {
    "paper": {},
    "tiny": {"epochs": 32, "batch_size": 16, "lr": 1e-3, "clip_grad": 1.0, "bucket_pool": 4},
}

# Settings a resumed run may change: they do not change what one step computes.
RUNTIME_FIELDS = (
    "data", "epochs", "max_steps", "workers", "device", "compile", "bf16", "log_every",
)  # fmt: skip

LOSS_TERMS = ("dir_global", "dir_joint", "mag_global", "mag_joint")


@dataclass
class PretrainConfig:
    """Everything a pretraining run depends on; config.json holds it (`to_dict`)."""

    model: GLTConfig
    data: str = ""  # the prepared dataset folder; its "train" part is used
    preset: str = "paper"
    # Optimisation (method §4).
    epochs: int = 120
    batch_size: int = 128  # global: split across DDP ranks
    lr: float = 5e-5
    weight_decay: float = 0.1
    lr_decay: float = 0.99  # the lr is multiplied by this after every epoch
    warmup_steps: int = 0  # linear warm-up of the lr over the first steps (0: none, as the authors)
    clip_grad: float = 0.0  # max gradient norm (0: no clipping, as the authors)
    # Loss (method §4).
    lambda_global: float = 0.05
    lambda_mag: float = 1.0
    authors_weighting: bool = True  # quirk: lambda_global on interval 1's global tokens only
    # Data.
    seed: int = 0
    corrupt: float = 0.0  # fraction of joints set to (0, 0, 0) (supplementary Table B)
    resample: int = 0  # resample every clip to this many frames (Table A); 0: natural speed
    bucket_pool: int = 1  # batches per length-sorted pool: 1 = random batches, as the authors
    # How it runs (may change on resume: RUNTIME_FIELDS).
    max_steps: int = 0  # stop after this many optimiser steps in total (0: no limit)
    workers: int = -1  # DataLoader worker processes per rank (-1: automatic)
    device: str = "auto"  # "auto": this rank's GPU if there is one, else the CPU
    compile: bool = False  # torch.compile the model
    bf16: bool = True  # bf16 autocast on CUDA (the CPU always runs float32)
    log_every: int = 10  # a "step" row in metrics.jsonl at step 1 and every this many (0: none)

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = GLTConfig.from_dict(self.model)
        problems = [
            f"{name}={getattr(self, name)} {rule}"
            for name, ok, rule in (
                ("epochs", self.epochs >= 1, "must be at least 1"),
                ("batch_size", self.batch_size >= 1, "must be at least 1"),
                ("lr", self.lr > 0, "must be positive"),
                ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
                ("lr_decay", 0 < self.lr_decay <= 1, "must be in (0, 1]"),
                ("warmup_steps", self.warmup_steps >= 0, "must be >= 0"),
                ("clip_grad", self.clip_grad >= 0, "must be >= 0"),
                ("corrupt", 0 <= self.corrupt <= 1, "must be a fraction in [0, 1]"),
                (
                    "resample",
                    0 <= self.resample <= self.model.num_frames,
                    f"must be in 0..{self.model.num_frames} (the model's num_frames)",
                ),
                ("bucket_pool", self.bucket_pool >= 1, "must be at least 1"),
                ("max_steps", self.max_steps >= 0, "must be >= 0"),
                ("log_every", self.log_every >= 0, "must be >= 0"),
            )
            if not ok
        ]
        if problems:
            raise GLTError("invalid pretraining settings: " + "; ".join(problems))

    @classmethod
    def from_preset(
        cls, name: str, layout: SkeletonLayout, model: dict | None = None, **overrides
    ) -> PretrainConfig:
        """The `name` preset ("paper" or "tiny") for `layout`; `model` overrides GLTConfig fields,
        `overrides` training fields."""
        if name not in TRAIN_PRESETS:
            raise GLTError(f"unknown preset {name!r}; choose one of {sorted(TRAIN_PRESETS)}")
        model_config = GLTConfig.preset(name, layout=layout, **(model or {}))
        return cls(model=model_config, preset=name, **{**TRAIN_PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        """A JSON-friendly dict (the model as a nested dict); `from_dict` reads it back."""
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise GLTError(f"unknown pretraining settings: {unknown}")
        return cls(**d)


def learning_rate(config: PretrainConfig, epoch: int, step: int) -> float:
    """The lr of optimiser step `step` (0-based, counted over the whole run) in `epoch`:
    lr * lr_decay**epoch (the authors' ExponentialLR stepped after every epoch), times a linear
    warm-up factor (step + 1) / warmup_steps during the first warmup_steps steps."""
    warmup = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    return config.lr * config.lr_decay**epoch * warmup


# --- data -----------------------------------------------------------------------------------------


class PretrainTransform:
    """The pretraining augmentation of one clip (method §4): interpolation then shear, and
    optionally joint corruption (Table B); with `resample` > 0 the clip is first resampled to
    that many frames and not interpolated (Table A)."""

    def __init__(self, config: PretrainConfig, layout: SkeletonLayout):
        self.resample = config.resample
        self.augment = Augment(
            layout,
            interpolate=not config.resample,
            corrupt=config.corrupt,
            max_frames=config.model.num_frames,
        )

    def __call__(self, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.resample:
            clip = resample(clip, self.resample)
        return self.augment(clip, generator)


class ResumableBatches(Sampler[list[int]]):
    """A batch sampler that starts an epoch at a given batch: `set_epoch(epoch, start)` skips the
    first `start` batches of that epoch (to resume a run stopped part-way through it)."""

    def __init__(self, sampler: LengthBucketSampler):
        self.sampler = sampler
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.start = start

    def __iter__(self):
        for i, batch in enumerate(self.sampler):
            if i >= self.start:
                yield batch

    def __len__(self) -> int:
        return len(self.sampler) - self.start


def build_loader(
    config: PretrainConfig, dataset: ClipDataset, ctx: distributed.Context
) -> tuple[DataLoader, ResumableBatches]:
    """This rank's DataLoader over `dataset`, and its batch sampler (call its `set_epoch`).

    Workers load and augment clips ahead of the model, with pinned memory on CUDA and
    persistent workers, so the GPU does not wait for data.
    """
    if config.batch_size % ctx.world_size:
        raise GLTError(
            f"--batch-size {config.batch_size} does not split evenly over {ctx.world_size} ranks"
        )
    sampler = ResumableBatches(
        LengthBucketSampler(
            dataset.lengths,
            config.batch_size // ctx.world_size,
            shuffle=True,
            seed=config.seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
            pool_batches=config.bucket_pool,
        )
    )
    workers = config.workers if config.workers >= 0 else _auto_workers(ctx)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_clips,
        num_workers=workers,
        pin_memory=ctx.device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator(),  # keeps the global generator (dropout) untouched
    )
    return loader, sampler


def _auto_workers(ctx: distributed.Context) -> int:
    """No workers on the CPU (the model needs the cores); on CUDA up to 8 per rank."""
    if ctx.device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_rank = (cores or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(8, per_rank - 1))


# --- one step -------------------------------------------------------------------------------------


def train_step(
    model: torch.nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    config: PretrainConfig,
    device: torch.device,
) -> torch.Tensor:
    """One optimiser step on a batch from `collate_clips`.

    Returns the detached statistics (loss, dir_global, dir_joint, mag_global, mag_joint,
    grad_norm) on the device, the loss terms weighted by this rank's share of the valid frames
    (see the module docstring): summed over the ranks they give the whole batch's values.
    """
    x = batch["x"].to(device, non_blocking=True)  # (B, T, M, V, C)
    lengths = batch["lengths"].to(device, non_blocking=True)  # (B,)
    present = batch["present"].to(device, non_blocking=True)  # (B, M)
    dir_target, mag_target = displacement_targets(x, lengths, present, config.model.intervals)

    bf16 = config.bf16 and device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        dir_logits, mag_logits = model(x, lengths)  # (B, T, R, J, 27), (B, T, R, J, 16)
    terms = mpdp_loss_terms(
        dir_logits.float(), mag_logits.float(), dir_target, mag_target, lengths,
        config.model, config.authors_weighting,
    )  # fmt: skip
    loss = combine_terms(terms, config.lambda_global, config.lambda_mag)
    frames = lengths.sum().float()
    share = frames / distributed.all_reduce_sum(frames.clone())  # this rank's share of the batch
    world = distributed.world_size()

    optimizer.zero_grad(set_to_none=True)
    (loss * share * world).backward()  # DDP averages gradients over the ranks
    params = [p for p in model.parameters() if p.grad is not None]
    if config.clip_grad:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.clip_grad)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    optimizer.step()

    weighted = torch.stack([loss, *(terms[k] for k in LOSS_TERMS)]).detach() * share
    return torch.cat([weighted, grad_norm.detach().float().reshape(1) / world])


# --- the run --------------------------------------------------------------------------------------


def pretrain(
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    preset: str | None = None,
    *,
    model: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    **options,
) -> dict:
    """Pretrain an encoder with MPDP (method §4) and write the run folder `out_dir`.

    data_dir: a prepared dataset (`glt prepare`); its train part is used.
    preset: "tiny" (default for a new run) or "paper", for the model and the training settings.
    model: GLTConfig fields to override, e.g. {"depth": 2, "dropout": 0.0}.
    resume: continue the run in `out_dir` from its checkpoint (or start it if there is none);
        data_dir and preset may then be None (taken from its config.json). Settings given
        must agree with the run's, except RUNTIME_FIELDS (e.g. more epochs).
    options: PretrainConfig fields (epochs, batch_size, lr, ...); None values are ignored.

    Run under `torchrun` for DDP. Returns a summary: run_dir, epoch (completed), step, loss
    (last epoch), samples_per_s, seconds (this call), history (all metrics rows).
    """
    out_dir = Path(out_dir)
    options = {k: v for k, v in options.items() if v is not None}
    ctx = distributed.setup(options.get("device"))
    try:
        config = resolve_config(out_dir, data_dir, preset, model, options, resume)
        distributed.barrier()  # every rank has read out_dir before rank 0 writes to it
        return _run(config, out_dir, ctx, progress)
    finally:
        distributed.teardown()


def resolve_config(
    out_dir: Path,
    data_dir: str | os.PathLike | None,
    preset: str | None,
    model: dict | None,
    options: dict,
    resume: bool,
) -> PretrainConfig:
    """The configuration of the run in `out_dir`: a new one from the preset and options, or
    (resume) the saved one with the options applied, refusing changes outside RUNTIME_FIELDS."""
    known = {f.name for f in fields(PretrainConfig)} - {"model", "data", "preset"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise GLTError(f"unknown pretraining options: {unknown}")
    saved_path = out_dir / CONFIG_FILE
    if saved_path.is_file():
        if not resume:
            raise GLTError(
                f"{out_dir} already holds a pretraining run; pass --resume to continue it "
                "or choose another --out"
            )
        saved = PretrainConfig.from_dict(json.loads(saved_path.read_text()))
        wanted = saved.to_dict()
        wanted.update(options)
        wanted["model"].update(model or {})
        if data_dir is not None:
            wanted["data"] = str(data_dir)
        if preset is not None:
            wanted["preset"] = preset
        changed = {
            k: (v, wanted[k])
            for k, v in saved.to_dict().items()
            if k not in RUNTIME_FIELDS and wanted[k] != v
        }
        if changed:
            listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise GLTError(
                f"cannot resume {out_dir} with different settings ({listed}); only "
                f"{', '.join(RUNTIME_FIELDS)} may change. Start a new run for the others."
            )
        config = PretrainConfig.from_dict(wanted)
        _open_train_part(config.data, config.model)  # fails early if the data moved
        return config
    if data_dir is None:
        raise GLTError("--data is required to start a pretraining run")
    layout, _ = _open_train_part(data_dir, None)
    return PretrainConfig.from_preset(
        preset or "tiny", layout, model, data=str(data_dir), **options
    )


def _open_train_part(data_dir, model_config: GLTConfig | None):
    """(layout, train part) of a prepared dataset, checked against the model's token layout."""
    path = Path(data_dir)
    if not path.is_dir():
        raise GLTError(
            f"data folder {path} does not exist; make one with `glt prepare` or `glt synth`"
        )
    try:
        dataset = open_dataset(path)
        part = dataset.part("train")
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise GLTError(str(e).strip("'\"")) from e
    layout = dataset.layout
    if model_config is not None:
        model_config.check_layout(layout, str(path))
    return layout, part


def _run(config: PretrainConfig, out_dir: Path, ctx: distributed.Context, progress: bool) -> dict:
    """The training loop (see the module docstring); `pretrain` is its entry point."""
    started = time.perf_counter()
    layout, part = _open_train_part(config.data, config.model)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(out_dir / CONFIG_FILE, "w") as f:
            f.write(json.dumps(config.to_dict(), indent=2) + "\n")
    if ctx.device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what bf16 autocast leaves in fp32

    torch.manual_seed(config.seed)  # the same initial weights on every rank
    net = PretrainModel(config.model).to(ctx.device)
    optimizer = torch.optim.AdamW(
        net.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        fused=ctx.device.type == "cuda",
    )
    epoch, start_batch, step = 0, 0, 0
    checkpoint_path = out_dir / CHECKPOINT_FILE
    state = load_checkpoint(checkpoint_path) if checkpoint_path.is_file() else None  # on the CPU
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, start_batch, step = state["epoch"], state["batch"], state["step"]
    if state is not None and len(state["rng"]) == ctx.world_size:
        set_rng_state(state["rng"][ctx.rank])
    else:
        if state is not None and start_batch:
            raise GLTError(
                f"{out_dir} stopped part-way through an epoch on {len(state['rng'])} rank(s); "
                f"resume it on as many, not {ctx.world_size}"
            )
        if state is not None:
            warnings.warn(
                f"resuming a run of {len(state['rng'])} rank(s) on {ctx.world_size}: dropout "
                "is reseeded, so the run will not repeat an uninterrupted one exactly",
                stacklevel=2,
            )
        torch.manual_seed(derive_seed(config.seed, epoch, ctx.rank, 1))  # dropout, per rank

    model = torch.compile(net) if config.compile else net
    if ctx.distributed:
        model = DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
        )
    dataset = ClipDataset(part, PretrainTransform(config, layout), seed=config.seed)
    loader, sampler = build_loader(config, dataset, ctx)
    restored = _restore_metrics(out_dir, step) if ctx.is_main else []
    history = [row for row in restored if _kind(row) == "epoch"]
    step_rows = [row for row in restored if _kind(row) == "step"]

    if ctx.is_main and progress:
        tqdm.write(_banner(config, net, ctx, len(part), epoch, step))
    while epoch < config.epochs and not (config.max_steps and step >= config.max_steps):
        sampler.set_epoch(epoch, start_batch)
        dataset.set_epoch(epoch)
        position = (start_batch, len(sampler.sampler))
        row, step = _train_epoch(
            model, loader, optimizer, config, ctx, epoch, step, progress, position, out_dir,
            step_rows,
        )  # fmt: skip
        batches_done = start_batch + row["batches"]
        finished = batches_done == len(sampler.sampler)
        if not finished:
            row["partial"] = True
        epoch, start_batch = (epoch + 1, 0) if finished else (epoch, batches_done)
        rng = distributed.all_gather(rng_state())
        if ctx.is_main:
            save_checkpoint(
                checkpoint_path,
                model=model,
                optimizer=optimizer,
                rng=rng,
                epoch=epoch,
                batch=start_batch,
                step=step,
                config=config.to_dict(),
            )
            history.append(row)
            _append_metrics(out_dir, row)
            _save_plot(out_dir / PLOT_FILE, history + step_rows)
            if progress:
                tqdm.write(_epoch_line(row, config.epochs))
    distributed.barrier()

    last = history[-1] if history else {}
    return {
        "run_dir": str(out_dir),
        "epoch": epoch,
        "step": step,
        "loss": last.get("loss"),
        "samples_per_s": last.get("samples_per_s"),
        "seconds": time.perf_counter() - started,
        "history": history,
    }


def _train_epoch(
    model, loader, optimizer, config, ctx, epoch, step, progress, position, out_dir, step_rows
) -> tuple[dict, int]:
    """Train over this rank's batches of one epoch (or until max_steps); return its metrics row
    (reduced over the ranks) and the new global step.

    position: (batches of this epoch done before, batches per epoch), for the fractional epoch
    of the step rows that are written (rank 0) to out_dir's metrics and appended to step_rows
    every config.log_every steps.
    """
    model.train()
    device = ctx.device
    sums = torch.zeros(len(LOSS_TERMS) + 2, dtype=torch.float64, device=device)
    samples, batches = 0, 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    bar = tqdm(
        total=len(loader),
        desc=f"epoch {epoch + 1}/{config.epochs}",
        disable=not (progress and ctx.is_main),
        leave=False,
        dynamic_ncols=True,
    )
    started = last_shown = time.perf_counter()
    lr = learning_rate(config, epoch, step)
    for batch in loader:
        lr = learning_rate(config, epoch, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        stats = train_step(model, batch, optimizer, config, device)
        sums += stats
        step += 1
        batches += 1
        if config.log_every and (step % config.log_every == 0 or step == 1):  # all ranks reduce
            values = distributed.all_reduce_sum(stats.clone()).tolist()
            if ctx.is_main:
                done, per_epoch = position
                step_row = {
                    "kind": "step",
                    "epoch": epoch + (done + batches) / max(per_epoch, 1),
                    "step": step,
                    "loss": values[0],
                    **dict(zip(LOSS_TERMS, values[1:5], strict=True)),
                    "grad_norm": values[5],
                    "lr": lr,
                }
                step_rows.append(step_row)
                _append_metrics(out_dir, step_row)
        samples += len(batch["lengths"])
        bar.update()
        now = time.perf_counter()
        if not bar.disable and now - last_shown > 1.0:  # a host sync, at most once a second
            last_shown = now
            rate = samples * ctx.world_size / (now - started)
            bar.set_postfix(loss=f"{sums[0].item() * ctx.world_size / batches:.4f}",
                            samples_s=f"{rate:.1f}")  # fmt: skip
        if config.max_steps and step >= config.max_steps:
            break
    bar.close()

    sums = distributed.all_reduce_sum(sums)
    samples = int(distributed.all_reduce_sum(torch.tensor([samples], device=device)))
    seconds = time.perf_counter() - started
    means = (sums / max(batches, 1)).tolist()  # every rank takes the same number of steps
    row = {
        "kind": "epoch",
        "epoch": epoch + 1,
        "step": step,
        "batches": batches,
        "loss": means[0],
        **dict(zip(LOSS_TERMS, means[1:5], strict=True)),
        "grad_norm": means[5],
        "lr": lr,
        "samples": samples,
        "samples_per_s": samples / seconds,
        "seconds": seconds,
    }
    if device.type == "cuda":
        row["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row, step


def _banner(config: PretrainConfig, net, ctx, clips: int, epoch: int, step: int) -> str:
    params = sum(p.numel() for p in net.parameters())
    where = f"{ctx.world_size} x {ctx.device.type}" if ctx.distributed else str(ctx.device)
    start = f"resuming at epoch {epoch + 1}, step {step}" if step else "starting"
    return (
        f"pretrain: {config.preset} preset, {params / 1e6:.2f}M parameters, {clips} clips, "
        f"batch {config.batch_size}, {config.epochs} epochs on {where}; {start}"
    )


def _epoch_line(row: dict, epochs: int) -> str:
    partial = " (partial)" if row.get("partial") else ""
    memory = f", {row['peak_memory_gb']:.1f} GiB" if "peak_memory_gb" in row else ""
    return (
        f"epoch {row['epoch']}/{epochs}{partial}: loss {row['loss']:.4f} "
        f"(direction {row['dir_joint']:.3f}, magnitude {row['mag_joint']:.3f}), "
        f"lr {row['lr']:.3g}, {row['samples_per_s']:.1f} samples/s{memory}"
    )


# --- metrics and the loss plot ----------------------------------------------------------------------


def _kind(row: dict) -> str:
    """The kind of a metrics row, "epoch" or "step" (older rows have none: epoch rows)."""
    return row.get("kind", "epoch")


def load_metrics(run_dir: str | os.PathLike, kind: str | None = "epoch") -> list[dict]:
    """The rows of RUN_DIR/metrics.jsonl ([] if none); a torn last line is ignored.

    kind: "epoch" (default) the per-epoch rows, "step" the rows logged every `log_every` steps,
    None all rows in file order. Rows without a "kind" (older runs) are epoch rows.
    """
    if kind not in ("epoch", "step", None):
        raise GLTError(f"load_metrics: kind must be 'epoch', 'step' or None, not {kind!r}")
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows if kind is None else [row for row in rows if _kind(row) == kind]


def _append_metrics(run_dir: Path, row: dict) -> None:
    with open(run_dir / METRICS_FILE, "a") as f:
        f.write(json.dumps(row) + "\n")


def _restore_metrics(run_dir: Path, step: int) -> list[dict]:
    """Keep the rows up to the checkpoint's step (a killed run may have written later ones)."""
    rows = [row for row in load_metrics(run_dir, kind=None) if row["step"] <= step]
    with atomic_write(run_dir / METRICS_FILE, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    return rows


def _save_plot(path: Path, metrics: list[dict]) -> None:
    import matplotlib.pyplot as plt

    fig = plot_loss(metrics)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def plot_loss(metrics: list[dict], *, chance: float | None = None):
    """The pretraining curves from metrics rows (`load_metrics(run, kind=None)`): total loss, and
    its direction and magnitude terms (joint and global tokens), against the epoch. Epoch rows
    are drawn as points joined by lines (epoch means), step rows, if any, as thin lines behind
    them; `chance`, if given, as a dotted line on the loss panel. Returns a matplotlib Figure."""
    from matplotlib.ticker import MaxNLocator

    from glt.viz import training_curves

    epochs = [row for row in metrics if _kind(row) == "epoch"]
    steps = [row for row in metrics if _kind(row) == "step"]
    fig = training_curves(
        epochs or steps, ["loss", LOSS_TERMS], x="epoch", title="MPDP pretraining",
        steps=steps if epochs else None,
    )  # fmt: skip
    loss_ax, terms_ax = fig.axes[:2]
    loss_ax.set_ylabel("loss (weighted sum)")
    terms_ax.set_ylabel("cross-entropy per term")
    if chance is not None:
        line = loss_ax.axhline(chance, color="grey", ls=":", label="chance level")
        legend = loss_ax.get_legend()
        handles = legend.legend_handles if legend is not None else []
        loss_ax.legend(handles=[*handles, line], fontsize=7)
    for ax in (loss_ax, terms_ax):
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


# --- loading a run --------------------------------------------------------------------------------


def load_config(run_dir: str | os.PathLike) -> PretrainConfig:
    """The configuration of the run in `run_dir` (its config.json)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise GLTError(f"{run_dir} is not a pretraining run (no {CONFIG_FILE})")
    return PretrainConfig.from_dict(json.loads(path.read_text()))


def load_encoder(
    run_dir: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> GLTransformer:
    """The pretrained encoder of the run in `run_dir` (its last checkpoint), in eval mode.

    Its configuration is `encoder.config`; the run's full configuration is `load_config(run_dir)`.
    """
    config = load_config(run_dir)
    state = load_checkpoint(Path(run_dir) / CHECKPOINT_FILE, map_location)
    net = PretrainModel(config.model)
    net.load_state_dict(state["model"])
    return net.encoder.to(map_location).eval()


# --- command line ---------------------------------------------------------------------------------


def add_commands(subparsers) -> None:
    """Add `glt pretrain`."""
    p = subparsers.add_parser(
        "pretrain",
        help="MPDP pretraining of a GL-Transformer encoder (method §4)",
        description=__doc__.split("\n\n")[0]
        + " Run it under `torchrun --nproc-per-node N` for several GPUs.",
    )
    p.add_argument("--data", help="prepared dataset folder; its train part is used")
    p.add_argument("--out", required=True, help="run folder (config, checkpoint, metrics, plot)")
    p.add_argument("--preset", choices=sorted(TRAIN_PRESETS), help="model and training sizes "
                   "(default tiny; paper = the published model)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a model setting ({', '.join(f.name for f in fields(GLTConfig))})")  # fmt: skip
    g = p.add_argument_group("training (defaults: the preset's; paper = the authors')")
    g.add_argument("--epochs", type=int, metavar="N", help="paper 120, tiny 5")
    g.add_argument("--batch-size", type=int, metavar="N",
                   help="global batch, split across DDP ranks (paper 128, tiny 16)")  # fmt: skip
    g.add_argument("--lr", type=float, help="AdamW learning rate (paper 5e-5, tiny 1e-3)")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay (0.1)")
    g.add_argument("--lr-decay", type=float, help="lr factor after every epoch (0.99)")
    g.add_argument("--warmup-steps", type=int, metavar="N", help="linear lr warm-up (default 0)")
    g.add_argument("--clip-grad", type=float, metavar="NORM", help="max gradient norm (0: off)")
    g.add_argument("--lambda-global", type=float, help="weight of the global tokens (0.05)")
    g.add_argument("--lambda-mag", type=float, help="weight of the magnitude loss (1.0)")
    g.add_argument("--corrected-global-weighting", dest="authors_weighting",
                   action="store_const", const=False,
                   help="weight the global tokens of every interval by lambda_global "
                   "(the authors' code does it for the first interval only)")  # fmt: skip
    g.add_argument("--seed", type=int, help="weights, batch order, augmentation (default 0)")
    g.add_argument("--corrupt", type=float, metavar="FRACTION",
                   help="set this fraction of joints to (0, 0, 0) (supplementary Table B)")  # fmt: skip
    g.add_argument("--resample", type=int, metavar="FRAMES",
                   help="resample clips to this many frames instead of natural speed (Table A)")  # fmt: skip
    g.add_argument("--bucket-pool", type=int, metavar="BATCHES",
                   help="batch clips of similar length, sorting pools of this many batches "
                   "(less padding, faster; default 1: random batches as the authors)")  # fmt: skip
    r = p.add_argument_group("how it runs")
    r.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps in all")
    r.add_argument("--workers", type=int, metavar="N",
                   help="DataLoader workers per rank (default: 0 on the CPU, up to 8 on CUDA)")  # fmt: skip
    r.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU if there is one)")
    r.add_argument("--compile", action="store_const", const=True, help="torch.compile the model")
    r.add_argument("--no-bf16", dest="bf16", action="store_const", const=False,
                   help="float32 on CUDA instead of bf16 autocast")  # fmt: skip
    r.add_argument("--log-every", type=int, metavar="N",
                   help="write the loss of step 1 and every N-th step to metrics.jsonl (default 10; 0: off)")  # fmt: skip
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli)


def parse_model_overrides(items: list[str]) -> dict:
    """`--model KEY=VALUE` items as GLTConfig overrides (values read as JSON when they parse)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise GLTError(f"--model {item!r}: expected KEY=VALUE, e.g. --model depth=2")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def _cli(args: argparse.Namespace) -> int:
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
