"""Which frames train and which validate a segmentation run: cases read (or generated), split by
group (exam, subject, patient; a seeded share or one fold of a k-fold cross-validation), letterboxed
to the network's input once and held in memory as uint8 tensors (:class:`train.seg_loop.Split`).
``train.segmentation`` calls :func:`load_splits`; ``--transplant-empty`` adds each frame's empty
transplant and control, ``--crop-empty`` its empty zoomed window and control (:func:`with_empties`).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from tqdm import tqdm

from core.datasets import Case
from core.predict import framing_box, letterbox
from core.tasks import TaskSpec
from core.windowing import slice_input
from train.data import dataset_cases, fold_of, is_validation, phantom_cases, subset_groups
from train.empty_proxies import chosen
from train.seg_loop import Split, rank_world

if TYPE_CHECKING:
    from train.segmentation import SegmentationConfig

log = logging.getLogger("train.segmentation")


def load_splits(args: SegmentationConfig, task: TaskSpec, size: tuple[int, int],
                channels: int = 1, window: str | None = None, context: int = 0) -> tuple[Split, Split]:
    """Read or generate the cases, split them by group, letterbox them once (``channels``: the
    model's input channels; a dataset that has several sequences gives that many; ``window``: the
    card's intensity step for volumes, None: the task's; ``context``: neighbouring slices read on
    either side of each, :func:`core.windowing.slice_input`)."""
    if args.data:
        cases = dataset_cases(task, args.data, channels, window, context)
    else:
        cases = phantom_cases(task, args.phantoms, args.phantom_seed)
    parts: dict[bool, tuple[list, list, list]] = {False: ([], [], []), True: ([], [], [])}
    train_groups: set[str] = set()
    rng = np.random.default_rng(args.seed)
    folds = None
    if args.folds or args.max_train_groups:  # the fold map and the subset need every group first
        cases = list(cases)
    if args.folds:
        folds = fold_of((c.group for c in cases), args.seed, args.folds)

    def held_out(group: str) -> bool:
        if folds is not None:
            return folds[group] == args.fold
        return is_validation(group, args.seed, args.val_frac)

    kept_groups = None
    if args.max_train_groups:  # a learning curve: fewer training groups, the same held-out ones
        kept_groups = subset_groups({c.group for c in cases if not held_out(c.group)}, args.seed,
                                    args.max_train_groups)
    for case in tqdm(cases, desc="cases", total=args.phantoms, disable=rank_world()[0] != 0):
        if case.mask is None:
            continue
        val = held_out(case.group)
        if not val and kept_groups is not None and case.group not in kept_groups:
            continue
        imgs, masks, kept = parts[val]
        if not val:
            train_groups.add(case.group)
        for one in with_empties(case, rng, transplant=args.transplant_empty, crop=args.crop_empty):
            crop = framing_box(one.image, task.input)
            imgs.append(letterbox(slice_input(one.image, one.meta.get("neighbours", ()), context), size,
                                  crop=crop)[0])
            soft = letterbox(one.mask.astype(np.float32), size, cv2.INTER_AREA, crop)[0]
            masks.append(np.round(soft * 255))
            # Full-size cases are kept only for validation; training keeps its last one in case a
            # tiny dataset leaves the validation split empty.
            if val or not kept:
                kept.append(one)
            else:
                kept[0] = one

    if not parts[True][0] and len(parts[False][0]) > 1:
        log.warning("no exam fell into the validation split; holding out the last training case")
        imgs, masks, kept = parts[False]
        parts[True] = ([imgs.pop()], [masks.pop()], [kept.pop()])

    def to_split(imgs: list, masks: list, kept: list) -> Split:
        if not imgs:
            raise SystemExit("no labelled cases in this split: add data or change --val-frac")
        def stack(a: list) -> torch.Tensor:  # N x C x H x W uint8
            t = torch.from_numpy(np.stack(a).astype(np.uint8))
            return t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()
        return Split(stack(imgs), stack(masks), kept)

    train, val = to_split(*parts[False]), to_split(*parts[True])
    return (Split(train.images, train.masks, [], frozenset(train_groups)),
            Split(val.images, val.masks, val.cases, frozenset(c.group for c in val.cases)))


def with_empties(case: Case, rng: np.random.Generator, *, transplant: bool = True,
                 crop: bool = False) -> list[Case]:
    """``case`` and, for each kind asked for that finds room (:mod:`train.empty_proxies`), its empty
    frame and control: ``<name>~empty`` / ``<name>~control`` (the transplant) and
    ``<name>~crop-empty`` / ``<name>~crop-control`` (the zoomed window), all in the case's group."""
    out = [case]
    for kind in chosen(transplant=transplant, crop=crop):
        pair = kind.make(case.image, case.mask, rng)
        if pair is None:
            continue
        for (image, mask), role in zip(pair, ("empty", "control"), strict=True):
            out.append(replace(case, name=f"{case.name}~{kind.case_prefix}{role}", image=image, mask=mask,
                               meta={**case.meta, kind.name: role}))
    return out
