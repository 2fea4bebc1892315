"""Train the facial-region U-Net (task face_regions) on augmentations of public-domain portraits.

    python -m train.face_regions --out weights/face_regions/unet --epochs 80 --threads 2 --time-limit-min 32
    python -m train.face_regions --photos my_faces/ --held-out other_faces/ --out runs/regions
    python -m train.segmentation --task face_regions --arch unet --data my_faces/   (the same)

Any folder of face photos is training data: the labels are the landmark-derived region masks, so
nobody has to draw them. Default training identity: matplotlib's ``grace_hopper.jpg``; default
held-out identity: scikit-image's astronaut (``skimage.data.astronaut()``). With ``--photos``
every photo (in the folder and its sub-folders) in which Face Mesh finds a face is a training
source, sampled evenly; ``--held-out`` names the photos that are scored and never trained on
(keep identities apart: the same person on both sides measures memory, not generalisation).
Landmarks are detected once per photo (mediapipe Face Mesh); every sample is an augmentation of a
photo whose labels are the region mask of its moved landmarks (train/face_augment.py), in the
network's eye-aligned frame. Loss: cross-entropy + soft Dice over the regions. The learning rate follows a
cosine over the planned steps or the time limit, whichever ends first; the LAST epoch is kept (no
model selection on the held-out identity, the only test there is), BatchNorm statistics are
re-estimated over training-like batches, and the card records per-region IoU on the held-out
identity and, separately, on the training identity, both on the photo's own grid.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.face.landmarks import FaceLandmarks
from core.face.region_net import (
    RegionSegmenter,
    align_spec,
    mean_region_iou,
    normalise_rgb,
    region_iou,
)
from core.face.regions import LABEL_NAMES, align_face, region_label_mask
from core.models import create_model, get_spec
from core.tasks import get_task
from core.weights import ModelCard, save_model, write_card, write_history
from train.config import RunConfig
from train.face_augment import MILD, STRONG, FaceSource, photo_sample, training_sample
from train.face_sources import astronaut_source, default_sources, sources_from

log = logging.getLogger("train.face_regions")
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
DATA = ("trained on augmentations of ONE public-domain portrait (matplotlib's grace_hopper.jpg); "
        "labels are mediapipe-landmark-derived masks, not manual annotations")
TRACK_SAMPLES = 40  # of the scored augmentations, tracked each epoch at network resolution
SEED_CLAIM = ("the seed system claimed 89% IoU for its facial-region U-Net; ours is measured on ONE "
              "held-out identity only (scikit-image's astronaut), against landmark-derived masks")


@dataclass(frozen=True, kw_only=True)
class FaceRegionsConfig(RunConfig):
    """Everything a ``train.face_regions`` run is given (the options' help says what each field
    means); :func:`parse_args` fills it, the card records it."""

    out: Path = field(default_factory=lambda: get_task("face_regions").weights_dir("unet"))
    photos: list[Path] | None = None
    held_out: list[Path] | None = None
    glasses: bool = False
    epochs: int = 40
    samples_per_epoch: int = 800
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    input_size: int = 192
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    eye_distance: float = 0.28
    eye_y: float = 0.4
    mirror_tta: bool = True
    val_samples: int = 100
    val_seed: int = 2026
    seed: int = 0
    threads: int = 0
    time_limit_min: float = 0.0


def parse_args(argv: list[str] | None = None) -> FaceRegionsConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.face_regions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=get_task("face_regions").weights_dir("unet"),
                   help="weights folder (default weights/face_regions/unet)")
    p.add_argument("--photos", type=Path, nargs="+",
                   help="training photos: files or folders (searched recursively); default: grace_hopper.jpg")
    p.add_argument("--held-out", type=Path, nargs="+",
                   help="held-out photos of OTHER people, scored only; default: scikit-image's astronaut")
    p.add_argument("--glasses", action="store_true",
                   help="the training photos wear glasses with dark rims: paint them out in half the "
                        "samples (always on for the default grace_hopper.jpg)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--samples-per-epoch", type=int, default=800)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--input-size", type=int, default=192, help="side of the aligned input (multiple of 16)")
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128, 256],
                   help="U-Net channels per stage (default 16 32 64 128 256: 1.9 M parameters)")
    p.add_argument("--eye-distance", type=float, default=0.28, help="eye-centre distance / input side")
    p.add_argument("--eye-y", type=float, default=0.4, help="eye height / input side")
    p.add_argument("--mirror-tta", action=argparse.BooleanOptionalAction, default=True,
                   help="predict the mirrored face too and average (default on)")
    p.add_argument("--val-samples", type=int, default=100, help="mild augmentations per identity scored")
    p.add_argument("--val-seed", type=int, default=2026, help="seed of the scored augmentations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--time-limit-min", type=float, default=0.0,
                   help="stop after this many minutes (0: none); the schedule anneals by then")
    tokens = sys.argv[1:] if argv is None else list(argv)
    return FaceRegionsConfig.from_args(p.parse_args(tokens), tokens)


def sources_for(args: FaceRegionsConfig) -> tuple[list[FaceSource], list[FaceSource]]:
    """Training and held-out sources from the command line (defaults: the bundled portraits)."""
    if not args.photos and not args.held_out:
        return default_sources()
    if args.photos:
        train = sources_from(args.photos, glasses=args.glasses)
    else:
        train = default_sources()[0]
    held = sources_from(args.held_out) if args.held_out else [astronaut_source()]
    overlap = {s.name for s in train} & {s.name for s in held}
    if overlap and args.held_out:
        log.warning("the same file names are in training and held-out photos: %s", ", ".join(sorted(overlap)))
    return train, held


def region_card(size: int = 192, widths: list[int] | tuple[int, ...] = (16, 32, 64, 128, 256),
                eye_distance: float = 0.28, eye_y: float = 0.4, mirror_tta: bool = True,
                training: dict | None = None) -> ModelCard:
    """The card of a facial-region U-Net (architecture, aligned input, labels, provenance)."""
    spec = get_spec("unet")
    return ModelCard(
        task="face_regions", arch="unet",
        arch_config={**spec.defaults, "in_channels": 3, "classes": len(LABEL_NAMES),
                     "widths": list(widths), "convs": [2] * len(widths)},
        labels=list(LABEL_NAMES),
        input={"size": [size, size], "resize": "align_face",
               "align": {"eye_distance": eye_distance, "eye_y": eye_y}, "mean": MEAN, "std": STD},
        postprocess={"argmax": True, "mirror_tta": mirror_tta},
        title="Facial regions: plain U-Net on the eye-aligned face, ours",
        training=training or {"synthetic": True, "data": DATA})


def make_batch(src: FaceSource | list[FaceSource], card: ModelCard, n: int, rng: np.random.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` strongly augmented samples (each of a source drawn evenly): Bx3xSxS normalised float32
    and BxSxS int64 labels."""
    align = align_spec(card.input)
    srcs = src if isinstance(src, list) else [src]
    pick = (lambda: srcs[0]) if len(srcs) == 1 else (lambda: srcs[int(rng.integers(len(srcs)))])
    pairs = [training_sample(pick(), align, STRONG, rng) for _ in range(n)]
    x = np.stack([normalise_rgb(im, card.input) for im, _ in pairs])
    y = np.stack([lab for _, lab in pairs]).astype(np.int64)
    return torch.from_numpy(x).contiguous(memory_format=torch.channels_last), torch.from_numpy(y)


