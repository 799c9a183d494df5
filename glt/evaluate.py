"""Evaluation protocols (method §5): what a pretrained encoder is worth.

Every protocol fits on the train part of a prepared dataset and tests on its val part:

    linear_eval      frozen encoder, features averaged over valid frames, one Linear(W, classes);
                     Adam lr 3e-3, batch 1024, 120 epochs, interpolation augmentation, and the
                     authors' quirks: encoder in train mode while the head trains, drop_last
                     (method §5, `glt.config.LinearConfig`). With the encoder in eval mode and no
                     augmentation the train features are computed once and cached (fast path).
    knn_eval         frozen features, cosine similarity, weighted k-nearest-neighbour vote.
    semi_supervised  a class-balanced labelled fraction (1 %, 10 %) of the train clips; fine-tunes
                     the whole network by default (the skeleton SSL literature's habit), or linear.
    finetune         the encoder unfrozen plus a linear head on all train clips
                     (`glt.config.FinetuneConfig`).
    transfer         an encoder pretrained on dataset A, linear evaluation on dataset B.
    evaluate_classifier   a saved classifier on a dataset.

Accuracy is reported at the last epoch and, as the authors' code does, as the best test accuracy
over epoch 1 and the epochs after the first half (epochs 1 and 61-120 of 120). A randomly
initialised encoder (`random_encoder`) gives the "pretrained vs random" baseline. Every protocol returns a
`glt.results.EvalResult` (`save_result` writes it); the command line is `glt.commands.evaluate`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from glt.config import FinetuneConfig, LinearConfig, check_fraction, check_knn
from glt.data.augment import Augment
from glt.data.dataset import LengthBucketSampler, collate_packed
from glt.data.store import PreparedDataset
from glt.device import autocast, resolve_device
from glt.errors import DataError, GLTError
from glt.features import BATCH_SIZE, clip_dataset, extract_features
from glt.layout import SkeletonLayout
from glt.model import GLTClassifier, GLTConfig, GLTransformer
from glt.packing import segment_mean
from glt.results import EvalResult, fingerprint, load_classifier
from glt.run import load_config, load_encoder

KNN_KS = (1, 20)  # neighbour counts of `knn_eval`
KNN_TEMPERATURE = 0.07  # vote weight exp(similarity / temperature)


# --- accuracy -------------------------------------------------------------------------------------


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
    """The authors' number (method §5): the best `key` over epoch 1 and the evaluated epochs
    after the first half (epochs 1 and 61-120 of 120, the epochs their script tests)."""
    rows = [m for m in metrics if m.get(key) is not None]
    last = max(m["epoch"] for m in rows)
    late = [m for m in rows if m["epoch"] == 1 or m["epoch"] > last // 2] or rows
    best = max(late, key=lambda m: m[key])
    return {"epoch": best["epoch"], "top1": best[key], "top5": best.get("test_top5")}


def _info(dataset: PreparedDataset, num_train: int, num_test: int) -> dict:
    """What an EvalResult says about the data."""
    return {
        "data": str(Path(dataset.root).resolve()),
        "data_name": Path(dataset.root).name,
        "num_train": int(num_train),
        "num_test": int(num_test),
        "num_classes": dataset.num_classes,
        "class_names": dataset.class_names,
    }


def random_encoder(
    preset: str, layout: SkeletonLayout, seed: int = 0, **overrides
) -> GLTransformer:
    """A randomly initialised encoder (`GLTConfig.preset(preset, layout)`), seeded."""
    torch.manual_seed(seed)
    return GLTransformer(GLTConfig.preset(preset, layout=layout, **overrides))


# --- linear evaluation --------------------------------------------------------------------------


def linear_eval_transform(layout: SkeletonLayout, max_frames: int) -> Augment:
    """The linear-evaluation augmentation (method §5): temporal interpolation only."""
    return Augment(layout, interpolate=True, shear=False, max_frames=max_frames)


def _fit_epoch(head, optimizer, x, y, batch_size, generator, drop_last=False):
    """One epoch of the linear head on features x (N, W) -> (mean loss, top-1 %) over the clips
    it trained on; drop_last skips the last incomplete batch, as the authors' loader does."""
    head.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    end = len(x) - len(x) % batch_size if drop_last else len(x)
    total_loss, correct = 0.0, 0
    for start in range(0, end, batch_size):
        idx = order[start : start + batch_size]
        logits = head(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += (logits.argmax(dim=1) == y[idx]).sum().item()
    return total_loss / end, 100.0 * correct / end


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
    config: LinearConfig | None = None,
    *,
    fraction: float = 1.0,
    device: str | torch.device | None = None,
    feature_batch_size: int = BATCH_SIZE,
    workers: int = 0,
    progress: bool = True,
    **settings,
) -> EvalResult:
    """Linear evaluation (method §5): a Linear(W, classes) on frozen, frame-averaged features.

    config: the protocol (default `LinearConfig()`, the authors' as their script runs it);
    `settings` replace its fields. Adam(lr), `epochs` epochs of shuffled mini-batches, tested
    every epoch in eval mode. By default, as the authors' script: the frozen encoder is in train
    mode while the head trains (dropout and DropPath active), so the train features are
    re-encoded every epoch, with temporal interpolation (seeded by (seed, epoch, clip)); the
    last incomplete batch is dropped; features in fp32. With encoder_mode="eval" and
    augment=False the train features are encoded once and cached, orders of magnitude faster.
    fraction < 1 trains on a class-balanced labelled subset (semi-supervised). The test
    features are computed once. The result's `model` is a GLTClassifier around `encoder`.
    """
    c = replace(config or LinearConfig(), **settings)
    device, start = resolve_device(device), time.perf_counter()
    encoder.config.check_layout(dataset.layout)
    torch.manual_seed(c.seed)
    train, val = dataset.train, dataset.val
    indices = labelled_subset(train.labels, fraction, c.seed) if fraction < 1 else None
    num_train = len(train) if indices is None else len(indices)
    if c.drop_last and num_train < c.batch_size:
        raise GLTError(
            f"linear evaluation: batch size {c.batch_size} is more than the {num_train} train "
            "clips, and the last incomplete batch is dropped (drop_last, as the authors): the "
            "head would never train; lower --batch-size or pass --keep-last-batch"
        )
    feats = dict(
        batch_size=feature_batch_size, device=device, workers=workers, progress=progress,
        bf16=c.bf16,
    )  # fmt: skip
    test_x, test_y = extract_features(encoder, val, desc="test features", **feats)
    test_x, test_y = test_x.to(device), test_y.to(device)
    frames = encoder.config.num_frames
    transform = linear_eval_transform(dataset.layout, frames) if c.augment else None

    def train_features(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = extract_features(
            encoder,
            train,
            transform=transform,
            indices=indices,
            seed=c.seed,
            epoch=epoch,
            train_mode=c.encoder_mode == "train",
            desc="train features" if c.cached else f"train features (epoch {epoch})",
            **feats,
        )
        return x.to(device), y.to(device)

    train_x, train_y = train_features(0) if c.cached else (None, None)
    model = GLTClassifier(encoder.config, dataset.num_classes, encoder=encoder)
    head = model.classifier.to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=c.lr)
    generator = torch.Generator().manual_seed(c.seed)
    metrics = []
    bar = tqdm(range(1, c.epochs + 1), desc="linear", disable=not progress)
    for epoch in bar:
        if not c.cached:
            train_x, train_y = train_features(epoch)
        loss, acc = _fit_epoch(
            head, optimizer, train_x, train_y, c.batch_size, generator, c.drop_last
        )
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
            "epochs": c.epochs,
            "batch_size": c.batch_size,
            "lr": c.lr,
            "optimizer": "Adam",
            "augment": "interpolation" if c.augment else "none",
            "encoder_mode": c.encoder_mode,
            "features": "cached" if c.cached else "re-encoded every epoch",
            "drop_last": c.drop_last,
            "precision": "bf16" if c.bf16 and device.type == "cuda" else "fp32",
            "seed": c.seed,
            "seconds": round(time.perf_counter() - start, 1),
        },
        info=_info(dataset, num_train=num_train, num_test=len(val)),
        model=model,
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
    temperature: float = KNN_TEMPERATURE,
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
    ks: Sequence[int] = KNN_KS,
    temperature: float = KNN_TEMPERATURE,
    device: str | torch.device | None = None,
    feature_batch_size: int = BATCH_SIZE,
    workers: int = 0,
    progress: bool = True,
) -> EvalResult:
    """kNN evaluation on frozen features (cosine, weighted vote) for each k in `ks`.

    The headline numbers (and the confusion matrix) are those of the first k; top-5 is given
    only for k >= 5 (with fewer neighbours at most k classes get a vote).
    """
    device = resolve_device(device)
    encoder.config.check_layout(dataset.layout)
    check_knn(ks, temperature)
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
    check_fraction(fraction)
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
    config: FinetuneConfig | None = None,
    *,
    fraction: float = 1.0,
    device: str | torch.device | None = None,
    feature_batch_size: int = BATCH_SIZE,
    workers: int = 0,
    progress: bool = True,
    **settings,
) -> EvalResult:
    """Fine-tune the encoder with a linear head on its frame-averaged output (a GLTClassifier).

    config: default `FinetuneConfig()`; `settings` replace its fields (epochs, batch_size, lr,
    encoder_lr, augment, eval_every, seed). fraction < 1 trains on a class-balanced labelled
    subset (`labelled_subset`): the semi-supervised protocol. Adam with `lr` for the head and
    `encoder_lr` for the encoder, cross-entropy, batches of similar-length clips
    (`LengthBucketSampler`), packed so that only their real frames are computed
    (`GLTransformer.forward_packed`, pooled by `segment_mean`), interpolation augmentation when
    `augment`. The encoder is trained in train mode (dropout, DropPath), in place. Tested every
    `eval_every` epochs and at the last; the result keeps the whole classifier (`with_encoder`).
    """
    c = replace(config or FinetuneConfig(), **settings)
    device, start = resolve_device(device), time.perf_counter()
    encoder.config.check_layout(dataset.layout)
    torch.manual_seed(c.seed)
    train, val, num_frames = dataset.train, dataset.val, encoder.config.num_frames
    indices = (
        labelled_subset(train.labels, fraction, c.seed) if fraction < 1 else np.arange(len(train))
    )
    transform = linear_eval_transform(dataset.layout, num_frames) if c.augment else None
    train_set = clip_dataset(train, num_frames, transform, c.seed)
    sampler = LengthBucketSampler(train.lengths[indices], c.batch_size, shuffle=True, seed=c.seed)
    loader = DataLoader(
        Subset(train_set, indices.tolist()),
        batch_sampler=sampler,
        collate_fn=collate_packed,
        num_workers=workers,
    )
    model = GLTClassifier(encoder.config, dataset.num_classes, encoder=encoder).to(device)
    optimizer = torch.optim.Adam(
        [
            {"params": model.encoder.parameters(), "lr": c.encoder_lr},
            {"params": model.classifier.parameters(), "lr": c.lr},
        ]
    )
    metrics = []
    bar = tqdm(range(1, c.epochs + 1), desc="finetune", disable=not progress)
    for epoch in bar:
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        model.train()
        total_loss, correct = 0.0, 0
        for batch in loader:
            packed, labels = batch["x"].to(device), batch["labels"].to(device)
            with autocast(device):
                features = model.encoder.forward_packed(packed)
            # The head on float32 frame averages, as `extract_features` gives them for testing.
            logits = model.classifier(segment_mean(features.float(), packed))
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
        row = {"epoch": epoch, "train_loss": total_loss / len(indices)}
        row["train_top1"] = 100.0 * correct / len(indices)
        if epoch % c.eval_every == 0 or epoch == c.epochs:
            test_x, test_y = extract_features(
                model.encoder, val, feature_batch_size, device, workers=workers, progress=False
            )
            logits, test = _test_head(model.classifier, test_x.to(device), test_y.to(device))
            row.update(test)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_top1=f"{test['test_top1']:.1f}")
        metrics.append(row)
    confusion = confusion_counts(logits.argmax(1).cpu(), test_y, dataset.num_classes)
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
            "epochs": c.epochs,
            "batch_size": c.batch_size,
            "lr": c.lr,
            "encoder_lr": c.encoder_lr,
            "optimizer": "Adam",
            "augment": "interpolation" if c.augment else "none",
            "seed": c.seed,
            "seconds": round(time.perf_counter() - start, 1),
        },
        info=_info(dataset, num_train=len(indices), num_test=len(val)),
        model=model,
        with_encoder=True,
        encoder_config=encoder.config.to_dict(),
    )


