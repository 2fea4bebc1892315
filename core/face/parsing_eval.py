"""Scoring a face parser on labelled photos: per-photo, per-class IoU and person-resampled summaries.

Shared by ``python -m train.evaluate --task face_regions`` and the trainer's held-out report, so
the card's figures and the command's ``per_case.csv`` are computed the same way: each photo is
parsed whole (the FASSEG framing) on its own grid, and IoU is counted on that grid.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.datasets.fasseg import CLASSES, FACE_CLASSES, FassegCase, encode_labels
from core.face.landmarks import FaceError, detect_landmarks
from core.face.region_net import FaceParser, region_iou
from core.face.regions import LABEL_NAMES, region_label_mask
from core.metrics.summary import group_bootstrap_ci

# Landmark-derived region -> FASSEG class (FASSEG labels brows as hair; its skin also covers ears and
# neck, which the landmark regions do not reach).
LANDMARK_TO_FASSEG = {"background": "background", "right_eye": "eyes", "left_eye": "eyes",
                      "right_brow": "hair", "left_brow": "hair", "nose": "nose", "lips": "mouth",
                      "face_oval": "skin", "forehead": "skin", "right_cheek": "skin", "left_cheek": "skin"}
_LANDMARK_LUT = np.array([CLASSES.index(LANDMARK_TO_FASSEG[n]) for n in LABEL_NAMES], np.uint8)


def landmark_regions_as_fasseg(labels: np.ndarray) -> np.ndarray:
    """A landmark-derived region map (values index :data:`core.face.regions.LABEL_NAMES`) in
    FASSEG's classes, for comparing it with the parser."""
    return _LANDMARK_LUT[np.asarray(labels, np.uint8)]


def face_mean(ious: dict[str, float], classes: Iterable[str] = FACE_CLASSES) -> float:
    """Mean IoU over ``classes`` (eyes, nose, mouth, skin), NaN entries (absent from both) skipped."""
    values = [ious[c] for c in classes if not math.isnan(ious[c])]
    return float(np.mean(values)) if values else math.nan


def _row(case: FassegCase, pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """One photo's scores: per-class IoU, their mean over the face classes, pixel accuracy."""
    ious = region_iou(pred, truth, CLASSES)
    return {"name": case.name, "group": case.group, "subset": case.subset,
            "width": truth.shape[1], "height": truth.shape[0], **{f"iou_{k}": v for k, v in ious.items()},
            "mean_iou_face": face_mean(ious), "pixel_accuracy": float((pred == truth).mean())}


def score_parser(parser: FaceParser, cases: Iterable[FassegCase], *, save_masks: Path | None = None,
                 progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """One row per photo: ``name``, ``group``, ``subset``, size, ``iou_<class>`` for every class,
    ``mean_iou_face`` and ``pixel_accuracy``. With ``save_masks``, the predicted labels are
    written there as ``<stem>.png`` at the photo's size in FASSEG's palette."""
    if tuple(parser.names) != CLASSES:
        raise ValueError(f"the parser predicts {parser.names}, not FASSEG's classes {CLASSES}")
    rows = []
    if save_masks is not None:
        save_masks.mkdir(parents=True, exist_ok=True)
    for i, case in enumerate(cases):
        image, truth = case.load()
        pred = parser.predict(image).labels
        rows.append(_row(case, pred, truth))
        if save_masks is not None:
            Image.fromarray(encode_labels(pred)).save(save_masks / f"{case.name}.png")
        if progress:
            progress(i + 1)
    return rows


def score_landmark_regions(cases: Iterable[FassegCase]) -> tuple[list[dict[str, Any]], int]:
    """The landmark-derived regions (Face Mesh, :func:`core.face.regions.region_label_mask`) scored
    like the parser, in FASSEG's classes: (rows of the photos with a face found, photos without)."""
    rows, missed = [], 0
    for case in cases:
        image, truth = case.load()
        try:
            lm = detect_landmarks(image)
        except FaceError:
            missed += 1
            continue
        rows.append(_row(case, landmark_regions_as_fasseg(region_label_mask(lm)), truth))
    return rows, missed


def summarise_scores(rows: list[dict[str, Any]], *, with_ci: bool = False) -> dict[str, Any]:
    """Mean per-class IoU (NaN-skipping), the mean over the face classes per photo averaged over
    photos, pixel accuracy, counts, per-subset means, and (``with_ci``) a 95% interval that
    resamples whole persons."""
    if not rows:
        return {"n_images": 0}
    iou = {c: float(np.nanmean([r[f"iou_{c}"] for r in rows])) for c in CLASSES}
    face = [r["mean_iou_face"] for r in rows]
    out: dict[str, Any] = {
        "n_images": len(rows), "n_persons": len({r["group"] for r in rows}),
        "iou": {k: round(v, 4) for k, v in iou.items()},
        "mean_iou_face": round(float(np.nanmean(face)), 4),
        "mean_iou_face_classes": list(FACE_CLASSES),
        "class_mean_iou_face": round(float(np.mean([iou[c] for c in FACE_CLASSES])), 4),
        "pixel_accuracy": round(float(np.mean([r["pixel_accuracy"] for r in rows])), 4),
    }
    if with_ci:
        lo, hi = group_bootstrap_ci(face, [r["group"] for r in rows])
        out["mean_iou_face_ci95"] = [round(lo, 4), round(hi, 4)]
        out["ci_method"] = "95% bootstrap interval resampling whole persons"
        subsets: dict[str, list[float]] = {}
        for r in rows:
            subsets.setdefault(r["subset"].split("/")[0], []).append(r["mean_iou_face"])
        out["by_set"] = {k: {"n_images": len(v), "mean_iou_face": round(float(np.nanmean(v)), 4)}
                         for k, v in sorted(subsets.items())}
    return out
