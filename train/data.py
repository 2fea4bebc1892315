"""Where training and evaluation cases come from: a dataset folder or fresh phantoms."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets import (
    Case,
    DatasetError,
    LayoutGuess,
    VolumeCase,
    get_layout,
    probe_layout,
    read_cases,
    read_labelled,
)
from core.tasks import TaskSpec

NERVE_FRAMES_PER_SUBJECT = 20


def phantom_cases(task: TaskSpec, n: int, seed: int) -> Iterator[Case]:
    """``n`` synthetic cases of ``task`` from its phantom generator, reproducible by seed."""
    return _phantoms(task)[1](n, seed)


def phantom_generator(task: TaskSpec) -> str:
    """The name of the phantom generator of ``task`` (``train/phantoms/<name>.py``)."""
    return _phantoms(task)[0]


def _phantoms(task: TaskSpec) -> tuple[str, Callable[[int, int], Iterator[Case]]]:
    if task.name not in PHANTOMS:
        raise ValueError(f"no phantom generator for task {task.name!r} yet; tasks with one: "
                         f"{', '.join(sorted(PHANTOMS))}")
    return PHANTOMS[task.name]


def _nerve_cases(n: int, seed: int) -> Iterator[Case]:
    """``n`` frames as sweeps of 20 frames per subject; the subject is the split group."""
    from train.phantoms.nerve import generate

    subjects = -(-n // NERVE_FRAMES_PER_SUBJECT)
    for k, ph in enumerate(generate(subjects, NERVE_FRAMES_PER_SUBJECT, seed)):
        if k == n:
            return
        yield Case(name=f"{ph.subject}_{ph.frame}.tif", image=ph.image, mask=ph.mask,
                   group=f"{seed}_{ph.subject}",
                   meta={"has_nerve": ph.has_nerve, "label_missing": ph.label_missing})


BRAIN_REAL_SLICES_PER_VOLUME = 3


def _brain_cases(n: int, seed: int) -> Iterator[Case]:
    """``n`` axial slices of procedural head volumes, each volume followed by a few cases of the real
    s1045 slice (about a tenth of all slices). Slices without tumour are kept: the model must learn
    to leave healthy slices empty. The volume (or real case) is the split group. Each volume goes
    through the task's window (its input ``"window"``), which the run's card records."""
    from core.tasks import get_task
    from core.windowing import window_sequences
    from train.phantoms.brain_mri import procedural_case, real_slice_case

    window = get_task("brain_tumor").input["window"]
    rng = np.random.default_rng(seed)
    count, unit = 0, 0
    while count < n:
        phantoms = [procedural_case(rng, f"brain_{seed}_{unit:04d}")]
        phantoms += [real_slice_case(rng, f"brain_{seed}_{unit:04d}_real{k}")
                     for k in range(BRAIN_REAL_SLICES_PER_VOLUME)]
        for ph in phantoms:
            image = window_sequences(ph.image, window)
            for z in range(ph.image.shape[0]):
                mask = ph.tumour[z]
                if count == n:
                    break
                count += 1
                yield Case(name=f"{ph.name}_z{z:03d}.png", image=image[z], mask=mask,
                           pixel_size_mm=ph.spacing_mm[1], group=f"{seed}_{unit}",
                           meta={"source": ph.source, "slice": z})
        unit += 1


def phantom_volume_cases(n: int, seed: int, real_slice: bool = False) -> Iterator[Any]:
    """``n`` brain phantoms as :class:`core.datasets.VolumeCase` objects: procedural head
    volumes, or with ``real_slice`` the real s1045 slice with an inserted tumour (one-slice volumes)."""
    from core.io.volume import volume_from_display
    from train.phantoms.brain_mri import LABELS, procedural_case, real_slice_case

    rng = np.random.default_rng(seed)
    make = real_slice_case if real_slice else procedural_case
    for i in range(n):
        ph = make(rng, f"brain_{seed}_{i:04d}")
        yield VolumeCase(ph.name, volume_from_display(ph.image, ph.spacing_mm), ph.label,
                         dict(LABELS), {"source": ph.source})


def _fetal_head_cases(n: int, seed: int) -> Iterator[Case]:
    from train.phantoms.fetal_head import generate

    for i, ph in enumerate(generate(n, seed)):
        yield Case(
            name=f"phantom_{seed}_{i:05d}.png",
            image=ph.image,
            mask=ph.mask,
            pixel_size_mm=ph.pixel_size_mm,
            group=f"{seed}_{i}",
            meta={"hc_mm": ph.hc_mm, "ga_weeks": ph.ga_weeks},
        )


# The phantom generators of the segmentation tasks: task -> (module in train/phantoms/, its cases).
PHANTOMS = {"fetal_head": ("fetal_head", _fetal_head_cases), "nerve": ("nerve", _nerve_cases),
            "brain_tumor": ("brain_mri", _brain_cases)}


def dataset_cases(task: TaskSpec, root: str | Path, channels: int = 1,
                  window: str | None = None, context: int = 0) -> Iterator[Case]:
    """Labelled cases of ``task`` read from a folder in one of the task's dataset layouts.

    The folder is read in the task's first layout (:attr:`TaskSpec.layout`) unless it holds one of
    its other layouts (:func:`other_layout`): a nerve folder with ``images/`` + ``masks/`` is read
    as ``nerve_images``, a Kaggle ``train/`` folder as ``kaggle_nerve``.

    For the brain tumour task an LGG kaggle_3m folder is read as the model will see it at
    inference (:func:`core.analysis.brain_patients.model_input`): each patient's slices stacked
    into a volume, each sequence windowed once per volume (``window``, the card's input step:
    :data:`core.windowing.WINDOWS`), then cut back into slices -- HxW FLAIR for a one-channel
    model, HxWx3 (pre-contrast, FLAIR, post-contrast) for a three-channel one; the patient is the
    split group. ``context`` K > 0 keeps the K windowed slices on either side of each in its
    ``meta["neighbours"]`` (:func:`core.windowing.neighbour_slices`; the trainer reads them as
    extra channels, :func:`core.windowing.slice_input`). Other volume layouts (NIfTI pairs) are windowed by
    their reader with the task's window (:data:`core.windowing.VOLUME_WINDOW`); None means that
    one, and another (or a context) is refused.
    """
    from core.windowing import VOLUME_WINDOW

    if task.name == "brain_tumor" and _is_kaggle_3m(root):
        return _kaggle_3m_slices(root, channels, window or VOLUME_WINDOW, context)
    if context:
        raise ValueError(f"context slices: only LGG kaggle_3m folders are read as volumes by the run; "
                         f"{Path(root).name} is not one")
    if window not in (None, VOLUME_WINDOW):
        raise ValueError(f"window {window!r}: only LGG kaggle_3m folders are windowed by the run; "
                         f"{Path(root).name} is read with the task's window")
    guess = other_layout(task, root)
    return read_cases(guess) if guess is not None else read_labelled(task.layout, root)


def other_layout(task: TaskSpec, root: str | Path) -> LayoutGuess | None:
    """The layout of ``task`` after its first that the folder ``root`` holds, or None.

    The first layout is the default and is read as ever, even when its probe would not recognise the
    folder (its reader says what is wrong); a later one is read only when its probe recognises it.

    Raises:
        DatasetLayoutError: the folder is in a later layout but cannot be scored (no mask at all).
    """
    for name in task.layouts[1:]:
        guess = probe_layout(name, root)
        if guess is not None:
            return guess
    return None


def dataset_layout(task: TaskSpec, root: str | Path) -> str:
    """The layout name :func:`dataset_cases` reads ``root`` in (kaggle_3m aside)."""
    guess = other_layout(task, root)
    return guess.layout if guess is not None else task.layout


def dataset_title(task: TaskSpec, root: str | Path, channels: int = 1) -> str:
    """What a dataset folder is, in words, for the card: ``"LGG kaggle_3m"`` or its layout's title."""
    if task.name == "brain_tumor" and _is_kaggle_3m(root):
        what = "FLAIR" if channels == 1 else "pre-contrast, FLAIR and post-contrast"
        return f"LGG kaggle_3m ({what} slices, windowed per patient volume)"
    layout = dataset_layout(task, root)
    return get_layout(layout).title.split(" (")[0] + f" ({layout} layout)"


