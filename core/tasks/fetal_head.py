"""Fetal head biometry: a head mask on a trans-thalamic ultrasound frame (HC18)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from core import metrics
from core.analysis.fetal_biometry import BiometryError, head_problem, measure_head
from core.tasks.spec import TaskSpec, register_task

if TYPE_CHECKING:  # the registry stays light: importing it loads no model code
    from core.datasets import Case
    from core.predict import SegmentationResult


def biometry_columns(case: Case, result: SegmentationResult) -> dict[str, Any]:
    """The fetal head columns of a scored case row: the ellipse fitted to the predicted mask, HC /
    BPD / OFD in mm, and the HC error against ``case.meta["hc_mm"]`` (HC18's reference); NaN (and
    an ``error``) where no head is measured, by the page's own rules
    (:func:`core.analysis.fetal_biometry.head_problem`). Needs ``case.pixel_size_mm``."""
    px = case.pixel_size_mm
    if not px:
        return {}
    ref = case.meta.get("hc_mm", math.nan)
    try:
        m = measure_head(result.mask, px)
    except BiometryError as exc:
        return {"hc_pred_mm": math.nan, "hc_ref_mm": ref, "hc_abs_diff_mm": math.nan,
                "error": str(exc)}
    problem = head_problem(m, result.mask.shape)
    if problem:
        return {"hc_pred_mm": math.nan, "hc_ref_mm": ref, "hc_abs_diff_mm": math.nan, "error": problem}
    e = m.ellipse
    return {
        "hc_pred_mm": m.hc_mm,
        "hc_ref_mm": ref,
        "hc_abs_diff_mm": metrics.abs_hc_diff_mm(m.hc_mm, ref) if ref == ref else math.nan,
        "bpd_mm": m.bpd_mm,
        "ofd_mm": m.ofd_mm,
        "center_x_mm": e.cx * px,
        "center_y_mm": e.cy * px,
        "semi_axes_a_mm": e.a * px,
        "semi_axes_b_mm": e.b * px,
        "angle_rad": e.angle_rad,
    }


TASK = register_task(TaskSpec(
    name="fetal_head",
    title="Fetal head biometry",
    kind="segmentation",
    labels=("head",),
    modality="2-D B-mode ultrasound, trans-thalamic plane",
    layouts=("hc18",),
    models=("unet", "segnet"),
    input={"size": [256, 384], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
    postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True, "min_area_px": 0},
    scorer=biometry_columns,
))
