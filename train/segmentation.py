"""Train a segmentation model for a task and write its self-describing weights folder.

    python -m train.segmentation --task fetal_head --arch unet_mobilenet --phantoms 2000 --epochs 30
    python -m train.segmentation --task fetal_head --arch segnet --data /data/HC18
    torchrun --nproc_per_node 2 -m train.segmentation --task fetal_head --arch unet_mobilenet ...
    python -m train.segmentation --task face_regions --arch unet --data ../shared/data/fasseg

``--task face_regions`` hands over to train/face_regions.py (the face parser: multi-class labels
of a FASSEG-layout folder, ``--data`` and the other options passed on unchanged).

Cases are split by exam (group), letterboxed to the card's input size once and held in memory
(:mod:`train.seg_splits`); batches are augmented on the fly. Epochs train on random crops (cheap on
a CPU; the networks are fully convolutional), optionally the last ``--full-epochs`` on whole frames;
BatchNorm statistics are then re-estimated as an exact average over training-like batches. The
best epoch by validation Dice (whole frames, network resolution; ``--keep last``: the last) is
written as fp16 safetensors with ``model.json`` and ``history.csv``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from core.evaluation.engine import evaluate_segmentation
from core.models import create_model, get_spec
from core.predict import Segmenter
from core.tasks import TaskSpec, get_task, task_names
from core.weights import ModelCard, read_card, save_model, write_card, write_history
from core.windowing import WINDOWS
from train.augment import Augment, add_augment_arguments
from train.config import RunConfig, pick_device
from train.data import dataset_title, phantom_generator
from train.empty_proxies import card_text, chosen
from train.hc_calibration import calibrate
from train.seg_init import init_from
from train.seg_loop import Split, rank_world, recalibrate_batchnorm, run_epoch, setup_distributed, validate
from train.seg_splits import load_splits

log = logging.getLogger("train.segmentation")


@dataclass(frozen=True, kw_only=True)
class SegmentationConfig(RunConfig):
    """Everything a ``train.segmentation`` run is given (the options' help says what each field
    means); :func:`parse_args` fills it, the card records it. ``data`` / ``phantoms``: one source."""

    task: str
    arch: str
    data: Path | None = None
    phantoms: int | None = None
    phantom_seed: int = 0
    arch_config: list[str] = field(default_factory=list)
    out: Path | None = None
    epochs: int = 30
    full_epochs: int = 0
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    crop: tuple[int, int] = (160, 224)
    input_size: tuple[int, int] | None = None
    val_frac: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    threads: int = 0
    time_limit_min: float = 0.0
    init: Path | None = None
    boundary_weight: float = 0.0
    transplant_empty: bool = False
    crop_empty: bool = False
    folds: int = 0
    fold: int = 0
    keep: str = "best"
    window: str | None = None
    context_slices: int = 0
    intensity_per_channel: bool = False
    intensity_scale: float = 1.0
    lesion_contrast: float = 0.0
    elastic: float = 0.0
    lesion_paste: float = 0.0
    batch_dice: bool = False
    max_train_groups: int = 0

    def augment(self) -> Augment:
        """The run's augmentation settings, as the training loop and the card read them."""
        return Augment(self.intensity_per_channel, self.intensity_scale, self.lesion_contrast, self.elastic,
                       self.lesion_paste)


# A card lists its training groups (patients, subjects) when there are at most this many: the pages
# say when a case shown was trained on (an HC18 run's 600+ exams are not listed).
MAX_LISTED_GROUPS = 200

# What a split group is, per task: frames of one group never sit on both sides of the split.
SPLIT_GROUP = {"fetal_head": "exam", "nerve": "subject", "brain_tumor": "patient"}


def split_group(args: SegmentationConfig, task: TaskSpec) -> str:
    """What the run splits by, in words: ``"patient"``, ``"exam"``..., or ``"phantom"``."""
    return SPLIT_GROUP.get(task.name, "group") if args.data else "phantom"


