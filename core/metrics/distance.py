"""Distances in mm: the 95th-percentile Hausdorff distance between mask surfaces, HC differences.

HD95 follows MONAI's ``HausdorffDistanceMetric(percentile=95)`` (``shared/docs/DOMAIN.md``
section 3): surfaces are the mask minus its binary erosion with scipy's default cross-shaped
structuring element (4-connectivity in 2-D, 6-connectivity in 3-D), distances are exact
Euclidean distances in mm and the percentile uses numpy's linear interpolation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy import ndimage

from core.metrics.inputs import as_masks


def _spacing(spacing_mm: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    """Per-axis spacing in mm, in array axis order (row, col[, ...])."""
    if isinstance(spacing_mm, Real):
        sp = (float(spacing_mm),) * ndim
    else:
        sp = tuple(float(s) for s in spacing_mm)
    if len(sp) != ndim:
        raise ValueError(f"spacing_mm has {len(sp)} values but the masks have {ndim} dimensions")
    if not all(s > 0 and math.isfinite(s) for s in sp):
        raise ValueError(f"spacing_mm must be positive finite mm per axis, got {sp}")
    return sp


def _surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels: ``mask XOR erosion(mask)``, cross structure, outside counts as background."""
    return mask ^ ndimage.binary_erosion(mask, border_value=0)


def _directed_hd95(src: np.ndarray, dst: np.ndarray, spacing: tuple[float, ...]) -> float:
    """95th percentile of distances (mm) from each ``src`` surface point to the ``dst`` surface."""
    dist = ndimage.distance_transform_edt(~dst, sampling=spacing)
    return float(np.percentile(dist[src], 95))


def _crop_to_union(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to the bounding box of their union plus one background voxel on every side.

    Exact for HD95: every surface point and every nearest surface point lies in that box, and the
    margin keeps the erosion's "outside is background" rule. A tumour in a 64x256x256 volume needs
    distance transforms over its box only, not over 4 million voxels.
    """
    box = []
    for axis in range(p.ndim):
        other = tuple(a for a in range(p.ndim) if a != axis)
        idx = np.flatnonzero(np.any(p, axis=other) | np.any(t, axis=other))
        box.append((int(idx[0]), int(idx[-1]) + 1))
    sl = tuple(slice(lo, hi) for lo, hi in box)
    pad = [(1, 1)] * p.ndim
    return np.pad(p[sl], pad), np.pad(t[sl], pad)


def hd95_mm(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing_mm: float | Sequence[float] = 1.0,
) -> float:
    """Symmetric 95th-percentile Hausdorff distance between mask surfaces, in mm.

    MONAI ``HausdorffDistanceMetric(percentile=95, directed=False)`` convention: for each
    direction, the 95th percentile (linear interpolation) of the distances from every surface
    point of one mask to the nearest surface point of the other; the result is the larger of
    the two directions. The surface is the mask XOR its binary erosion with the cross-shaped
    (4-/6-connected) structuring element, pixels outside the array counting as background.

    Args:
        pred: predicted mask, HxW or DxHxW, bool or 0/1 or 0/255.
        truth: ground-truth mask of the same shape.
        spacing_mm: pixel size in mm, one number (isotropic) or one per axis in array order,
            e.g. ``(row_mm, col_mm)`` for 2-D or ``(slice_mm, row_mm, col_mm)`` for 3-D.

    Returns:
        HD95 in mm; 0.0 when both masks are empty, ``inf`` when exactly one is empty.

    Raises:
        ValueError: if the shapes differ or the spacing does not fit the masks.
    """
    p, t = as_masks(pred, truth)
    spacing = _spacing(spacing_mm, p.ndim)
    has_p, has_t = bool(p.any()), bool(t.any())
    if not has_p and not has_t:
        return 0.0
    if has_p != has_t:
        return math.inf
    p, t = _crop_to_union(p, t)
    sp, st = _surface(p), _surface(t)
    return max(_directed_hd95(sp, st, spacing), _directed_hd95(st, sp, spacing))


def abs_hc_diff_mm(hc_pred_mm: float, hc_true_mm: float) -> float:
    """Absolute head-circumference difference in mm (the HC18 challenge score per frame).

    Raises:
        ValueError: if either value is not a finite, non-negative number of mm.
    """
    for name, v in (("hc_pred_mm", hc_pred_mm), ("hc_true_mm", hc_true_mm)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite non-negative length in mm, got {v}")
    return abs(float(hc_pred_mm) - float(hc_true_mm))