def semi_supervised(
    encoder: GLTransformer,
    dataset: PreparedDataset,
    fraction: float,
    mode: str = "finetune",
    config: LinearConfig | None = None,
    **kw,
) -> EvalResult:
    """Semi-supervised evaluation on a class-balanced `fraction` of the labelled train clips.

    mode="finetune" (default) trains encoder and head (`finetune`, config a FinetuneConfig);
    mode="linear" trains only a linear head on the frozen encoder (`linear_eval`). `kw` (the
    settings, seed included) goes to that function.
    """
    check_fraction(fraction)
    if mode == "finetune":
        result = finetune(encoder, dataset, config, fraction=fraction, **kw)
    elif mode == "linear":
        result = linear_eval(encoder, dataset, config, fraction=fraction, **kw)
        result.settings = {"fraction": fraction, "mode": "linear", **result.settings}
    else:
        raise GLTError(f"semi-supervised mode must be 'finetune' or 'linear', got {mode!r}")
    result.protocol = "semi"
    return result


# --- transfer and saved classifiers -------------------------------------------------------------


def transfer(run: str | Path, dataset: PreparedDataset, **kw) -> EvalResult:
    """Transfer (method §5, §7): the encoder pretrained in `run` (on dataset A), linear
    evaluation on `dataset` (B). Both must have the same token layout. `kw` goes to `linear_eval`."""
    encoder = load_encoder(run)
    encoder.config.check_layout(dataset.layout, f"{dataset.root} (the transfer target)")
    result = linear_eval(encoder, dataset, **kw)
    result.protocol = "transfer"
    result.info["pretrained_on"] = load_config(run).data
    return result


def evaluate_classifier(
    folder: str | Path,
    dataset: PreparedDataset,
    *,
    part: str = "val",
    run: str | Path | None = None,
    device: str | torch.device | None = None,
    feature_batch_size: int = BATCH_SIZE,
    workers: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Accuracy of a saved classifier (`glt.results.load_classifier`) on one part of `dataset`."""
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
