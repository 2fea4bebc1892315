"""Train a face screening ensemble (whole-face CNN + region CNNs, mean of softmaxes).

    python -m train.classifier --phantoms 1200 --screen-task skin --out weights/face_screening/skin
    python -m train.classifier --data my_photos/ --screen-task syndrome --out runs/syndrome
    python -m train.classifier --csv labels.csv --screen-task skin --folds 10

Data: ``--data DIR`` in the ImageFolder layout (one sub-folder per class, photos anywhere below
it), ``--csv FILE`` with ``path,label`` rows (paths relative to the CSV), or ``--phantoms N``
synthetic faces of ``--screen-task`` (train/phantoms/face.py; their landmarks are known). Landmarks
are detected ONCE per photo (photos without a face are skipped and counted), the face is aligned
and the region crops cut exactly as the predictor does (core.face.screening.prepare_inputs), and
everything is held in memory; batches get light on-the-fly jitter (shift, rotation, scale,
colour, mirror).

Loss: class-weighted cross-entropy (inverse class frequency) on every member's logits, summed.
AdamW with a warm-up and cosine schedule over the planned steps or the time limit. Validation:
stratified k-fold cross-validation when the smallest class has fewer than 30 photos (``--folds``,
default 5), else one stratified 80/20 split; the card records the report of the OUT-OF-FOLD
predictions and every fold's figures, then the final model is trained on all the data. With
``--phantoms`` the final model is also scored on ``--test-phantoms`` faces of a HELD-OUT identity,
with the Grad-CAM pointing game against the phantoms' known evidence regions.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import math
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import metrics
from core.face.landmarks import FaceError, detect_landmarks, oriented_rgb
from core.face.screening import (
    MEAN,
    SCREEN_REGIONS,
    SKIN_TONE,
    STD,
    Screener,
    ScreeningInputs,
    prepare_inputs,
    region_spec,
    to_tensor,
)
from core.models import create_model
from core.models.screening import BACKBONES, DEFAULT_REGIONS, LSE_R, POOLS, ScreeningNet, mean_softmax
from core.tasks import get_task
from core.weights import ModelCard, save_model, write_card, write_history
from train.face_sources import IMAGE_SUFFIXES
from train.screening_eval import phantom_test, topk_ks

log = logging.getLogger("train.classifier")
SMALL_CLASS = 30  # below this many photos in the smallest class, k-fold instead of one split
GALLERY_FILE = "gallery.npz"
GALLERY_MAX_BYTES = 1_000_000
# Colour jitter per photo (+- fraction). Channel gains vary the skin tone and colour cast, so that a
# class must be told by its local pattern, not by the training portrait's overall colour.
COLOUR = {"brightness": 0.15, "contrast": 0.15, "saturation": 0.2, "gain": 0.06}
# Resolution loss per photo: share of photos, and the largest down-sampling factor (from 1.5).
SOFTEN = {"p": 0.25, "max_factor": 2.5}
SCREENING = get_task("face_screening")  # rows: classes, phantom notes, caveats


@dataclass
class FaceSet:
    """Prepared faces held in memory.

    Attributes:
        faces: NxSxSx3 uint8 aligned faces.
        crops: region -> NxVxcxcx3 uint8 crops.
        y: N int64 class indices.
        ids: N names (file paths or phantom numbers).
        labels: class names.
    """

    faces: torch.Tensor
    crops: dict[str, torch.Tensor]
    y: np.ndarray
    ids: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.y)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.classifier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="ImageFolder: one sub-folder of photos per class")
    src.add_argument("--csv", type=Path, help="CSV of path,label rows (paths relative to the CSV)")
    src.add_argument("--phantoms", type=int, help="train on N synthetic phantom faces of --screen-task")
    p.add_argument("--screen-task", required=True, choices=list(SCREENING.rows),
                   help="which screening task the model serves (phantom classes, card caveats)")
    p.add_argument("--out", type=Path, help="weights folder (default weights/face_screening/<task>)")
    p.add_argument("--test-phantoms", type=int, default=200,
                   help="with --phantoms: faces of the HELD-OUT identity scored at the end")
    p.add_argument("--phantom-seed", type=int, default=0, help="seed of the training phantoms")
    p.add_argument("--identity-variation", type=float, default=0.0,
                   help="share of training phantoms whose face is first made to look less like the one "
                        "training portrait (skin smoothed, tone shifted; train/phantoms/face.py)")
    p.add_argument("--test-seed", type=int, default=2026, help="seed of the held-out test phantoms")
    p.add_argument("--folds", type=int, help="k-fold cross-validation; 1: one stratified 80/20 split; "
                   f"0: none (default: 5 when the smallest class has < {SMALL_CLASS} photos, else 1)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--face-size", type=int, default=128, help="side of the aligned face in pixels")
    p.add_argument("--crop-size", type=int, default=96,
                   help="side of the region crops in pixels (small cues such as a faint forehead marker "
                        "or acne papules need 96; 64 trains about 1.3x faster)")
    p.add_argument("--crop-margin", type=float, default=0.15)
    p.add_argument("--eye-distance", type=float, default=0.35, help="eye-centre distance / face side")
    p.add_argument("--eye-y", type=float, default=0.4, help="eye height / face side")
    p.add_argument("--colour", choices=("skin_balance", "none"), default="skin_balance",
                   help="balance each face's median skin colour to a fixed tone before the networks "
                        "(default), or leave the colours as photographed")
    p.add_argument("--regions", nargs="+", default=list(DEFAULT_REGIONS), choices=list(SCREEN_REGIONS))
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128], help="whole-face CNN stages")
    p.add_argument("--backbone", choices=BACKBONES, default="small_cnn",
                   help="whole-face network: our small CNN (default) or torchvision's mobilenet_v3_small "
                        "(random init; --pretrained loads a local torchvision checkpoint into it)")
    p.add_argument("--region-widths", type=int, nargs="+", default=[16, 32, 64, 128],
                   help="region CNN stages")
    p.add_argument("--pool", choices=POOLS, default="avg",
                   help="whole-face network's global pooling: avg, max, or lse (log-sum-exp, a smooth "
                        "maximum: 'is the finding anywhere?', which keeps a Grad-CAM of the last stage on "
                        "the finding)")
    p.add_argument("--region-pool", choices=POOLS, default="avg", help="region networks' global pooling")
    p.add_argument("--lse-r", type=float, default=LSE_R, help="sharpness of lse pooling (0: mean, inf: max)")
    p.add_argument("--pretrained", type=Path,
                   help="local safetensors file (or weights folder) to start from; tensors matched by "
                        "name and shape, the rest random")
    p.add_argument("--gallery-out", action="store_true",
                   help=f"write the training set's embeddings as {GALLERY_FILE} next to the weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--time-limit-min", type=float, default=0.0,
                   help="stop after this many minutes in all (0: none), shared by the folds and the "
                        "final model; each schedule anneals by its share")
    return p.parse_args(argv)


# ---------------------------------------------------------------- data
def folder_items(root: Path) -> list[tuple[Path, str]]:
    """(photo, class) pairs of an ImageFolder layout: each sub-folder of ``root`` is a class."""
    if not root.is_dir():
        raise SystemExit(f"--data {root}: not a folder")
    items = [(p, d.name) for d in sorted(x for x in root.iterdir() if x.is_dir())
             for p in sorted(d.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise SystemExit(f"--data {root}: no photos in class sub-folders (expected {root}/<class>/*.jpg)")
    return items


def csv_items(path: Path) -> list[tuple[Path, str]]:
    """(photo, class) pairs from ``path,label`` rows; a header row ``path,label`` is skipped."""
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    bad = [r for r in rows if len(r) < 2 or not r[0].strip() or not r[1].strip()]
    if bad or not rows:
        raise SystemExit(f"--csv {path}: expected path,label rows; bad rows: {bad[:3] or 'none at all'}")
    return [(path.parent / r[0].strip(), r[1].strip()) for r in rows]


def photo_set(items: list[tuple[Path, str]], spec: dict, regions: list[str]) -> tuple[FaceSet, int]:
    """Detect, align and crop every photo; those without a usable face are skipped (counted)."""
    labels = sorted({c for _, c in items})
    prepared, y, ids, skipped = [], [], [], 0
    for path, cls in tqdm(items, desc="landmarks"):
        try:
            rgb = oriented_rgb(path)
            prepared.append(prepare_inputs(rgb, detect_landmarks(rgb), spec, regions))
        except (FaceError, OSError) as exc:
            skipped += 1
            log.warning("skipped %s: %s", path, exc)
            continue
        y.append(labels.index(cls))
        ids.append(str(path))
    log.info("%d photos with a face, %d skipped (no face or unreadable)", len(prepared), skipped)
    if not prepared:
        raise SystemExit("no face found in any photo")
    empty = [c for k, c in enumerate(labels) if k not in set(y)]
    if empty:
        log.warning("no usable photo of class(es) %s: the model cannot learn them", ", ".join(empty))
    return stack_inputs(prepared, y, ids, labels, regions), skipped


def phantom_faces(task: str, n: int, seed: int, identity: str, identity_variation: float = 0.0) -> list[Any]:
    """Phantom faces of a screening task (train/phantoms/face.py)."""
    from train.phantoms.face import phantom_set

    return phantom_set(task, n, seed, identity=identity, identity_variation=identity_variation)


def phantom_face_set(faces: list[Any], labels: list[str], spec: dict, regions: list[str]) -> FaceSet:
    """Align and crop phantom faces with their known landmarks."""
    prepared = [prepare_inputs(f.rgb, f.landmarks, spec, regions) for f in tqdm(faces, desc="phantoms")]
    return stack_inputs(prepared, [int(f.label_index) for f in faces],
                        [f"phantom_{i:05d}" for i in range(len(faces))], labels, regions)


def stack_inputs(prepared: list[ScreeningInputs], y: list[int], ids: list[str], labels: list[str],
                 regions: list[str]) -> FaceSet:
    """Stack prepared inputs into uint8 tensors."""
    faces = torch.from_numpy(np.stack([p.aligned for p in prepared]))
    crops = {r: torch.from_numpy(np.stack([np.stack(p.crops[r]) for p in prepared])) for r in regions}
    return FaceSet(faces, crops, np.asarray(y, np.int64), list(ids), list(labels))


# ---------------------------------------------------------------- splits
def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) per case: each class shuffled and dealt round the folds in turn,
    continuing where the previous class stopped, so classes and fold sizes both balance."""
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), np.int64)
    start = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        folds[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    return folds


def stratified_split(y: np.ndarray, val_frac: float, seed: int) -> np.ndarray:
    """Bool mask of validation cases: ``val_frac`` of each class (at least one of a class with
    two or more cases), drawn at random."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = min(len(idx) - 1, max(1, round(val_frac * len(idx)))) if len(idx) > 1 else 0
        val[idx[:n]] = True
    return val


def validation_plan(y: np.ndarray, folds: int | None, seed: int) -> list[np.ndarray]:
    """Validation masks, one per fold (empty list: no validation)."""
    smallest = int(np.bincount(y).min()) if len(y) else 0
    k = (5 if smallest < SMALL_CLASS else 1) if folds is None else folds
    if k == 0:
        return []
    if k == 1:
        return [stratified_split(y, 0.2, seed)]
    if smallest < k:
        log.warning("the smallest class has %d cases: %d folds instead of %d", smallest, max(2, smallest), k)
        k = max(2, smallest)
    assign = stratified_folds(y, k, seed)
    return [assign == f for f in range(k)]


# ---------------------------------------------------------------- augmentation and training
def _jitter(x: torch.Tensor, rng: torch.Generator, rot_deg: float = 8.0, scale: float = 0.08,
            shift: float = 0.05) -> torch.Tensor:
    """Random small rotation, scale and shift of Bx3xHxW float images (black borders)."""
    b = x.shape[0]
    u = torch.rand(b, 4, generator=rng) * 2 - 1
    angle = u[:, 0] * math.radians(rot_deg)
    k = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / k, torch.sin(angle) / k
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * shift * 2], 1),
                         torch.stack([sin, cos, u[:, 3] * shift * 2], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _colour(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation and per-channel gain (strengths: :data:`COLOUR`);
    ``params`` Bx6 in [-1, 1]; x Bx...x3xHxW."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    gain = 1 + COLOUR["gain"] * params[:, 3:6].view(x.shape[0], *(1,) * (x.ndim - 4), 3, 1, 1)
    grey = x.mean(dim=-3, keepdim=True)
    x = grey + (x - grey) * (1 + COLOUR["saturation"] * params[:, 2]).view(shape)
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    x = mean + (x - mean) * (1 + COLOUR["contrast"] * params[:, 1]).view(shape)
    return ((x * (1 + COLOUR["brightness"] * params[:, 0]).view(shape)) * gain).clamp(0, 1)


def _soften(x: torch.Tensor, which: torch.Tensor, factor: float) -> torch.Tensor:
    """Resolution loss: the Bx3xHxW images ``which`` (B bool) down-sampled by ``factor`` and back."""
    if not bool(which.any()):
        return x
    small = F.interpolate(x, scale_factor=1 / factor, mode="bilinear", antialias=True, align_corners=False)
    low = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(which.view(-1, 1, 1, 1), low, x)


def augment(faces: torch.Tensor, crops: dict[str, torch.Tensor], views: dict[str, tuple],
            rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Jittered float [0, 1] copies of a uint8 batch: faces Bx3xSxS, crops BxVx3xcxc.

    Per photo (shared by all its members): mirror, colour (:data:`COLOUR`) and, for a share of
    the photos, a resolution loss (:data:`SOFTEN`). Per member input: rotation, scale and shift.
    Mirroring flips the face and each single-view region; a region whose views are a side and its
    mirrored partner (the cheeks) swaps the two views instead, which is what a mirrored face shows.
    """
    b = faces.shape[0]
    colour = torch.rand(b, 6, generator=rng) * 2 - 1  # one lighting per photo, for every member
    flip = torch.rand(b, generator=rng) < 0.5
    soft = torch.rand(b, generator=rng) < SOFTEN["p"]
    factor = 1.5 + (SOFTEN["max_factor"] - 1.5) * float(torch.rand(1, generator=rng))
    face = faces.permute(0, 3, 1, 2).float() / 255
    face = torch.where(flip.view(b, 1, 1, 1), face.flip(-1), face)
    face = _colour(_jitter(_soften(face, soft, factor), rng), colour)
    out = {}
    for r, c in crops.items():
        x = c.permute(0, 1, 4, 2, 3).float() / 255  # BxVx3xcxc
        mirrored = [v.mirror for v in views[r]]
        if len(mirrored) == 2 and mirrored[0] != mirrored[1]:
            x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(1), x)
        else:
            x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(-1), x)
        v = x.shape[1]
        x = _jitter(_soften(x.flatten(0, 1), soft.repeat_interleave(v), factor), rng).unflatten(0, (b, v))
        out[r] = _colour(x, colour)
    return face, out


