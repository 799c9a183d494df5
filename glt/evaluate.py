"""Evaluation protocols (method §5) and their command-line verbs.

Every protocol fits on the train part of a prepared dataset and tests on its val part:

    linear     frozen encoder, features averaged over valid frames, one Linear(W, classes);
               Adam lr 3e-3, batch 1024, 120 epochs, interpolation augmentation (method §5).
               Without augmentation the train features are computed once and cached (fast path).
    knn        frozen features, cosine similarity, weighted k-nearest-neighbour vote.
    semi       a class-balanced labelled fraction (1 %, 10 %) of the train clips; fine-tunes the
               whole network by default (the skeleton SSL literature's habit), or `--mode linear`.
    finetune   the encoder unfrozen plus a linear head on all train clips.
    transfer   an encoder pretrained on dataset A, linear evaluation on dataset B (same tokens).
    test       a saved classifier on a dataset.

Accuracy is reported at the last epoch and, as the authors' code does, as the best test accuracy
over the epochs after the first half (epoch > 60 of 120). A randomly initialised encoder
(`--random-init --preset`) gives the "pretrained vs random" baseline.

An evaluation writes one folder: result.json (numbers, settings, confusion matrix of the last
epoch), result.md (a table), metrics.jsonl (one row per epoch) and classifier.pt (the head, plus
the encoder when it is not the frozen encoder of a run folder). Our choices where the paper is
silent: the frozen encoder runs in eval mode (no dropout); fine-tuning uses Adam with lr 3e-3
for the head and 5e-5 (the pretraining lr) for the encoder, no schedule, batch 128.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from glt.atomic import staging_dir
from glt.data.augment import Augment
from glt.data.dataset import LengthBucketSampler, collate_clips
from glt.data.store import PreparedDataset, open_dataset
from glt.device import autocast, resolve_device
from glt.errors import DataError, GLTError
from glt.features import clip_dataset, extract_features
from glt.layout import SkeletonLayout
from glt.model import PRESETS, GLTClassifier, GLTConfig, GLTransformer, pool_valid
from glt.paths import runs_dir

CLASSIFIER_FORMAT = "glt-classifier"


# --- results ------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """What a protocol produced. `top1`/`top5` are the headline numbers (last epoch, or the
    first k of kNN), in percent; `best` is the authors' best-epoch number for trained protocols."""

    protocol: str
    top1: float
    top5: float | None
    confusion: np.ndarray  # (K, K) counts, rows = true class
    metrics: list[dict] = field(default_factory=list)  # one row per epoch (per k for kNN)
    best: dict | None = None  # {"epoch", "top1", "top5"}
    settings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # data, encoder, clip and class counts
    state_dict: dict | None = None  # GLTClassifier-shaped: classifier.* [+ encoder.*]
    encoder_config: dict | None = None
    encoder_fingerprint: float | None = None  # `fingerprint` of a frozen encoder's weights

    def to_dict(self) -> dict:
        """JSON-friendly summary (everything but the weights)."""
        return {
            "protocol": self.protocol,
            "top1": self.top1,
            "top5": self.top5,
            "best": self.best,
            **self.info,
            "settings": self.settings,
            "encoder_config": self.encoder_config,
            "confusion": self.confusion.astype(int).tolist(),
        }

    def to_markdown(self) -> str:
        """A short markdown report: one table of accuracies and the settings."""
        i = self.info
        title = f"# {self.protocol}: {i.get('data_name', '?')}\n\n"
        head = "| protocol | data | encoder | train clips | test clips | top-1 (%) | top-5 (%) |"
        rule = "|---|---|---|---|---|---|---|"
        top5 = "-" if self.top5 is None else f"{self.top5:.2f}"
        cells = (
            f"| {self.protocol} | {i.get('data_name', '-')} | {i.get('encoder', '-')} | "
            f"{i.get('num_train') or '-'} | {i.get('num_test')} | {self.top1:.2f} | {top5} |"
        )
        if self.best is not None:
            head, rule = head + " best top-1 (%) | best epoch |", rule + "---|---|"
            cells += f" {self.best['top1']:.2f} | {self.best['epoch']} |"
        lines = [title + head, rule, cells]
        if self.protocol == "knn":
            lines += ["", "| k | top-1 (%) | top-5 (%) |", "|---|---|---|"]
            for row in self.metrics:
                t5 = "-" if row["top5"] is None else f"{row['top5']:.2f}"
                lines.append(f"| {row['k']} | {row['top1']:.2f} | {t5} |")
        settings = ", ".join(f"{k} {v}" for k, v in self.settings.items())
        lines += ["", f"Settings: {settings}."]
        if self.best is not None:
            lines += [
                "",
                "top-1/top-5: last epoch. Best: the best test top-1 over the epochs after the "
                "first half, as the authors' code reports it (method §5).",
            ]
        return "\n".join(lines) + "\n"


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[float]:
    """Top-k accuracies in percent; k is capped at the number of classes."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return [100.0 * hits[:, : min(k, logits.shape[1])].any(dim=1).float().mean().item() for k in ks]


def confusion_counts(pred, labels, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    pred, labels = np.asarray(pred, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    flat = np.bincount(labels * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def best_epoch(metrics: Sequence[dict], key: str = "test_top1") -> dict:
    """The authors' number (method §5): the best `key` over the evaluated epochs after the
    first half (epoch > 60 of 120; all epochs when only the first half was evaluated)."""
    rows = [m for m in metrics if m.get(key) is not None]
    last = max(m["epoch"] for m in rows)
    late = [m for m in rows if m["epoch"] > last // 2] or rows
    best = max(late, key=lambda m: m[key])
    return {"epoch": best["epoch"], "top1": best[key], "top5": best.get("test_top5")}


# --- encoders -----------------------------------------------------------------------------------


def fingerprint(state_dict: dict) -> float:
    """A checksum of weights (sum of absolute values, float64), to recognise an encoder."""
    return float(sum(v.detach().double().abs().sum().item() for v in state_dict.values()))


def random_encoder(
    preset: str, layout: SkeletonLayout, seed: int = 0, **overrides
) -> GLTransformer:
    """A randomly initialised encoder (`GLTConfig.preset(preset, layout)`), seeded."""
    torch.manual_seed(seed)
    return GLTransformer(GLTConfig.preset(preset, layout=layout, **overrides))


def _load_run_encoder(run: str | Path) -> GLTransformer:
    from glt.pretrain import load_encoder  # local: pretraining pulls in its own dependencies

    return load_encoder(run)


# --- linear evaluation --------------------------------------------------------------------------


def linear_eval_transform(layout: SkeletonLayout, max_frames: int) -> Augment:
    """The linear-evaluation augmentation (method §5): temporal interpolation only."""
    return Augment(layout, interpolate=True, shear=False, max_frames=max_frames)


def _fit_epoch(head, optimizer, x, y, batch_size, generator) -> tuple[float, float]:
    """One epoch of the linear head on features x (N, W) -> (mean loss, top-1 %)."""
    head.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        logits = head(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += (logits.argmax(dim=1) == y[idx]).sum().item()
    return total_loss / len(x), 100.0 * correct / len(x)


@torch.no_grad()
def _test_head(head, x, y, chunk: int = 4096) -> tuple[torch.Tensor, dict]:
    """Logits of the head on features x and the test metrics (loss, top-1, top-5)."""
    head.eval()
    logits = torch.cat([head(x[i : i + chunk]) for i in range(0, len(x), chunk)]).float()
    top1, top5 = topk_accuracy(logits, y)
    return logits, {
        "test_loss": F.cross_entropy(logits, y).item(),
        "test_top1": top1,
        "test_top5": top5,
    }


def linear_eval(
    encoder: GLTransformer,
    dataset: PreparedDataset,
    *,
    epochs: int = 120,
    batch_size: int = 1024,
    lr: float = 3e-3,
    augment: bool = True,
    train_indices: Sequence[int] | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    feature_batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Linear evaluation (method §5): a Linear(W, classes) on frozen, frame-averaged features.

    Adam(lr), `epochs` epochs of shuffled mini-batches of `batch_size`, tested every epoch.
    augment=True (the authors' setting) re-encodes the train clips every epoch with temporal
    interpolation (seeded by (seed, epoch, clip)); augment=False encodes them once and trains on
    the cached features, which is orders of magnitude faster. `train_indices` restricts training
    to those train clips (semi-supervised). The test features are always computed once.
    """
    device, start = resolve_device(device), time.perf_counter()
    encoder.config.check_layout(dataset.layout)
    torch.manual_seed(seed)
    train, val = dataset.train, dataset.val
    feats = dict(batch_size=feature_batch_size, device=device, workers=workers, progress=progress)
    test_x, test_y = extract_features(encoder, val, desc="test features", **feats)
    test_x, test_y = test_x.to(device), test_y.to(device)
    transform = (
        linear_eval_transform(dataset.layout, encoder.config.num_frames) if augment else None
    )

    def train_features(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = extract_features(
            encoder,
            train,
            transform=transform,
            indices=train_indices,
            seed=seed,
            epoch=epoch,
            desc=f"train features (epoch {epoch})" if augment else "train features",
            **feats,
        )
        return x.to(device), y.to(device)

    train_x, train_y = (None, None) if augment else train_features(0)
    head = nn.Linear(encoder.config.width, dataset.num_classes).to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    metrics = []
    bar = tqdm(range(1, epochs + 1), desc="linear", disable=not progress)
    for epoch in bar:
        if augment:
            train_x, train_y = train_features(epoch)
        loss, acc = _fit_epoch(head, optimizer, train_x, train_y, batch_size, generator)
        logits, test = _test_head(head, test_x, test_y)
        metrics.append({"epoch": epoch, "train_loss": loss, "train_top1": acc, **test})
        bar.set_postfix(loss=f"{loss:.3f}", test_top1=f"{test['test_top1']:.1f}")
    confusion = confusion_counts(logits.argmax(1).cpu(), test_y.cpu(), dataset.num_classes)
    return EvalResult(
        protocol="linear",
        top1=metrics[-1]["test_top1"],
        top5=metrics[-1]["test_top5"],
        confusion=confusion,
        metrics=metrics,
        best=best_epoch(metrics),
        settings={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "Adam",
            "augment": "interpolation" if augment else "none (cached features)",
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 1),
        },
        info=_info(dataset, num_train=len(train_x), num_test=len(val)),
        state_dict={f"classifier.{k}": v.detach().cpu() for k, v in head.state_dict().items()},
        encoder_config=encoder.config.to_dict(),
        encoder_fingerprint=fingerprint(encoder.state_dict()),
    )


