"""Pretraining by multi-interval pose displacement prediction, MPDP (method §4).

One step: a batch of clips at natural speed from the dataset's train part, augmented as the
authors (temporal interpolation, then shear; `glt.data.augment.Augment`) and packed, the clips'
frames one after the other with no padding (`glt.packing`); the direction and magnitude classes
of the displacements over the intervals (1, 5, 10), computed on the device (`glt.targets`); the
encoder and MPDP heads (`glt.mpdp.PretrainModel`) on the real frames only, under bf16 autocast on
CUDA; the authors' loss (`glt.mpdp.mpdp_loss`). That is `glt.pretrain_packed.packed_train_step`.
With `packed=False` (`--padded`) a batch is instead zero-padded to its longest clip and computed
whole, as the authors' code (`train_step`): the same loss and gradients, more work.
The optimiser is the authors': AdamW, lr 5e-5, weight decay 0.1, batch 128, lr x 0.99 after every
epoch. Gradient clipping, a linear warm-up and corrected global-token weighting are options, as
are the supplementary's ablations: joint corruption (Table B) and fixed-length resampling (Table A).
The settings are a `glt.config.PretrainConfig`; the run folder (config, checkpoint, metrics, loss
plot) is written through `glt.run`. The command line is `glt pretrain` (`glt.commands.pretrain`).

Reproducibility: the batches of epoch e depend only on (seed, e), the augmentation of clip i only
on (seed, e, i) (`glt.data.dataset`), the learning rate only on (epoch, step), and the dropout
generators are saved in the checkpoint. A resumed run therefore repeats the uninterrupted one
exactly (bit for bit on the CPU); a killed run loses at most the epoch it was in.

DDP (`torchrun`, see `glt.distributed`): `batch_size` is the global batch, split evenly across
the ranks. Each rank's loss is weighted by its share of the batch's valid frames, so the averaged
gradient is the gradient of the loss over the whole batch, as the authors' DataParallel computed it.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from glt import distributed, run
from glt.atomic import remove_temporaries
from glt.checkpoint import rng_state, set_rng_state
from glt.config import RUNTIME_FIELDS, PretrainConfig
from glt.data.augment import Augment, resample
from glt.data.dataset import (
    ClipDataset,
    LengthBucketSampler,
    collate_clips,
    collate_packed,
    derive_seed,
)
from glt.data.store import SkeletonPart, open_dataset
from glt.device import autocast
from glt.divergence import DivergenceGuard
from glt.errors import GLTError
from glt.layout import SkeletonLayout
from glt.lock import FolderLock
from glt.model import GLTConfig
from glt.mpdp import LOSS_TERMS, PretrainModel, combine_terms, mpdp_loss_terms
from glt.pretrain_packed import optimizer_step, packed_train_step
from glt.targets import displacement_targets


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

    Batches are packed (`collate_packed`), or padded (`collate_clips`) when `config.packed` is
    off. Workers load and augment clips ahead of the model, with pinned memory on CUDA and
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
        collate_fn=collate_packed if config.packed else collate_clips,
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
    """One optimiser step on a padded batch from `collate_clips` (the authors' formulation; the
    default is `packed_train_step`, on a `collate_packed` batch).

    Returns the detached statistics (loss, dir_global, dir_joint, mag_global, mag_joint,
    grad_norm) on the device, the loss terms weighted by this rank's share of the valid frames
    (see the module docstring): summed over the ranks they give the whole batch's values.
    """
    x = batch["x"].to(device, non_blocking=True)  # (B, T, M, V, C)
    lengths = batch["lengths"].to(device, non_blocking=True)  # (B,)
    present = batch["present"].to(device, non_blocking=True)  # (B, M)
    dir_target, mag_target = displacement_targets(x, lengths, present, config.model.intervals)

    with autocast(device, enabled=config.bf16):
        dir_logits, mag_logits = model(x, lengths)  # (B, T, R, J, 27), (B, T, R, J, 16)
    terms = mpdp_loss_terms(
        dir_logits.float(), mag_logits.float(), dir_target, mag_target, lengths,
        config.model, config.authors_weighting,
    )  # fmt: skip
    loss = combine_terms(terms, config.lambda_global, config.lambda_mag)
    return optimizer_step(model, optimizer, loss, terms, lengths.sum().float(), config.clip_grad)


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
    """Pretrain an encoder with MPDP (method §4) and write the run folder `out_dir` (`glt.run`).

    data_dir: a prepared dataset (`glt prepare`); its train part is used.
    preset: "tiny" (default for a new run), "nwucla" or "paper", for the model and the training
        settings.
    model: GLTConfig fields to override, e.g. {"depth": 2, "dropout": 0.0}.
    resume: continue the run in `out_dir` from its checkpoint (or start it if there is none);
        data_dir and preset may then be None (taken from its config.json). Settings given
        must agree with the run's, except RUNTIME_FIELDS (e.g. more epochs).
    options: PretrainConfig fields (epochs, batch_size, lr, ...); None values are ignored.

    Run under `torchrun` for DDP. Returns a summary: run_dir, epoch (completed), step, loss
    (last epoch), samples_per_s, seconds (this call), history (all epoch rows).
    """
    out_dir = Path(out_dir)
    options = {k: v for k, v in options.items() if v is not None}
    ctx = distributed.setup(options.get("device"))
    try:
        with _run_lock(out_dir, ctx):
            config = resolve_config(out_dir, data_dir, preset, model, options, resume)
            distributed.barrier()  # every rank has read out_dir before rank 0 writes to it
            summary = _train(config, out_dir, ctx, progress)
    except BaseException:
        distributed.teardown(together=False)  # the other ranks may never come
        raise
    distributed.teardown()
    return summary


@contextlib.contextmanager
def _run_lock(out_dir: Path, ctx: distributed.Context) -> Iterator[None]:
    """Rank 0 holds the run folder's lock (`glt.lock`) while the run lasts and removes what a
    killed run left; every rank stops when another process holds it."""
    with contextlib.ExitStack() as stack:
        refused = None
        if ctx.is_main:
            try:
                stack.enter_context(FolderLock(out_dir))
            except GLTError as e:
                refused = str(e)
            else:
                remove_temporaries(out_dir)
        refused = next(filter(None, distributed.all_gather(refused)), None)
        if refused is not None:
            raise GLTError(refused)
        yield


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
    if run.is_run(out_dir):
        if not resume:
            raise GLTError(
                f"{out_dir} already holds a pretraining run; pass --resume to continue it "
                "or choose another --out"
            )
        saved = run.load_config(out_dir).to_dict()
        wanted = {**saved, **options, "model": {**saved["model"], **(model or {})}}
        if data_dir is not None:
            wanted["data"] = str(data_dir)
        if preset is not None:
            wanted["preset"] = preset
        changed = {
            k: (v, wanted[k])
            for k, v in saved.items()
            if k not in RUNTIME_FIELDS and wanted[k] != v
        }
        if changed:
            listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise GLTError(
                f"cannot resume {out_dir} with different settings ({listed}); only "
                f"{', '.join(RUNTIME_FIELDS)} may change. Start a new run for the others."
            )
        config = PretrainConfig.from_dict(wanted)
        open_train_part(config.data, config.model)  # fails early if the data moved
        return config
    if data_dir is None:
        if resume:
            raise GLTError(
                f"{out_dir} holds no pretraining run to resume; give --data to start one"
            )
        raise GLTError("--data is required to start a pretraining run")
    layout, _ = open_train_part(data_dir)
    return PretrainConfig.from_preset(
        preset or "tiny", layout, model, data=str(data_dir), **options
    )


def open_train_part(
    data_dir: str | os.PathLike, model: GLTConfig | None = None
) -> tuple[SkeletonLayout, SkeletonPart]:
    """(layout, train part) of a prepared dataset, checked against the model's token layout."""
    path = Path(data_dir)
    if not path.is_dir():
        raise GLTError(
            f"data folder {path} does not exist; make one with `glt prepare` or `glt synth`"
        )
    try:
        dataset = open_dataset(path)
    except FileNotFoundError as e:
        raise GLTError(str(e)) from e
    part = dataset.part("train")
    if model is not None:
        model.check_layout(dataset.layout, str(path))
    return dataset.layout, part