def normalise(x: torch.Tensor, spec: dict) -> torch.Tensor:
    """Float [0, 1] ...x3xHxW -> normalised with the card's ``mean``/``std`` (as ``to_tensor``)."""
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


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


def fit(model: ScreeningNet, data: FaceSet, train_idx: np.ndarray, args: argparse.Namespace, run: str,
        history: list[dict], budget_s: float = 0.0, val_idx: np.ndarray | None = None,
        seed: int = 0, out: Path | None = None) -> ScreeningNet:
    """Train ``model`` on the cases ``train_idx``; one history row per epoch (validation figures
    when ``val_idx`` is given), rewritten to ``out/history.csv`` each epoch when ``out`` is given.
    Stops early at ``budget_s`` seconds, the schedule annealed by then."""
    views = {r: SCREEN_REGIONS[r] for r in data.crops}
    n_cls, spec = len(data.labels), _spec_of(args)
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


def _spec_of(args: argparse.Namespace) -> dict:
    """The card's ``input`` section for these arguments."""
    return {"size": [args.face_size, args.face_size], "resize": "align_face",
            "align": {"eye_distance": args.eye_distance, "eye_y": args.eye_y},
            "crop_size": args.crop_size, "crop_margin": args.crop_margin,
            "regions": region_spec(args.regions), "colour": args.colour,
            **({"skin_tone": list(SKIN_TONE)} if args.colour == "skin_balance" else {}),
            "mean": MEAN, "std": STD}


