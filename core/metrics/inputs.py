"""Input checks shared by the metric families: masks of one shape, class indices, probability rows.

Every check raises ``ValueError`` with a message that says what was expected and what came in.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PROB_SUM_ATOL = 1e-3


def as_masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool arrays (``> 0`` is foreground), after checking their shapes match."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(
            f"prediction and ground truth must have the same shape; got pred {pred.shape} "
            f"and truth {truth.shape} (resize the prediction to the ground-truth grid first)"
        )
    return pred > 0, truth > 0


def class_indices(y: Sequence[int] | np.ndarray, name: str, n_classes: int | None = None) -> np.ndarray:
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


def whole_number(value: int, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int after checking it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def index_pair(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
          n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validated true and predicted index arrays of equal length."""
    t = class_indices(y_true, "y_true", n_classes)
    p = class_indices(y_pred, "y_pred", n_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be equally long, got {t.size} and {p.size}")
    return t, p


def probs_for(y_true: Sequence[int] | np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(y_true, probs)``: ``probs`` NxC float64, finite, >= 0, rows summing to 1."""
    p = np.asarray(probs)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must be an NxC array (N cases, C classes), got shape {p.shape}")
    if not (np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)) or p.dtype == bool:
        raise ValueError(f"probs must be a float array of class probabilities, got dtype {p.dtype}")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contains NaN or infinite values")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=PROB_SUM_ATOL):
        raise ValueError(
            "each row of probs must be non-negative and sum to 1 (softmax probabilities); "
            "apply a softmax to logits first"
        )
    t = class_indices(y_true, "y_true", p.shape[1])
    if t.size != p.shape[0]:
        raise ValueError(f"y_true has {t.size} cases but probs has {p.shape[0]} rows")
    return t, p
