"""Fetal head biometry: ellipse fit, HC / BPD / OFD in mm, gestational age, INTERGROWTH-21st.

Conventions (see ``shared/docs/DOMAIN.md`` section 1):

* The fitted ellipse is a :class:`core.geometry.Ellipse` in pixel coordinates of the mask it was
  fitted to (semi-axes ``a >= b`` in pixels, ``angle_rad`` in ``[0, pi)``).
* A head mask is the filled annotation outline, outline pixels included (the HC18 convention),
  so the centres of its boundary pixels lie on the annotated ellipse.
* BPD and OFD are the full minor and major axis lengths of the fitted ellipse, i.e. the
  outer-to-outer convention of an ellipse drawn around the skull.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from core.geometry import (
    Ellipse,
    ellipse_circumference,
    fit_outline_ellipse,
    largest_component,
    on_border,
    outline_points,
    region_ellipse_iou,
)

MIN_FIT_IOU = 0.85  # below this the segmented region is not clearly an elliptical head: uncertain
REFUSE_FIT_IOU = 0.70  # below this it is no head at all: nothing is measured
MIN_AXIS_RATIO = 0.5  # BPD/OFD below this is no head (HC18 references: 0.66 to 0.95)
MAX_BORDER_FRACTION = 0.25  # more of the outline on the frame border: the head is cut off
MAX_EXTENT = 1.2  # a head's major axis longer than this many frame diagonals is not a head
GA_MIN_WEEKS = 14.0
GA_MAX_WEEKS = 40.0
MICROCEPHALY_CENTILE = 3.0
MACROCEPHALY_CENTILE = 97.0
MIN_HEAD_PIXELS = 200


class BiometryError(ValueError):
    """The mask cannot be measured (empty, too small or not elliptical)."""


@dataclass(frozen=True)
class HeadMeasurement:
    """Head biometry of one frame. Lengths in mm, the ellipse in pixels of the measured mask.

    ``fit_iou`` is the IoU of the head region with the fitted ellipse and ``border_fraction``
    the share of its outline on the image border: together they say how much to trust the fit.
    """

    hc_mm: float
    bpd_mm: float
    ofd_mm: float
    ellipse: Ellipse
    pixel_size_mm: float
    fit_iou: float
    border_fraction: float = 0.0


@dataclass(frozen=True)
class CentileResult:
    """Where an HC sits on the INTERGROWTH-21st chart for a gestational age."""

    ga_weeks: float
    expected_mm: float
    sd_mm: float
    z: float
    centile: float
    flag: str | None


def _head_component(mask: np.ndarray) -> np.ndarray:
    """The largest component of a head mask, refused when it cannot carry an ellipse fit."""
    if mask.ndim != 2:
        raise BiometryError(f"expected a 2-D HxW mask, got shape {mask.shape}")
    comp = largest_component(mask)
    area = int(comp.sum())
    if area == 0:
        raise BiometryError("no head found: the segmentation mask is empty")
    if area < MIN_HEAD_PIXELS:
        raise BiometryError(
            f"no head found: the largest segmented region has only {area} pixels "
            f"(at least {MIN_HEAD_PIXELS} are needed for an ellipse fit)"
        )
    return comp


def _fit_outline(pts: np.ndarray, shape: tuple[int, int]) -> Ellipse:
    """:func:`core.geometry.fit_outline_ellipse`, its failures as :class:`BiometryError`."""
    try:
        return fit_outline_ellipse(pts, shape)
    except ValueError as exc:
        raise BiometryError(f"no head found: {exc}") from None


def fit_head_ellipse(mask: np.ndarray) -> Ellipse:
    """Fit an ellipse to the largest component of a head mask.

    Args:
        mask: HxW bool or 0/1/255 array, the filled head.

    Returns:
        The fitted :class:`Ellipse` in pixels of ``mask``.

    Raises:
        BiometryError: if the mask is empty, too small or degenerate.
    """
    comp = _head_component(mask)
    return _fit_outline(outline_points(comp), comp.shape)


def head_problem(m: HeadMeasurement, shape: tuple[int, int]) -> str | None:
    """Why a measured mask is not a head to report (cut off by the frame, an ellipse mostly outside
    it, not elliptical), or None. The page's pipeline and the evaluation's scorer both ask this, so
    a frame refused on the page is refused in the model lab and ``train.evaluate`` too."""
    cut = m.border_fraction
    if cut > MAX_BORDER_FRACTION:
        return (f"no head found: the segmented region runs off the image ({cut:.0%} of its outline lies "
                "on the frame border), so no ellipse can be measured")
    h, w = shape
    e = m.ellipse
    if not (0 <= e.cx < w and 0 <= e.cy < h) or 2 * e.a > MAX_EXTENT * math.hypot(h, w):
        return ("no head found: the fitted ellipse lies mostly outside the image "
                f"({2 * e.a:.0f} px long on a {w}x{h} frame); the segmentation is not a head")
    if m.bpd_mm < MIN_AXIS_RATIO * m.ofd_mm:
        return (f"no head found: the segmented region is not elliptical like a head (its fitted ellipse is "
                f"{m.bpd_mm / m.ofd_mm:.2f} times as wide as long; a fetal head is about 0.65-0.95)")
    if m.fit_iou < REFUSE_FIT_IOU:
        return (f"no head found: the segmented region is not elliptical (ellipse fit IoU "
                f"{m.fit_iou:.2f} < {REFUSE_FIT_IOU}); check that this is a trans-thalamic head view")
    return None


def measure_head(mask: np.ndarray, pixel_size_mm: float, outline_offset_px: float = 0.0) -> HeadMeasurement:
    """HC, BPD and OFD in mm from a head mask.

    Args:
        mask: HxW head mask on the pixel grid that ``pixel_size_mm`` describes.
        pixel_size_mm: isotropic pixel size in mm.
        outline_offset_px: how many pixels the measured ellipse lies inside the centres of the
            mask's boundary pixels (both semi-axes shrink by it): a model card's calibration of
            its masks against the reference ellipses (``postprocess["outline_offset_px"]``).

    Raises:
        BiometryError: for an empty or degenerate mask.
        ValueError: for a non-positive pixel size.
    """
    if not (pixel_size_mm > 0 and math.isfinite(pixel_size_mm)):
        raise ValueError(f"pixel size must be a positive number of mm, got {pixel_size_mm}")
    comp = _head_component(mask)  # one component and one outline serve every figure below
    pts = outline_points(comp)
    fit = _fit_outline(pts, comp.shape)
    off = float(outline_offset_px) if math.isfinite(outline_offset_px) else 0.0
    ell = Ellipse(fit.cx, fit.cy, max(fit.a - off, 0.5), max(fit.b - off, 0.5), fit.angle_rad)
    a_mm, b_mm = ell.a * pixel_size_mm, ell.b * pixel_size_mm
    return HeadMeasurement(
        hc_mm=ellipse_circumference(a_mm, b_mm),
        bpd_mm=2 * b_mm,
        ofd_mm=2 * a_mm,
        ellipse=ell,
        pixel_size_mm=float(pixel_size_mm),
        fit_iou=region_ellipse_iou(comp, fit),
        border_fraction=float(on_border(pts, comp.shape).mean()),
    )


def _check_ga(ga_weeks: float) -> None:
    if not (GA_MIN_WEEKS <= ga_weeks <= GA_MAX_WEEKS):
        raise ValueError(
            f"INTERGROWTH-21st head circumference standard covers {GA_MIN_WEEKS:g}-"
            f"{GA_MAX_WEEKS:g} weeks; got {ga_weeks:g} weeks"
        )


def intergrowth_hc(ga_weeks: float) -> tuple[float, float]:
    """Expected HC mean and SD in mm at ``ga_weeks`` (INTERGROWTH-21st, Papageorghiou 2014)."""
    _check_ga(ga_weeks)
    ga = float(ga_weeks)
    ln = math.log(ga)
    mu = -28.2849 + 1.69267 * ga**2 - 0.397485 * ga**2 * ln
    sd = 1.98735 + 0.0136772 * ga**3 - 0.00726264 * ga**3 * ln + 0.000976253 * ga**3 * ln**2
    return mu, sd


def hc_zscore(hc_mm: float, ga_weeks: float) -> float:
    """z-score of a head circumference (mm) for a gestational age (weeks)."""
    mu, sd = intergrowth_hc(ga_weeks)
    return (hc_mm - mu) / sd


def hc_centile(hc_mm: float, ga_weeks: float) -> float:
    """Centile (0-100) of a head circumference (mm) for a gestational age (weeks)."""
    return float(100.0 * ndtr(hc_zscore(hc_mm, ga_weeks)))


def centile_value_mm(ga_weeks: float, centile: float) -> float:
    """HC in mm at a given centile (0-100) for ``ga_weeks``: the chart's curves."""
    mu, sd = intergrowth_hc(ga_weeks)
    return float(mu + sd * ndtri(centile / 100.0))