# --- k nearest neighbours -----------------------------------------------------------------------


@torch.no_grad()
def knn_scores(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    k: int,
    num_classes: int,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class scores (N_test, K) of a weighted kNN vote on cosine similarity.

    The k most similar train clips vote for their class with weight exp(similarity / temperature)
    (the weighted kNN of instance discrimination, Wu et al. 2018, used across SSL papers).
    """
    train_x, test_x = F.normalize(train_x.float(), dim=1), F.normalize(test_x.float(), dim=1)
    k = min(k, len(train_x))
    out = []
    for i in range(0, len(test_x), chunk):
        sim, idx = (test_x[i : i + chunk] @ train_x.T).topk(k, dim=1)
        votes = torch.zeros(len(sim), num_classes, device=sim.device)
        out.append(votes.scatter_add_(1, train_y[idx], (sim / temperature).exp()))
    return torch.cat(out)


def knn_eval(
    encoder: GLTransformer,
    dataset: PreparedDataset,
    *,
    ks: Sequence[int] = (1, 20),
    temperature: float = 0.07,
    device: str | torch.device | None = None,
    feature_batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
) -> EvalResult:
    """kNN evaluation on frozen features (cosine, weighted vote) for each k in `ks`.

    The headline numbers (and the confusion matrix) are those of the first k; top-5 is given
    only for k >= 5 (with fewer neighbours at most k classes get a vote).
    """
    device = resolve_device(device)
    encoder.config.check_layout(dataset.layout)
    if not ks or min(ks) < 1:
        raise GLTError(f"k must be positive, got {list(ks)}")
    feats = dict(batch_size=feature_batch_size, device=device, workers=workers, progress=progress)
    train_x, train_y = extract_features(encoder, dataset.train, desc="train features", **feats)
    test_x, test_y = extract_features(encoder, dataset.val, desc="test features", **feats)
    train_x, train_y, test_x = train_x.to(device), train_y.to(device), test_x.to(device)
    metrics, confusion = [], None
    for k in ks:
        scores = knn_scores(train_x, train_y, test_x, k, dataset.num_classes, temperature).cpu()
        top1, top5 = topk_accuracy(scores, test_y)
        metrics.append({"k": k, "top1": top1, "top5": top5 if k >= 5 else None})
        if confusion is None:
            confusion = confusion_counts(scores.argmax(1), test_y, dataset.num_classes)
    return EvalResult(
        protocol="knn",
        top1=metrics[0]["top1"],
        top5=metrics[0]["top5"],
        confusion=confusion,
        metrics=metrics,
        settings={"k": list(ks), "temperature": temperature, "similarity": "cosine"},
        info=_info(dataset, num_train=len(train_x), num_test=len(test_x)),
        encoder_config=encoder.config.to_dict(),
    )


# --- semi-supervised and fine-tuning ------------------------------------------------------------


def labelled_subset(labels, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced labelled subset: round(fraction * n_c) clips (at least one)
    of every class c, drawn without replacement (seeded); sorted."""
    if not 0 < fraction <= 1:
        raise GLTError(f"the labelled fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = min(len(members), max(1, round(fraction * len(members))))
        picked.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(picked))


def finetune(
    encoder: GLTransformer,
    dataset: PreparedDataset,
    *,
    fraction: float = 1.0,
    epochs: int = 120,
    batch_size: int = 128,
    lr: float = 3e-3,
    encoder_lr: float = 5e-5,
    augment: bool = True,
    eval_every: int = 1,
    device: str | torch.device | None = None,
    seed: int = 0,
    feature_batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Fine-tune the encoder and a linear head on the frame-averaged output (GLTClassifier).

    fraction < 1 trains on a class-balanced labelled subset (`labelled_subset`): the
    semi-supervised protocol. Adam with `lr` for the head and `encoder_lr` for the encoder,
    cross-entropy, batches of similar-length clips (`LengthBucketSampler`), interpolation
    augmentation when `augment`. The encoder is trained in train mode (dropout, DropPath) and
    the updated encoder is returned in the state dict. Tested every `eval_every` epochs and at
    the last; the input `encoder` is modified in place.
    """
    device, start = resolve_device(device), time.perf_counter()
    encoder.config.check_layout(dataset.layout)
    torch.manual_seed(seed)
    train, val, config = dataset.train, dataset.val, encoder.config
    indices = (
        labelled_subset(train.labels, fraction, seed) if fraction < 1 else np.arange(len(train))
    )
    transform = linear_eval_transform(dataset.layout, config.num_frames) if augment else None
    train_set = clip_dataset(train, config.num_frames, transform, seed)
    sampler = LengthBucketSampler(train.lengths[indices], batch_size, shuffle=True, seed=seed)
    loader = DataLoader(
        Subset(train_set, indices.tolist()),
        batch_sampler=sampler,
        collate_fn=collate_clips,
        num_workers=workers,
    )
    encoder.to(device)
    head = nn.Linear(config.width, dataset.num_classes).to(device)
    optimizer = torch.optim.Adam(
        [
            {"params": encoder.parameters(), "lr": encoder_lr},
            {"params": head.parameters(), "lr": lr},
        ]
    )
    metrics = []
    bar = tqdm(range(1, epochs + 1), desc="finetune", disable=not progress)
    for epoch in bar:
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        encoder.train()
        head.train()
        total_loss, correct = 0.0, 0
        for batch in loader:
            x, lengths = batch["x"].to(device), batch["lengths"].to(device)
            labels = batch["labels"].to(device)
            with autocast(device):
                features = pool_valid(encoder(x, lengths).float(), lengths)
            logits = head(features)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
        row = {"epoch": epoch, "train_loss": total_loss / len(indices)}
        row["train_top1"] = 100.0 * correct / len(indices)
        if epoch % eval_every == 0 or epoch == epochs:
            test_x, test_y = extract_features(
                encoder, val, feature_batch_size, device, workers=workers, progress=False
            )
            logits, test = _test_head(head, test_x.to(device), test_y.to(device))
            row.update(test)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_top1=f"{test['test_top1']:.1f}")
        metrics.append(row)
    confusion = confusion_counts(logits.argmax(1).cpu(), test_y, dataset.num_classes)
    state = {f"encoder.{k}": v.detach().cpu() for k, v in encoder.state_dict().items()}
    state.update({f"classifier.{k}": v.detach().cpu() for k, v in head.state_dict().items()})
    return EvalResult(
        protocol="finetune" if fraction >= 1 else "semi",
        top1=metrics[-1]["test_top1"],
        top5=metrics[-1]["test_top5"],
        confusion=confusion,
        metrics=metrics,
        best=best_epoch(metrics),
        settings={
            "fraction": fraction,
            "mode": "finetune",
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "encoder_lr": encoder_lr,
            "optimizer": "Adam",
            "augment": "interpolation" if augment else "none",
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 1),
        },
        info=_info(dataset, num_train=len(indices), num_test=len(val)),
        state_dict=state,
        encoder_config=config.to_dict(),
    )


def semi_supervised(
    encoder: GLTransformer,
    dataset: PreparedDataset,
    fraction: float,
    mode: str = "finetune",
    **kw,
) -> EvalResult:
    """Semi-supervised evaluation on a class-balanced `fraction` of the labelled train clips.

    mode="finetune" (default) trains encoder and head (`finetune`); mode="linear" trains only a
    linear head on the frozen encoder (`linear_eval`). `kw` (seed included) goes to that function.
    """
    if mode == "finetune":
        result = finetune(encoder, dataset, fraction=fraction, **kw)
    elif mode == "linear":
        indices = labelled_subset(dataset.train.labels, fraction, kw.get("seed", 0))
        result = linear_eval(encoder, dataset, train_indices=indices, **kw)
        result.settings = {"fraction": fraction, "mode": "linear", **result.settings}
    else:
        raise GLTError(f"semi-supervised mode must be 'finetune' or 'linear', got {mode!r}")
    result.protocol = "semi"
    return result


# --- transfer and saved classifiers -------------------------------------------------------------


def transfer(run: str | Path, dataset: PreparedDataset, **kw) -> EvalResult:
    """Transfer (method §5, §7): the encoder pretrained in `run` (on dataset A), linear
    evaluation on `dataset` (B). Both must have the same token layout. `kw` goes to `linear_eval`."""
    encoder = _load_run_encoder(run)
    encoder.config.check_layout(dataset.layout, f"{dataset.root} (the transfer target)")
    result = linear_eval(encoder, dataset, **kw)
    result.protocol = "transfer"
    result.info["pretrained_on"] = _pretrained_on(run)
    return result


def load_classifier(
    folder: str | Path, run: str | Path | None = None
) -> tuple[GLTClassifier, dict]:
    """A classifier saved by an evaluation (its classifier.pt) -> (GLTClassifier, metadata).

    When the file holds only the head (frozen protocols), the encoder comes from the run folder
    recorded in it, or from `run` if given (e.g. after moving the run); its config must match.
    """
    path = Path(folder) / "classifier.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass the output folder of an evaluation")
    saved = torch.load(path, weights_only=True, map_location="cpu")
    if saved.get("format") != CLASSIFIER_FORMAT:
        raise DataError(f"{path} is not a glt classifier (format {saved.get('format')!r})")
    config = GLTConfig.from_dict(saved["encoder_config"])
    model = GLTClassifier(config, saved["num_classes"])
    state = saved["state_dict"]
    if not any(k.startswith("encoder.") for k in state):
        source = run or saved.get("encoder_run")
        if source is None:
            raise DataError(f"{path} holds no encoder and names no run folder; pass --run")
        encoder = _load_run_encoder(source)
        expected = saved.get("encoder_fingerprint")
        same = encoder.config.to_dict() == config.to_dict() and (
            expected is None
            or math.isclose(fingerprint(encoder.state_dict()), expected, rel_tol=1e-9)
        )
        if not same:
            raise DataError(
                f"the encoder of {source} is not the one {path} was trained on "
                "(another run, or the run was trained further)"
            )
        state = {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()}, **state}
    model.load_state_dict(state)
    return model, {k: v for k, v in saved.items() if k != "state_dict"}


def evaluate_classifier(
    folder: str | Path,
    dataset: PreparedDataset,
    *,
    part: str = "val",
    run: str | Path | None = None,
    device: str | torch.device | None = None,
    feature_batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Accuracy of a saved classifier (`load_classifier`) on one part of `dataset`."""
    device = resolve_device(device)
    model, meta = load_classifier(folder, run)
    model.encoder.config.check_layout(dataset.layout)
    if meta["num_classes"] != dataset.num_classes:
        raise DataError(
            f"the classifier has {meta['num_classes']} classes, {dataset.root} has {dataset.num_classes}"
        )
    clips = dataset.part(part)
    x, y = extract_features(
        model.encoder, clips, feature_batch_size, device, workers=workers, progress=progress
    )
    logits, test = _test_head(model.classifier.to(device), x.to(device), y.to(device))
    return EvalResult(
        protocol="test",
        top1=test["test_top1"],
        top5=test["test_top5"],
        confusion=confusion_counts(logits.argmax(1).cpu(), y, dataset.num_classes),
        metrics=[test],
        settings={"part": part, "classifier": str(Path(folder).resolve())},
        info=_info(dataset, num_train=0, num_test=len(clips)),
        encoder_config=model.encoder.config.to_dict(),
    )


# --- writing results ----------------------------------------------------------------------------


def _info(dataset: PreparedDataset, num_train: int, num_test: int) -> dict:
    return {
        "data": str(Path(dataset.root).resolve()),
        "data_name": Path(dataset.root).name,
        "num_train": int(num_train),
        "num_test": int(num_test),
        "num_classes": dataset.num_classes,
        "class_names": dataset.class_names,
    }


def _pretrained_on(run: str | Path) -> str:
    """The data folder a run was pretrained on (from its config.json)."""
    from glt.pretrain import load_config

    return load_config(run).data


def save_result(
    result: EvalResult,
    out_dir: str | Path,
    *,
    layout: SkeletonLayout | None = None,
    encoder_run: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an evaluation folder: result.json, result.md, metrics.jsonl and, when the result
    has weights, classifier.pt (format "glt-classifier": the GLTClassifier state dict, without
    the encoder when it is the frozen encoder of `encoder_run`, plus what rebuilds it)."""
    out_dir = Path(out_dir)
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        summary = result.to_dict()
        if encoder_run is not None:
            summary["encoder_run"] = str(Path(encoder_run).resolve())
        (tmp / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        (tmp / "result.md").write_text(result.to_markdown())
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in result.metrics))
        if result.state_dict is not None:
            torch.save(
                {
                    "format": CLASSIFIER_FORMAT,
                    "protocol": result.protocol,
                    "encoder_config": result.encoder_config,
                    "num_classes": result.info["num_classes"],
                    "class_names": result.info.get("class_names"),
                    "layout": None if layout is None else layout.to_dict(),
                    "encoder_run": None
                    if encoder_run is None
                    else str(Path(encoder_run).resolve()),
                    "encoder_fingerprint": result.encoder_fingerprint,
                    "state_dict": result.state_dict,
                },
                tmp / "classifier.pt",
            )
    return out_dir


# --- command line -------------------------------------------------------------------------------


def _encoder_from_args(args, dataset: PreparedDataset) -> tuple[GLTransformer, Path | None]:
    """The encoder the CLI evaluates: a run's, or a random one; and the run folder (or None)."""
    if args.random_init == (args.run is not None):
        raise GLTError("give either --run RUN_DIR (a pretrained encoder) or --random-init")
    if args.run is not None:
        encoder = _load_run_encoder(args.run)
        encoder.config.check_layout(dataset.layout, str(dataset.root))
        return encoder, Path(args.run)
    return random_encoder(args.preset, dataset.layout, args.seed), None


def _out_dir(args, name: str, run: Path | None) -> Path:
    if args.out is not None:
        return Path(args.out)
    base = run if run is not None else runs_dir() / f"random-{args.preset}-seed{args.seed}"
    return base / "eval" / name


def _common(p: argparse.ArgumentParser, encoder: bool = True, default_out: str = "") -> None:
    p.add_argument("--data", required=True, type=Path, metavar="DATA_DIR", help="prepared dataset")
    if encoder:
        p.add_argument(
            "--run", type=Path, metavar="RUN_DIR", help="pretraining run (its encoder is evaluated)"
        )
        p.add_argument(
            "--random-init",
            action="store_true",
            help="evaluate a randomly initialised encoder instead (the baseline)",
        )
        p.add_argument(
            "--preset", default="tiny", choices=sorted(PRESETS), help="model for --random-init"
        )
    default_out = default_out or "RUN_DIR/eval/<protocol>-<data>"
    p.add_argument("--out", type=Path, metavar="DIR", help=f"output folder (default {default_out})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument(
        "--seed", type=int, default=0, help="random init, subset, shuffling and augmentation"
    )
    p.add_argument("--feature-batch-size", type=int, default=64, help="clips per encoder forward")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")


def _training(p, epochs: int, batch_size: int, lr: float) -> None:
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr, help="learning rate of the linear head")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="temporal interpolation of the train clips (default on, as the authors); "
        "--no-augment caches the train features once (much faster)",
    )


def _finetune_args(p) -> None:
    _training(p, epochs=120, batch_size=128, lr=3e-3)
    p.add_argument("--encoder-lr", type=float, default=5e-5, help="learning rate of the encoder")
    p.add_argument("--eval-every", type=int, default=1, help="test every N epochs (and the last)")


def _linear_kw(args) -> dict:
    return dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=args.augment,
        device=args.device,
        seed=args.seed,
        feature_batch_size=args.feature_batch_size,
        workers=args.workers,
    )


