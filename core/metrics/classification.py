"""Classification metrics (face screening classifiers, gallery matching, "structure present?" calls).

Labels are integer class indices ``0..C-1``; ``probs`` is an ``NxC`` float array of class
probabilities (softmax outputs, rows summing to 1). Everything returns plain Python
floats / ints / lists so that results drop straight into a model card (``json.dumps``).
Undefined values (a precision for a class never predicted, an empty calibration bin) are
``float("nan")``, which Python's json writes as ``NaN``. Following DOMAIN.md section 4, every
top-N figure travels with the number of classes and the gallery size.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.metrics.calibration import expected_calibration_error, reliability_bins
from core.metrics.inputs import index_pair, probs_for, whole_number


def presence_confusion(pred_present: Sequence[bool], truth_present: Sequence[bool]) -> dict[str, float]:
    """Image-level "structure present?" confusion counts and accuracy over a set of images."""
    p = np.asarray(pred_present, bool)
    t = np.asarray(truth_present, bool)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"need two equally long 1-D sequences, got {p.shape} and {t.shape}")
    counts = {"tp": int(np.sum(p & t)), "fp": int(np.sum(p & ~t)), "fn": int(np.sum(~p & t)),
              "tn": int(np.sum(~p & ~t))}
    return {**counts, "accuracy": (counts["tp"] + counts["tn"]) / len(p) if len(p) else float("nan")}


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
    c = whole_number(n_classes, "n_classes")
    t, p = index_pair(y_true, y_pred, c)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Share of cases whose predicted class equals the true class, in [0, 1]."""
    t, p = index_pair(y_true, y_pred, None)
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
    t, p = probs_for(y_true, probs)
    k = whole_number(k, "k")
    if k > p.shape[1]:
        raise ValueError(f"k must be in 1..{p.shape[1]} (the number of classes), got {k}")
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == t[:, None], axis=1)))


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
    t, p = probs_for(y_true, probs)
    names = [str(name) for name in labels]
    c = p.shape[1]
    if len(names) != c or len(set(names)) != c:
        raise ValueError(f"labels must be {c} unique class names (one per probs column), got {names}")
    gallery = None if gallery_size is None else whole_number(gallery_size, "gallery_size", minimum=0)
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
