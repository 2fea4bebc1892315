"""Segmentation and biometry metrics: small functions on numpy arrays.

Masks may be bool, 0/1 or 0/255 arrays of any shape (``HxW`` for images, ``DxHxW`` for
volumes); a value ``> 0`` is foreground. ``pred`` and ``truth`` must have the same shape.

Empty-mask rules are explicit keyword arguments (``empty``) rather than hidden conventions:
the Kaggle ultrasound nerve challenge scores Dice = 1 when prediction and truth are both empty
(``shared/docs/DOMAIN.md`` section 2), which is the default here.

HD95 follows MONAI's ``HausdorffDistanceMetric(percentile=95)`` (section 3): surfaces are the
mask minus its binary erosion with scipy's default cross-shaped structuring element
(4-connectivity in 2-D, 6-connectivity in 3-D), distances are exact Euclidean distances in mm
and the percentile uses numpy's linear interpolation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy import ndimage

ERROR_TN, ERROR_TP, ERROR_FP, ERROR_FN = 0, 1, 2, 3


def _as_masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool arrays (``> 0`` is foreground), after checking their shapes match."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(
            f"prediction and ground truth must have the same shape; got pred {pred.shape} "
            f"and truth {truth.shape} (resize the prediction to the ground-truth grid first)"
        )
    return pred > 0, truth > 0


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
    p, t = _as_masks(pred, truth)
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
    p, t = _as_masks(pred, truth)
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


def presence_confusion(pred_present: Sequence[bool], truth_present: Sequence[bool]) -> dict[str, float]:
    """Image-level "structure present?" confusion counts and accuracy over a set of images."""
    p = np.asarray(pred_present, bool)
    t = np.asarray(truth_present, bool)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"need two equally long 1-D sequences, got {p.shape} and {t.shape}")
    counts = {"tp": int(np.sum(p & t)), "fp": int(np.sum(p & ~t)), "fn": int(np.sum(~p & t)),
              "tn": int(np.sum(~p & ~t))}
    return {**counts, "accuracy": (counts["tp"] + counts["tn"]) / len(p) if len(p) else float("nan")}


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
    p, t = _as_masks(pred, truth)
    spacing = _spacing(spacing_mm, p.ndim)
    has_p, has_t = bool(p.any()), bool(t.any())
    if not has_p and not has_t:
        return 0.0
    if has_p != has_t:
        return math.inf
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


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Summary statistics of per-case metric values.

    NaN values are ignored (counted in ``n_nan``); infinite values (e.g. HD95 when one mask is
    empty) are kept out of every statistic and counted in ``n_inf``.

    Args:
        values: per-case values (any units).

    Returns:
        ``mean``, ``sd`` (ddof=1; 0.0 when one finite value), ``median``, ``min``, ``max``
        over the finite values; ``n`` (finite values used), ``n_inf``, ``n_nan``. With no
        finite value the statistics are NaN and ``n`` is 0.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    nan = np.isnan(arr)
    inf = np.isinf(arr)
    finite = arr[~nan & ~inf]
    counts = {"n": int(finite.size), "n_inf": int(inf.sum()), "n_nan": int(nan.sum())}
    if finite.size == 0:
        stats = dict.fromkeys(("mean", "sd", "median", "min", "max"), math.nan)
        return {**stats, **counts}
    return {
        "mean": float(finite.mean()),
        "sd": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "median": float(np.median(finite)),
        "min": float(finite.min()),
        "max": float(finite.max()),
        **counts,
    }
