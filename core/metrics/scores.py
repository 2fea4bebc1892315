"""What a predicted mask scores against its ground truth: the overlap columns of every scored case.

One function, :func:`mask_scores`, so that a Dice on a page, in the model lab and in
``train.evaluate`` is the same number computed the same way.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core.metrics.distance import hd95_mm
from core.metrics.overlap import confusion_counts, dice, iou, precision, recall


def mask_scores(pred: np.ndarray, truth: np.ndarray,
                spacing_mm: float | Sequence[float] | None = None) -> dict[str, float | int | bool]:
    """Overlap of a predicted mask with its truth (both empty: Dice, IoU, precision, recall = 1).

    Args:
        pred: predicted mask (bool or 0/1), 2-D or 3-D.
        truth: ground-truth mask on the same grid.
        spacing_mm: pixel (voxel) size in mm for HD95; None gives NaN.

    Returns:
        ``dice``, ``iou``, ``precision``, ``recall``, ``hd95_mm``; ``true_present`` / ``pred_present``
        (is the structure there, did the prediction keep any of it) and ``tp_px`` / ``fp_px`` /
        ``fn_px``, in that order.
    """
    counts = confusion_counts(pred, truth)
    return {
        "dice": dice(pred, truth),
        "iou": iou(pred, truth),
        "precision": precision(pred, truth),
        "recall": recall(pred, truth),
        "hd95_mm": hd95_mm(pred, truth, spacing_mm) if spacing_mm else math.nan,
        "true_present": counts["tp"] + counts["fn"] > 0,
        "pred_present": counts["tp"] + counts["fp"] > 0,
        "tp_px": counts["tp"], "fp_px": counts["fp"], "fn_px": counts["fn"],
    }