def _is_kaggle_3m(root: str | Path) -> bool:
    from core.datasets.kaggle_3m import patient_folders

    try:
        return bool(patient_folders(root)[1])
    except (OSError, DatasetError):
        return False


def _kaggle_3m_slices(root: str | Path, channels: int, window: str, context: int = 0) -> Iterator[Case]:
    from core.analysis.brain_patients import model_input
    from core.datasets import read_kaggle_3m_volumes
    from core.windowing import neighbour_slices, window_sequences

    for vc in read_kaggle_3m_volumes(root):
        if vc.label is None:
            continue  # a patient with a slice lacking its mask: the reader has said so
        image = window_sequences(model_input(vc, channels), window)
        for z in range(image.shape[0]):
            near = {"neighbours": neighbour_slices(image, z, context)} if context else {}
            yield Case(name=f"{vc.name}_z{z:03d}.png", image=image[z], mask=vc.label[z] > 0, group=vc.name,
                       meta={"source": "LGG kaggle_3m", "slice": z, **near})


def split_key(group: str, seed: int) -> float:
    """A group's place in [0, 1) for a seed: a hash, the same whatever order groups arrive in."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_validation(group: str, seed: int, fraction: float) -> bool:
    """Deterministic split by group (exam/subject), stable whatever order cases arrive in."""
    return split_key(group, seed) < fraction


def subset_groups(groups: Iterable[str], seed: int, n: int) -> set[str]:
    """``n`` of ``groups`` (all of them if there are no more), drawn by a seeded hash salted apart
    from :func:`fold_of`'s ranking, so the draw does not follow the fold deal; the same whatever
    order the groups arrive in."""
    ranked = sorted(set(groups), key=lambda g: (split_key(f"subset:{g}", seed), g))
    return set(ranked[:n])


def fold_of(groups: Iterable[str], seed: int, folds: int) -> dict[str, int]:
    """Balanced k-fold cross-validation by group: the groups ranked by :func:`split_key` and dealt
    out in turn, so fold sizes differ by at most one (a hash threshold, as :func:`is_validation`
    draws, gives 2 and 8 of 16 patients). Every group is in exactly one fold's validation side.

    Raises:
        ValueError: fewer groups than folds, or fewer than 2 folds.
    """
    ranked = sorted(set(groups), key=lambda g: (split_key(g, seed), g))
    if folds < 2 or len(ranked) < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least 2 folds and as many groups; "
                         f"got {len(ranked)} groups")
    return {g: i % folds for i, g in enumerate(ranked)}