def _finetune_kw(args) -> dict:
    return {**_linear_kw(args), "encoder_lr": args.encoder_lr, "eval_every": args.eval_every}


def _describe_encoder(result: EvalResult, args, encoder: GLTransformer | None, run) -> None:
    """Name the encoder in the result; a random encoder's weights are kept with the head, as
    nothing else can rebuild them."""
    if run is None and result.state_dict is not None:
        encoder_state = {f"encoder.{k}": v.cpu() for k, v in encoder.state_dict().items()}
        result.state_dict = {**encoder_state, **result.state_dict}
    result.info["encoder"] = (
        str(run) if run is not None else f"random init ({args.preset}, seed {args.seed})"
    )


def _save(args, result, name, run, layout) -> int:
    full = result.state_dict is not None and any(
        k.startswith("encoder.") for k in result.state_dict
    )
    out = save_result(
        result,
        _out_dir(args, name, run),
        layout=layout,
        encoder_run=None if full else run,
        overwrite=args.overwrite,
    )
    print(result.to_markdown())
    print(f"Results written to {out}")
    return 0


def _cmd_linear(args) -> int:
    dataset = open_dataset(args.data)
    encoder, run = _encoder_from_args(args, dataset)
    result = linear_eval(encoder, dataset, **_linear_kw(args))
    _describe_encoder(result, args, encoder, run)
    return _save(args, result, f"linear-{dataset.root.name}", run, dataset.layout)


