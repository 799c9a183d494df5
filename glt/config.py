"""Training and evaluation settings: what pretraining, linear evaluation and fine-tuning run with.

Each is a dataclass whose defaults are the authors' (method §4, §5) and which checks every
setting when it is made (`rules`: one line per field, naming it). The presets `paper` and `tiny`
change a few fields on top of the defaults; a preset's model sizes are `glt.model.PRESETS`
(the same names).

    PretrainConfig   MPDP pretraining (method §4), kept in a run's config.json (`glt.run`)
    LinearConfig     a linear head on a frozen encoder (method §5): linear evaluation, transfer,
                     semi-supervised in linear mode, the ablations' rows
    FinetuneConfig   the encoder trained with the head: fine-tuning, semi-supervised
"""

from __future__ import annotations

from collections.abc import Iterable
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
}

# Linear-evaluation settings per preset. paper: method §5. tiny (CPU): the train features are
# encoded once (no augmentation), which makes the 100 epochs of the head cost almost nothing.
LINEAR_PRESETS: dict[str, dict] = {
    "paper": {},
    "tiny": {"epochs": 100, "batch_size": 256, "augment": False},
}

# Pretraining settings a resumed run may change: they do not change what one step computes.
RUNTIME_FIELDS = (
    "data", "epochs", "max_steps", "workers", "device", "compile", "bf16", "log_every", "packed",
)  # fmt: skip

Rules = Iterable[tuple[str, bool, str]]  # (field, whether its value is allowed, what it must be)


def _check(what: str, config, rules: Rules) -> None:
    """Raise GLTError naming every field of `config` whose rule fails."""
    problems = [f"{name}={getattr(config, name)} {rule}" for name, ok, rule in rules if not ok]
    if problems:
        raise GLTError(f"invalid {what} settings: " + "; ".join(problems))


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
            ("corrupt", 0 <= self.corrupt <= 1, "must be a fraction in [0, 1]"),
            ("resample", 0 <= self.resample <= frames,
             f"must be in 0..{frames} (the model's num_frames)"),
            ("bucket_pool", self.bucket_pool >= 1, "must be at least 1"),
            ("max_steps", self.max_steps >= 0, "must be >= 0"),
            ("log_every", self.log_every >= 0, "must be >= 0"),
        )  # fmt: skip

    @classmethod
    def from_preset(
        cls, name: str, layout: SkeletonLayout, model: dict | None = None, **overrides
    ) -> PretrainConfig:
        """The `name` preset ("paper" or "tiny") for `layout`; `model` overrides GLTConfig fields,
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
        return cls(**d)


@dataclass
class LinearConfig:
    """The linear-evaluation protocol (method §5): Adam(lr) on one Linear(W, classes) over the
    frozen encoder's frame-averaged features, `epochs` epochs of shuffled batches of `batch_size`.
    `augment` (the authors' setting) re-encodes the train clips with temporal interpolation every
    epoch; without it they are encoded once and the head trains on the cached features."""

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

    @classmethod
    def preset(cls, name: str, **overrides) -> LinearConfig:
        """The `name` preset ("paper" or "tiny", LINEAR_PRESETS) with `overrides`."""
        if name not in LINEAR_PRESETS:
            raise _unknown_preset(name, LINEAR_PRESETS)
        return cls(**{**LINEAR_PRESETS[name], **overrides})


@dataclass
class FinetuneConfig(LinearConfig):
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
