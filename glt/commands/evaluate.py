"""`glt linear / knn / semi / finetune / transfer / test`: the evaluation protocols
(`glt.evaluate`), one table of verbs and one handler.

Each verb evaluates an encoder on a prepared dataset: a pretraining run's (`--run`) or a
randomly initialised one (`--random-init`, the baseline); `transfer` takes a run pretrained on
another dataset, `test` a saved classifier. The result folder (`glt.results.save_result`) goes to
RUN_DIR/eval/<protocol>-<data> unless `--out` says otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

from glt.commands.common import DEVICE_HELP, by_preset
from glt.config import (
    LINEAR_PRESETS,
    FinetuneConfig,
    HeadTraining,
    LinearConfig,
    check_fraction,
    check_knn,
    check_settings,
)
from glt.data.store import PreparedDataset, open_dataset
from glt.errors import GLTError
from glt.evaluate import (
    KNN_KS,
    KNN_TEMPERATURE,
    evaluate_classifier,
    finetune,
    knn_eval,
    linear_eval,
    random_encoder,
    semi_supervised,
    transfer,
)
from glt.features import BATCH_SIZE
from glt.model import PRESETS, GLTransformer
from glt.paths import runs_dir
from glt.results import EvalResult, save_result
from glt.run import load_config, load_encoder

Evaluate = Callable[[argparse.Namespace, PreparedDataset, GLTransformer | None], EvalResult]


@dataclass(frozen=True)
class Verb:
    """One evaluation verb: its help, whose encoder it evaluates, its settings and flags."""

    help: str
    evaluate: Evaluate  # (args, dataset, encoder) -> result
    folder: Callable[[argparse.Namespace], str]  # the output folder's name, before "-<data>"
    encoder: str = "choose"  # "choose": --run or --random-init; "run": --run; "classifier"
    training: type[HeadTraining] | None = None  # the settings its training flags set
    flags: Callable[[argparse.ArgumentParser], None] | None = None  # flags of its own
    check: Callable[[argparse.Namespace], None] | None = None  # checks its own flags' values
    description: str | None = None


def _settings(config: type[HeadTraining], args) -> HeadTraining:
    """The verb's training settings: the flags given, on top of the linear preset of the
    encoder's pretraining run (`--preset` for a random encoder) or the fine-tuning defaults."""
    given = {f.name: getattr(args, f.name, None) for f in fields(config)}
    given = {name: value for name, value in given.items() if value is not None}
    if config is LinearConfig:
        return LinearConfig.preset(args.protocol_preset, **given)
    return config(**given)


def _runtime(args) -> dict:
    return dict(
        device=args.device, feature_batch_size=args.feature_batch_size, workers=args.workers
    )


def _knn_flags(p) -> None:
    p.add_argument("--k", type=int, nargs="+", default=list(KNN_KS), help="neighbour counts")
    p.add_argument("--temperature", type=float, default=KNN_TEMPERATURE,
                   help="vote weight exp(sim / T)")  # fmt: skip


def _semi_flags(p) -> None:
    p.add_argument("--fraction", type=float, default=0.01, help="labelled fraction (0.01, 0.1)")
    p.add_argument(
        "--mode",
        choices=("finetune", "linear"),
        default="finetune",
        help="fine-tune the whole network (default) or train a linear head on the frozen encoder",
    )


def _semi(args, dataset, encoder) -> EvalResult:
    config = _settings(FinetuneConfig if args.mode == "finetune" else LinearConfig, args)
    return semi_supervised(encoder, dataset, args.fraction, args.mode, config, **_runtime(args))


def _test_flags(p) -> None:
    p.add_argument(
        "--classifier", type=Path, required=True, metavar="DIR", help="an evaluation's output"
    )
    p.add_argument("--run", type=Path, metavar="RUN_DIR", help="the encoder's run, if it moved")
    p.add_argument("--part", default="val", help="dataset part to test on (default val)")


