"""Scoring of segmentation predictions: one row per case, set-level figures, a summary.

The batching and streaming live in the model lab's engine (:mod:`core.evaluation.engine`), which
``train.evaluate``, ``train.segmentation`` and the pages all run through; this module says what
a case scores. A task adds its own columns through its scorer (``TaskSpec.scorer``: the fetal
head's HC / BPD / OFD), passed in as ``extra``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core import metrics
from core.datasets import Case
from core.predict import SegmentationResult

# An empty label on a frame where the model keeps a mask (past the card's minimum area and presence
# threshold) with at least this presence probability is flagged as a candidate missing label. On
# held-out nerve phantoms the presence heads, trained with noisy labels themselves, give dropped
# labels 0.5-0.85, so a stricter threshold would miss most of them.
SUSPECT_PRESENCE = 0.5


@dataclass(frozen=True)
class Evaluation:
    """Per-case rows (dicts with the same keys) and a summary per numeric column."""

    rows: list[dict[str, Any]]
    summary: dict[str, dict[str, float]]


Scorer = Callable[[Case, SegmentationResult], dict[str, Any]]


def case_row(case: Case, result: SegmentationResult, *, extra: Scorer | None = None) -> dict[str, Any]:
    """Metrics of one predicted case; NaN where a value cannot be computed.

    Args:
        case: the case with its ground truth (``mask`` may be None: then no overlap columns).
        result: the prediction on the case's grid.
        extra: the task's scorer, whose columns are added (``TaskSpec.scorer``), or None.
    """
    row: dict[str, Any] = {"name": case.name, "group": case.group}
    if case.mask is not None:
        row.update(metrics.mask_scores(result.mask, case.mask, case.pixel_size_mm))
        # An empty label on a frame the model is sure about: a candidate missing label.
        row["suspect_label"] = (not row["true_present"] and row["pred_present"]
                                and result.presence is not None
                                and result.presence >= SUSPECT_PRESENCE)
    if result.presence is not None:
        row["presence_prob"] = float(result.presence)
    if "label_missing" in case.meta:  # phantoms know which labels they dropped
        row["label_missing"] = bool(case.meta["label_missing"])
    if extra is not None:
        row.update(extra(case, result))
    return row


def summarize_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """:func:`core.metrics.summarize` of every float column of the rows (bools and ints left out)."""
    numeric = sorted({k for r in rows for k, v in r.items() if isinstance(v, float)})
    return {k: metrics.summarize([r[k] for r in rows if k in r]) for k in numeric}


def _split_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The empty-rule mean Dice with its 95% interval, and the same on the frames with and
    without the structure apart; intervals resample whole groups (subjects, exams)."""
    out: dict[str, Any] = {}
    for key, part in (("mean_dice", rows), ("dice_present", [r for r in rows if r["true_present"]]),
                      ("dice_empty", [r for r in rows if not r["true_present"]])):
        if not part:
            continue
        values, groups = [r["dice"] for r in part], [r.get("group", r["name"]) for r in part]
        lo, hi = metrics.group_bootstrap_ci(values, groups)
        if key != "mean_dice":
            out[f"{key}_n"] = len(part)
            out[f"{key}_mean"] = float(np.mean(values))
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = lo, hi
    return out


def set_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures over a whole labelled set, from :func:`case_row` rows.

    * ``mean_dice``: the mean per-image Dice with Dice = 1 when both masks are empty (the
      Kaggle nerve rule), beside ``all_empty_baseline``: the same score for predicting "no
      structure" everywhere, i.e. the share of frames whose label is empty.
    * ``pixel_precision`` / ``pixel_recall`` / ``pixel_f1``: pooled over every pixel of the set.
    * ``presence``: image-level confusion counts and accuracy (present = non-empty mask).
    * ``mean_dice_ci_low`` / ``_high``: its 95% interval resampling whole groups; ``dice_present_*``
      and ``dice_empty_*``: n, mean and interval over the frames with and without the structure.
    * ``presence_ece``, ``presence_reliability`` (bins, :func:`core.metrics.binary_calibration`),
      ``presence_brier``: calibration of the presence probability, for models that give one.
    * ``suspect_labels``: frames with an empty label that the model confidently segments;
      where the cases say which labels were dropped (phantoms), how many of those were caught,
      and the presence accuracy against the restored labels.
    """
    rows = [r for r in rows if "true_present" in r]
    if not rows:
        raise ValueError("no labelled rows to score")
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp_px", "fp_px", "fn_px"))
    prec = tp / (tp + fp) if tp + fp else math.nan
    rec = tp / (tp + fn) if tp + fn else math.nan
    out: dict[str, Any] = {
        "n": len(rows),
        "n_groups": len({r.get("group") for r in rows}),
        "mean_dice": float(sum(r["dice"] for r in rows) / len(rows)),
        "all_empty_baseline": sum(not r["true_present"] for r in rows) / len(rows),
        "pixel_precision": prec,
        "pixel_recall": rec,
        "pixel_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
        "presence": metrics.presence_confusion([r["pred_present"] for r in rows],
                                               [r["true_present"] for r in rows]),
        "suspect_labels": sum(bool(r.get("suspect_label")) for r in rows),
    }
    out.update(_split_figures(rows))
    if any("presence_prob" in r for r in rows):
        scored = [r for r in rows if "presence_prob" in r]
        truth = [r["true_present"] for r in scored]
        prob = [r["presence_prob"] for r in scored]
        out["presence_ece"], out["presence_reliability"] = metrics.binary_calibration(truth, prob)
        out["presence_brier"] = float(np.mean((np.asarray(prob) - np.asarray(truth, float)) ** 2))
    if any("label_missing" in r for r in rows):
        missing = [r for r in rows if r.get("label_missing")]
        out["missing_labels"] = len(missing)
        out["missing_labels_flagged"] = sum(bool(r.get("suspect_label")) for r in missing)
        # Image-level accuracy against what the phantom really shows (dropped labels restored).
        really = [r["true_present"] or bool(r.get("label_missing")) for r in rows]
        out["presence_accuracy_true_labels"] = metrics.presence_confusion(
            [r["pred_present"] for r in rows], really)["accuracy"]
    return out
