"""core.analysis.fetal_biometry against closed forms, numeric integrals and rasterised ellipses."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.integrate import quad

from core import geometry
from core.analysis import fetal_biometry as bm
from core.analysis.fetal_biometry import BiometryError
from core.datasets import fill_outline
from core.geometry import Ellipse


def _exact_perimeter(a: float, b: float) -> float:
    """Ellipse perimeter ``4a * E(e)`` (complete elliptic integral, 2nd kind) by quadrature."""
    a, b = max(a, b), min(a, b)
    e2 = 1.0 - (b / a) ** 2
    integral, _ = quad(lambda t: math.sqrt(1.0 - e2 * math.sin(t) ** 2), 0.0, math.pi / 2,
                       epsabs=1e-12, epsrel=1e-12)
    return 4.0 * a * integral


def _angle_diff_deg(a_rad: float, b_rad: float) -> float:
    """Smallest difference between two axis directions, modulo 180 degrees."""
    d = math.degrees(a_rad - b_rad) % 180.0
    return min(d, 180.0 - d)


# ---------------------------------------------------------------- circumference


@pytest.mark.parametrize("r", [0.5, 1.0, 7.0, 123.456])
def test_circle_circumference_is_exact(r):
    assert geometry.ellipse_circumference(r, r) == 2 * math.pi * r


def test_known_perimeter_a10_b5():
    assert geometry.ellipse_circumference(10, 5) == pytest.approx(48.4422, abs=1e-4)
    assert geometry.ellipse_circumference(5, 10) == geometry.ellipse_circumference(10, 5)


@pytest.mark.parametrize("a,b", [(10, 5), (12, 10), (3, 1), (100, 60), (200, 50)])
def test_ramanujan_ii_matches_the_elliptic_integral(a, b):
    exact = _exact_perimeter(a, b)
    assert geometry.ellipse_circumference(a, b) == pytest.approx(exact, rel=1e-4)


def test_circumference_rejects_negative_axes():
    with pytest.raises(ValueError, match="non-negative"):
        geometry.ellipse_circumference(-1, 2)
    assert geometry.ellipse_circumference(0, 0) == 0.0


# ---------------------------------------------------------------- ellipse fit

SHAPE = (480, 640)
SIZES = [(60, 40), (120, 90), (200, 150), (50, 48)]
ANGLES = [0, 30, 60, 90, 135]


def _check_fit(fit: Ellipse, true: Ellipse) -> None:
    assert fit.cx == pytest.approx(true.cx, abs=0.5)
    assert fit.cy == pytest.approx(true.cy, abs=0.5)
    assert fit.a == pytest.approx(true.a, abs=max(0.5, 0.01 * true.a))
    assert fit.b == pytest.approx(true.b, abs=max(0.5, 0.01 * true.b))
    assert fit.a >= fit.b and 0.0 <= fit.angle_rad < math.pi
    if true.a / true.b > 1.1:  # the angle of a near-circle is not defined
        assert _angle_diff_deg(fit.angle_rad, true.angle_rad) < 1.0


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("a,b", SIZES)
def test_fit_recovers_a_rasterised_ellipse(a, b, angle):
    true = Ellipse(320.3, 240.7, a, b, math.radians(angle))
    _check_fit(bm.fit_head_ellipse(geometry.ellipse_mask(SHAPE, true)), true)


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("a,b", SIZES)
def test_fit_recovers_a_filled_outline(a, b, angle):
    true = Ellipse(320.3, 240.7, a, b, math.radians(angle))
    filled = ndimage.binary_fill_holes(geometry.ellipse_outline(SHAPE, true) > 0)
    _check_fit(bm.fit_head_ellipse(filled), true)


def test_fit_accepts_0_255_masks():
    true = Ellipse(100, 80, 50, 30, 0.4)
    m = geometry.ellipse_mask((160, 200), true).astype(np.uint8) * 255
    _check_fit(bm.fit_head_ellipse(m), true)


# HC18 frames are 800x540 with pixel sizes 0.052-0.326 mm
HC18_SHAPE = (540, 800)


@pytest.mark.parametrize(
    "a,b,angle,px",
    [
        (150, 110, 0, 0.10),
        (220, 180, 30, 0.15),
        (90, 70, 60, 0.30),
        (250, 200, 90, 0.20),
        (180, 120, 135, 0.12),
    ],
)
def test_hc18_outline_measures_the_known_hc(a, b, angle, px):
    true = Ellipse(400.0, 270.0, a, b, math.radians(angle))
    mask = fill_outline(geometry.ellipse_outline(HC18_SHAPE, true))
    m = bm.measure_head(mask, px)
    expected_hc = geometry.ellipse_circumference(a * px, b * px)
    assert m.hc_mm == pytest.approx(expected_hc, rel=0.005)
    # BPD / OFD: full minor / major axis lengths (outer-to-outer), in mm
    assert m.bpd_mm == pytest.approx(2 * b * px, rel=0.01)
    assert m.ofd_mm == pytest.approx(2 * a * px, rel=0.01)
    assert m.pixel_size_mm == px
    assert m.fit_iou > 0.97


def test_measure_head_scales_with_pixel_size():
    mask = geometry.ellipse_mask((300, 300), Ellipse(150, 150, 100, 80, 0.3))
    m1, m2 = bm.measure_head(mask, 0.1), bm.measure_head(mask, 0.2)
    assert m2.hc_mm == pytest.approx(2 * m1.hc_mm)
    assert m2.bpd_mm == pytest.approx(2 * m1.bpd_mm)
    assert m1.ellipse == m2.ellipse  # the ellipse stays in pixels


@pytest.mark.parametrize("px", [0.0, -0.1, float("nan"), float("inf")])
def test_measure_head_rejects_bad_pixel_size(px):
    mask = geometry.ellipse_mask((100, 100), Ellipse(50, 50, 30, 20, 0))
    with pytest.raises(ValueError, match="pixel size"):
        bm.measure_head(mask, px)


@pytest.mark.parametrize(
    "cx,cy,angle",
    [(320, 40, 0), (600, 240, 90), (330, 250, 30), (60, 240, 0)],
)
def test_head_cut_by_the_border_keeps_its_axes(cx, cy, angle):
    # the image border cuts off part of the skull; the straight border run must not be fitted
    true = Ellipse(cx, cy, 180, 120, math.radians(angle))
    fit = bm.fit_head_ellipse(geometry.ellipse_mask(SHAPE, true))
    assert fit.a == pytest.approx(true.a, rel=0.02)
    assert fit.b == pytest.approx(true.b, rel=0.02)


def test_empty_mask_is_no_head():
    with pytest.raises(BiometryError, match="no head found"):
        bm.fit_head_ellipse(np.zeros((100, 100), bool))
    with pytest.raises(BiometryError, match="no head found"):
        bm.measure_head(np.zeros((100, 100), np.uint8), 0.1)


def test_tiny_blob_is_no_head():
    m = np.zeros((100, 100), bool)
    m[10:12, 10:15] = True  # 10 pixels
    with pytest.raises(BiometryError, match="no head found"):
        bm.fit_head_ellipse(m)


def test_3d_mask_is_rejected():
    with pytest.raises(BiometryError, match="2-D"):
        bm.fit_head_ellipse(np.ones((4, 50, 50), bool))


def test_largest_component_keeps_the_bigger_blob():
    m = np.zeros((60, 60), np.uint8)
    m[5:10, 5:10] = 255  # 25 px
    m[20:40, 30:50] = 255  # 400 px
    out = geometry.largest_component(m)
    assert out.dtype == bool
    assert out.sum() == 400
    assert out[30, 40] and not out[7, 7]


def test_fit_ignores_a_small_false_positive():
    true = Ellipse(200, 150, 100, 70, 0.5)
    m = geometry.ellipse_mask((300, 400), true)
    m[5:15, 5:15] = True  # a 100-px speck far away
    _check_fit(bm.fit_head_ellipse(m), true)


# ---------------------------------------------------------------- Ellipse.scaled


def test_scaled_with_equal_factors():
    e = Ellipse(10.0, 20.0, 30.0, 15.0, 0.5)
    s = e.scaled(2.5, 2.5)
    assert (s.cx, s.cy, s.a, s.b) == pytest.approx((25.0, 50.0, 75.0, 37.5))
    assert s.angle_rad == pytest.approx(0.5)


def test_scaled_axis_aligned_unequal_factors():
    e = Ellipse(0.0, 0.0, 30.0, 15.0, 0.0)
    assert e.scaled(2.0, 3.0) == Ellipse(0.0, 0.0, 60.0, 45.0, 0.0)
    # the y axis grows past the x axis: the major axis turns to pi/2
    s = e.scaled(1.0, 3.0)
    assert (s.a, s.b, s.angle_rad) == pytest.approx((45.0, 30.0, math.pi / 2))


def _on_ellipse(e: Ellipse, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Implicit-equation value (1 on the curve) of points (x, y) for ellipse ``e``."""
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    dx, dy = x - e.cx, y - e.cy
    return ((dx * c + dy * s) / e.a) ** 2 + ((-dx * s + dy * c) / e.b) ** 2


