"""A person's correction of the fetal head ellipse: the measures again, the difference from the
model, and the corrected case written as a label in the HC18 layout.

The page lets a clinician move the ellipse's centre, axes and angle; :func:`corrected_reading`
measures the corrected ellipse exactly as the model's (Ramanujan's circumference, BPD and OFD as
outer-outer diameters, Hadlock GA, INTERGROWTH-21st centile); :func:`review_row` is the quality log
row (model vs corrected HC and Dice); :func:`hc18_folder_zip` writes the session's corrected cases
as an HC18 ``training_set/`` with its CSV, which ``train.segmentation --data`` reads as it is.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core import metrics
from core.analysis.fetal_biometry import CentileResult, assess_hc, hadlock_ga_weeks
from core.analysis.mask_correction import corrections_zip
from core.geometry import Ellipse, ellipse_circumference, ellipse_mask, ellipse_outline

HC18_CSV = "training_set_pixel_size_and_HC.csv"


@dataclass(frozen=True)
class CorrectedReading:
    """The measures of a corrected ellipse (lengths in mm)."""

    ellipse: Ellipse
    pixel_size_mm: float
    hc_mm: float
    bpd_mm: float
    ofd_mm: float
    ga_hadlock_weeks: float
    centile: CentileResult | None


def ellipse_from_controls(cx: float, cy: float, ofd_px: float, bpd_px: float, angle_deg: float) -> Ellipse:
    """The ellipse of the page's controls: centre (px), OFD and BPD as full diameters (px), and the
    angle of the OFD axis in degrees from the image's x axis (clockwise on screen: image rows run
    down), as HC18's ellipses and OpenCV draw it."""
    a, b = max(ofd_px, bpd_px) / 2, min(ofd_px, bpd_px) / 2
    angle = math.radians(angle_deg if ofd_px >= bpd_px else angle_deg + 90.0) % math.pi
    return Ellipse(float(cx), float(cy), float(a), float(b), angle)


def controls_of(e: Ellipse) -> dict[str, float]:
    """The page's control values of an ellipse (inverse of :func:`ellipse_from_controls`)."""
    return {"cx": e.cx, "cy": e.cy, "ofd_px": 2 * e.a, "bpd_px": 2 * e.b,
            "angle_deg": math.degrees(e.angle_rad) % 180.0}


def corrected_reading(e: Ellipse, pixel_size_mm: float, ga_weeks: float | None = None) -> CorrectedReading:
    """HC, BPD, OFD, Hadlock GA and (with a stated GA) the centile of ellipse ``e``."""
    if not (pixel_size_mm > 0 and math.isfinite(pixel_size_mm)):
        raise ValueError(f"pixel size must be a positive number of mm, got {pixel_size_mm}")
    a_mm, b_mm = e.a * pixel_size_mm, e.b * pixel_size_mm
    hc = ellipse_circumference(a_mm, b_mm)
    return CorrectedReading(e, float(pixel_size_mm), hc, 2 * b_mm, 2 * a_mm, hadlock_ga_weeks(hc),
                            assess_hc(hc, ga_weeks) if ga_weeks is not None else None)


def review_row(case: str, model: str, model_mask: np.ndarray, model_hc_mm: float | None,
               corrected: CorrectedReading) -> dict[str, object]:
    """The review log's row: the model's HC and the corrected one, their difference (mm), and the
    Dice between the model's mask and the corrected ellipse's region."""
    region = ellipse_mask(model_mask.shape, corrected.ellipse)
    return {"case": case, "model": model, "pixel_size_mm": corrected.pixel_size_mm,
            "hc_model_mm": model_hc_mm, "hc_corrected_mm": corrected.hc_mm,
            "hc_difference_mm": None if model_hc_mm is None else corrected.hc_mm - model_hc_mm,
            "bpd_corrected_mm": corrected.bpd_mm, "ofd_corrected_mm": corrected.ofd_mm,
            "dice_model_vs_corrected": metrics.dice(model_mask, region),
            **{f"ellipse_{k}": v for k, v in controls_of(corrected.ellipse).items()}}


@dataclass(frozen=True)
class CorrectedCase:
    """One corrected frame, ready to be written as an HC18 training case."""

    stem: str  # e.g. "upload_3_HC": HC18 names end in _HC
    frame: np.ndarray  # HxW uint8 grey
    reading: CorrectedReading
    review: dict[str, object]


def annotation_png(shape: tuple[int, int], e: Ellipse) -> bytes:
    """The HC18 annotation of ellipse ``e``: a white one-pixel outline on black, PNG."""
    ok, buf = cv2.imencode(".png", ellipse_outline(shape, e).astype(np.uint8) * 255)
    if not ok:
        raise ValueError("the annotation could not be encoded")
    return buf.tobytes()


def hc18_folder_zip(cases: Sequence[CorrectedCase]) -> bytes:
    """The corrected cases as an HC18 folder in a zip: ``training_set/<stem>.png`` and
    ``<stem>_Annotation.png``, ``training_set_pixel_size_and_HC.csv`` (filename, pixel size,
    corrected HC) and ``review_log.csv`` (model vs corrected, per case)."""
    return corrections_zip(
        cases,
        lambda c: {f"training_set/{c.stem}.png": _png(c.frame, c.stem),
                   f"training_set/{c.stem}_Annotation.png": annotation_png(c.frame.shape[:2],
                                                                            c.reading.ellipse)},
        HC18_CSV, ["filename", "pixel size(mm)", "head circumference (mm)"],
        lambda c: [f"{c.stem}.png", f"{c.reading.pixel_size_mm:.9g}", f"{c.reading.hc_mm:.2f}"])


def _png(frame: np.ndarray, stem: str) -> bytes:
    ok, buf = cv2.imencode(".png", frame)
    if not ok:
        raise ValueError(f"{stem}: the frame could not be encoded")
    return buf.tobytes()
