"""Fetal head biometry: a head mask on a trans-thalamic ultrasound frame (HC18)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from core import metrics
from core.analysis.fetal_reading import read_prediction
from core.tasks.spec import TaskSpec, register_task

if TYPE_CHECKING:  # the registry stays light: importing it loads no model code
    from core.datasets import Case
    from core.predict import SegmentationResult


TTA_VIEWS = ("hflip", "zoom:0.9")  # with the plain frame: three views, about 3x one prediction


def biometry_columns(case: Case, result: SegmentationResult) -> dict[str, Any]:
    """The fetal head columns of a scored case row: the ellipse fitted to the predicted mask, HC /
    BPD / OFD in mm with their spread over the model's test-time views, whether the reading is
    uncertain, and the HC error against ``case.meta["hc_mm"]`` (HC18's reference); NaN (and an
    ``error``) where no head is measured. The page's own reading
    (:func:`core.analysis.fetal_reading.read_head`, with the card's outline offset) decides,
    so a frame refused on the page is refused here too. Needs ``case.pixel_size_mm``."""
    px = case.pixel_size_mm
    if not px:
        return {}
    ref = case.meta.get("hc_mm", math.nan)
    reading = read_prediction(result, px)
    m, sp = reading.measurement, reading.spread
    if m is None:
        return {"hc_pred_mm": math.nan, "hc_ref_mm": ref, "hc_abs_diff_mm": math.nan,
                "error": reading.problem}
    e = m.ellipse
    return {
        "hc_pred_mm": m.hc_mm,
        "hc_ref_mm": ref,
        "hc_abs_diff_mm": metrics.abs_hc_diff_mm(m.hc_mm, ref) if ref == ref else math.nan,
        "hc_spread_mm": sp.hc_mm if sp else math.nan,
        "bpd_mm": m.bpd_mm,
        "ofd_mm": m.ofd_mm,
        "center_x_mm": e.cx * px,
        "center_y_mm": e.cy * px,
        "semi_axes_a_mm": e.a * px,
        "semi_axes_b_mm": e.b * px,
        "angle_rad": e.angle_rad,
        "ellipse_fit_iou": m.fit_iou,
        "uncertain": reading.uncertain is not None,
        **({"note": reading.uncertain} if reading.uncertain else {}),
    }


TASK = register_task(TaskSpec(
    name="fetal_head",
    title="Fetal head biometry",
    kind="segmentation",
    labels=("head",),
    modality="2-D B-mode ultrasound, trans-thalamic plane",
    layouts=("hc18",),
    # The compact U-Net (0.49 M parameters at 192x288) leads: the same HC error on held-out exams as
    # the MobileNetV2 U-Net at 9x less network time (issue 24; both cards' figures)
    models=("unet_small", "unet", "segnet"),
    input={"size": [256, 384], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
    # Test-time views: the spread of HC over them is the reading's uncertainty (see read_head).
    postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True, "min_area_px": 0,
                 "tta": list(TTA_VIEWS)},
    scorer=biometry_columns,
))