def screening_card(args: argparse.Namespace, labels: list[str], training: dict | None = None) -> ModelCard:
    """The card of a screening ensemble: architecture, aligned input and crops, labels, averaging."""
    members = ["whole_face", *args.regions]
    return ModelCard(
        task="face_screening", arch="screening_net",
        arch_config={"classes": len(labels), "regions": list(args.regions), "widths": list(args.widths),
                     "region_widths": list(args.region_widths), "dropout": 0.2,
                     "whole_face_backbone": args.backbone, **_pools(args)},
        labels=list(labels), input=_spec_of(args),
        postprocess={"ensemble": "mean_softmax", "member_weights": {m: 1.0 for m in members}},
        title=f"Face screening ({args.screen_task}): whole-face CNN + {len(args.regions)} region CNNs, ours",
        training=training or {"synthetic": bool(args.phantoms), "screen_task": args.screen_task})


def _pools(args: argparse.Namespace) -> dict[str, Any]:
    """The pooling entries of the architecture; none when every member averages (the cards written
    before pooling was selectable read the same)."""
    if args.pool == "avg" and args.region_pool == "avg":
        return {}
    return {"pool": args.pool, "region_pool": args.region_pool, "lse_r": float(args.lse_r)}


def new_model(args: argparse.Namespace, n_classes: int, seed: int) -> ScreeningNet:
    """A fresh ensemble (random init, or ``--pretrained`` tensors where names and shapes match)."""
    torch.manual_seed(seed)
    model = create_model("screening_net", classes=n_classes, regions=list(args.regions),
                         widths=list(args.widths), region_widths=list(args.region_widths), dropout=0.2,
                         whole_face_backbone=args.backbone, **_pools(args))
    if args.pretrained:
        load_pretrained(model, args.pretrained)
    return model.to(memory_format=torch.channels_last)


