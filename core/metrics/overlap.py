"""Overlap metrics of a predicted against a true mask: confusion pixels, Dice, IoU, error maps.

Masks may be bool, 0/1 or 0/255 arrays of any shape (``HxW`` for images, ``DxHxW`` for
volumes); a value ``> 0`` is foreground. ``pred`` and ``truth`` must have the same shape.

Empty-mask rules are explicit keyword arguments (``empty``) rather than hidden conventions:
the Kaggle ultrasound nerve challenge scores Dice = 1 when prediction and truth are both empty
(``shared/docs/DOMAIN.md`` section 2), which is the default here.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.metrics.inputs import as_masks

ERROR_TN, ERROR_TP, ERROR_FP, ERROR_FN = 0, 1, 2, 3


def confusion_counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Pixel (voxel) counts of the binary confusion matrix.

    Args:
        pred: predicted mask, any shape, bool or 0/1 or 0/255.
        truth: ground-truth mask of the same shape.

    Returns:
        ``{"tp", "fp", "fn", "tn"}`` as Python ints.

    Raises:
        ValueError: if the shapes differ.
    """
    p, t = as_masks(pred, truth)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(p.size) - tp - fp - fn}


def dice(pred: np.ndarray, truth: np.ndarray, *, empty: float = 1.0) -> float:
    """Dice coefficient ``2*TP / (2*TP + FP + FN)``.

    Args:
        pred: predicted mask (e.g. HxW bool).
        truth: ground-truth mask of the same shape.
        empty: value returned when both masks are empty (1.0 is the Kaggle nerve rule;
            pass ``float("nan")`` to exclude such cases from a mean).

    Returns:
        Dice in [0, 1], or ``empty``.
    """
    c = confusion_counts(pred, truth)
    denom = 2 * c["tp"] + c["fp"] + c["fn"]
    return float(empty) if denom == 0 else 2 * c["tp"] / denom


def f1(pred: np.ndarray, truth: np.ndarray, *, empty: float = 1.0) -> float:
    """F1 score of the foreground pixels; identical to :func:`dice` for binary masks.

    Kept as an alias so tables can use the name a reader expects. Arguments and the
    both-empty rule are those of :func:`dice`.
    """
    return dice(pred, truth, empty=empty)


def iou(pred: np.ndarray, truth: np.ndarray, *, empty: float = 1.0) -> float:
    """Intersection over union (Jaccard) ``TP / (TP + FP + FN)``.

    Args:
        pred: predicted mask (e.g. HxW bool).
        truth: ground-truth mask of the same shape.
        empty: value returned when both masks are empty.

    Returns:
        IoU in [0, 1], or ``empty``.
    """
    c = confusion_counts(pred, truth)
    denom = c["tp"] + c["fp"] + c["fn"]
    return float(empty) if denom == 0 else c["tp"] / denom


def precision(pred: np.ndarray, truth: np.ndarray, *, empty: float = 1.0) -> float:
    """Precision (positive predictive value) ``TP / (TP + FP)``.

    Args:
        pred: predicted mask (e.g. HxW bool).
        truth: ground-truth mask of the same shape.
        empty: value when nothing is predicted and the truth is empty too. Nothing predicted
            while the truth has foreground scores 0.0.

    Returns:
        Precision in [0, 1], or ``empty``.
    """
    c = confusion_counts(pred, truth)
    if c["tp"] + c["fp"] == 0:
        return float(empty) if c["fn"] == 0 else 0.0
    return c["tp"] / (c["tp"] + c["fp"])


def recall(pred: np.ndarray, truth: np.ndarray, *, empty: float = 1.0) -> float:
    """Recall (sensitivity) ``TP / (TP + FN)``.

    Args:
        pred: predicted mask (e.g. HxW bool).
        truth: ground-truth mask of the same shape.
        empty: value when the truth is empty and nothing is predicted either. An empty truth
            with a non-empty prediction scores 0.0.

    Returns:
        Recall in [0, 1], or ``empty``.
    """
    c = confusion_counts(pred, truth)
    if c["tp"] + c["fn"] == 0:
        return float(empty) if c["fp"] == 0 else 0.0
    return c["tp"] / (c["tp"] + c["fn"])


def error_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel error codes for the three-colour error display.

    Args:
        pred: predicted mask, HxW (any shape works).
        truth: ground-truth mask of the same shape.

    Returns:
        uint8 array of the input shape: 0 = true negative, 1 = true positive,
        2 = false positive, 3 = false negative.
    """
    p, t = as_masks(pred, truth)
    out = np.full(p.shape, ERROR_TN, dtype=np.uint8)
    out[p & t] = ERROR_TP
    out[p & ~t] = ERROR_FP
    out[~p & t] = ERROR_FN
    return out


def mean_dice(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> float:
    """Mean per-image Dice over a set, with Dice = 1 where both masks are empty.

    This is the Kaggle 2016 nerve competition's score; predicting "no nerve" everywhere already
    earns the share of empty truths, so always report it next to :func:`all_empty_baseline`.
    """
    if len(preds) != len(truths) or not preds:
        raise ValueError(f"need equally many predictions and truths, got {len(preds)} and {len(truths)}")
    return float(np.mean([dice(p, t, empty=1.0) for p, t in zip(preds, truths)]))


def all_empty_baseline(truths: Sequence[np.ndarray]) -> float:
    """The mean Dice of predicting an empty mask for every image (the share of empty truths)."""
    if not truths:
        raise ValueError("need at least one truth mask")
    return float(np.mean([not np.any(t) for t in truths]))
