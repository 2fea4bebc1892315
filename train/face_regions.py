"""Train the face parser (task face_regions) on real labelled faces: the FASSEG folders.

    python -m train.face_regions --data ../shared/data/fasseg --out weights/face_regions/unet \\
        --threads 2 --time-limit-min 60

Every labelled photo under ``--data`` (:func:`core.datasets.fasseg.read_fasseg`: ``frontal02`` and
``multipose01``, any yaw) is a case; cases are split BY PERSON: ``--val-frontal`` frontal faces
(each its own person) and ``--val-pose-persons`` Pointing'04 people with all their poses are held
out, scored and never trained on (seeded, so the split is reproducible). Each training sample frames
a photo as the predictor frames a face box (:func:`core.face.region_net.face_frame`), composed with
a random similarity (zoom out and in, shift, tilt, mirror, a little stretch), with
``--background-mix P`` a share P of them on procedural clutter instead of the studio background,
then colour, gamma, greyscale, blur, noise and JPEG are varied (:mod:`train.parser_augment`); a
photo is drawn with probability 1/sqrt(photos of its person), so frontal faces are not drowned by
the poses. Loss: cross-entropy + soft Dice over the five face classes (pooled over the batch, or
with ``--dice-per-image`` each photo's). The learning rate follows a
cosine over the planned epochs or the time limit, whichever ends first; the LAST epoch is kept (no
selection on the held-out persons), and the card records the held-out per-class IoU on each photo's
own grid with person-resampled 95% intervals (:mod:`core.face.parsing_eval`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.datasets.fasseg import CLASSES, FassegCase, read_fasseg
from core.face.parsing_eval import score_landmark_regions, score_parser, summarise_scores
from core.face.region_net import FaceParser, normalise_rgb
from core.models import create_model, get_spec
from core.tasks import get_task
from core.weights import ModelCard, load_model, save_model, write_card, write_history
from train.config import RunConfig, pick_device
from train.parser_augment import augmentation_text, training_sample

log = logging.getLogger("train.face_regions")
TASK = get_task("face_regions")
CITATION = ("FASSEG (Khan K, Mauro M, Leonardi R, 'Multi-class semantic segmentation of faces', "
            "ICIP 2015): frontal02 and multipose01 (Pointing'04 faces at yaw -90..+90 degrees)")


@dataclass(frozen=True, kw_only=True)
class FaceRegionsConfig(RunConfig):
    """Everything a ``train.face_regions`` run is given (the options' help says what each field
    means); :func:`parse_args` fills it, the card records it."""

    data: Path
    out: Path = field(default_factory=lambda: TASK.weights_dir("unet"))
    val_frontal: int = 6
    val_pose_persons: int = 1
    split_seed: int = 0
    epochs: int = 300
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    input_size: int = 256
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    mirror_tta: bool = True
    init: Path | None = None
    eval_every: int = 10
    seed: int = 0
    threads: int = 0
    time_limit_min: float = 0.0
    device: str = "auto"
    amp: bool | None = None
    workers: int = 0
    background_mix: float = 0.0
    elastic: float = 0.0
    dice_per_image: bool = False


def parse_args(argv: list[str] | None = None) -> FaceRegionsConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.face_regions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="a FASSEG-layout folder (RGB/ + labels/ at any depth), e.g. ../shared/data/fasseg")
    p.add_argument("--out", type=Path, default=TASK.weights_dir("unet"),
                   help="weights folder (default weights/face_regions/unet)")
    p.add_argument("--val-frontal", type=int, default=6,
                   help="held-out photos of persons with one photo each (FASSEG frontal sets)")
    p.add_argument("--val-pose-persons", type=int, default=1,
                   help="held-out Pointing'04 persons, all their poses")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the person split")
    p.add_argument("--epochs", type=int, default=300, help="passes over the training photos")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--input-size", type=int, default=256, help="side of the square input (multiple of 16)")
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128, 256],
                   help="U-Net channels per stage (default 16 32 64 128 256: 1.9 M parameters)")
    p.add_argument("--mirror-tta", action=argparse.BooleanOptionalAction, default=True,
                   help="predict the mirrored photo too and average (default on)")
    p.add_argument("--init", type=Path, help="start from this weights folder (same architecture, any input "
                   "size; recorded in the card with its sha256), e.g. to continue a run at a larger size")
    p.add_argument("--eval-every", type=int, default=10, help="score the held-out persons every N epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--time-limit-min", type=float, default=0.0,
                   help="stop after this many minutes (0: none); the schedule anneals by then")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (the augmentation runs on the CPU)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 mixed precision (default: on with CUDA)")
    p.add_argument("--dice-per-image", action="store_true",
                   help="soft Dice of each photo, averaged (default: pooled over the batch's photos)")
    p.add_argument("--background-mix", type=float, default=0.0, metavar="P",
                   help="share of training samples whose background is replaced by procedural clutter "
                        "(train.parser_augment.clutter): FASSEG's plain studio backgrounds teach nothing "
                        "about real ones (default 0)")
    p.add_argument("--elastic", type=float, default=0.0, metavar="P",
                   help="share of training samples resampled through a smooth random displacement field "
                        "(train.parser_augment.elastic_warp): varies the eyes' and mouth's shapes "
                        "(default 0)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes that augment batches ahead of the network (0: in the training loop, "
                        "the recorded runs' stream); one core cannot feed a GPU (0.1 s a batch at 448 px)")
    tokens = sys.argv[1:] if argv is None else list(argv)
    return FaceRegionsConfig.from_args(p.parse_args(tokens), tokens)


def split_persons(cases: list[FassegCase], n_frontal: int, n_pose: int, seed: int
                  ) -> tuple[list[FassegCase], list[FassegCase]]:
    """(training, held-out) cases; whole persons go to one side. Persons with one photo and
    persons with many poses are drawn separately, so both kinds are held out."""
    persons: dict[str, int] = {}
    for c in cases:
        persons[c.group] = persons.get(c.group, 0) + 1
    single = sorted(g for g, n in persons.items() if n == 1)
    multi = sorted(g for g, n in persons.items() if n > 1)
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(single)[:min(n_frontal, max(0, len(single) - 1))].tolist())
    held |= set(rng.permutation(multi)[:min(n_pose, max(0, len(multi) - 1))].tolist())
    train = [c for c in cases if c.group not in held]
    val = [c for c in cases if c.group in held]
    if not train:
        raise ValueError("no training photos left after holding persons out")
    return train, val


def parser_card(size: int = 256, widths: list[int] | tuple[int, ...] = (16, 32, 64, 128, 256),
                mirror_tta: bool = True, training: dict | None = None) -> ModelCard:
    """The card of a face parser (architecture, framed input, FASSEG labels, provenance)."""
    spec = get_spec("unet")
    return ModelCard(
        task="face_regions", arch="unet",
        arch_config={**spec.defaults, "in_channels": 3, "classes": len(CLASSES),
                     "widths": list(widths), "convs": [2] * len(widths)},
        labels=list(CLASSES),
        input={**TASK.input, "size": [size, size]},
        postprocess={"argmax": True, "mirror_tta": mirror_tta},
        title="Face parser: plain U-Net on the framed head, trained on real FASSEG faces, ours",
        training=training or {"synthetic": False, "data": CITATION})


def sampling_weights(groups: list[str]) -> np.ndarray:
    """Probability of drawing each photo: 1/sqrt(photos of its person), normalised, so the 26
    poses of one Pointing'04 person do not drown the persons with one frontal photo each."""
    counts = Counter(groups)
    w = np.array([1 / math.sqrt(counts[g]) for g in groups])
    return w / w.sum()