def _cmd_knn(args) -> int:
    dataset = open_dataset(args.data)
    encoder, run = _encoder_from_args(args, dataset)
    result = knn_eval(
        encoder,
        dataset,
        ks=args.k,
        temperature=args.temperature,
        device=args.device,
        feature_batch_size=args.feature_batch_size,
        workers=args.workers,
    )
    _describe_encoder(result, args, encoder, run)
    return _save(args, result, f"knn-{dataset.root.name}", run, dataset.layout)


def _cmd_semi(args) -> int:
    dataset = open_dataset(args.data)
    encoder, run = _encoder_from_args(args, dataset)
    kw = _finetune_kw(args) if args.mode == "finetune" else _linear_kw(args)
    result = semi_supervised(encoder, dataset, args.fraction, args.mode, **kw)
    _describe_encoder(result, args, encoder, run)
    pct = f"{100 * args.fraction:g}pct"
    return _save(args, result, f"semi-{args.mode}-{pct}-{dataset.root.name}", run, dataset.layout)


def _cmd_finetune(args) -> int:
    dataset = open_dataset(args.data)
    encoder, run = _encoder_from_args(args, dataset)
    result = finetune(encoder, dataset, **_finetune_kw(args))
    _describe_encoder(result, args, encoder, run)
    return _save(args, result, f"finetune-{dataset.root.name}", run, dataset.layout)


