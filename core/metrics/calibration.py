"""Calibration of class probabilities: expected calibration error and reliability-diagram bins.

``probs`` is an ``NxC`` array of class probabilities (rows summing to 1); confidence is the
top-class probability. Empty bins give ``float("nan")`` figures.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.metrics.inputs import probs_for, whole_number


def _calibration_table(y_true: Sequence[int] | np.ndarray, probs: np.ndarray,
                       n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges, per-bin count, summed confidence and summed correctness (float64 arrays)."""
    m = whole_number(n_bins, "n_bins")
    t, p = probs_for(y_true, probs)
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


def binary_calibration(y_true: Sequence[bool] | np.ndarray, p: Sequence[float] | np.ndarray,
                       n_bins: int = 10) -> tuple[float, dict[str, list]]:
    """Calibration of one event's probability (a "structure present" head): ECE and reliability bins.

    Cases fall into ``n_bins`` equal-width bins of ``p`` (``(lower, upper]``, 0 in the first);
    per bin ``confidence`` is the mean predicted probability and ``accuracy`` the observed share
    of events, so a calibrated model lies on the diagonal. ECE is the count-weighted mean of
    their absolute gaps.

    Returns:
        ``(ece, bins)`` with ``bins`` as :func:`reliability_bins` gives them, None for the
        figures of an empty bin.
    """
    m = whole_number(n_bins, "n_bins")
    t = np.asarray(y_true, dtype=bool).ravel()
    q = np.clip(np.asarray(p, dtype=np.float64).ravel(), 0.0, 1.0)
    if t.size != q.size or t.size == 0:
        raise ValueError(f"need as many labels as probabilities (got {t.size} and {q.size}), at least one")
    edges = np.linspace(0.0, 1.0, m + 1)
    idx = np.clip(np.searchsorted(edges, q, side="left") - 1, 0, m - 1)
    count = np.bincount(idx, minlength=m).astype(np.float64)
    conf_sum, event_sum = np.bincount(idx, q, m), np.bincount(idx, t.astype(np.float64), m)
    ece = float(np.abs(event_sum - conf_sum).sum() / count.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(count > 0, conf_sum / count, np.nan)
        rate = np.where(count > 0, event_sum / count, np.nan)
    # An empty bin's figures are None (not NaN): the bins compare equal and are plain JSON.
    def plain(values: np.ndarray) -> list[float | None]:
        return [None if np.isnan(v) else float(v) for v in values]

    return ece, {"lower": [float(v) for v in edges[:-1]], "upper": [float(v) for v in edges[1:]],
                 "confidence": plain(conf), "accuracy": plain(rate), "count": [int(v) for v in count]}