def load_pretrained(model: torch.nn.Module, path: Path) -> int:
    """Copy tensors from a local safetensors file (or weights folder) whose names and shapes match.

    Returns:
        How many tensors were copied. Never unpickles; a file with no matching tensor is an error.
    """
    from safetensors.torch import load_file

    file = path / "model.safetensors" if path.is_dir() else path
    if not file.is_file():
        raise SystemExit(f"--pretrained {path}: no safetensors file there")
    source = load_file(str(file))
    state = model.state_dict()
    # Our own weights folders match by name; a torchvision checkpoint's "features.*" tensors match the
    # whole-face backbone's ("whole_face.features_net.*").
    def target(k: str) -> str | None:
        tv = "whole_face.features_net." + k.removeprefix("features.") if k.startswith("features.") else k
        return next((c for c in (k, tv) if c in state and source[k].shape == state[c].shape), None)

    names = {k: target(k) for k in source}
    matched = {c: source[k].to(state[c].dtype) for k, c in names.items() if c is not None}
    if not matched:
        raise SystemExit(f"--pretrained {file}: no tensor matches the model by name and shape")
    model.load_state_dict(matched, strict=False)
    log.info("--pretrained: %d of %d model tensors loaded from %s", len(matched), len(state), file)
    return len(matched)


