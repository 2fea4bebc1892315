"""Segmentation, biometry and classification metrics: small functions on numpy arrays.

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
    p, t = _as_masks(pred, truth)
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


# ---------------------------------------------------------------------------------------------
# Classification metrics (face screening classifiers, gallery matching)
#
# Labels are integer class indices ``0..C-1``; ``probs`` is an ``NxC`` float array of class
# probabilities (softmax outputs, rows summing to 1). Everything returns plain Python
# floats / ints / lists so that results drop straight into a model card (``json.dumps``).
# Undefined values (a precision for a class never predicted, an empty calibration bin) are
# ``float("nan")``, which Python's json writes as ``NaN``. Following DOMAIN.md section 4, every
# top-N figure travels with the number of classes and the gallery size.
# ---------------------------------------------------------------------------------------------

_PROB_SUM_ATOL = 1e-3


def _class_indices(y: Sequence[int] | np.ndarray, name: str, n_classes: int | None = None) -> np.ndarray:
    """``y`` as a 1-D int64 array of class indices, checked to lie in ``0..n_classes-1``."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of class indices, got shape {arr.shape}")
    is_int = np.issubdtype(arr.dtype, np.integer)
    is_float = np.issubdtype(arr.dtype, np.floating)
    if arr.dtype == bool or not (is_int or is_float):
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if is_float and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise ValueError(f"{name} must hold whole-number class indices, got non-integral values")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or (n_classes is not None and arr.max() >= n_classes):
        allowed = ">= 0" if n_classes is None else f"in 0..{n_classes - 1}"
        raise ValueError(f"{name} class indices must be {allowed}; got min {arr.min()}, max {arr.max()}")
    return arr