def parse_args(argv: list[str] | None = None) -> SegmentationConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.segmentation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=task_names(kind="segmentation"))
    p.add_argument("--arch", required=True, help="registered architecture, e.g. unet, segnet")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="dataset folder in one of the task's layouts (HC18 for "
                     "fetal_head; Kaggle train/ or images/ + masks/ for nerve)")
    src.add_argument("--phantoms", type=int, help="train on N synthetic phantoms instead")
    p.add_argument("--phantom-seed", type=int, default=0, help="seed of the phantom stream (default 0)")
    p.add_argument("--arch-config", nargs="*", default=[], metavar="KEY=JSON",
                   help='architecture options over the registered defaults, e.g. presence_head=true '
                        '\'decoder_channels=[64,32,16,16,8]\'')
    p.add_argument("--out", type=Path, help="weights folder (default weights/<task>/<arch>)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--full-epochs", type=int, default=0, help="last epochs on whole frames, not crops")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), default=(160, 224),
                   help="training crop at network resolution (default 160 224)")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                   help="network input size (default: the task's)")
    p.add_argument("--val-frac", type=float, default=0.1, help="share of exams held out")
    p.add_argument("--folds", type=int, default=0, help="k-fold cross-validation by group instead of "
                   "--val-frac: groups ranked by the seeded hash, dealt into K folds (train.data.fold_of)")
    p.add_argument("--fold", type=int, default=0, help="with --folds K: the fold held out (0..K-1)")
    p.add_argument("--max-train-groups", type=int, default=0, metavar="N",
                   help="train on only N of the training groups (a seeded draw, train.data.subset_groups; "
                        "the held-out groups unchanged): a learning curve (default 0: all of them)")
    p.add_argument("--keep", choices=("best", "last"), default="best",
                   help="the epoch written: best validation Dice (default), or the last (no selection on "
                        "the held-out groups: an unbiased cross-validation, or a run on every group)")
    p.add_argument("--window", choices=tuple(WINDOWS),
                   help="for LGG kaggle_3m volumes read as slices: how each volume is put on one "
                        "intensity scale (core.windowing.WINDOWS; default: the task's)")
    p.add_argument("--context-slices", type=int, default=0, metavar="K",
                   help="for LGG kaggle_3m volumes: each slice is read with the K slices on either side as "
                        "extra channels (a 2.5-D model; core.windowing.slice_input): the network reads "
                        "(2K+1) x in_channels channels, --arch-config in_channels counting the sequences")
    p.add_argument("--batch-dice", action="store_true",
                   help="soft Dice pooled over each batch instead of per image (an image without the "
                        "structure then costs in proportion to its false probability mass)")
    add_augment_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 mixed precision (default: on with CUDA)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--time-limit-min", type=float, default=0.0,
                   help="stop after this many minutes (0: no limit); the best epoch is kept")
    p.add_argument("--init", type=Path, help="start from this weights folder (same architecture, any "
                   "input size) instead of random weights, e.g. to fine-tune a phantom-trained model")
    p.add_argument("--boundary-weight", type=float, default=0.0,
                   help="extra cross-entropy weight on the pixels along each mask's edge (default 0)")
    p.add_argument("--transplant-empty", action="store_true",
                   help="for a dataset whose frames all hold the structure: also train and validate on "
                        "each frame with it covered by tissue from beside it (an empty frame) and on a "
                        "control with such a transplant elsewhere (train/transplant.py)")
    p.add_argument("--crop-empty", action="store_true",
                   help="likewise, with a zoomed window of each frame that misses the structure (an empty "
                        "frame) and a control window of the same zoom that holds it (train/empty_crops.py); "
                        "with --transplant-empty: both kinds")
    tokens = sys.argv[1:] if argv is None else list(argv)
    ns = p.parse_args(tokens)
    if ns.window and ns.phantoms:
        p.error("--window applies to --data volumes; the phantom generator windows its own slices")
    if ns.context_slices and (ns.phantoms or ns.context_slices < 0):
        p.error("--context-slices K (K >= 0) applies to --data volumes; phantoms come as lone slices")
    if ns.folds and not 0 <= ns.fold < ns.folds:
        p.error(f"--fold must be 0..{ns.folds - 1}")
    if ns.max_train_groups < 0 or (ns.max_train_groups and ns.phantoms):
        p.error("--max-train-groups N (N >= 0) applies to --data groups (patients, subjects, exams)")
    ns.crop = tuple(ns.crop)
    ns.input_size = tuple(ns.input_size) if ns.input_size else None
    return SegmentationConfig.from_args(ns, tokens)


def parse_arch_config(items: list[str]) -> dict[str, object]:
    """``["key=json", ...]`` into a dict; a value that is not JSON is kept as a string."""
    cfg: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--arch-config expects KEY=VALUE, got {item!r}")
        try:
            cfg[key] = json.loads(value)
        except json.JSONDecodeError:
            cfg[key] = value
    return cfg