def _train(config: PretrainConfig, out_dir: Path, ctx: distributed.Context, progress: bool) -> dict:
    """The training loop (see the module docstring); `pretrain` is its entry point."""
    started = time.perf_counter()
    trainer = Trainer(config, out_dir, ctx)
    if ctx.is_main and progress:
        tqdm.write(trainer.banner())
    while not trainer.finished:
        row = trainer.train_epoch(progress)
        trainer.save(row)
        if ctx.is_main and progress:
            tqdm.write(_epoch_line(row, config.epochs))
    distributed.barrier()

    history = trainer.log.rows_of("epoch") if trainer.log is not None else []
    last = history[-1] if history else {}
    return {
        "run_dir": str(out_dir),
        "epoch": trainer.epoch,
        "step": trainer.step,
        "loss": last.get("loss"),
        "samples_per_s": last.get("samples_per_s"),
        "seconds": time.perf_counter() - started,
        "history": history,
    }


class Trainer:
    """One rank's share of a pretraining run: the model (wrapped for torch.compile and DDP), its
    optimiser, the data, where the run stands (`epoch`, `batch` of it done, `step` in all), and
    on rank 0 the run's metrics (`log`). Built from the run's checkpoint when it has one."""

    def __init__(self, config: PretrainConfig, out_dir: Path, ctx: distributed.Context):
        self.config, self.out_dir, self.ctx = config, out_dir, ctx
        layout, self.part = open_train_part(config.data, config.model)
        if ctx.is_main:
            run.save_config(out_dir, config)
        if ctx.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for what bf16 autocast leaves in fp32

        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.net = PretrainModel(config.model).to(ctx.device)
        self.optimizer = torch.optim.AdamW(
            self.net.parameters(),
            lr=config.lr,
            weight_decay=config.weight_decay,
            fused=ctx.device.type == "cuda",
        )
        self.epoch, self.batch, self.step = 0, 0, 0
        self._restore(run.load_state(out_dir))  # on the CPU

        model = torch.compile(self.net) if config.compile else self.net
        if ctx.distributed:
            model = DistributedDataParallel(
                model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
            )
        self.model = model
        self.dataset = ClipDataset(self.part, PretrainTransform(config, layout), seed=config.seed)
        self.loader, self.sampler = build_loader(config, self.dataset, ctx)
        self.log = run.MetricsLog(out_dir, self.step) if ctx.is_main else None

    def _restore(self, state: dict | None) -> None:
        """Continue from a checkpoint: weights, optimiser, position and this rank's generators."""
        ctx = self.ctx
        if state is not None:
            self.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        if state is not None and len(state["rng"]) == ctx.world_size:
            set_rng_state(state["rng"][ctx.rank])
            return
        if state is not None and self.batch:
            raise GLTError(
                f"{self.out_dir} stopped part-way through an epoch on {len(state['rng'])} "
                f"rank(s); resume it on as many, not {ctx.world_size}"
            )
        if state is not None:
            warnings.warn(
                f"resuming a run of {len(state['rng'])} rank(s) on {ctx.world_size}: dropout "
                "is reseeded, so the run will not repeat an uninterrupted one exactly",
                stacklevel=2,
            )
        torch.manual_seed(derive_seed(self.config.seed, self.epoch, ctx.rank, 1))  # dropout

    @property
    def finished(self) -> bool:
        c = self.config
        return self.epoch >= c.epochs or bool(c.max_steps and self.step >= c.max_steps)

    def train_epoch(self, progress: bool) -> dict:
        """Train over this rank's batches of the current epoch from `batch` on (or until
        max_steps); return the epoch's metrics row, reduced over the ranks. On rank 0 a step
        row goes to the log at step 1 and every `log_every` steps."""
        config, ctx, device = self.config, self.ctx, self.ctx.device
        self.sampler.set_epoch(self.epoch, self.batch)
        self.dataset.set_epoch(self.epoch)
        self.model.train()
        sums = torch.zeros(len(LOSS_TERMS) + 2, dtype=torch.float64, device=device)
        samples, batches, per_epoch = 0, 0, len(self.sampler.sampler)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        bar = tqdm(
            total=len(self.loader),
            desc=f"epoch {self.epoch + 1}/{config.epochs}",
            disable=not (progress and ctx.is_main),
            leave=False,
            dynamic_ncols=True,
        )
        started = last_shown = time.perf_counter()
        lr = learning_rate(config, self.epoch, self.step)
        guard = DivergenceGuard(("loss", *LOSS_TERMS, "grad_norm"), self._kept())
        step = packed_train_step if config.packed else train_step
        for batch in self.loader:
            lr = learning_rate(config, self.epoch, self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            stats = step(self.model, batch, self.optimizer, config, device)
            sums += stats
            self.step += 1
            batches += 1
            guard.update(stats, self.step)
            if config.log_every and (self.step % config.log_every == 0 or self.step == 1):
                guard.check()  # every rank, at the same steps
                values = distributed.all_reduce_sum(stats.clone()).tolist()  # every rank reduces
                if self.log is not None:
                    epoch = self.epoch + (self.batch + batches) / max(per_epoch, 1)
                    where = {"kind": "step", "epoch": epoch, "step": self.step}
                    self.log.append({**where, **_losses(values), "lr": lr})
            samples += len(batch["lengths"])
            bar.update()
            now = time.perf_counter()
            if not bar.disable and now - last_shown > 1.0:  # a host sync, at most once a second
                last_shown = now
                rate = samples * ctx.world_size / (now - started)
                bar.set_postfix(loss=f"{sums[0].item() * ctx.world_size / batches:.4f}",
                                samples_s=f"{rate:.1f}")  # fmt: skip
            if config.max_steps and self.step >= config.max_steps:
                break
        bar.close()
        guard.check()  # before anything of this epoch is saved

        sums = distributed.all_reduce_sum(sums)
        samples = int(distributed.all_reduce_sum(torch.tensor([samples], device=device)))
        seconds = time.perf_counter() - started
        means = (sums / max(batches, 1)).tolist()  # every rank takes the same number of steps
        row = {
            "kind": "epoch",
            "epoch": self.epoch + 1,
            "step": self.step,
            "batches": batches,
            **_losses(means),
            "lr": lr,
            "samples": samples,
            "samples_per_s": samples / seconds,
            "seconds": seconds,
        }
        if device.type == "cuda":
            row["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
        done = self.batch + batches
        if done < per_epoch:
            row["partial"] = True
            self.batch = done
        else:
            self.epoch, self.batch = self.epoch + 1, 0
        return row

    def _kept(self) -> str:
        """What a run stopped now keeps: its checkpoint as of the start of this epoch."""
        if not self.step:
            return "no checkpoint was written"
        return f"the last checkpoint (step {self.step}) is kept"

    def save(self, row: dict) -> None:
        """After an epoch (or a stop part-way through one): the checkpoint, with every rank's
        generators, the epoch's metrics row and the loss plot (written by rank 0)."""
        rng = distributed.all_gather(rng_state())
        if not self.ctx.is_main:
            return
        run.save_state(
            self.out_dir,
            model=self.model,
            optimizer=self.optimizer,
            rng=rng,
            epoch=self.epoch,
            batch=self.batch,
            step=self.step,
            config=self.config.to_dict(),
        )
        self.log.append(row)
        self.log.draw()

    def banner(self) -> str:
        c, ctx = self.config, self.ctx
        params = sum(p.numel() for p in self.net.parameters())
        where = f"{ctx.world_size} x {ctx.device.type}" if ctx.distributed else str(ctx.device)
        start = f"resuming at epoch {self.epoch + 1}, step {self.step}" if self.step else "starting"
        return (
            f"pretrain: {c.preset} preset, {params / 1e6:.2f}M parameters, {len(self.part)} "
            f"clips, batch {c.batch_size}, {c.epochs} epochs on {where}; {start}"
        )


def _losses(values: list[float]) -> dict:
    """The statistics of `train_step` (loss, its four terms, gradient norm) as metrics fields."""
    return {
        "loss": values[0],
        **dict(zip(LOSS_TERMS, values[1:5], strict=True)),
        "grad_norm": values[5],
    }


def _epoch_line(row: dict, epochs: int) -> str:
    partial = " (partial)" if row.get("partial") else ""
    memory = f", {row['peak_memory_gb']:.1f} GiB" if "peak_memory_gb" in row else ""
    return (
        f"epoch {row['epoch']}/{epochs}{partial}: loss {row['loss']:.4f} "
        f"(direction {row['dir_joint']:.3f}, magnitude {row['mag_joint']:.3f}), "
        f"lr {row['lr']:.3g}, {row['samples_per_s']:.1f} samples/s{memory}"
    )
