"""Run-length encoding of masks in the Kaggle 2016 nerve segmentation convention.

Pixels are numbered column by column (top to bottom, then left to right: Fortran order),
starting at 1; a mask is written as space-separated ``start length`` pairs, and an empty mask
as an empty string (``train_masks.csv`` and the submission file use this).
"""
from __future__ import annotations

import numpy as np


def rle_encode(mask: np.ndarray) -> str:
    """Encode an HxW mask (bool, 0/1 or 0/255) as ``"start length start length ..."``."""
    if mask.ndim != 2:
        raise ValueError(f"expected an HxW mask, got shape {mask.shape}")
    flat = np.asarray(mask > 0, np.int8).ravel(order="F")
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [0]])))  # run starts and ends
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends))


def rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode ``"start length ..."`` into an HxW bool mask of ``shape`` (rows, cols).

    Raises:
        ValueError: for an odd number of values, non-positive values, runs outside the image,
            or runs that are not in increasing, non-overlapping order.
    """
    h, w = shape
    tokens = rle.split() if isinstance(rle, str) else []
    if len(tokens) % 2:
        raise ValueError(f"run-length string has an odd number of values ({len(tokens)})")
    try:
        values = np.asarray(tokens, dtype=np.int64).reshape(-1, 2)
    except ValueError:
        raise ValueError("run-length string holds something other than integers") from None
    flat = np.zeros(h * w, bool)
    previous_end = 0
    for start, length in values:
        if start < 1 or length < 1:
            raise ValueError(f"run {start} {length}: starts and lengths must be >= 1")
        if start - 1 < previous_end or start - 1 + length > h * w:
            raise ValueError(f"run {start} {length} overlaps an earlier run or leaves the "
                             f"{w}x{h} image")
        flat[start - 1 : start - 1 + length] = True
        previous_end = start - 1 + length
    return flat.reshape((h, w), order="F")
