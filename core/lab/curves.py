"""One-vs-rest ROC and precision-recall curves of a classifier's probabilities (numpy only).

Each class is scored as "this class against all the others" with its own probability column
as the score. Tied scores form one step (one threshold), as in scikit-learn's ``roc_curve`` and
``precision_recall_curve``, so the areas agree with it: ROC AUC by the trapezoidal rule, and
average precision as the step sum ``sum_n (R_n - R_{n-1}) P_n``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Curve", "pr_curves", "roc_curves"]


@dataclass(frozen=True)
class Curve:
    """One class's curve.

    Attributes:
        label: the class (the positive side).
        x, y: the curve's points: (false positive rate, true positive rate) for ROC, from (0, 0)
            to (1, 1); (recall, precision) for precision-recall, from recall 0 (precision 1).
        thresholds: the score at each point after the first (a case is positive when its
            score is >= the threshold), decreasing.
        area: ROC AUC or average precision; NaN when the class has no positive or no negative case.
        n_pos, n_neg: cases of the class and of the other classes.
    """

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    thresholds: tuple[float, ...]
    area: float
    n_pos: int
    n_neg: int


def _check(y_true: Sequence[int] | np.ndarray, probs: np.ndarray, labels: Sequence[str]
           ) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != t.size or p.shape[1] != len(labels):
        raise ValueError(f"probs must be N x C = {t.size} x {len(labels)} (cases x classes), got {p.shape}")
    if t.size and (t.min() < 0 or t.max() >= len(labels)):
        raise ValueError(f"class indices must lie in 0..{len(labels) - 1}")
    return t, p


def _counts(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score, highest score first."""
    order = np.argsort(-score, kind="mergesort")
    s, pos = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the last case of each run of equal scores
    tps = np.cumsum(pos)[last].astype(np.float64)
    return tps, (last + 1) - tps, s[last]


def roc_curves(y_true: Sequence[int] | np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> list[Curve]:
    """One-vs-rest ROC curve and AUC of every class.

    Args:
        y_true: true class index per case, length N.
        probs: NxC probabilities (column k scores class k).
        labels: the C class names.
    """
    t, p = _check(y_true, probs, labels)
    out = []
    for k, label in enumerate(labels):
        positive = t == k
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        tps, fps, thr = _counts(positive, p[:, k]) if t.size else (np.zeros(0),) * 3
        tpr = np.r_[0.0, tps / n_pos] if n_pos else np.r_[0.0, np.zeros_like(tps)]
        fpr = np.r_[0.0, fps / n_neg] if n_neg else np.r_[0.0, np.zeros_like(fps)]
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)) if n_pos and n_neg else math.nan
        out.append(Curve(str(label), tuple(fpr.tolist()), tuple(tpr.tolist()), tuple(thr.tolist()),
                         area, n_pos, n_neg))
    return out


def pr_curves(y_true: Sequence[int] | np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> list[Curve]:
    """One-vs-rest precision-recall curve and average precision of every class (same arguments as
    :func:`roc_curves`); the area is NaN for a class without positive cases."""
    t, p = _check(y_true, probs, labels)
    out = []
    for k, label in enumerate(labels):
        positive = t == k
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        tps, fps, thr = _counts(positive, p[:, k]) if t.size else (np.zeros(0),) * 3
        precision = np.r_[1.0, tps / np.maximum(tps + fps, 1)]
        recall = np.r_[0.0, tps / n_pos] if n_pos else np.r_[0.0, np.zeros_like(tps)]
        area = float(np.sum(np.diff(recall) * precision[1:])) if n_pos else math.nan
        out.append(Curve(str(label), tuple(recall.tolist()), tuple(precision.tolist()), tuple(thr.tolist()),
                         area, n_pos, n_neg))
    return out