@pytest.mark.parametrize("angle", [30, 45, 60])
def test_scaled_maps_rotated_ellipse_exactly(angle):
    e = Ellipse(128.0, 128.0, 80.0, 60.0, math.radians(angle))
    sx, sy = 800 / 256, 540 / 256
    t = np.linspace(0, 2 * math.pi, 90, endpoint=False)
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    x = e.cx + e.a * np.cos(t) * c - e.b * np.sin(t) * s
    y = e.cy + e.a * np.cos(t) * s + e.b * np.sin(t) * c
    np.testing.assert_allclose(_on_ellipse(e.scaled(sx, sy), x * sx, y * sy), 1.0, atol=1e-9)


# ---------------------------------------------------------------- INTERGROWTH-21st and Hadlock


def test_intergrowth_sanity_values():
    mu, sd = bm.intergrowth_hc(20)
    assert (mu, sd) == pytest.approx((172.5, 7.4), abs=0.1)
    mu, sd = bm.intergrowth_hc(36)
    assert (mu, sd) == pytest.approx((319.4, 10.8), abs=0.1)


@pytest.mark.parametrize("ga", [13.9, 40.1, 0.0, -5.0])
def test_intergrowth_outside_14_40_weeks_raises(ga):
    with pytest.raises(ValueError, match="14-40 weeks"):
        bm.intergrowth_hc(ga)