def region_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Cross-entropy + (1 - soft Dice) averaged over the regions (background excluded)."""
    ce = F.cross_entropy(logits, target)
    p = torch.softmax(logits, 1)[:, 1:]
    t = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].to(p.dtype)
    inter, total = (p * t).sum((0, 2, 3)), (p + t).sum((0, 2, 3))
    return ce + (1 - (2 * inter + smooth) / (total + smooth)).mean()


def aligned_eval_set(src: FaceSource | list[FaceSource], card: ModelCard, n: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mild augmentations of the photos (taken in turn) aligned exactly as the predictor aligns
    them: (NxSxSx3, NxSxS)."""
    align = align_spec(card.input)
    srcs = src if isinstance(src, list) else [src]
    images, labels = [], []
    for i in range(n):
        rgb, lm = photo_sample(srcs[i % len(srcs)], MILD, np.random.default_rng([seed, i]))
        aligned = align_face(rgb, lm, **align)
        images.append(aligned.image)
        labels.append(region_label_mask(aligned.landmarks))
    return np.stack(images), np.stack(labels)


def summarise(per_sample: list[dict[str, float]]) -> dict:
    """Per-region mean IoU over samples (NaN-skipping), the mean over regions, and its spread."""
    names = [n for n in per_sample[0] if n != "background"]
    iou = {n: float(np.nanmean([s[n] for s in per_sample])) for n in names}
    means = [mean_region_iou(s) for s in per_sample]
    return {"n": len(per_sample), "iou": {k: round(v, 4) for k, v in iou.items()},
            "mean_iou": round(float(np.mean(list(iou.values()))), 4),
            "mean_iou_sd_over_samples": round(float(np.std(means)), 4)}


