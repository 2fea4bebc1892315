"""Training and cross-validation of a screening ensemble."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import metrics
from core.face.screening import SCREEN_REGIONS, to_tensor
from core.models.screening import ScreeningNet, mean_softmax
from core.weights import write_history
from train.classifier.augment import augment, normalise
from train.classifier.config import ClassifierConfig
from train.classifier.data import FaceSet
from train.classifier.model import input_spec, new_model
from train.classifier.splits import validation_plan
from train.screening_eval import topk_ks

log = logging.getLogger("train.classifier")


def class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency, n / (C * n_c); 0 for a class absent from ``y``."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def lr_at(progress: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up, then a cosine from ``peak`` down to 2% of it at ``progress`` = 1."""
    if progress < warmup:
        return peak * (0.1 + 0.9 * progress / warmup)
    t = min(1.0, (progress - warmup) / (1 - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def ensemble_probs(model: ScreeningNet, data: FaceSet, idx: np.ndarray, spec: dict,
                   weights: dict[str, float] | None = None, batch: int = 64) -> np.ndarray:
    """NxC float64 mean-of-softmax probabilities of the cases ``idx`` (eval mode, no jitter)."""
    model.eval()
    out = []
    for s in range(0, len(idx), batch):
        j = torch.from_numpy(idx[s:s + batch])
        crops = {r: to_tensor(c[j], spec) for r, c in data.crops.items()}
        logits = model(to_tensor(data.faces[j], spec), crops)
        out.append(mean_softmax(logits, weights).double().numpy())
    probs = np.concatenate(out) if out else np.zeros((0, len(data.labels)))
    return probs / probs.sum(axis=1, keepdims=True)


def fit(model: ScreeningNet, data: FaceSet, train_idx: np.ndarray, args: ClassifierConfig, run: str,
        history: list[dict], budget_s: float = 0.0, val_idx: np.ndarray | None = None,
        seed: int = 0, out: Path | None = None) -> ScreeningNet:
    """Train ``model`` on the cases ``train_idx``; one history row per epoch (validation figures
    when ``val_idx`` is given), rewritten to ``out/history.csv`` each epoch when ``out`` is given.
    Stops early at ``budget_s`` seconds, the schedule annealed by then."""
    views = {r: SCREEN_REGIONS[r] for r in data.crops}
    n_cls, spec = len(data.labels), input_spec(args)
    weight = class_weights(data.y[train_idx], n_cls)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    bs = max(2, min(args.batch_size, len(train_idx)))
    steps_per_epoch = max(1, len(train_idx) // bs)
    total = steps_per_epoch * args.epochs
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    step, t0 = 0, time.time()
    for epoch in tqdm(range(args.epochs), desc=f"train {run}", leave=False):
        model.train()
        order = rng.permutation(train_idx)
        losses, correct, seen = [], 0, 0
        for s in range(steps_per_epoch):
            progress = max(step / total, (time.time() - t0) / budget_s if budget_s else 0.0)
            if progress >= 1:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(progress, args.lr)
            j = order[s * bs:(s + 1) * bs]
            loss, hits = train_step(model, opt, data, j, weight, views, spec, gen)
            correct, seen = correct + hits, seen + len(j)
            losses.append(loss)
            step += 1
        row = {"run": run, "epoch": epoch + 1, "steps": step, "lr": opt.param_groups[0]["lr"],
               "train_loss": float(np.mean(losses)) if losses else math.nan,
               "train_accuracy": correct / seen if seen else math.nan,
               "val_accuracy": math.nan, "val_balanced_accuracy": math.nan,
               "minutes": round((time.time() - t0) / 60, 3)}
        if val_idx is not None and len(val_idx):
            probs = ensemble_probs(model, data, val_idx, spec)
            pred = probs.argmax(1)
            row["val_accuracy"] = metrics.accuracy(data.y[val_idx], pred)
            row["val_balanced_accuracy"] = metrics.balanced_accuracy(data.y[val_idx], pred, n_cls)
        history.append(row)
        if out is not None:
            write_history(out, history)
        if len(losses) < steps_per_epoch:
            log.warning("%s: time share reached in epoch %d", run, epoch + 1)
            break
    return model.eval()


def train_step(model: ScreeningNet, opt: torch.optim.Optimizer, data: FaceSet, idx: np.ndarray,
               weight: torch.Tensor, views: dict[str, tuple], spec: dict, gen: torch.Generator
               ) -> tuple[float, int]:
    """One optimiser step on the cases ``idx``: the summed class-weighted cross-entropy of every
    member; returns the loss and how many cases the averaged prediction got right."""
    j = torch.from_numpy(idx)
    face, crops = augment(data.faces[j], {r: c[j] for r, c in data.crops.items()}, views, gen)
    y = torch.from_numpy(data.y[idx])
    logits = model(normalise(face, spec).contiguous(memory_format=torch.channels_last),
                   {r: normalise(c, spec) for r, c in crops.items()})
    loss = sum(F.cross_entropy(x, y, weight=weight) for x in logits.values())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        hits = int((mean_softmax(logits).argmax(1) == y).sum())
    return loss.item(), hits


def fold_summary(y: np.ndarray, probs: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy and top-k of one fold's validation cases."""
    pred = probs.argmax(1)
    out = {"n": int(len(y)), "accuracy": metrics.accuracy(y, pred),
           "balanced_accuracy": metrics.balanced_accuracy(y, pred, n_classes)}
    out.update({f"top_{k}": metrics.top_k_accuracy(y, probs, k) for k in topk_ks(n_classes)})
    return out


def cross_validate(data: FaceSet, args: ClassifierConfig, history: list[dict],
                   deadline: float, out: Path | None = None) -> dict | None:
    """Stratified k-fold (or one split): out-of-fold report and per-fold figures; None without folds."""
    plan = validation_plan(data.y, args.folds, args.seed)
    if not plan:
        return None
    n_cls = len(data.labels)
    oof = np.full((len(data), n_cls), np.nan)
    folds = []
    for f, val in enumerate(plan):
        tr, va = np.flatnonzero(~val), np.flatnonzero(val)
        budget = time_share(deadline, len(plan) - f + 1)
        model = fit(new_model(args, n_cls, args.seed + f + 1), data, tr, args, f"fold{f + 1}", history,
                    budget, va, seed=args.seed + f + 1, out=out)
        oof[va] = ensemble_probs(model, data, va, input_spec(args))
        folds.append(fold_summary(data.y[va], oof[va], n_cls))
        log.info("fold %d/%d: accuracy %.3f, balanced %.3f (n=%d)", f + 1, len(plan),
                 folds[-1]["accuracy"], folds[-1]["balanced_accuracy"], len(va))
    for key in ("accuracy", "balanced_accuracy", *(f"top_{k}" for k in topk_ks(n_cls))):
        values = [f[key] for f in folds]
        log.info("%s over %d folds: %.3f +- %.3f", key, len(folds), np.mean(values),
                 np.std(values, ddof=1) if len(values) > 1 else 0.0)
    done = ~np.isnan(oof[:, 0])
    report = metrics.classification_report(data.y[done], oof[done], data.labels, ks=(1, 3, 5))
    keys = [k for k in folds[0] if k != "n"]
    scheme = (f"stratified {len(plan)}-fold cross-validation (seed {args.seed}); figures are of the "
              "out-of-fold predictions, each case predicted by the fold model that did not see it"
              if len(plan) > 1 else f"one stratified 80/20 split (seed {args.seed}); figures are of "
              "the 20% the split model did not see")
    return {"scheme": scheme, **report, "folds": folds,
            "fold_mean": {k: float(np.mean([f[k] for f in folds])) for k in keys},
            "fold_sd": {k: float(np.std([f[k] for f in folds], ddof=1)) if len(folds) > 1 else 0.0
                        for k in keys},
            "final_model": "trained afterwards on ALL the data; these figures describe the fold models"}


def time_share(deadline: float, runs_left: int) -> float:
    """Seconds for the next run: an equal share of what is left (0: no limit)."""
    if not deadline:
        return 0.0
    return max(1.0, (deadline - time.time()) / max(1, runs_left))