def make_card(args: SegmentationConfig, task: TaskSpec, size: tuple[int, int]) -> ModelCard:
    """The card this run will write: architecture, preprocessing and provenance."""
    spec = get_spec(args.arch)
    arch_config = {**spec.defaults, **parse_arch_config(args.arch_config)}
    generator = phantom_generator(task) if args.phantoms else ""
    channels = int(arch_config.get("in_channels", 1))  # the sequences
    if args.context_slices:
        arch_config["in_channels"] = channels * (2 * args.context_slices + 1)
    data = (f"{args.phantoms} synthetic {task.title.lower()} phantoms (train/phantoms/{generator}.py, seed "
            f"{args.phantom_seed}); NOT real patient data" if args.phantoms
            else f"{dataset_title(task, args.data, channels)} dataset folder {args.data.name}")
    return ModelCard(
        task=task.name,
        arch=args.arch,
        arch_config=arch_config,
        labels=list(task.labels),
        input={**task.input, "size": list(size), **({"window": args.window} if args.window else {}),
               **({"context_slices": args.context_slices} if args.context_slices else {})},
        postprocess=dict(task.postprocess),
        title=f"{task.title}: {spec.description}",
        training={
            "synthetic": bool(args.phantoms),
            "data": data,
            "split": (f"by {split_group(args, task)}, fold {args.fold} of a {args.folds}-fold "
                      f"cross-validation held out (seed {args.seed}, train.data.fold_of)" if args.folds else
                      f"by {split_group(args, task)}, {args.val_frac:.0%} held out (seed {args.seed})")
                     + (f"; only {args.max_train_groups} of the training {split_group(args, task)}s "
                        "trained on (train.data.subset_groups)" if args.max_train_groups else "")
                     + ("; the last epoch kept" if args.keep == "last" else ""),
            "command": args.command("train.segmentation"),
            "config": args.to_json(),
            "epochs": args.epochs,
            "crop": list(args.crop),
            "batch_size": args.batch_size,
            "lr": args.lr,
            "loss": f"BCE + soft Dice ({'pooled over each batch' if args.batch_dice else 'per image'}; "
                    "+ 0.5 x BCE of the presence head, if the model has one)"
                    + (f"; BCE on the mask's edge pixels weighed {1 + args.boundary_weight:g}x"
                       if args.boundary_weight else ""),
            "augmentation": args.augment().text(),
            "init": "random (no pretrained weights)" if args.init is None else "",
            "torch": torch.__version__,
            **({"empty_frames": card_text(kinds)} if (kinds := chosen(transplant=args.transplant_empty,
                                                                     crop=args.crop_empty)) else {}),
        },
    )


def final_validation(out: Path, val: Split, task: TaskSpec) -> dict[str, float]:
    """Score the saved weights on the full-size validation cases, as users will see them."""
    seg = Segmenter.from_folder(out)
    ev = evaluate_segmentation(seg, val.cases, task=task.name)
    keys = ("dice", "iou", "hd95_mm", "hc_abs_diff_mm")
    res = {f"{k}_{s}": ev.summary[k][s] for k in keys if k in ev.summary for s in ("mean", "sd")}
    return {"n": len(val.cases), **res}