def test_intergrowth_edges_are_valid():
    assert bm.intergrowth_hc(14)[0] < bm.intergrowth_hc(40)[0]


@pytest.mark.parametrize("ga", [14, 20, 28.5, 36, 40])
def test_centile_at_the_mean_is_50(ga):
    mu, sd = bm.intergrowth_hc(ga)
    assert bm.hc_centile(mu, ga) == pytest.approx(50.0)
    assert bm.centile_value_mm(ga, 50) == pytest.approx(mu)
    assert bm.hc_zscore(mu + 2 * sd, ga) == pytest.approx(2.0)
    # round trip through the chart curves
    assert bm.hc_centile(bm.centile_value_mm(ga, 10), ga) == pytest.approx(10.0)


def test_head_size_flag():
    assert "microcephaly" in bm.head_size_flag(2.9)
    assert "macrocephaly" in bm.head_size_flag(97.1)
    assert bm.head_size_flag(3.0) is None
    assert bm.head_size_flag(50.0) is None
    assert bm.head_size_flag(97.0) is None


def test_assess_hc_flags_a_small_head():
    ga = 24.0
    small = bm.centile_value_mm(ga, 1.0)
    res = bm.assess_hc(small, ga)
    assert res.centile == pytest.approx(1.0)
    assert res.z == pytest.approx(-2.326, abs=1e-3)
    assert "microcephaly" in res.flag
    assert bm.assess_hc(bm.centile_value_mm(ga, 50), ga).flag is None


def test_hadlock_ga():
    # 8.96 + 0.540*17.5 + 0.0003*17.5**3 = 8.96 + 9.45 + 1.6078 = 20.018 weeks
    assert bm.hadlock_ga_weeks(175.0) == pytest.approx(20.0, abs=0.05)
    assert bm.hadlock_ga_weeks(175.0) == pytest.approx(20.0178125)
    with pytest.raises(ValueError, match="head circumference"):
        bm.hadlock_ga_weeks(0.0)


@pytest.mark.parametrize("value, text", [(50.0, "50.0"), (2.96, "3.0"), (99.95, ">99.9"),
                                         (100.0, ">99.9"), (0.04, "<0.1"), (0.1, "0.1")])
def test_format_centile_never_shows_100(value, text):
    from core.analysis.fetal_biometry import format_centile

    assert format_centile(value) == text


def test_fill_holes_is_scipys_fill_holes_on_random_masks():
    from scipy import ndimage

    from core.geometry import fill_holes

    rng = np.random.default_rng(0)
    for _ in range(300):
        mask = rng.random((rng.integers(1, 50), rng.integers(1, 50))) < rng.random()
        np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7], ring[4, 4] = True, False
    assert fill_holes(ring)[4, 4] and fill_holes(ring).dtype == bool