def format_centile(centile: float) -> str:
    """A centile for people: one decimal, and ``>99.9`` / ``<0.1`` at the tails (never ``100``)."""
    if centile > 99.9:
        return ">99.9"
    if centile < 0.1:
        return "<0.1"
    return f"{centile:.1f}"


def head_size_flag(centile: float) -> str | None:
    """Screening flag for an HC centile, or None inside the 3rd-97th band."""
    if centile < MICROCEPHALY_CENTILE:
        return "below the 3rd centile: possible microcephaly (HP:0000252), screening flag only"
    if centile > MACROCEPHALY_CENTILE:
        return "above the 97th centile: possible macrocephaly (HP:0000256), screening flag only"
    return None


def assess_hc(hc_mm: float, ga_weeks: float) -> CentileResult:
    """INTERGROWTH-21st z-score, centile and screening flag for one HC at one GA."""
    mu, sd = intergrowth_hc(ga_weeks)
    centile = hc_centile(hc_mm, ga_weeks)
    return CentileResult(float(ga_weeks), mu, sd, hc_zscore(hc_mm, ga_weeks), centile,
                         head_size_flag(centile))


def hadlock_ga_weeks(hc_mm: float) -> float:
    """Gestational age in weeks from HC (Hadlock 1984, Radiology 152:497-501).

    ``GA = 8.96 + 0.540*HC + 0.0003*HC**3`` with HC in cm.
    """
    if not (hc_mm > 0 and math.isfinite(hc_mm)):
        raise ValueError(f"head circumference must be a positive number of mm, got {hc_mm}")
    hc_cm = hc_mm / 10.0
    return 8.96 + 0.540 * hc_cm + 0.0003 * hc_cm**3