def _whole(value: int, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int after checking it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _pair(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
          n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validated true and predicted index arrays of equal length."""
    t = _class_indices(y_true, "y_true", n_classes)
    p = _class_indices(y_pred, "y_pred", n_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be equally long, got {t.size} and {p.size}")
    return t, p


def _probs_for(y_true: Sequence[int] | np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(y_true, probs)``: ``probs`` NxC float64, finite, >= 0, rows summing to 1."""
    p = np.asarray(probs)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must be an NxC array (N cases, C classes), got shape {p.shape}")
    if not (np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)) or p.dtype == bool:
        raise ValueError(f"probs must be a float array of class probabilities, got dtype {p.dtype}")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contains NaN or infinite values")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=_PROB_SUM_ATOL):
        raise ValueError(
            "each row of probs must be non-negative and sum to 1 (softmax probabilities); "
            "apply a softmax to logits first"
        )
    t = _class_indices(y_true, "y_true", p.shape[1])
    if t.size != p.shape[0]:
        raise ValueError(f"y_true has {t.size} cases but probs has {p.shape[0]} rows")
    return t, p


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     n_classes: int) -> np.ndarray:
    """Multi-class confusion matrix.

    Args:
        y_true: true class index per case, length N, values in ``0..n_classes-1``.
        y_pred: predicted class index per case, length N.
        n_classes: number of classes C.

    Returns:
        CxC int64 array; entry ``[i, j]`` counts cases of true class i predicted as class j
        (rows = truth, columns = prediction). Use ``.tolist()`` for JSON.

    Raises:
        ValueError: on lengths that differ, empty input or indices outside ``0..C-1``.
    """
    c = _whole(n_classes, "n_classes")
    t, p = _pair(y_true, y_pred, c)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Share of cases whose predicted class equals the true class, in [0, 1]."""
    t, p = _pair(y_true, y_pred, None)
    return float(np.mean(t == p))


def balanced_accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                      n_classes: int) -> float:
    """Mean per-class recall over the classes PRESENT in ``y_true`` (sklearn's definition).

    Classes absent from the truth are left out rather than counted as recall 0 or 1, so a
    small test set that lacks a class is not penalised for it.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def per_class_precision_recall(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                               n_classes: int) -> dict[str, list]:
    """Precision, recall, F1 and support for every class.

    Undefined values are NaN, never silently 0: precision of a class that is never predicted
    (0/0), recall of a class absent from the truth (0/0), and F1 whenever either is NaN. A
    class with defined precision and recall both 0 has F1 = 0.0.

    Returns:
        ``{"precision", "recall", "f1"}``: lists of C floats; ``"support"``: list of C ints
        (true cases per class). Index i of every list is class i.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    tp = np.diag(cm)
    n_pred, support = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(n_pred > 0, tp / n_pred, np.nan)
        rec = np.where(support > 0, tp / support, np.nan)
        f1s = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    f1s = np.where(np.isnan(prec) | np.isnan(rec), np.nan, f1s)
    return {
        "precision": [float(v) for v in prec],
        "recall": [float(v) for v in rec],
        "f1": [float(v) for v in f1s],
        "support": [int(v) for v in support],
    }


def top_k_accuracy(y_true: Sequence[int] | np.ndarray, probs: np.ndarray, k: int) -> float:
    """Share of cases whose true class is among the k most probable classes.

    Ties are broken deterministically: classes are ordered by a stable sort on ``-probs``, so
    among equal probabilities the lower class index ranks first.

    Args:
        y_true: true class index per case, length N.
        probs: NxC class probabilities (rows sum to 1).
        k: how many top classes count as a hit, ``1 <= k <= C``.

    Raises:
        ValueError: on bad shapes or values, or k outside ``1..C``.
    """
    t, p = _probs_for(y_true, probs)
    k = _whole(k, "k")
    if k > p.shape[1]:
        raise ValueError(f"k must be in 1..{p.shape[1]} (the number of classes), got {k}")
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == t[:, None], axis=1)))


def _calibration_table(y_true: Sequence[int] | np.ndarray, probs: np.ndarray,
                       n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges, per-bin count, summed confidence and summed correctness (float64 arrays)."""
    m = _whole(n_bins, "n_bins")
    t, p = _probs_for(y_true, probs)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == t).astype(np.float64)
    edges = np.linspace(0.0, 1.0, m + 1)
    # side="left" puts a confidence equal to an edge into the bin below: bins are (lo, hi].
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, m - 1)
    count = np.bincount(idx, minlength=m).astype(np.float64)
    return edges, count, np.bincount(idx, conf, m), np.bincount(idx, correct, m)


