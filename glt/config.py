"""Training and evaluation settings: what pretraining, linear evaluation and fine-tuning run with.

Each is a dataclass whose defaults are the authors' (method §4, §5) and which checks every
setting when it is made (`rules`: one line per field, naming it). The presets `paper`, `tiny` and
`nwucla` change a few fields on top of the defaults; a preset's model sizes are `glt.model.PRESETS`
(the same names).

    PretrainConfig   MPDP pretraining (method §4), kept in a run's config.json (`glt.run`)
    LinearConfig     a linear head on a frozen encoder (method §5): linear evaluation, transfer,
                     semi-supervised in linear mode, the ablations' rows
    FinetuneConfig   the encoder trained with the head: fine-tuning, semi-supervised
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

from glt.errors import GLTError
from glt.layout import SkeletonLayout
from glt.model import GLTConfig

# Pretraining settings per preset, on top of the PretrainConfig defaults (the authors' settings).
# `tiny` is sized for a CPU: small batches at a larger learning rate, for as many steps as its
# features need to beat a random encoder's (on the synthetic default, more than about 700): the
# zero-initialised positional embeddings must first learn the order of the frames. Clipping
# guards against the loss spikes this lr otherwise gives; length-sorted pools of batches save
# most of the padding.
PRETRAIN_PRESETS: dict[str, dict] = {
    "paper": {},
    "tiny": {"epochs": 32, "batch_size": 16, "lr": 1e-3, "clip_grad": 1.0, "bucket_pool": 4},
    # NW-UCLA on a CPU (1,020 train clips, 64 steps of 16 per epoch): tiny's optimisation, a
    # model twice as wide (glt.model.PRESETS) and 80 epochs, which is where its linear top-1
    # passes 85 % within a 30-minute budget on 2 cores (benchmarks/RESULTS.md).
    "nwucla": {
        "epochs": 80, "batch_size": 16, "lr": 1e-3, "clip_grad": 1.0, "bucket_pool": 4,
    },
}  # fmt: skip

# Linear-evaluation settings per preset. paper: method §5, the authors' protocol. tiny (CPU
# teaching): the clean, fast variant: the encoder in eval mode and no augmentation, so the train
# features are encoded once and the 100 epochs of the head cost almost nothing. nwucla: the
# authors' protocol with batch 64: NW-UCLA has 1,020 train clips, which a batch of 1024 with
# drop_last would leave without a single step (15 steps per epoch at 64).
LINEAR_PRESETS: dict[str, dict] = {
    "paper": {},
    "tiny": {
        "epochs": 100, "batch_size": 256, "augment": False, "encoder_mode": "eval",
        "drop_last": False,
    },
    "nwucla": {"batch_size": 64},
}  # fmt: skip

# Pretraining settings a resumed run may change: they do not change what one step computes.
RUNTIME_FIELDS = (
    "data", "epochs", "max_steps", "workers", "device", "compile", "bf16", "log_every", "packed",
)  # fmt: skip

Rules = Iterable[tuple[str, bool, str]]  # (field, whether its value is allowed, what it must be)


def check_settings(what: str, values: Mapping[str, object], rules: Rules) -> None:
    """Raise GLTError naming every setting in `values` that is a NaN or infinite float, or
    whose rule fails (a NaN passes no comparison, an infinity passes `> 0`: both are caught)."""
    infinite = {
        name for name, value in values.items()
        if isinstance(value, float) and not math.isfinite(value)
    }  # fmt: skip
    problems = [f"{name}={values[name]} must be a finite number" for name in sorted(infinite)]
    problems += [
        f"{name}={values[name]} {rule}" for name, ok, rule in rules
        if not ok and name not in infinite
    ]  # fmt: skip
    if problems:
        raise GLTError(f"invalid {what} settings: " + "; ".join(problems))


def _check(what: str, config, rules: Rules) -> None:
    """`check_settings` on every field of the dataclass `config`."""
    check_settings(what, {f.name: getattr(config, f.name) for f in fields(config)}, rules)


def _unknown_preset(name: str, presets: dict) -> GLTError:
    return GLTError(f"unknown preset {name!r}; choose one of {sorted(presets)}")


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
    packed: bool = True  # compute only the real frames (glt.packing); False: padded batches

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = GLTConfig.from_dict(self.model)
        _check("pretraining", self, self.rules())

    def rules(self) -> Rules:
        frames = self.model.num_frames
        return (
            ("epochs", self.epochs >= 1, "must be at least 1"),
            ("batch_size", self.batch_size >= 1, "must be at least 1"),
            ("lr", self.lr > 0, "must be positive"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("lr_decay", 0 < self.lr_decay <= 1, "must be in (0, 1]"),
            ("warmup_steps", self.warmup_steps >= 0, "must be >= 0"),
            ("clip_grad", self.clip_grad >= 0, "must be >= 0"),
            ("lambda_global", self.lambda_global >= 0, "must be >= 0"),
            ("lambda_mag", self.lambda_mag >= 0, "must be >= 0"),
            ("corrupt", 0 <= self.corrupt <= 1, "must be a fraction in [0, 1]"),
            ("resample", 0 <= self.resample <= frames,
             f"must be in 0..{frames} (the model's num_frames)"),
            ("seed", self.seed >= 0, "must be >= 0"),
            ("bucket_pool", self.bucket_pool >= 1, "must be at least 1"),
            ("max_steps", self.max_steps >= 0, "must be >= 0"),
            ("log_every", self.log_every >= 0, "must be >= 0"),
            ("workers", self.workers >= -1, "must be >= 0 (or -1: automatic)"),
        )  # fmt: skip

    @classmethod
    def from_preset(
        cls, name: str, layout: SkeletonLayout, model: dict | None = None, **overrides
    ) -> PretrainConfig:
        """The `name` preset (PRETRAIN_PRESETS) for `layout`; `model` overrides GLTConfig fields,
        `overrides` training fields."""
        if name not in PRETRAIN_PRESETS:
            raise _unknown_preset(name, PRETRAIN_PRESETS)
        model_config = GLTConfig.preset(name, layout=layout, **(model or {}))
        return cls(model=model_config, preset=name, **{**PRETRAIN_PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        """A JSON-friendly dict (the model as a nested dict); `from_dict` reads it back."""
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise GLTError(f"unknown pretraining settings: {unknown}")
        # A run recorded before the pad-free path existed was trained on padded batches.
        return cls(**{"packed": False, **d})


@dataclass
class HeadTraining:
    """What every protocol that trains a classification head shares: `epochs` epochs of shuffled
    batches of `batch_size`, Adam(lr) on the head, interpolation augmentation of the train clips
    (`augment`), one seed."""

    epochs: int = 120
    batch_size: int = 1024
    lr: float = 3e-3  # of the linear head
    augment: bool = True
    seed: int = 0  # head initialisation, labelled subset, shuffling and augmentation

    def __post_init__(self):
        _check("evaluation", self, self.rules())

    def rules(self) -> Rules:
        return (
            ("epochs", self.epochs >= 1, "must be at least 1"),
            ("batch_size", self.batch_size >= 1, "must be at least 1"),
            ("lr", self.lr > 0, "must be positive"),
            ("seed", self.seed >= 0, "must be >= 0"),
        )


@dataclass
class LinearConfig(HeadTraining):
    """The linear-evaluation protocol (method §5) as the authors' script runs it: a Linear(W,
    classes) over the frozen encoder's frame-averaged features; while the head trains the encoder
    is in train mode (`encoder_mode`, a quirk: dropout and DropPath active), so the train features
    are recomputed every epoch; the last incomplete batch is dropped (`drop_last`, a quirk); fp32
    features (`bf16` off). The clean variants: encoder_mode="eval", and with augment=False too
    the train features are encoded once and cached (the fast option)."""

    encoder_mode: str = "train"  # "train" (the authors' quirk) or "eval"
    drop_last: bool = True  # the authors' train loader drops the last incomplete batch
    bf16: bool = False  # bf16 autocast for the features on CUDA (the authors: fp32)

    def rules(self) -> Rules:
        return (
            *super().rules(),
            ("encoder_mode", self.encoder_mode in ("train", "eval"), "must be 'train' or 'eval'"),
        )

    @property
    def cached(self) -> bool:
        """Whether the train features are the same every epoch, so encoded once."""
        return not self.augment and self.encoder_mode == "eval"

    @classmethod
    def preset(cls, name: str, **overrides) -> LinearConfig:
        """The `name` preset (LINEAR_PRESETS) with `overrides`."""
        if name not in LINEAR_PRESETS:
            raise _unknown_preset(name, LINEAR_PRESETS)
        return cls(**{**LINEAR_PRESETS[name], **overrides})


@dataclass
class FinetuneConfig(HeadTraining):
    """Fine-tuning: the encoder is trained with the head, in train mode (dropout, DropPath), on
    batches of similar-length clips. Our choices where the paper is silent: Adam with `lr` for
    the head and `encoder_lr` (the pretraining lr) for the encoder, no schedule, batch 128."""

    batch_size: int = 128
    encoder_lr: float = 5e-5
    eval_every: int = 1  # test every this many epochs (and at the last)

    def rules(self) -> Rules:
        return (
            *super().rules(),
            ("encoder_lr", self.encoder_lr >= 0, "must be >= 0"),
            ("eval_every", self.eval_every >= 1, "must be at least 1"),
        )


def check_knn(ks: Sequence[int], temperature: float) -> None:
    """The kNN protocol's settings: neighbour counts k >= 1, a positive vote temperature."""
    check_settings(
        "kNN",
        {"k": list(ks), "temperature": temperature},
        (
            ("k", bool(ks) and min(ks) >= 1, "must be at least 1"),
            ("temperature", temperature > 0, "must be positive"),
        ),
    )


def check_fraction(fraction: float) -> None:
    """The labelled fraction of the semi-supervised protocol: in (0, 1]."""
    rule = ("fraction", 0 < fraction <= 1, "must be in (0, 1]")
    check_settings("semi-supervised", {"fraction": fraction}, (rule,))