def _cmd_transfer(args) -> int:
    dataset = open_dataset(args.data)
    result = transfer(args.run, dataset, **_linear_kw(args))
    _describe_encoder(result, args, None, args.run)
    return _save(args, result, f"transfer-{dataset.root.name}", args.run, dataset.layout)


def _cmd_test(args) -> int:
    dataset = open_dataset(args.data)
    result = evaluate_classifier(
        args.classifier,
        dataset,
        part=args.part,
        run=args.run,
        device=args.device,
        feature_batch_size=args.feature_batch_size,
        workers=args.workers,
    )
    result.info["encoder"] = str(args.classifier)
    out = Path(args.out) if args.out else Path(args.classifier) / f"test-{dataset.root.name}"
    save_result(result, out, overwrite=args.overwrite)
    print(result.to_markdown())
    print(f"Results written to {out}")
    return 0


def add_commands(subparsers) -> None:
    """Add the verbs linear, knn, semi, finetune, transfer and test to the `glt` command line."""
    p = subparsers.add_parser(
        "linear",
        help="linear evaluation of a frozen encoder (method §5)",
        description="Linear evaluation: frozen encoder, one Linear on frame-averaged features.",
    )
    _common(p)
    _training(p, epochs=120, batch_size=1024, lr=3e-3)
    p.set_defaults(func=_cmd_linear)

    p = subparsers.add_parser("knn", help="k-nearest-neighbour evaluation of frozen features")
    _common(p)
    p.add_argument("--k", type=int, nargs="+", default=[1, 20], help="neighbour counts")
    p.add_argument("--temperature", type=float, default=0.07, help="vote weight exp(sim / T)")
    p.set_defaults(func=_cmd_knn)

    p = subparsers.add_parser(
        "semi", help="semi-supervised: a labelled fraction of the train clips"
    )
    _common(p)
    _finetune_args(p)
    p.add_argument("--fraction", type=float, default=0.01, help="labelled fraction (0.01, 0.1)")
    p.add_argument(
        "--mode",
        choices=("finetune", "linear"),
        default="finetune",
        help="fine-tune the whole network (default) or train a linear head on the frozen encoder",
    )
    p.set_defaults(func=_cmd_semi)

    p = subparsers.add_parser("finetune", help="fine-tune the encoder with a linear head")
    _common(p)
    _finetune_args(p)
    p.set_defaults(func=_cmd_finetune)

    p = subparsers.add_parser(
        "transfer", help="linear evaluation of an encoder pretrained on another dataset"
    )
    p.add_argument(
        "--run", type=Path, required=True, metavar="RUN_DIR", help="run pretrained on dataset A"
    )
    _common(p, encoder=False)
    _training(p, epochs=120, batch_size=1024, lr=3e-3)
    p.set_defaults(func=_cmd_transfer)

    p = subparsers.add_parser("test", help="test a saved classifier on a dataset")
    p.add_argument(
        "--classifier", type=Path, required=True, metavar="DIR", help="an evaluation's output"
    )
    p.add_argument("--run", type=Path, metavar="RUN_DIR", help="the encoder's run, if it moved")
    p.add_argument("--part", default="val", help="dataset part to test on (default val)")
    _common(p, encoder=False, default_out="CLASSIFIER/test-<data>")
    p.set_defaults(func=_cmd_test)
