"""Where training and evaluation cases come from: a dataset folder or fresh phantoms."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from core.datasets import Case, read_labelled
from core.tasks import TaskSpec

NERVE_FRAMES_PER_SUBJECT = 20


def phantom_cases(task: TaskSpec, n: int, seed: int) -> Iterator[Case]:
    """``n`` synthetic cases of ``task`` from its phantom generator, reproducible by seed."""
    if task.name == "nerve":
        return _nerve_cases(n, seed)
    if task.name != "fetal_head":
        raise ValueError(f"no phantom generator for task {task.name!r} yet")
    return _fetal_head_cases(n, seed)


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


def dataset_cases(task: TaskSpec, root: str | Path) -> Iterator[Case]:
    """Labelled cases of ``task`` read from a folder in the task's dataset layout."""
    return read_labelled(task.layout, root)


def is_validation(group: str, seed: int, fraction: float) -> bool:
    """Deterministic split by group (exam/subject), stable whatever order cases arrive in."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