def expected_calibration_error(y_true: Sequence[int] | np.ndarray, probs: np.ndarray,
                               n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017), in [0, 1].

    Confidence is the top-class probability and a case is correct when the top class (lowest
    index among ties) is the true one. Cases fall into ``n_bins`` equal-width bins
    ``((m-1)/M, m/M]`` on (0, 1]; ``ECE = sum_m |B_m| / N * |accuracy(B_m) - confidence(B_m)|``.
    """
    _, count, conf_sum, correct_sum = _calibration_table(y_true, probs, n_bins)
    return float(np.abs(correct_sum - conf_sum).sum() / count.sum())


def reliability_bins(y_true: Sequence[int] | np.ndarray, probs: np.ndarray,
                     n_bins: int = 15) -> dict[str, list]:
    """Per-bin numbers for a reliability diagram, with the bins of :func:`expected_calibration_error`.

    Returns:
        Lists of ``n_bins`` entries: ``lower`` and ``upper`` bin edges (the bin is
        ``(lower, upper]``), ``confidence`` (mean top-class probability in the bin),
        ``accuracy`` (share correct in the bin), both NaN for an empty bin, and ``count``
        (cases in the bin, int).
    """
    edges, count, conf_sum, correct_sum = _calibration_table(y_true, probs, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(count > 0, conf_sum / count, np.nan)
        acc = np.where(count > 0, correct_sum / count, np.nan)
    return {
        "lower": [float(v) for v in edges[:-1]],
        "upper": [float(v) for v in edges[1:]],
        "confidence": [float(v) for v in conf],
        "accuracy": [float(v) for v in acc],
        "count": [int(v) for v in count],
    }


def classification_report(y_true: Sequence[int] | np.ndarray, probs: np.ndarray, labels: Sequence[str],
                          ks: Sequence[int] = (1, 3, 5), gallery_size: int | None = None,
                          n_bins: int = 15) -> dict:
    """Every classification metric in one JSON-friendly dict, for a model card or a page.

    The prediction is the top class of each row (lowest index among ties).

    Args:
        y_true: true class index per case, length N.
        probs: NxC class probabilities (rows sum to 1).
        labels: the C class names, in class-index order (unique).
        ks: top-k values to report (each >= 1); those with k > C are left out.
        gallery_size: number of gallery photos behind the figures, when a gallery is involved
            (None otherwise); stored with the top-k figures as DOMAIN.md section 4 requires.
        n_bins: calibration bins for ``ece`` and ``reliability``.

    Returns:
        ``n_cases``, ``n_classes``, ``labels``, ``accuracy``, ``balanced_accuracy``,
        ``per_class`` (``{label: {"precision", "recall", "f1", "support"}}``),
        ``confusion_matrix`` (nested lists, rows = truth), ``ece``, ``reliability`` (see
        :func:`reliability_bins`) and ``top_k`` = ``{"top_1": ..., "top_3": ...,
        "n_classes": C, "gallery_size": gallery_size}``.
    """
    t, p = _probs_for(y_true, probs)
    names = [str(name) for name in labels]
    c = p.shape[1]
    if len(names) != c or len(set(names)) != c:
        raise ValueError(f"labels must be {c} unique class names (one per probs column), got {names}")
    gallery = None if gallery_size is None else _whole(gallery_size, "gallery_size", minimum=0)
    pred = p.argmax(axis=1)
    per = per_class_precision_recall(t, pred, c)
    top_k: dict[str, float | int | None] = {
        f"top_{k}": top_k_accuracy(t, p, k) for k in sorted({int(k) for k in ks}) if k <= c
    }
    top_k.update(n_classes=c, gallery_size=gallery)
    return {
        "n_cases": int(t.size),
        "n_classes": c,
        "labels": names,
        "accuracy": accuracy(t, pred),
        "balanced_accuracy": balanced_accuracy(t, pred, c),
        "per_class": {name: {key: per[key][i] for key in per} for i, name in enumerate(names)},
        "confusion_matrix": confusion_matrix(t, pred, c).tolist(),
        "ece": expected_calibration_error(t, p, n_bins),
        "reliability": reliability_bins(t, p, n_bins),
        "top_k": top_k,
    }


def top_k_caption(report: dict) -> str:
    """One-line UI caption of the top-k figures, with class count and gallery size.

    Args:
        report: a :func:`classification_report` dict, or a ``top_k``-style dict on its own
            (such as ``Gallery.leave_one_out_topk()`` returns).

    Returns:
        e.g. ``"top-1 0.80, top-3 0.95 over 4 classes (gallery of 40 photos)"``; the gallery
        part is left out when the gallery size is None.
    """
    top = report.get("top_k", report)
    if "n_classes" not in top:
        raise ValueError("report has no top-k figures with n_classes; pass a classification_report() dict")
    ks = sorted(int(key[4:]) for key in top if key.startswith("top_") and key[4:].isdigit())
    figures = ", ".join(f"top-{k} {top[f'top_{k}']:.2f}" for k in ks)
    n = int(top["n_classes"])
    text = f"{figures} over {n} class{'' if n == 1 else 'es'}"
    gallery = top.get("gallery_size")
    if gallery is not None:
        text += f" (gallery of {int(gallery)} photo{'' if gallery == 1 else 's'})"
    return text