def train(args: SegmentationConfig) -> Path:
    """Run the whole training; returns the weights folder (on rank 0)."""
    task = get_task(args.task)
    device, amp = pick_device(args.device, args.amp)
    if args.threads:
        torch.set_num_threads(args.threads)
    setup_distributed(device)
    rank, world = rank_world()
    size = tuple(args.input_size or task.input["size"])
    out = args.out or task.weights_dir(args.arch)
    torch.manual_seed(args.seed)
    card = make_card(args, task, size)
    train_split, val_split = load_splits(args, task, size, card.sequences, card.input.get("window"),
                                         card.context_slices)
    n_val_groups = len(val_split.groups)
    group, n_val = split_group(args, task), len(val_split.images)
    held = (f"{n_val} validation frames of {n_val_groups} held-out {group}s"
            if not val_split.groups <= train_split.groups else  # --val-frac 0: nothing is held out
            f"no held-out {group}s (the validation figures are of {n_val} frame(s) set aside from a "
            f"training {group}, not a validation)")
    card = replace(card, training={**card.training, "data": card.training["data"] + (
        f": {len(train_split.images)} training frames; {held}")})
    if args.data and len(train_split.groups) <= MAX_LISTED_GROUPS:  # pages tell a training case apart
        card = replace(card, training={**card.training, "train_groups": sorted(train_split.groups)})
    model = create_model(card.arch, **card.arch_config)
    if args.init:
        card = init_from(model, card, args.init)
    model = model.to(device, memory_format=torch.channels_last)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = max(1, len(train_split.images) // world // args.batch_size) * args.epochs
    # OneCycleLR's warm-up phase ends at step pct_start * total - 1: exactly 0 for 10 steps, which
    # divides by zero. Tiny runs (smoke tests, a handful of cases) get 20 steps of schedule instead.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(steps + 1, 20),
                                                pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank)
    history, best, best_epoch, best_state, t0 = [], -1.0, 0, None, time.time()
    if rank == 0:
        log.info("%s/%s: %d train, %d val cases at %s on %s x%d", task.name, args.arch,
                 len(train_split.images), len(val_split.images), size, device, world)
    bar = tqdm(range(args.epochs), desc=f"train {args.arch}", disable=rank != 0)
    for epoch in bar:
        crop = None if epoch >= args.epochs - args.full_epochs else tuple(args.crop)
        loss = run_epoch(net, opt, sched, train_split, card, crop, gen, device, amp,
                         batch_size=args.batch_size, boundary_weight=args.boundary_weight,
                         augment=args.augment(), batch_dice=args.batch_dice)
        if rank == 0:
            val_loss, val_dice = validate(model, val_split, card, device)
            history.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_loss": loss,
                            "val_loss": val_loss, "val_dice": val_dice, "crop": crop is not None,
                            "minutes": round((time.time() - t0) / 60, 2)})
            bar.set_postfix(loss=f"{loss:.4f}", val_dice=f"{val_dice:.4f}")
            if val_dice > best or args.keep == "last":
                best, best_epoch = val_dice, epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            write_history(out, history)
        if args.time_limit_min and (time.time() - t0) / 60 > args.time_limit_min:
            log.warning("time limit reached after epoch %d", epoch + 1)
            break
    if world > 1:
        dist.barrier()
    if rank == 0:
        model.load_state_dict(best_state)
        recalibrate_batchnorm(model, train_split, card, device,
                              None if args.full_epochs else tuple(args.crop),
                              augment=args.augment())
        best = validate(model, val_split, card, device)[1]
        card = replace(card, training={**card.training, "best_epoch": best_epoch,
                                       "minutes": round((time.time() - t0) / 60, 1),
                                       "device": f"{device.type} x{world}",
                                       "date": dt.date.today().isoformat()},
                       metrics={"validation_net_res": {"dice": best, "epoch": best_epoch}})
        card = save_model(model, card, out)
        if task.name == "fetal_head" and args.data:  # HC is read off the outline: calibrate its margin
            calibrate(out, args.data, seed=args.seed, val_frac=args.val_frac)
            card = read_card(out)
        card = replace(card, metrics={**card.metrics, "validation": final_validation(out, val_split, task)})
        write_card(out, card)
        log.info("wrote %s: %s", out, card.metrics)
    if world > 1:  # no rank tears its process group down while rank 0 still writes (CI: a SIGABRT)
        dist.barrier()
    return out



FACE_REGIONS = "face_regions"


def face_regions_argv(argv: list[str]) -> list[str] | None:
    """For ``--task face_regions``: the train.face_regions command line (``--task`` and ``--arch``
    dropped, ``--arch`` must be unet); None for any other task."""
    pairs = {"--task": None, "--arch": None}
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        key, eq, val = arg.partition("=")
        if key in pairs:
            if not eq:
                i += 1
                val = argv[i] if i < len(argv) else ""
            pairs[key] = val
        else:
            out.append(arg)
        i += 1
    if pairs["--task"] != FACE_REGIONS:
        return None
    if pairs["--arch"] not in (None, "unet"):
        raise SystemExit(f"--task face_regions trains the plain U-Net (--arch unet), not {pairs['--arch']}")
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    face = face_regions_argv(sys.argv[1:] if argv is None else list(argv))
    if face is not None:
        from train import face_regions

        return face_regions.main(face)
    args = parse_args(argv)
    try:
        train(args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
