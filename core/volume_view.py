"""Looking at a volume: slices on any of the three axes, window and level, true aspect ratio.

Volumes are in the display orientation of :mod:`core.io.volume` (axis 0 inferior -> superior, rows
anterior -> posterior, columns patient right -> left). Slices come out the way radiologists read
them: axial from below (patient's right on the image's left), coronal from the front and sagittal
from the patient's left, superior at the top of both.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import cv2
import numpy as np

AXES = {"axial": 0, "coronal": 1, "sagittal": 2}


def axis_index(axis: str | int) -> int:
    """0, 1 or 2 for an axis name (``axial``, ``coronal``, ``sagittal``) or number."""
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool) and int(axis) in (0, 1, 2):
        return int(axis)
    try:
        return AXES[str(axis).lower()]
    except KeyError:
        raise ValueError(f"unknown axis {axis!r}; use one of {', '.join(AXES)}") from None


def take_slice(volume: np.ndarray, axis: str | int, index: int) -> np.ndarray:
    """Slice ``index`` of a ZxHxW array along ``axis``, oriented for reading (a view, not a copy)."""
    ax = axis_index(axis)
    if not 0 <= index < volume.shape[ax]:
        raise IndexError(f"slice {index} is outside 0..{volume.shape[ax] - 1} on the {axis} axis")
    if ax == 0:
        return volume[index]
    # Coronal and sagittal: superior at the top, so axis 0 is read backwards.
    return volume[::-1, index, :] if ax == 1 else volume[::-1, :, index]


def slice_spacing(spacing_mm: Sequence[float] | None, axis: str | int) -> tuple[float, float] | None:
    """(row, col) mm of the slices :func:`take_slice` returns on ``axis``; None when unknown."""
    if spacing_mm is None:
        return None
    ax = axis_index(axis)
    z, r, c = (float(s) for s in spacing_mm)
    return {0: (r, c), 1: (z, c), 2: (z, r)}[ax]


def to_display(image: np.ndarray, spacing: tuple[float, float] | None, *, nearest: bool = False,
               min_side: int = 256) -> np.ndarray:
    """Resample a slice so that one screen pixel is square in mm, and at least ``min_side`` px.

    A coronal slice of 4 mm slices with 1 mm pixels would otherwise look squashed four times.
    Masks pass ``nearest=True`` so that they stay binary.
    """
    h, w = image.shape[:2]
    ry, rx = spacing if spacing else (1.0, 1.0)
    step = min(ry, rx)
    out_h, out_w = h * ry / step, w * rx / step
    grow = max(1.0, min_side / max(out_h, out_w))
    size = (max(1, round(out_w * grow)), max(1, round(out_h * grow)))
    if size == (w, h):
        return np.ascontiguousarray(image)
    src = image.astype(np.uint8) if image.dtype == np.bool_ else np.ascontiguousarray(image)
    out = cv2.resize(src, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR)
    return out.astype(bool) if image.dtype == np.bool_ else out


def default_window(voxels: np.ndarray) -> tuple[float, float]:
    """(level, width) covering the 0.5th..99.5th percentile of the non-zero voxels."""
    x = np.asarray(voxels, np.float32)
    inside = x[x > 0] if np.any(x > 0) else x.ravel()
    lo, hi = (float(v) for v in np.percentile(inside, (0.5, 99.5)))
    if hi <= lo:
        hi = lo + 1.0
    return (lo + hi) / 2, hi - lo


def apply_window(image: np.ndarray, level: float, width: float) -> np.ndarray:
    """Map ``level +- width/2`` to 0..255 (uint8); below is black, above is white."""
    width = max(float(width), 1e-6)
    lo = float(level) - width / 2
    return np.clip(np.rint((np.asarray(image, np.float32) - lo) * (255.0 / width)), 0, 255).astype(np.uint8)