@torch.no_grad()
def evaluate_aligned(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, card: ModelCard
                     ) -> dict:
    """Per-region IoU at network resolution in the aligned frame (no test-time mirroring)."""
    model.eval()
    per = []
    for start in range(0, len(images), 16):
        x = torch.from_numpy(np.stack([normalise_rgb(im, card.input) for im in images[start:start + 16]]))
        pred = model(x.contiguous(memory_format=torch.channels_last)).argmax(1).numpy()
        per += [region_iou(p, t, LABEL_NAMES) for p, t in zip(pred, labels[start:start + 16])]
    return summarise(per)


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, src: FaceSource | list[FaceSource], card: ModelCard,
                          n: int = 320, batch: int = 16, seed: int = 123) -> None:
    """BatchNorm running statistics as an exact average over training-like batches (see
    train/segmentation.py: the weights are tuned to the statistics of what they trained on)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    rng = np.random.default_rng(seed)
    for _ in range(max(1, n // batch)):
        model(make_batch(src, card, batch, rng)[0])
    for bn in bns:
        bn.momentum = 0.1
    model.eval()


def photo_metrics(seg: RegionSegmenter, src: FaceSource | list[FaceSource], n: int, seed: int) -> dict:
    """IoU of the predictor against the landmark-derived masks on each photo's own grid: the
    unaugmented photos, and ``n`` seeded mild augmentations of them taken in turn (the set the
    epochs were scored on)."""
    srcs = src if isinstance(src, list) else [src]
    per = []
    for i in range(n):
        rgb, lm = photo_sample(srcs[i % len(srcs)], MILD, np.random.default_rng([seed, i]))
        per.append(region_iou(seg.predict(rgb, lm).labels, region_label_mask(lm), seg.names))
    originals = []
    for one in srcs:
        lm = FaceLandmarks(one.points.astype(np.float32), one.shape)
        originals.append(region_iou(seg.predict(one.photo, lm).labels, region_label_mask(lm), seg.names))
    return {"photo": ", ".join(x.name for x in srcs), "photos": len(srcs), **summarise(per),
            "original_photo": summarise(originals)["iou"],
            "original_photo_mean_iou": round(float(np.mean([mean_region_iou(o) for o in originals])), 4),
            "augmentation": "mild: mirror, rotation +-10 deg, scale 0.8-1.2, shift 5%, squeeze 5%, "
                            "light colour/lighting changes, blur/noise/JPEG in 30%",
            "grid": "the photo's own pixels (aligned prediction warped back)", "seed": seed}


def lr_at(progress: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up, then a cosine from ``peak`` down to 2% of it at ``progress`` = 1."""
    if progress < warmup:
        return peak * (0.1 + 0.9 * progress / warmup)
    t = min(1.0, (progress - warmup) / (1 - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def train(args: FaceRegionsConfig) -> Path:
    """Run the whole training; returns the weights folder."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    card = region_card(args.input_size, args.widths, args.eye_distance, args.eye_y, args.mirror_tta)
    src, held = sources_for(args)
    log.info("training photos: %d (%s); held-out photos: %d", len(src),
             ", ".join(x.name for x in src[:5]) + (", ..." if len(src) > 5 else ""), len(held))
    n_track = min(args.val_samples, TRACK_SAMPLES)  # per-epoch tracking: the first of the scored set
    val = {"held_out": aligned_eval_set(held, card, n_track, args.val_seed),
           "training_identity": aligned_eval_set(src, card, n_track, args.val_seed)}
    model = create_model(card.arch, **card.arch_config).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = max(1, args.samples_per_epoch // args.batch_size)
    total = steps_per_epoch * args.epochs
    limit_s = args.time_limit_min * 60
    rng = np.random.default_rng(args.seed)
    history, step, t0 = [], 0, time.time()
    log.info("face_regions/unet: %d x %d samples per epoch at %d px, %d parameters", steps_per_epoch,
             args.batch_size, args.input_size, sum(p.numel() for p in model.parameters()))
    bar = tqdm(range(args.epochs), desc="train face_regions")
    for epoch in bar:
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            progress = max(step / total, (time.time() - t0) / limit_s if limit_s else 0.0)
            if progress >= 1:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(progress, args.lr)
            x, y = make_batch(src, card, args.batch_size, rng)
            loss = region_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        scores = {k: evaluate_aligned(model, *v, card) for k, v in val.items()}
        row = {"epoch": epoch + 1, "steps": step, "lr": opt.param_groups[0]["lr"],
               "train_loss": float(np.mean(losses)) if losses else math.nan,
               "held_out_miou": scores["held_out"]["mean_iou"],
               "training_identity_miou": scores["training_identity"]["mean_iou"],
               "minutes": round((time.time() - t0) / 60, 2),
               **{f"held_out_{k}": v for k, v in scores["held_out"]["iou"].items()}}
        history.append(row)
        write_history(args.out, history)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", held_out=f"{row['held_out_miou']:.3f}")
        if len(losses) < steps_per_epoch:
            log.warning("time limit reached in epoch %d", epoch + 1)
            break
    recalibrate_batchnorm(model, src, card)
    minutes = round((time.time() - t0) / 60, 1)
    card = replace(card, training=_provenance(args, history, minutes, src, held))
    card = save_model(model, card, args.out)
    seg = RegionSegmenter.from_folder(args.out)
    metrics = {"held_out": {"identity": "NOT used for training", **photo_metrics(seg, held, args.val_samples,
                                                                                args.val_seed)},
               "training_identity": {"identity": "the TRAINING identity (optimistic)",
                                     **photo_metrics(seg, src, args.val_samples, args.val_seed)},
               "seed_system_claim": {"iou": 0.89, "note": SEED_CLAIM if _is_default(args) else
                                     "the seed system claimed 89% IoU for its facial-region U-Net"}}
    write_card(args.out, replace(card, metrics=metrics))
    log.info("wrote %s: held-out mean IoU %.3f", args.out, metrics["held_out"]["mean_iou"])
    return args.out


def _is_default(args: FaceRegionsConfig) -> bool:
    return not args.photos and not args.held_out


def _provenance(args: FaceRegionsConfig, history: list[dict], minutes: float,
                src: list[FaceSource], held: list[FaceSource]) -> dict:
    names = [x.name for x in src]
    user = {"data": f"augmentations of {len(src)} face photo(s) from {', '.join(map(str, args.photos))}; "
                    "labels are mediapipe-landmark-derived masks, not manual annotations",
            "train_identity": ", ".join(names[:20])
            + (f" ... ({len(names)} photos)" if len(names) > 20 else ""),
            "held_out_identity": ", ".join(x.name for x in held[:20])} if args.photos else {}
    return {
        "synthetic": not args.photos,
        "data": DATA,
        "train_identity": "grace_hopper.jpg, matplotlib sample data (U.S. Navy photograph, public domain)",
        "held_out_identity": "skimage.data.astronaut() (NASA photograph of Eileen Collins, public domain)"
        if not args.held_out else ", ".join(x.name for x in held[:20]),
        **user,
        "labels": "core.face.regions.region_label_mask of the augmented Face Mesh landmarks "
                  "(landmarks detected once per photo, moved with every augmentation)",
        "command": args.command("train.face_regions"),
        "config": args.to_json(),
        "epochs_run": len(history), "steps": history[-1]["steps"] if history else 0,
        "samples_seen": (history[-1]["steps"] if history else 0) * args.batch_size,
        "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "loss": "cross-entropy + soft Dice over the 10 regions",
        "augmentation": "mirror (right/left relabelled); half the samples with the glasses' dark "
                        "rims painted out and eyebrows painted in; rotation +-25 deg, scale "
                        "0.45-1.25, shift, yaw-like perspective squeeze, alignment jitter; "
                        "landmark-driven shape warps (eyes, brows, nose, mouth, chin) and an opened "
                        "mouth (teeth or dark gap); hue, saturation, gamma, contrast, brightness, "
                        "colour cast, side lighting; blur or resolution loss, noise, JPEG; hand-like "
                        "and rectangular occluders (labels unchanged); random backgrounds",
        "selection": "last epoch; no model selection on the held-out identity (history.csv shows "
                     "its IoU per epoch for information)",
        "batchnorm": "running statistics re-estimated over 320 training-like samples",
        "init": "random (no pretrained weights)",
        "minutes": minutes, "device": f"cpu x{torch.get_num_threads()} threads",
        "date": dt.date.today().isoformat(), "torch": torch.__version__,
    }



def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