# ---------------------------------------------------------------- validation and tests
def fold_summary(y: np.ndarray, probs: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy and top-k of one fold's validation cases."""
    pred = probs.argmax(1)
    out = {"n": int(len(y)), "accuracy": metrics.accuracy(y, pred),
           "balanced_accuracy": metrics.balanced_accuracy(y, pred, n_classes)}
    out.update({f"top_{k}": metrics.top_k_accuracy(y, probs, k) for k in topk_ks(n_classes)})
    return out


def cross_validate(data: FaceSet, args: argparse.Namespace, history: list[dict],
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
        budget = _share(deadline, len(plan) - f + 1)
        model = fit(new_model(args, n_cls, args.seed + f + 1), data, tr, args, f"fold{f + 1}", history,
                    budget, va, seed=args.seed + f + 1, out=out)
        oof[va] = ensemble_probs(model, data, va, _spec_of(args))
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


def _share(deadline: float, runs_left: int) -> float:
    """Seconds for the next run: an equal share of what is left (0: no limit)."""
    if not deadline:
        return 0.0
    return max(1.0, (deadline - time.time()) / max(1, runs_left))


def write_gallery(model: ScreeningNet, data: FaceSet, out: Path, spec: dict) -> Any:
    """The training set's whole-face embeddings as a gallery file; None (and no file) over 1 MB."""
    from core.face.gallery import Gallery

    model.eval()
    with torch.no_grad():
        emb = torch.cat([model.embed(to_tensor(data.faces[s:s + 64], spec)) for s in range(0, len(data), 64)])
    if emb.numel() * 4 > GALLERY_MAX_BYTES:
        log.warning("gallery of %d x %d embeddings is over 1 MB; not written", *emb.shape)
        return None
    gallery = Gallery(emb.numpy(), [data.labels[i] for i in data.y], data.ids)
    path = gallery.save(out / GALLERY_FILE)
    if path.stat().st_size > GALLERY_MAX_BYTES:
        path.unlink()
        log.warning("gallery file over 1 MB; removed")
        return None
    return gallery


# ---------------------------------------------------------------- main
def load_data(args: argparse.Namespace) -> tuple[FaceSet, int, list[str]]:
    """The training faces, the number of photos skipped, and the class names."""
    spec = _spec_of(args)
    if args.phantoms:
        labels = list(SCREENING.row(args.screen_task).labels)
        faces = phantom_faces(args.screen_task, args.phantoms, args.phantom_seed, "train",
                              args.identity_variation)
        return phantom_face_set(faces, labels, spec, args.regions), 0, labels
    items = folder_items(args.data) if args.data else csv_items(args.csv)
    data, skipped = photo_set(items, spec, args.regions)
    return data, skipped, data.labels


def train(args: argparse.Namespace) -> Path:
    """Cross-validate, train the final model on all the data, write the weights folder."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or SCREENING.weights_dir(args.screen_task)
    t0 = time.time()
    deadline = t0 + args.time_limit_min * 60 if args.time_limit_min else 0.0
    data, skipped, labels = load_data(args)
    counts = np.bincount(data.y, minlength=len(labels))
    log.info("%d faces; per class: %s", len(data), dict(zip(labels, counts.tolist())))
    history: list[dict] = []
    validation = cross_validate(data, args, history, deadline, out)
    model = fit(new_model(args, len(labels), args.seed), data, np.arange(len(data)), args, "final", history,
                _share(deadline, 1), seed=args.seed, out=out)
    card = screening_card(args, labels, _provenance(args, data, skipped, history, time.time() - t0))
    card = save_model(model, card, out)
    gallery = write_gallery(model, data, out, card.input) if args.gallery_out else None
    found = {}
    if validation:
        found["validation"] = validation
    if gallery is not None:
        found["gallery"] = {"file": GALLERY_FILE, "size": len(gallery), "n_classes": len(gallery.classes),
                            "leave_one_out": gallery.leave_one_out_topk((1, 3, 5)),
                            "note": "training-set embeddings of the final model (optimistic)"}
    if args.phantoms and args.test_phantoms:
        screener = Screener.from_folder(out)
        for name, identity in (("phantom_test", "train"), ("phantom_test_held_out_identity", "held_out")):
            faces = phantom_faces(args.screen_task, args.test_phantoms, args.test_seed, identity)
            found[name] = test = phantom_test(screener, faces, args.screen_task, gallery, identity=identity)
            log.info("%s: accuracy %.3f, whole-face pointing game %s", name, test["accuracy"],
                     test["pointing_game"]["whole_face"]["score"])
    write_card(out, replace(card, metrics=found))
    log.info("wrote %s (%.1f min)", out, (time.time() - t0) / 60)
    return out


def _provenance(args: argparse.Namespace, data: FaceSet, skipped: int, history: list[dict],
                seconds: float) -> dict:
    counts = np.bincount(data.y, minlength=len(data.labels)).tolist()
    if args.phantoms:
        words = (f"{args.phantoms} synthetic phantom faces (train/phantoms/face.py, seed "
                 f"{args.phantom_seed}) of the TRAINING identity; synthetic conditions on real portraits"
                 + (f"; {args.identity_variation:.0%} with the face's skin smoothed and its tone shifted "
                    "first" if args.identity_variation else ""))
        caveat = SCREENING.row(args.screen_task).phantom_note
    else:
        words = (f"{len(data)} face photos from {args.data or args.csv} "
                 f"({skipped} skipped: no face or unreadable)")
        caveat = SCREENING.row(args.screen_task).caveat
    final = [h for h in history if h["run"] == "final"]
    return {
        "synthetic": bool(args.phantoms), "screen_task": args.screen_task, "data": words,
        "caveat": caveat, "class_counts": dict(zip(data.labels, counts)), "skipped_photos": skipped,
        "command": "python -m train.classifier " + shlex.join(getattr(args, "_argv", [])),
        "epochs_run": len(final), "steps": final[-1]["steps"] if final else 0,
        "batch_size": args.batch_size, "lr": args.lr, "weight_decay": args.weight_decay, "seed": args.seed,
        "loss": "class-weighted cross-entropy (inverse class frequency) summed over the members' logits",
        "augmentation": "per photo: mirror (cheek views swapped), brightness +-15%, contrast +-15%, "
                        "saturation +-20%, channel gains +-6%, 1.5-2.5x resolution loss in 25%; per member "
                        "input: rotation +-8 deg, scale +-8%, shift +-5%",
        "selection": "last epoch of the final model trained on all the data",
        "init": f"pretrained tensors from {args.pretrained}" if args.pretrained else "random",
        "minutes": round(seconds / 60, 1), "device": f"cpu x{torch.get_num_threads()} threads",
        "date": dt.date.today().isoformat(), "torch": torch.__version__,
    }



def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    args._argv = sys.argv[1:] if argv is None else argv
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