VERBS: dict[str, Verb] = {
    "linear": Verb(
        "linear evaluation of a frozen encoder (method §5)",
        lambda args, dataset, encoder: linear_eval(
            encoder, dataset, _settings(LinearConfig, args), **_runtime(args)
        ),
        lambda args: "linear",
        training=LinearConfig,
        description="Linear evaluation: frozen encoder, one Linear on frame-averaged features.",
    ),
    "knn": Verb(
        "k-nearest-neighbour evaluation of frozen features",
        lambda args, dataset, encoder: knn_eval(
            encoder, dataset, ks=args.k, temperature=args.temperature, **_runtime(args)
        ),
        lambda args: "knn",
        flags=_knn_flags,
        check=lambda args: check_knn(args.k, args.temperature),
    ),
    "semi": Verb(
        "semi-supervised: a labelled fraction of the train clips",
        _semi,
        lambda args: f"semi-{args.mode}-{100 * args.fraction:g}pct",
        training=FinetuneConfig,
        flags=_semi_flags,
        check=lambda args: check_fraction(args.fraction),
    ),
    "finetune": Verb(
        "fine-tune the encoder with a linear head",
        lambda args, dataset, encoder: finetune(
            encoder, dataset, _settings(FinetuneConfig, args), **_runtime(args)
        ),
        lambda args: "finetune",
        training=FinetuneConfig,
    ),
    "transfer": Verb(
        "linear evaluation of an encoder pretrained on another dataset",
        lambda args, dataset, encoder: transfer(
            args.run, dataset, config=_settings(LinearConfig, args), **_runtime(args)
        ),
        lambda args: "transfer",
        encoder="run",
        training=LinearConfig,
    ),
    "test": Verb(
        "test a saved classifier on a dataset",
        lambda args, dataset, encoder: evaluate_classifier(
            args.classifier, dataset, part=args.part, run=args.run, **_runtime(args)
        ),
        lambda args: "test",
        encoder="classifier",
        flags=_test_flags,
    ),
}


def register(subparsers) -> None:
    for name, verb in VERBS.items():
        p = subparsers.add_parser(name, help=verb.help, description=verb.description)
        if verb.flags is not None:
            verb.flags(p)
        _add_common(p, verb)
        if verb.training is not None:
            _add_training(p, verb.training)
        p.set_defaults(handle=handle)


def _add_common(p: argparse.ArgumentParser, verb: Verb) -> None:
    p.add_argument("--data", required=True, type=Path, metavar="DATA_DIR", help="prepared dataset")
    if verb.encoder == "choose":
        p.add_argument(
            "--run", type=Path, metavar="RUN_DIR", help="pretraining run (its encoder is evaluated)"
        )
        p.add_argument(
            "--random-init",
            action="store_true",
            help="evaluate a randomly initialised encoder instead (the baseline)",
        )
        p.add_argument(
            "--preset",
            default="tiny",
            choices=sorted(PRESETS),
            help="model (and linear preset) for --random-init",
        )
    elif verb.encoder == "run":
        p.add_argument(
            "--run", type=Path, required=True, metavar="RUN_DIR", help="run pretrained on dataset A"
        )
    default_out = (
        "CLASSIFIER/test-<data>"
        if verb.encoder == "classifier"
        else "RUN_DIR/eval/<protocol>-<data>"
    )
    p.add_argument("--out", type=Path, metavar="DIR", help=f"output folder (default {default_out})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument(
        "--seed", type=int, default=0, help="random init, subset, shuffling and augmentation"
    )
    p.add_argument(
        "--feature-batch-size", type=int, default=BATCH_SIZE, help="clips per encoder forward"
    )
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")


