"""Reading a head with its test-time views: spread in mm, the uncertain state, the outline offset,
and the validation report that counts a frame without a head as a full miss."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.analysis import fetal_biometry as bm
from core.analysis import fetal_reading as fr
from core.analysis.fetal_validation import format_block, hc_report
from core.geometry import Ellipse, ellipse_circumference, ellipse_mask

SHAPE, PX = (540, 800), 0.2
HEAD = Ellipse(400, 270, 150, 120, 0.3)


def _mask(e: Ellipse = HEAD) -> np.ndarray:
    return ellipse_mask(SHAPE, e)


def test_views_that_agree_give_a_zero_spread_in_mm() -> None:
    r = fr.read_head(_mask(), [_mask()] * 3, PX)
    assert r.problem is None and r.uncertain is None
    assert r.spread == fr.BiometrySpread(0.0, 0.0, 0.0, 3, 3)


def test_the_spread_is_the_largest_view_difference_in_mm() -> None:
    bigger = Ellipse(HEAD.cx, HEAD.cy, HEAD.a * 1.01, HEAD.b * 1.01, HEAD.angle_rad)
    r = fr.read_head(_mask(), [_mask(), _mask(bigger), _mask()], PX)
    hc = r.measurement.hc_mm
    assert r.spread.hc_mm == pytest.approx(0.01 * hc, rel=0.15)  # 1% larger view: 1% of HC, in mm
    assert r.spread.bpd_mm == pytest.approx(0.01 * 2 * HEAD.b * PX, rel=0.25)
    assert r.spread.ofd_mm == pytest.approx(0.01 * 2 * HEAD.a * PX, rel=0.25)
    assert r.uncertain is None  # 1% < the 2% threshold


def test_views_that_disagree_make_the_reading_uncertain_not_refused() -> None:
    bigger = Ellipse(HEAD.cx, HEAD.cy, HEAD.a * 1.06, HEAD.b * 1.06, HEAD.angle_rad)
    r = fr.read_head(_mask(), [_mask(), _mask(bigger), _mask()], PX)
    assert r.measurement is not None and r.problem is None
    assert r.uncertain.startswith("uncertain: check the outline") and "disagree on HC" in r.uncertain


def test_a_view_without_a_head_is_said() -> None:
    r = fr.read_head(_mask(), [_mask(), np.zeros(SHAPE, bool), _mask()], PX)
    assert r.spread.n_views == 3 and r.spread.n_measured == 2
    assert "1 of 3 test-time views found no head" in r.uncertain


def test_a_head_that_most_views_miss_is_no_head() -> None:
    empty = np.zeros(SHAPE, bool)
    r = fr.read_head(_mask(), [_mask(), empty, empty], PX)
    assert r.measurement is None and "only 1 of 3 test-time views" in r.problem


def test_a_lumpy_region_is_uncertain_and_a_bar_is_refused() -> None:
    lumpy = _mask()
    lumpy[270:300, 520:640] = True  # a spur off the skull: fit IoU between 0.70 and 0.85
    r = fr.read_head(lumpy, [], PX)
    assert r.measurement is not None and "not clearly elliptical" in r.uncertain
    bar = np.zeros(SHAPE, bool)
    bar[250:290, 100:700] = True
    r = fr.read_head(bar, [], PX)
    assert r.measurement is None and "not elliptical like a head" in r.problem


def test_the_outline_offset_shrinks_both_semi_axes() -> None:
    plain = bm.measure_head(_mask(), PX)
    shrunk = bm.measure_head(_mask(), PX, outline_offset_px=2.0)
    assert shrunk.hc_mm == pytest.approx(plain.hc_mm - 2 * math.pi * 2.0 * PX, rel=0.002)
    assert shrunk.bpd_mm == pytest.approx(plain.bpd_mm - 2 * 2.0 * PX)
    assert shrunk.ellipse.a == pytest.approx(plain.ellipse.a - 2.0)
    assert shrunk.fit_iou == plain.fit_iou  # the fit's quality is the mask's, not the offset's
    assert plain.hc_mm == pytest.approx(ellipse_circumference(HEAD.a * PX, HEAD.b * PX), rel=0.01)


def _row(ref: float, pred: float | None, dice: float = 0.97, spread: float = 1.0, uncertain: bool = False):
    return {"hc_ref_mm": ref, "hc_pred_mm": math.nan if pred is None else pred, "dice": dice,
            "hd95_mm": 2.0, "hc_spread_mm": spread, "uncertain": uncertain}


def test_report_counts_a_missed_head_in_full_and_splits_by_band() -> None:
    rows = [_row(80, 82), _row(90, None, dice=0.0), _row(150, 149), _row(250, 254, spread=4, uncertain=True),
            _row(260, 259.5, spread=0.5)]
    rep = hc_report(rows)
    assert rep["all"]["n"] == 5 and rep["all"]["missed"] == 1
    assert rep["all"]["hc_abs_error_mm"]["mean"] == pytest.approx((2 + 90 + 1 + 4 + 0.5) / 5)
    lo, hi = rep["all"]["hc_abs_error_mm"]["ci95"]
    assert lo <= rep["all"]["hc_abs_error_mm"]["mean"] <= hi
    assert [b["n"] for b in rep["bands"].values()] == [2, 1, 2]
    assert rep["bands"]["< 100 mm"]["missed"] == 1
    assert rep["spread"]["n"] == 4 and rep["spread"]["uncertain_n"] == 1
    assert rep["spread"]["spearman_rho"] > 0.5  # the largest spread has the largest error here
    assert "1 without a measured head" in format_block(rep["all"])


def test_frames_without_a_head_still_get_a_row_and_count_as_full_misses() -> None:
    from pathlib import Path

    from torch import nn

    from core.datasets import read_hc18
    from core.evaluation.engine import evaluate_segmentation
    from core.predict import SegmentationResult, Segmenter
    from core.weights import ModelCard

    class Nothing(Segmenter):
        def __init__(self) -> None:
            card = ModelCard(task="fetal_head", arch="unet", arch_config={}, labels=["head"],
                             input={"size": [64, 96], "mean": [0.5], "std": [0.25]}, postprocess={})
            super().__init__(nn.Identity(), card)

        def predict_batch(self, images, *, threshold=None, overrides=None):
            return [SegmentationResult(np.zeros(im.shape[:2], np.float32), np.zeros(im.shape[:2], bool), 0.5)
                    for im in images]

    cases = list(read_hc18(Path(__file__).resolve().parents[3] / "data_samples" / "fetal_head"))
    ev = evaluate_segmentation(Nothing(), cases, task="fetal_head")
    assert len(ev.rows) == len(cases) == 6
    assert all(math.isnan(r["hc_pred_mm"]) and "no head found" in r["error"] for r in ev.rows)
    rep = hc_report(ev.rows)
    assert rep["all"]["missed"] == 6
    assert rep["all"]["hc_abs_error_mm"]["mean"] == pytest.approx(np.mean([c.meta["hc_mm"] for c in cases]),
                                                                  abs=1e-3)


def test_a_head_joined_to_the_body_at_a_neck_is_cut_free_and_called_uncertain() -> None:
    head = Ellipse(520, 270, 90, 80, 0.2)
    body = Ellipse(330, 280, 110, 70, 0.0)  # touching the head through a narrow bridge
    mask = _mask(head) | _mask(body)
    mask[262:282, 400:450] = True
    r = fr.read_head(mask, [], PX)
    assert r.measurement is not None and "cut free" in r.uncertain
    assert r.measurement.hc_mm == pytest.approx(ellipse_circumference(head.a * PX, head.b * PX), rel=0.03)
    assert abs(r.measurement.ellipse.cx - head.cx) < 5  # the head, not the body
