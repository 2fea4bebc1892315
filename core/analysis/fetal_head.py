"""The fetal head pipeline: frame -> head mask -> ellipse -> HC / BPD / OFD -> GA and centile.

What the page shows and what ``make bench`` times is this one function, :func:`analyse`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import metrics
from core.analysis.fetal_biometry import (
    GA_MAX_WEEKS,
    GA_MIN_WEEKS,
    BiometryError,
    CentileResult,
    HeadMeasurement,
    assess_hc,
    hadlock_ga_weeks,
    measure_head,
)
from core.analysis.fetal_reading import BiometrySpread, read_prediction
from core.io.image import PHOTO_CHROMA, mean_chroma
from core.predict import SegmentationResult, Segmenter

COLOUR_WARNING = 12.0  # mean chroma (0-255) above which a frame gets a colour warning
# Width of the frame's field of view (its longer side x the pixel size) an ultrasound frame can have,
# mm: HC18's frames span 42-261 mm (800 px at 0.052-0.326 mm); a probe images at least ~2 cm.
FIELD_MM = (20.0, 350.0)


def pixel_size_problem(pixel_size_mm: float | None, shape: tuple[int, ...]) -> str | None:
    """Why a pixel size cannot belong to this frame, else None: not a positive finite number, or a
    field of view (the frame's longer side times the pixel size) outside :data:`FIELD_MM`. Judged on
    the field, not the pixel alone, so a frame reduced in size keeps its (larger) true pixel."""
    if pixel_size_mm is None:
        return None
    px = float(pixel_size_mm)
    if not (np.isfinite(px) and px > 0):
        return f"a pixel size of {px:g} mm is not a size"
    field = px * max(shape[:2])
    if not FIELD_MM[0] <= field <= FIELD_MM[1]:
        return (f"a pixel size of {px:g} mm makes this {max(shape[:2])}-pixel frame {field:.0f} mm across; "
                f"an ultrasound frame spans {FIELD_MM[0]:.0f}-{FIELD_MM[1]:.0f} mm")
    return None


@dataclass(frozen=True)
class FetalHeadAnalysis:
    """Everything measured on one frame by one model.

    Attributes:
        segmentation: probability and mask on the frame's grid.
        measurement: HC/BPD/OFD (mm) and the ellipse, or None when no head was found.
        ga_hadlock_weeks: gestational age implied by HC (Hadlock 1984), or None.
        centile: INTERGROWTH-21st position for the stated GA, or None without one.
        problem: why there is no measurement ("no head found: ..."), else None.
        warnings: things the user should know about the input or the fit.
        spread: HC / BPD / OFD spread (mm) over the model's test-time views, when it has them.
        uncertain: "uncertain: check the outline: ..." when the fit or the views' disagreement
            says the figures need a look before use, else None.
    """

    segmentation: SegmentationResult
    measurement: HeadMeasurement | None
    ga_hadlock_weeks: float | None
    centile: CentileResult | None
    problem: str | None
    warnings: tuple[str, ...] = ()
    pixel_size_mm: float | None = None
    spread: BiometrySpread | None = None
    uncertain: str | None = None


def input_warnings(image: np.ndarray, chroma: float | None = None) -> list[str]:
    """Cheap checks that a frame looks like a greyscale B-mode ultrasound (``chroma``: its
    :func:`core.io.image.mean_chroma`, when the caller has it already)."""
    out = []
    if COLOUR_WARNING < (mean_chroma(image) if chroma is None else chroma) <= PHOTO_CHROMA:
        out.append("the image has strong colour; B-mode ultrasound is greyscale, so this may not "
                   "be an ultrasound frame (colour Doppler or annotations also cause this)")
    if float(np.std(image)) < 1e-6:
        out.append("the image is blank (a single grey level)")
    return out


def analyse(segmenter: Segmenter, image: np.ndarray, pixel_size_mm: float | None,
            ga_weeks: float | None = None, threshold: float | None = None) -> FetalHeadAnalysis:
    """Run the whole pipeline on one frame.

    Args:
        segmenter: a fetal head segmentation predictor.
        image: HxW or HxWx3 frame, any dtype.
        pixel_size_mm: isotropic pixel size in mm; None gives a mask but no measurements.
        ga_weeks: stated gestational age for the INTERGROWTH-21st centile; outside its 14-40
            weeks it gives a warning and no centile.
        threshold: probability threshold; None uses the model card's.
    """
    chroma = mean_chroma(image)
    warnings = input_warnings(image, chroma)
    seg = segmenter.predict(image, threshold=threshold)

    def without(problem: str) -> FetalHeadAnalysis:
        return FetalHeadAnalysis(seg, None, None, None, problem, tuple(warnings), pixel_size_mm)

    if chroma > PHOTO_CHROMA:
        return without(f"not an ultrasound frame: the image is a colour picture (mean colour {chroma:.0f} "
                       f"on 0-255, a greyscale B-mode frame has about 0), so nothing is measured")

    if float(np.std(image)) < 1e-6:
        return without("no head found: the image is blank (a single grey level): nothing to measure")
    if pixel_size_mm is None:
        return without("pixel size unknown: enter it to measure")
    reading = read_prediction(seg, pixel_size_mm)
    if reading.problem:
        return without(reading.problem)
    m = reading.measurement
    ga = hadlock_ga_weeks(m.hc_mm)
    if not 12 <= ga <= 42:
        warnings.append(f"HC {m.hc_mm:.0f} mm implies {ga:.1f} weeks, outside the range Hadlock's "
                        "formula was built on; check the pixel size")
    centile = None
    if ga_weeks is not None:
        if GA_MIN_WEEKS <= ga_weeks <= GA_MAX_WEEKS:
            centile = assess_hc(m.hc_mm, ga_weeks)
        else:
            warnings.append(f"no centile: the INTERGROWTH-21st standard covers {GA_MIN_WEEKS:g}-"
                            f"{GA_MAX_WEEKS:g} weeks, {ga_weeks:g} was given")
    return FetalHeadAnalysis(seg, m, ga, centile, None, tuple(warnings), pixel_size_mm, reading.spread,
                             reading.uncertain)


def report_row(analysis: FetalHeadAnalysis, truth: np.ndarray | None = None,
               reference_hc_mm: float | None = None) -> dict[str, float | str | None]:
    """One table row of measurements (units in the keys), plus agreement with a ground truth.

    Args:
        analysis: the pipeline's result for one model.
        truth: HxW bool ground-truth mask on the same grid, if known.
        reference_hc_mm: reference HC (e.g. from the HC18 CSV); measured from ``truth`` if None.
    """
    m, c, sp = analysis.measurement, analysis.centile, analysis.spread
    row: dict[str, float | str | None] = {
        "HC (mm)": m.hc_mm if m else None,
        "HC spread (± mm)": sp.hc_mm if sp else None,
        "BPD (mm)": m.bpd_mm if m else None,
        "BPD spread (± mm)": sp.bpd_mm if sp else None,
        "OFD (mm)": m.ofd_mm if m else None,
        "OFD spread (± mm)": sp.ofd_mm if sp else None,
        "GA Hadlock (weeks)": analysis.ga_hadlock_weeks,
        "HC centile": c.centile if c else None,
        "HC z-score": c.z if c else None,
        "flag": c.flag if c else None,
        "ellipse fit IoU": m.fit_iou if m else None,
        "problem": analysis.problem,
        "uncertain": analysis.uncertain,
    }
    if truth is not None:
        pred = analysis.segmentation.mask
        px = analysis.pixel_size_mm
        if reference_hc_mm is None and px:
            try:
                reference_hc_mm = measure_head(truth, px).hc_mm
            except BiometryError:
                reference_hc_mm = None
        scores = metrics.mask_scores(pred, truth, px)  # the case rows' own overlap columns
        row.update({
            "Dice": scores["dice"],
            "IoU": scores["iou"],
            "HD95 (mm)": scores["hd95_mm"] if px else None,
            "HC reference (mm)": reference_hc_mm,
            "|HC error| (mm)": abs(m.hc_mm - reference_hc_mm) if m and reference_hc_mm else None,
        })
    return row
