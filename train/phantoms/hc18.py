"""Write annotated head frames in the HC18 layout (``shared/docs/DOMAIN.md`` section 1).

    training_set/NNN_HC.png, NNN_HC_Annotation.png (+ NNN_2HC.png for a second frame of an exam)
    training_set_pixel_size_and_HC.csv      filename,pixel size(mm),head circumference (mm)
    test_set/NNN_HC.png + test_set_pixel_size.csv (filename,pixel size(mm))

The writer knows the layout only, not how frames are made: :mod:`train.phantoms.fetal_head`
generates the phantoms and calls it (and owns the command line).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from train.phantoms.io import write_csv, write_image

TRAIN_CSV = "training_set_pixel_size_and_HC.csv"
TEST_CSV = "test_set_pixel_size.csv"


class HeadFrame(Protocol):
    """What the writer needs of a frame (a :class:`train.phantoms.fetal_head.FetalHeadPhantom`)."""

    image: np.ndarray  # HxW uint8
    outline: np.ndarray  # HxW uint8 (0/255) one-pixel annotation
    pixel_size_mm: float
    hc_mm: float


def write_training_set(root: Path, exams: Iterable[Sequence[HeadFrame]]) -> int:
    """Write ``training_set/`` and its CSV: exam ``i``'s frames as ``NNN_HC.png`` then ``NNN_2HC.png``.

    Args:
        root: the dataset folder (created if missing).
        exams: per exam, its first frame and optionally a second one, in exam order.

    Returns:
        The number of frames written.
    """
    train_dir = root / "training_set"
    train_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, frames in enumerate(exams):
        for k, p in enumerate(frames):
            name = f"{i:03d}_{'2' if k else ''}HC.png"
            write_image(train_dir / name, p.image)
            write_image(train_dir / name.replace(".png", "_Annotation.png"), p.outline)
            rows.append((name, f"{p.pixel_size_mm:.9f}", f"{p.hc_mm:.2f}"))
    write_csv(root / TRAIN_CSV, ("filename", "pixel size(mm)", "head circumference (mm)"), rows)
    return len(rows)


def write_test_set(root: Path, frames: Iterable[HeadFrame]) -> int:
    """Write ``test_set/NNN_HC.png`` (no annotations) and its pixel-size CSV; returns the frame count."""
    test_dir = root / "test_set"
    test_dir.mkdir(exist_ok=True)
    rows = []
    for j, p in enumerate(frames):
        write_image(test_dir / f"{j:03d}_HC.png", p.image)
        rows.append((f"{j:03d}_HC.png", f"{p.pixel_size_mm:.9f}"))
    write_csv(root / TEST_CSV, ("filename", "pixel size(mm)"), rows)
    return len(rows)
