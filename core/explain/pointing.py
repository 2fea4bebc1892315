"""Scoring CAMs against where the evidence truly is: the CAM's peak and the pointing game.

Maps are HxW arrays; a CAM and the evidence mask it is scored against must share one grid.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def cam_peak(cam: np.ndarray) -> tuple[int, int]:
    """(row, col) of the CAM's highest value (the first in row-major order on ties)."""
    cam = np.asarray(cam)
    if cam.ndim != 2 or cam.size == 0:
        raise ValueError(f"expected an HxW map, got shape {cam.shape}")
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(row), int(col)


def pointing_game(cams: Sequence[np.ndarray], evidence_masks: Sequence[np.ndarray]) -> dict[str, Any]:
    """Share of cases whose CAM peak falls inside the region that truly carries the evidence.

    Both maps of a case must be on the same grid (e.g. the aligned face). Cases with an empty
    evidence mask (a healthy face, or evidence outside this member's crop) cannot be scored and
    are skipped; a CAM that is zero everywhere has no peak and counts as a miss.

    Returns:
        ``hits``, ``n`` (cases scored), ``score`` (hits / n; None when n == 0), ``skipped``
        (empty evidence masks) and ``flat`` (scored cases whose CAM was all zero).
    """
    if len(cams) != len(evidence_masks):
        raise ValueError(f"{len(cams)} CAMs but {len(evidence_masks)} evidence masks")
    hits = n = skipped = flat = 0
    for cam, mask in zip(cams, evidence_masks):
        cam, mask = np.asarray(cam), np.asarray(mask, bool)
        if cam.shape != mask.shape:
            raise ValueError(f"a CAM of shape {cam.shape} and an evidence mask of shape {mask.shape}: "
                             "warp both into the same frame first")
        if not mask.any():
            skipped += 1
            continue
        n += 1
        if not np.any(cam > 0):
            flat += 1
            continue
        hits += bool(mask[cam_peak(cam)])
    return {"hits": hits, "n": n, "score": hits / n if n else None, "skipped": skipped, "flat": flat}
