"""A person's correction of a predicted mask: strokes applied, the review row, and the corrected
cases written in the task's own dataset layout (Kaggle nerve: TIFF frame, ``_mask.tif`` and the RLE
row of ``train_masks.csv``; a brain volume's label: :func:`core.io.nifti.to_nifti_bytes`).
"""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from core import metrics
from core.rle import rle_encode

UPLOAD_SUBJECT = 900  # corrected uploads are subject 900 of the Kaggle folder: 900_1.tif, 900_2.tif, ...


def apply_strokes(mask: np.ndarray, add: np.ndarray, erase: np.ndarray) -> np.ndarray:
    """``mask`` with the ``add`` pixels set and the ``erase`` pixels cleared (erase wins)."""
    if not (mask.shape == add.shape == erase.shape):
        raise ValueError(f"strokes of shape {add.shape} / {erase.shape} on a mask of shape {mask.shape}")
    return (np.asarray(mask, bool) | np.asarray(add, bool)) & ~np.asarray(erase, bool)


def mask_review_row(case: str, model: str, model_mask: np.ndarray, corrected: np.ndarray,
                    truth: np.ndarray | None = None) -> dict[str, object]:
    """The review log's row: areas (px) before and after, the Dice between the model's mask and the
    corrected one, and with a ground truth the Dice of each against it."""
    row: dict[str, object] = {"case": case, "model": model,
                              "area_model_px": int(np.count_nonzero(model_mask)),
                              "area_corrected_px": int(np.count_nonzero(corrected)),
                              "dice_model_vs_corrected": metrics.dice(model_mask, corrected)}
    if truth is not None:
        row["dice_model_vs_truth"] = metrics.dice(model_mask, truth)
        row["dice_corrected_vs_truth"] = metrics.dice(corrected, truth)
    return row


@dataclass(frozen=True)
class CorrectedFrame:
    """One corrected 2-D frame: its Kaggle name stem (``<subject>_<n>``), grey frame and mask."""

    stem: str
    frame: np.ndarray
    mask: np.ndarray
    review: dict[str, object]


def _tiff(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="TIFF")
    return buf.getvalue()


def corrections_zip(cases: Sequence[Any], files: Callable[[Any], dict[str, bytes]], index_name: str,
                    header: Sequence[str], index_row: Callable[[Any], Sequence[str]]) -> bytes:
    """Corrected cases zipped in a dataset's own layout: each case's files (``files(case)``: path ->
    bytes), the layout's index CSV (``index_name``: ``header``, then ``index_row(case)`` per case) and
    ``review_log.csv`` (each case's ``review`` row)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        rows = io.StringIO()
        writer = csv.writer(rows, lineterminator="\n")
        writer.writerow(header)
        for c in cases:
            for path, data in files(c).items():
                zf.writestr(path, data)
            writer.writerow(index_row(c))
        zf.writestr(index_name, rows.getvalue())
        zf.writestr("review_log.csv", pd.DataFrame([c.review for c in cases]).to_csv(index=False))
    return buf.getvalue()


def kaggle_nerve_zip(cases: Sequence[CorrectedFrame]) -> bytes:
    """The corrected frames in the Kaggle 2016 nerve layout, zipped: ``train/<subject>_<n>.tif``,
    ``train/<subject>_<n>_mask.tif`` (0/255), ``train_masks.csv`` (subject, img, run-length pixels)
    and ``review_log.csv``."""
    return corrections_zip(
        cases,
        lambda c: {f"train/{c.stem}.tif": _tiff(c.frame),
                   f"train/{c.stem}_mask.tif": _tiff(np.asarray(c.mask, np.uint8) * 255)},
        "train_masks.csv", ["subject", "img", "pixels"], _kaggle_row)


def _kaggle_row(c: CorrectedFrame) -> list[str]:
    subject, img = c.stem.split("_")
    return [subject, img, rle_encode(c.mask)]