def _add_training(p: argparse.ArgumentParser, config: type[HeadTraining]) -> None:
    """The flags of `config`'s fields. Linear settings default to the linear preset of the
    encoder's pretraining run (the random encoder's `--preset`): paper = the authors' protocol."""
    g = p.add_argument_group(
        "training (defaults: the linear preset named like the encoder's pretraining preset)"
        if config is LinearConfig
        else "training"
    )
    show = partial(by_preset, config, LINEAR_PRESETS if config is LinearConfig else {"": {}})
    g.add_argument("--epochs", type=int, metavar="N", help=show("epochs"))
    g.add_argument("--batch-size", type=int, metavar="N", help=show("batch_size"))
    g.add_argument("--lr", type=float, help=f"learning rate of the linear head ({show('lr')})")
    g.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help=f"temporal interpolation of the train clips ({show('augment')})",
    )
    if config is LinearConfig:
        g.add_argument(
            "--encoder-mode",
            choices=("train", "eval"),
            help="the frozen encoder's mode while the head trains: train = dropout and DropPath "
            f"active, as the authors' script (a quirk, method §5); {show('encoder_mode')}. "
            "eval with --no-augment encodes the train clips once (much faster)",
        )
        g.add_argument(
            "--keep-last-batch", dest="drop_last", action="store_const", const=False,
            help=f"train on the last incomplete batch too (drop_last: {show('drop_last')})",
        )  # fmt: skip
        g.add_argument(
            "--bf16", action=argparse.BooleanOptionalAction,
            help=f"bf16 features on CUDA ({show('bf16')}; the authors: fp32)",
        )  # fmt: skip
    if config is FinetuneConfig:
        g.add_argument("--encoder-lr", type=float, help=f"encoder lr ({show('encoder_lr')})")
        g.add_argument("--eval-every", type=int, metavar="N",
                       help=f"test every N epochs and the last ({show('eval_every')})")  # fmt: skip


def _check_flags(args: argparse.Namespace, verb: Verb) -> None:
    """Every numeric flag, before any data is read: each bad value is named."""
    runtime = {"seed": args.seed, "feature_batch_size": args.feature_batch_size,
               "workers": args.workers}  # fmt: skip
    check_settings("evaluation", runtime, (
        ("seed", args.seed >= 0, "must be >= 0"),
        ("feature_batch_size", args.feature_batch_size >= 1, "must be at least 1"),
        ("workers", args.workers >= 0, "must be >= 0"),
    ))  # fmt: skip
    if verb.training is not None:
        _settings(verb.training, args)  # the config checks its fields when made
    if verb.check is not None:
        verb.check(args)


def handle(args: argparse.Namespace) -> int:
    verb = VERBS[args.command]
    run = args.run if verb.encoder != "classifier" else None
    args.protocol_preset = _protocol_preset(args, run)
    _check_flags(args, verb)
    dataset = open_dataset(args.data)
    encoder, run = _encoder(args, dataset, verb)
    result = verb.evaluate(args, dataset, encoder)
    if verb.encoder == "classifier":
        result.info["encoder"] = str(args.classifier)
        out = args.out or args.classifier / f"test-{dataset.root.name}"
    else:
        if run is None and result.model is not None:
            result.with_encoder = True  # a random encoder: nothing else can rebuild it
        result.info["encoder"] = (
            str(run) if run is not None else f"random init ({args.preset}, seed {args.seed})"
        )
        base = run if run is not None else runs_dir() / f"random-{args.preset}-seed{args.seed}"
        out = args.out or base / "eval" / f"{verb.folder(args)}-{dataset.root.name}"
    save_result(
        result,
        out,
        layout=dataset.layout,
        encoder_run=None if result.with_encoder else run,
        overwrite=args.overwrite,
    )
    print(result.to_markdown())
    print(f"Results written to {out}")
    return 0


def _protocol_preset(args, run: Path | None) -> str:
    """The linear preset: the pretraining run's preset, or the random encoder's `--preset`."""
    if run is not None:
        preset = load_config(run).preset
        return preset if preset in LINEAR_PRESETS else "paper"
    return getattr(args, "preset", "paper")


def _encoder(
    args, dataset: PreparedDataset, verb: Verb
) -> tuple[GLTransformer | None, Path | None]:
    """The encoder a verb evaluates (None where the protocol loads its own) and its run folder."""
    if verb.encoder == "run":
        return None, args.run
    if verb.encoder == "classifier":
        return None, None
    if args.random_init == (args.run is not None):
        raise GLTError("give either --run RUN_DIR (a pretrained encoder) or --random-init")
    if args.run is not None:
        encoder = load_encoder(args.run)
        encoder.config.check_layout(dataset.layout, str(dataset.root))
        return encoder, args.run
    return random_encoder(args.preset, dataset.layout, args.seed), None
