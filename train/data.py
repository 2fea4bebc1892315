"""Where training and evaluation cases come from: a dataset folder or fresh phantoms."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from core.datasets import Case, read_hc18
from core.tasks import TaskSpec

READERS = {"hc18": lambda root: read_hc18(root, "training_set")}


def phantom_cases(task: TaskSpec, n: int, seed: int) -> Iterator[Case]:
    """``n`` synthetic cases of ``task`` from its phantom generator, reproducible by seed."""
    if task.name != "fetal_head":
        raise ValueError(f"no phantom generator for task {task.name!r} yet")
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
    return READERS[task.layout](root)


def is_validation(group: str, seed: int, fraction: float) -> bool:
    """Deterministic split by group (exam/subject), stable whatever order cases arrive in."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
