"""One evaluation engine for segmentation models, shared by ``train.evaluate`` and the pages.

It streams cases, predicts them in small batches and returns one row per case plus a summary,
so a number means the same wherever it is shown.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core import metrics
from core.biometry import BiometryError, measure_head
from core.datasets import Case
from core.segmentation import SegmentationResult, Segmenter


@dataclass(frozen=True)
class Evaluation:
    """Per-case rows (dicts with the same keys) and a summary per numeric column."""

    rows: list[dict[str, Any]]
    summary: dict[str, dict[str, float]]


def _batches(cases: Iterable[Case], size: int) -> Iterator[list[Case]]:
    batch: list[Case] = []
    for case in cases:
        batch.append(case)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def case_row(case: Case, result: SegmentationResult, *, biometry: bool) -> dict[str, Any]:
    """Metrics of one predicted case; NaN where a value cannot be computed."""
    row: dict[str, Any] = {"name": case.name, "group": case.group}
    px = case.pixel_size_mm
    if case.mask is not None:
        row.update(
            dice=metrics.dice(result.mask, case.mask),
            iou=metrics.iou(result.mask, case.mask),
            precision=metrics.precision(result.mask, case.mask),
            recall=metrics.recall(result.mask, case.mask),
            hd95_mm=metrics.hd95_mm(result.mask, case.mask, px) if px else math.nan,
        )
    if biometry and px:
        row.update(_biometry_columns(result, case, px))
    return row


def _biometry_columns(result: SegmentationResult, case: Case, px: float) -> dict[str, Any]:
    ref = case.meta.get("hc_mm", math.nan)
    try:
        m = measure_head(result.mask, px)
    except BiometryError as exc:
        return {"hc_pred_mm": math.nan, "hc_ref_mm": ref, "hc_abs_diff_mm": math.nan,
                "error": str(exc)}
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


def evaluate_segmentation(
    segmenter: Segmenter,
    cases: Iterable[Case],
    *,
    biometry: bool = False,
    batch_size: int = 4,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Evaluation:
    """Predict every case and score it against its ground truth.

    Args:
        segmenter: the predictor.
        cases: cases to evaluate (streamed; masks may be None, then only biometry is scored).
        biometry: also fit the head ellipse and report HC/BPD/OFD in mm (fetal head).
        batch_size: cases per forward pass.
        on_row: called with each row as soon as it is ready (progress bars, live tables).
    """
    rows: list[dict[str, Any]] = []
    for batch in _batches(cases, batch_size):
        for case, result in zip(batch, segmenter.predict_batch([c.image for c in batch])):
            row = case_row(case, result, biometry=biometry)
            rows.append(row)
            if on_row:
                on_row(row)
    numeric = sorted({k for r in rows for k, v in r.items() if isinstance(v, float)})
    summary = {k: metrics.summarize([r[k] for r in rows if k in r]) for k in numeric}
    return Evaluation(rows, summary)
