"""Metrics: small functions on numpy arrays, checked against hand-computed cases.

One module per family; the public names are re-exported here, so ``from core import metrics``
and ``metrics.dice(...)`` work without knowing the family:

* :mod:`core.metrics.overlap`: confusion pixels, Dice, IoU, precision / recall, error maps;
* :mod:`core.metrics.distance`: HD95 between mask surfaces and HC differences, in mm;
* :mod:`core.metrics.classification`: accuracy, confusion matrix, per-class reports, top-k;
* :mod:`core.metrics.calibration`: expected calibration error and reliability bins;
* :mod:`core.metrics.scores`: every overlap column of a predicted mask against its truth, in one call;
* :mod:`core.metrics.summary`: mean / SD / median of per-case values, bootstrap intervals.
"""
from __future__ import annotations

from core.metrics.calibration import binary_calibration, expected_calibration_error, reliability_bins
from core.metrics.classification import (
    accuracy,
    balanced_accuracy,
    classification_report,
    confusion_matrix,
    per_class_precision_recall,
    presence_confusion,
    top_k_accuracy,
    top_k_caption,
)
from core.metrics.distance import abs_hc_diff_mm, hd95_mm
from core.metrics.overlap import (
    ERROR_FN,
    ERROR_FP,
    ERROR_TN,
    ERROR_TP,
    all_empty_baseline,
    confusion_counts,
    dice,
    error_map,
    f1,
    iou,
    mean_dice,
    precision,
    recall,
)
from core.metrics.scores import mask_scores
from core.metrics.summary import bootstrap_ci, group_bootstrap_ci, summarize, wilson_ci

__all__ = ["ERROR_FN", "ERROR_FP", "ERROR_TN", "ERROR_TP", "abs_hc_diff_mm", "accuracy",
           "all_empty_baseline", "balanced_accuracy", "binary_calibration", "bootstrap_ci",
           "classification_report", "confusion_counts", "confusion_matrix", "dice", "error_map",
           "expected_calibration_error", "f1", "group_bootstrap_ci", "hd95_mm", "iou", "mask_scores",
           "mean_dice", "per_class_precision_recall", "precision", "presence_confusion", "recall",
           "reliability_bins", "summarize", "top_k_accuracy", "wilson_ci", "top_k_caption"]
