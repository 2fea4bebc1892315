"""Writing phantom datasets to disk: images and CSV tables, failing loudly."""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an image with OpenCV (format from the suffix); raise if nothing was written."""
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Write a CSV table with a header row."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
