"""Reading a predicted head mask: the figures, their spread over test-time views, and when to doubt them.

The page, the model lab and ``train.evaluate`` all read a frame through :func:`read_head`, so one
frame gets one answer everywhere. A reading is one of three things:

* **refused** (``problem``): no head to measure: an empty or tiny mask, a shape no head has, a
  region off the frame, or a head that most test-time views do not see;
* **uncertain** (``uncertain``): figures, but the outline needs a look first: the region is not
  clearly elliptical, the views disagree on HC by more than :data:`UNCERTAIN_SPREAD`, a view saw
  no head, or the head had to be cut free of a touching structure (:func:`split_at_neck`);
* **measured**: figures, with their spread over the views.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.analysis.fetal_biometry import (
    MIN_FIT_IOU,
    BiometryError,
    HeadMeasurement,
    head_problem,
    measure_head,
)
from core.geometry import largest_component

if TYPE_CHECKING:
    from core.predict import SegmentationResult

UNCERTAIN_SPREAD = 0.02  # an HC spread over the test-time views above this share of HC: uncertain
NECK_RADII = (0.03, 0.06, 0.09, 0.12)  # erosion radii tried, as shares of the region's longer side
HEAD_AXIS_RATIO = 0.65  # of the parts, prefer those at least this round (BPD/OFD)
MIN_PART = 0.2  # a part smaller than this share of the largest one is debris, not a candidate head


@dataclass(frozen=True)
class BiometrySpread:
    """How far the test-time views' HC / BPD / OFD lie from the shown values (mm): the largest
    absolute difference, so every view measured lies within value +- spread.

    ``n_views`` views were predicted; ``n_measured`` of them gave a head that could be measured.
    """

    hc_mm: float
    bpd_mm: float
    ofd_mm: float
    n_views: int
    n_measured: int


@dataclass(frozen=True)
class HeadReading:
    """What one predicted mask (and its test-time views) says about the head.

    Attributes:
        measurement: the figures from the mask, or None when ``problem`` says why not.
        spread: the views' spread around them (None without test-time views or a measurement).
        problem: why nothing is measured ("no head found: ..."), else None.
        uncertain: why the figures need a look at the outline before use, else None.
    """

    measurement: HeadMeasurement | None
    spread: BiometrySpread | None = None
    problem: str | None = None
    uncertain: str | None = None


def split_at_neck(mask: np.ndarray) -> np.ndarray | None:
    """The most elliptical part of a region that a narrow neck joins to another, or None.

    A head segmented together with a structure touching it (the fetal body, a limb, the placenta)
    gives one region of two lobes. Eroding it with growing disks (:data:`NECK_RADII`) cuts the
    neck first; each part of at least :data:`MIN_PART` of the largest is grown back by the same
    disk inside the original region, and the part whose ellipse fits best is returned (parts
    at least as round as a head, BPD/OFD >= :data:`HEAD_AXIS_RATIO`, first).
    """
    region = largest_component(mask)
    ys, xs = np.nonzero(region)
    if not len(xs):
        return None
    side = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
    u8 = region.astype(np.uint8)
    for share in NECK_RADII:
        r = max(2, round(share * side))
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.erode(u8, disk), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        if n < 3 or (areas >= MIN_PART * areas.max()).sum() < 2:
            continue
        best, best_iou = None, -1.0
        for k in np.flatnonzero(areas >= MIN_PART * areas.max()) + 1:
            part = cv2.dilate((labels == k).astype(np.uint8), disk).astype(bool) & region
            try:
                pm = measure_head(part, 1.0)
            except BiometryError:
                continue
            # a head is round-ish (BPD/OFD 0.66-0.95 in HC18): an elongated part is rather a trunk or limb
            score = pm.fit_iou - (0.5 if pm.bpd_mm < HEAD_AXIS_RATIO * pm.ofd_mm else 0.0)
            if score > best_iou:
                best, best_iou = part, score
        return best
    return None


def _measure(mask: np.ndarray, px: float, offset: float) -> tuple[HeadMeasurement | None, str | None, bool]:
    """The measurement, the refusal, and whether the head was cut free at a neck."""
    try:
        m = measure_head(mask, px, offset)
    except BiometryError as exc:
        return None, str(exc), False
    problem = head_problem(m, mask.shape)
    if m.fit_iou >= MIN_FIT_IOU and not problem:
        return m, None, False
    part = split_at_neck(mask)
    if part is not None:
        mp = measure_head(part, px, offset)
        if mp.fit_iou >= MIN_FIT_IOU and not head_problem(mp, mask.shape):
            return mp, None, True
    return (None, problem, False) if problem else (m, None, False)


def read_head(mask: np.ndarray, views: Sequence[np.ndarray], pixel_size_mm: float,
              outline_offset_px: float = 0.0) -> HeadReading:
    """Measure a head mask, its test-time views' spread, and whether the result is uncertain.

    Args:
        mask: HxW head mask (the views' consensus when there are views).
        views: each test-time view's own mask on the same grid (empty: none).
        pixel_size_mm: isotropic pixel size in mm.
        outline_offset_px: see :func:`core.analysis.fetal_biometry.measure_head`.

    Raises:
        ValueError: for a non-positive pixel size.
    """
    m, problem, split = _measure(mask, pixel_size_mm, outline_offset_px)
    if m is None:
        return HeadReading(None, problem=problem)
    reasons = []
    if split:
        reasons.append("the head was cut free of a structure joined to it at a narrow neck")
    if m.fit_iou < MIN_FIT_IOU:
        reasons.append(f"the head region is not clearly elliptical (ellipse fit IoU {m.fit_iou:.2f} < "
                       f"{MIN_FIT_IOU})")
    spread = None
    if len(views) > 1:
        found = [v for v in (_measure(view, pixel_size_mm, outline_offset_px)[0] for view in views) if v]
        if 2 * len(found) < len(views):  # no stable head: most views of the frame see none
            return HeadReading(None, problem=f"no head found: only {len(found)} of {len(views)} test-time "
                                             "views of the frame (plain, mirrored, zoomed) show a measurable "
                                             "head")
        dev = lambda f: max(abs(f(v) - f(m)) for v in found)  # noqa: E731
        spread = BiometrySpread(dev(lambda v: v.hc_mm), dev(lambda v: v.bpd_mm), dev(lambda v: v.ofd_mm),
                                len(views), len(found))
        if len(found) < len(views):
            reasons.append(f"{len(views) - len(found)} of {len(views)} test-time views found no head")
        if spread.hc_mm > UNCERTAIN_SPREAD * m.hc_mm:
            reasons.append(f"the test-time views disagree on HC by up to {spread.hc_mm:.1f} mm "
                           f"(> {UNCERTAIN_SPREAD:.0%} of HC)")
    uncertain = "uncertain: check the outline: " + "; ".join(reasons) if reasons else None
    return HeadReading(m, spread, None, uncertain)


def read_prediction(result: SegmentationResult, pixel_size_mm: float) -> HeadReading:
    """:func:`read_head` on a predictor's result: its mask, its test-time views and the outline
    offset of the card it was made with (``postprocess["outline_offset_px"]``)."""
    offset = float(result.postprocess.get("outline_offset_px", 0.0))
    return read_head(result.mask, result.members, pixel_size_mm, offset)
