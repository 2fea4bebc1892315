"""core.analysis.fetal_head.analyse and report_row, driven by stub segmenters with known masks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from core.analysis import fetal_head
from core.analysis.fetal_biometry import hadlock_ga_weeks, hc_zscore
from core.analysis.fetal_head import pixel_size_problem
from core.datasets import fill_outline
from core.geometry import Ellipse, border_fraction, ellipse_circumference, ellipse_mask, ellipse_outline
from core.predict import SegmentationResult, Segmenter
from core.weights import ModelCard

SHAPE = (540, 800)  # an HC18 frame
PX = 0.15  # mm per pixel
HEAD = Ellipse(cx=400, cy=270, a=200, b=150, angle_rad=0.3)  # HC ~ 166 mm, ~19.3 weeks
CARD = ModelCard(task="fetal_head", arch="unet", arch_config={}, labels=["head"],
                 input={"size": [128, 192], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
                 postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True})


class MaskSegmenter(Segmenter):
    """Predicts a fixed mask for every frame (no network)."""

    def __init__(self, mask: np.ndarray) -> None:
        super().__init__(nn.Identity(), CARD)
        self.mask = mask.astype(bool)

    def predict_batch(self, images, *, threshold=None, overrides=None):
        thr = self.threshold if threshold is None else float(threshold)
        assert all(im.shape[:2] == self.mask.shape for im in images)
        return [SegmentationResult(self.mask.astype(np.float32), self.mask.copy(), thr) for _ in images]


class EllipseLogits(nn.Module):
    """Logits whose zero level set is ``ellipse`` (given on the frame's grid) at the network input.

    The network grid is mapped back to the frame exactly as letterbox/unletterbox map it, so after
    the real Segmenter's resampling the 0.5-probability boundary is the ellipse.
    """

    def __init__(self, ellipse: Ellipse, frame_shape: tuple[int, int], size: tuple[int, int],
                 gain: float = 20.0) -> None:
        super().__init__()
        (h, w), (out_h, out_w) = frame_shape, size
        scale = min(out_h / h, out_w / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        top, left = (out_h - nh) // 2, (out_w - nw) // 2
        yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
        x = (xx - left + 0.5) * (w / nw) - 0.5  # pixel-centre mapping used by cv2.resize
        y = (yy - top + 0.5) * (h / nh) - 0.5
        c, s = math.cos(ellipse.angle_rad), math.sin(ellipse.angle_rad)
        u = ((x - ellipse.cx) * c + (y - ellipse.cy) * s) / ellipse.a
        v = (-(x - ellipse.cx) * s + (y - ellipse.cy) * c) / ellipse.b
        logits = np.clip(gain * (1.0 - u * u - v * v), -30.0, 30.0)  # a plausible logit range
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == self.logits.shape
        return self.logits.expand(x.shape[0], 1, *self.logits.shape).clone()


def _frame(rgb: bool = False) -> np.ndarray:
    img = np.random.default_rng(0).integers(0, 256, SHAPE, dtype=np.uint8)
    return np.repeat(img[..., None], 3, axis=2) if rgb else img


def _hc18_mask(ellipse: Ellipse = HEAD) -> np.ndarray:
    return fill_outline(ellipse_outline(SHAPE, ellipse))


def _expected_hc(ellipse: Ellipse = HEAD, px: float = PX) -> float:
    return ellipse_circumference(ellipse.a * px, ellipse.b * px)


# ---------------------------------------------------------------- measurements


def test_hc_bpd_ofd_of_an_hc18_style_mask():
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), _frame(), PX)
    assert res.problem is None
    m = res.measurement
    assert m is not None and m.pixel_size_mm == PX
    assert m.hc_mm == pytest.approx(_expected_hc(), rel=0.01)
    assert m.bpd_mm == pytest.approx(2 * HEAD.b * PX, rel=0.01)
    assert m.ofd_mm == pytest.approx(2 * HEAD.a * PX, rel=0.01)
    assert m.fit_iou > 0.95
    assert res.ga_hadlock_weeks == pytest.approx(hadlock_ga_weeks(m.hc_mm), abs=1e-12)
    assert res.ga_hadlock_weeks == pytest.approx(hadlock_ga_weeks(_expected_hc()), abs=0.2)
    assert 18 < res.ga_hadlock_weeks < 21
    assert res.centile is None  # no GA stated
    assert res.warnings == ()


def test_measurements_scale_with_pixel_size():
    seg = MaskSegmenter(_hc18_mask())
    a = fetal_head.analyse(seg, _frame(), PX).measurement
    b = fetal_head.analyse(seg, _frame(), 2 * PX).measurement
    assert b.hc_mm == pytest.approx(2 * a.hc_mm, rel=1e-9)
    assert b.bpd_mm == pytest.approx(2 * a.bpd_mm, rel=1e-9)


def test_centile_only_when_ga_is_given():
    seg = MaskSegmenter(_hc18_mask())
    without = fetal_head.analyse(seg, _frame(), PX, ga_weeks=None)
    with_ga = fetal_head.analyse(seg, _frame(), PX, ga_weeks=20.0)
    assert without.centile is None
    c = with_ga.centile
    assert c is not None and c.ga_weeks == 20.0
    assert c.z == pytest.approx(hc_zscore(with_ga.measurement.hc_mm, 20.0))
    assert 0.0 < c.centile < 100.0
    # The same head is large for 16 weeks and small for 26.
    assert fetal_head.analyse(seg, _frame(), PX, ga_weeks=16.0).centile.z > c.z
    assert fetal_head.analyse(seg, _frame(), PX, ga_weeks=26.0).centile.z < c.z


def test_real_segmenter_with_an_ellipse_logit_model():
    """The whole path: letterbox -> network -> unletterbox -> threshold -> ellipse fit -> mm."""
    model = EllipseLogits(HEAD, SHAPE, tuple(CARD.input["size"]))
    res = fetal_head.analyse(Segmenter(model, CARD), _frame(), PX, ga_weeks=20.0)
    assert res.problem is None
    assert res.segmentation.mask.shape == SHAPE
    iou = (res.segmentation.mask & ellipse_mask(SHAPE, HEAD)).sum() / (
        res.segmentation.mask | ellipse_mask(SHAPE, HEAD)).sum()
    assert iou > 0.98
    assert res.measurement.hc_mm == pytest.approx(_expected_hc(), rel=0.01)
    assert res.measurement.bpd_mm == pytest.approx(2 * HEAD.b * PX, rel=0.01)
    assert res.measurement.ofd_mm == pytest.approx(2 * HEAD.a * PX, rel=0.01)
    assert res.centile is not None


def test_threshold_reaches_the_segmenter():
    seg = Segmenter(EllipseLogits(HEAD, SHAPE, tuple(CARD.input["size"]), gain=5.0), CARD)
    default = fetal_head.analyse(seg, _frame(), PX)
    strict = fetal_head.analyse(seg, _frame(), PX, threshold=0.95)
    assert default.segmentation.threshold == 0.5 and strict.segmentation.threshold == 0.95
    assert strict.segmentation.mask.sum() < default.segmentation.mask.sum()
    assert strict.measurement.hc_mm < default.measurement.hc_mm


# ---------------------------------------------------------------- problems, not exceptions


def test_empty_prediction_is_a_problem_not_an_exception():
    res = fetal_head.analyse(MaskSegmenter(np.zeros(SHAPE, bool)), _frame(), PX, ga_weeks=20.0)
    assert res.measurement is None and res.ga_hadlock_weeks is None and res.centile is None
    assert "no head found" in res.problem
    assert res.segmentation.mask.shape == SHAPE


def _l_shape() -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[100:400, 100:160] = True
    m[340:400, 100:400] = True
    return m


def _long_bar() -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[200:300, 100:700] = True
    return m


@pytest.mark.parametrize("make", [_l_shape, _long_bar], ids=["L", "bar"])
def test_non_elliptical_region_is_refused(make):
    res = fetal_head.analyse(MaskSegmenter(make()), _frame(), PX, ga_weeks=20.0)
    assert res.measurement is None and res.centile is None and res.ga_hadlock_weeks is None
    assert "not elliptical" in res.problem
    assert "no head found" in res.problem


def test_unknown_pixel_size():
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), _frame(), None, ga_weeks=20.0)
    assert res.measurement is None and res.centile is None
    assert "pixel size" in res.problem
    assert res.segmentation.mask.any()  # the mask is still shown


def test_some_colour_warns():
    img = _frame(rgb=True)
    img[..., 0] = np.clip(img[..., 0].astype(int) + 18, 0, 255).astype(np.uint8)  # a tinted frame
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), img, PX)
    assert any("colour" in w for w in res.warnings)
    assert res.measurement is not None  # a warning, not a refusal


def test_a_colour_picture_is_not_measured():
    img = _frame(rgb=True)
    img[..., 0] = 220
    img[..., 1] //= 4
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), img, PX, ga_weeks=20.0)
    assert res.measurement is None and res.centile is None and res.ga_hadlock_weeks is None
    assert res.problem.startswith("not an ultrasound frame: the image is a colour picture")


def test_grey_rgb_image_does_not_warn():
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), _frame(rgb=True), PX)
    assert not any("colour" in w for w in res.warnings)


def test_blank_image_warns():
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), np.full(SHAPE, 90, np.uint8), PX)
    assert any("blank" in w for w in res.warnings)


@pytest.mark.parametrize("ellipse", [
    Ellipse(cx=400, cy=900, a=1600, b=700, angle_rad=0.0),  # centre below the frame
    Ellipse(cx=400, cy=270, a=1400, b=500, angle_rad=0.0),  # far longer than the frame
])
def test_ellipse_running_off_the_frame_is_not_a_head(ellipse):
    """A frame-filling blob (e.g. a photo segmented wholesale) must not give a giant HC."""
    res = fetal_head.analyse(MaskSegmenter(ellipse_mask(SHAPE, ellipse)), _frame(), PX)
    assert res.measurement is None
    assert res.problem.startswith("no head found") and "image" in res.problem


def test_border_fraction_of_a_cut_head():
    inside = ellipse_mask(SHAPE, HEAD)
    assert border_fraction(inside) == 0.0
    cut = ellipse_mask(SHAPE, Ellipse(cx=400, cy=40, a=200, b=150, angle_rad=0.0))
    assert 0.2 < border_fraction(cut) < 0.6
    assert border_fraction(np.ones(SHAPE, bool)) == 1.0


def test_implausible_ga_warns():
    res = fetal_head.analyse(MaskSegmenter(_hc18_mask()), _frame(), 0.01)  # HC ~ 11 mm
    assert res.ga_hadlock_weeks < 12
    assert any("Hadlock" in w and "pixel size" in w for w in res.warnings)


# ---------------------------------------------------------------- report_row


def test_report_row_has_units_in_keys():
    row = fetal_head.report_row(fetal_head.analyse(MaskSegmenter(_hc18_mask()), _frame(), PX, 20.0))
    for key in ("HC (mm)", "BPD (mm)", "OFD (mm)", "GA Hadlock (weeks)", "HC centile", "HC z-score"):
        assert key in row and isinstance(row[key], float)
    assert row["HC (mm)"] == pytest.approx(_expected_hc(), rel=0.01)
    assert row["problem"] is None
    assert "Dice" not in row and "|HC error| (mm)" not in row


def test_report_row_against_a_truth():
    truth = _hc18_mask()
    moved = _hc18_mask(Ellipse(HEAD.cx + 6, HEAD.cy, HEAD.a, HEAD.b, HEAD.angle_rad))
    row = fetal_head.report_row(fetal_head.analyse(MaskSegmenter(moved), _frame(), PX), truth=truth)
    for key in ("Dice", "IoU", "HD95 (mm)", "HC reference (mm)", "|HC error| (mm)"):
        assert key in row and isinstance(row[key], float)
    assert 0.9 < row["Dice"] < 1.0 and row["IoU"] < row["Dice"]
    assert row["HD95 (mm)"] == pytest.approx(6 * PX, abs=2 * PX)
    assert row["|HC error| (mm)"] < 0.5  # same head, shifted: same circumference

    same = fetal_head.report_row(fetal_head.analyse(MaskSegmenter(truth), _frame(), PX), truth=truth)
    assert same["Dice"] == 1.0 and same["IoU"] == 1.0 and same["HD95 (mm)"] == 0.0
    assert same["|HC error| (mm)"] == 0.0


def test_report_row_with_a_reference_hc():
    analysis = fetal_head.analyse(MaskSegmenter(_hc18_mask()), _frame(), PX)
    row = fetal_head.report_row(analysis, truth=_hc18_mask(), reference_hc_mm=150.0)
    assert row["HC reference (mm)"] == 150.0
    assert row["|HC error| (mm)"] == pytest.approx(abs(analysis.measurement.hc_mm - 150.0))


def test_report_row_of_a_failed_analysis():
    analysis = fetal_head.analyse(MaskSegmenter(np.zeros(SHAPE, bool)), _frame(), PX)
    row = fetal_head.report_row(analysis, truth=_hc18_mask())
    assert row["HC (mm)"] is None and "no head found" in row["problem"]
    assert row["Dice"] == 0.0 and row["|HC error| (mm)"] is None


@pytest.mark.parametrize("make", [_l_shape, lambda: ellipse_mask(SHAPE, Ellipse(400, 900, 1600, 700, 0.0))],
                         ids=["not elliptical", "off the frame"])
def test_the_evaluation_scorer_refuses_what_the_page_refuses(make):
    """One frame, one answer: the model lab and train.evaluate score the page's HC, or none."""
    from core.datasets import Case
    from core.evaluation import case_row
    from core.tasks import get_task

    mask = make()
    page = fetal_head.analyse(MaskSegmenter(mask), _frame(), PX)
    case = Case(name="f.png", image=_frame(), mask=mask, pixel_size_mm=PX, meta={"hc_mm": 150.0})
    row = case_row(case, page.segmentation, extra=get_task("fetal_head").scorer)
    assert page.measurement is None and math.isnan(row["hc_pred_mm"]) and math.isnan(row["hc_abs_diff_mm"])
    assert row["error"] == page.problem


@pytest.mark.parametrize(("px", "shape", "bad"), [
    (0.2, (540, 800), False), (0.052, (540, 800), False), (0.326, (540, 800), False),
    (0.5, (300, 400), False),  # a reduced frame keeps a larger pixel
    (0.01, (540, 800), True), (2.0, (540, 800), True), (0.0, (540, 800), True),
    (float("nan"), (540, 800), True),
    (None, (540, 800), False)])
def test_a_pixel_size_must_give_an_ultrasound_field_of_view(px, shape, bad) -> None:
    problem = pixel_size_problem(px, shape)
    assert (problem is not None) == bad
    if bad and px:
        assert "mm" in problem