def make_batch(pairs: list[tuple[np.ndarray, np.ndarray]], card: ModelCard, n: int,
               rng: np.random.Generator, weights: np.ndarray | None = None, background: float = 0.0,
               elastic: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` augmented samples of photos drawn at random (with ``weights``, see
    :func:`sampling_weights`): Bx3xSxS float32, BxSxS int64."""
    size = int(card.input["size"][0])
    picks = rng.choice(len(pairs), size=n, p=weights)
    samples = [training_sample(*pairs[int(i)], size, rng, background, elastic) for i in picks]
    x = np.stack([normalise_rgb(im, card.input) for im, _ in samples])
    y = np.stack([lab for _, lab in samples]).astype(np.int64)
    return torch.from_numpy(x).contiguous(memory_format=torch.channels_last), torch.from_numpy(y)


class BatchStream(torch.utils.data.IterableDataset):
    """Endless :func:`make_batch` batches for a DataLoader's worker processes; worker ``i`` draws from
    its own generator ``(seed, i)``, so the workers do not repeat each other."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], card: ModelCard, n: int,
                 weights: np.ndarray, seed: int, background: float = 0.0, elastic: float = 0.0) -> None:
        self.pairs, self.card, self.n, self.weights, self.seed = pairs, card, n, weights, seed
        self.background, self.elastic = background, elastic

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        cv2.setNumThreads(1)
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            yield make_batch(self.pairs, self.card, self.n, rng, self.weights, self.background, self.elastic)


def batches(args: FaceRegionsConfig, pairs: list[tuple[np.ndarray, np.ndarray]], card: ModelCard,
            weights: np.ndarray, rng: np.random.Generator, pin: bool
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The training batches: made in the loop (``--workers 0``) or by worker processes ahead of it."""
    if not args.workers:
        while True:
            yield make_batch(pairs, card, args.batch_size, rng, weights, args.background_mix, args.elastic)
    # spawn, not fork: a forked worker hung in the thread pools it inherited (seen with 2 workers)
    loader = torch.utils.data.DataLoader(BatchStream(pairs, card, args.batch_size, weights, args.seed,
                                                     args.background_mix, args.elastic),
                                         batch_size=None, num_workers=args.workers, pin_memory=pin,
                                         prefetch_factor=4, multiprocessing_context="spawn")
    yield from loader


def parser_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0, per_image: bool = False
                ) -> torch.Tensor:
    """Cross-entropy + (1 - soft Dice) averaged over the classes (background excluded). The Dice is
    the batch's (pixels pooled over its photos) or, with ``per_image``, each photo's own, averaged:
    the held-out score is a mean over photos, where a profile's small eye counts as much as a
    frontal face's two."""
    ce = F.cross_entropy(logits, target)
    p = torch.softmax(logits, 1)[:, 1:]
    t = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].to(p.dtype)
    dims = (2, 3) if per_image else (0, 2, 3)
    inter, total = (p * t).sum(dims), (p + t).sum(dims)
    return ce + (1 - (2 * inter + smooth) / (total + smooth)).mean()


def init_parser(model: torch.nn.Module, card: ModelCard, folder: Path) -> ModelCard:
    """Load a face parser's weights (sha256-checked) into ``model``; the card records where they came
    from. The input size may differ (the network is fully convolutional): a run at a larger size can
    continue one at a smaller size.

    Raises:
        SystemExit: the folder's architecture or labels differ from this run's.
    """
    start, start_card = load_model(folder)
    what = lambda c: (c.arch, c.arch_config, list(c.labels))  # noqa: E731
    if what(start_card) != what(card):
        raise SystemExit(f"--init {folder}: its model ({start_card.arch}, {start_card.arch_config}, labels "
                         f"{start_card.labels}) is not this run's ({card.arch}, {card.arch_config})")
    model.load_state_dict(start.float().state_dict())
    size = start_card.input["size"][0]
    return replace(card, training={**card.training, "init": (
        f"the weights in {folder} (sha256 {start_card.weights['sha256'][:12]}..., trained at {size} px on "
        f"{start_card.training.get('data', '?')}: {start_card.training.get('command', '')})")})


def lr_at(progress: float, base: float, warmup: float = 0.02) -> float:
    """Linear warm-up, then a cosine to zero over ``progress`` in [0, 1]."""
    if progress < warmup:
        return base * (progress / warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def train(args: FaceRegionsConfig) -> Path:
    """Train, save the last epoch, score the held-out persons; returns the weights folder."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device, amp = pick_device(args.device, args.amp)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cases = read_fasseg(args.data)
    train_cases, val_cases = split_persons(cases, args.val_frontal, args.val_pose_persons, args.split_seed)
    pairs = [c.load() for c in train_cases]
    weights = sampling_weights([c.group for c in train_cases])
    card = parser_card(args.input_size, args.widths, args.mirror_tta)
    model = create_model("unet", **card.arch_config)
    if args.init:
        card = init_parser(model, card, args.init)
    model = model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(pairs) / args.batch_size))
    total_steps = steps_per_epoch * args.epochs
    limit = args.time_limit_min * 60 or math.inf
    log.info("face_regions/unet: %d training photos (%d persons), %d held out (%d persons), %d px, %d "
             "parameters, on %s%s", len(train_cases), len({c.group for c in train_cases}), len(val_cases),
             len({c.group for c in val_cases}), args.input_size, sum(p.numel() for p in model.parameters()),
             device, " (bf16)" if amp else "")
    stream = batches(args, pairs, card, weights, rng, pin=device.type == "cuda")
    start, step, history = time.monotonic(), 0, []
    for epoch in range(args.epochs):
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            progress = max(step / total_steps, (time.monotonic() - start) / limit)
            for g in opt.param_groups:
                g["lr"] = lr_at(progress, args.lr)
            x, y = next(stream)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x)
            loss = parser_loss(logits.float(), y, per_image=args.dice_per_image)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        row = {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4),
               "minutes": round((time.monotonic() - start) / 60, 2)}
        last = epoch + 1 == args.epochs or (time.monotonic() - start) >= limit
        if val_cases and ((epoch + 1) % args.eval_every == 0 or last):
            parser = FaceParser(model, card, device)
            summary = summarise_scores(score_parser(parser, val_cases))
            row |= {f"val_iou_{k}": round(v, 4) for k, v in summary["iou"].items()}
            row["val_mean_iou_face"] = round(summary["mean_iou_face"], 4)
            model.train()
        history.append(row)
        log.info("%s", row)
        if last:
            break
    stream.close()  # stops the worker processes, if any
    out = args.out
    saved = save_model(model, card, out)
    parser = FaceParser.from_folder(out)
    scores = score_parser(parser, val_cases) if val_cases else []
    training = {
        "synthetic": False,
        "data": CITATION,
        "n_train_photos": len(train_cases), "n_train_persons": len({c.group for c in train_cases}),
        "held_out": sorted({c.group for c in val_cases}),
        "epochs_run": len(history), "minutes": history[-1]["minutes"],
        "selection": "last epoch (no selection on the held-out persons)",
        "augmentation": augmentation_text(args.background_mix, args.elastic),
        "loss": "cross-entropy + soft Dice over the face classes, " + (
            "each photo's Dice averaged" if args.dice_per_image else "pixels pooled over the batch"),
        "init": card.training.get("init", "random (no pretrained weights)"),
        "command": args.command("train.face_regions"),
        "date": dt.date.today().isoformat(),
        "config": args.to_json(),
    }
    held = sorted({c.group for c in val_cases})
    metrics = {"validation_real": {
        **summarise_scores(scores, with_ci=True),
        "data": f"{len(val_cases)} photos of {len(held)} held-out persons of {args.data} ({', '.join(held)})"}
    } if scores else {}
    if scores:
        rows, missed = score_landmark_regions(val_cases)
        metrics["landmark_regions_same_photos"] = {
            **summarise_scores(rows, with_ci=True), "photos_without_a_face": missed,
            "note": "Face Mesh's landmark-derived regions mapped to FASSEG's classes, on the same held-out "
                    "photos (those where a face is found); they never cover hair, ears or neck"}
    write_card(out, replace(saved, training=training, metrics=metrics))
    write_history(out, history)  # scored epochs carry more columns
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = train(parse_args(argv))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
