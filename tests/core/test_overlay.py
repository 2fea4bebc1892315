"""core.overlay: every drawing returns an HxWx3 uint8 picture of the input's size, in known colours."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from core.geometry import Ellipse, ellipse_mask
from core.overlay import COLORS, draw_ellipse, error_overlay, heatmap_overlay, mask_png, overlay_mask

H, W = 48, 64


def _grey() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)


def _rgb() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _mask() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[10:30, 15:45] = True
    return m


ELLIPSE = Ellipse(cx=32, cy=24, a=20, b=12, angle_rad=0.4)

DRAWINGS = {
    "overlay_mask": lambda img: overlay_mask(img, _mask()),
    "error_overlay": lambda img: error_overlay(img, _mask(), np.roll(_mask(), 5, axis=1)),
    "heatmap_overlay": lambda img: heatmap_overlay(img, np.linspace(0, 1, H * W).reshape(H, W)),
    "draw_ellipse": lambda img: draw_ellipse(img, ELLIPSE),
}


@pytest.mark.parametrize("name", DRAWINGS)
@pytest.mark.parametrize("make", [_grey, _rgb], ids=["grey", "rgb"])
def test_drawings_are_rgb_uint8_of_the_input_size(name, make):
    img = make()
    original = img.copy()
    out = DRAWINGS[name](img)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(img, original)  # the input is never drawn on
    base = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
    assert (out != base).any(), f"{name} drew nothing"


def test_drawings_accept_uint16_grey():
    img = np.random.default_rng(2).integers(0, 4000, (H, W)).astype(np.uint16)
    for draw in DRAWINGS.values():
        out = draw(img)
        assert out.shape == (H, W, 3) and out.dtype == np.uint8


def test_overlay_mask_tints_only_the_mask():
    img = np.full((H, W), 100, np.uint8)
    out = overlay_mask(img, _mask(), alpha=0.5, outline=False)
    inside = (np.array([100, 100, 100]) * 0.5 + np.array(COLORS["mask"]) * 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out[20, 30], inside)
    np.testing.assert_array_equal(out[~_mask()], np.full(((~_mask()).sum(), 3), 100, np.uint8))


def test_overlay_mask_outline_is_solid_colour():
    out = overlay_mask(np.zeros((H, W), np.uint8), _mask(), outline=True)
    np.testing.assert_array_equal(out[10, 30], COLORS["mask"])  # top edge of the mask
    assert (out[20, 30] != COLORS["mask"]).any()  # the inside is tinted, not painted


def test_empty_mask_changes_nothing():
    img = _rgb()
    np.testing.assert_array_equal(overlay_mask(img, np.zeros((H, W), bool)), img)


def test_error_overlay_uses_three_colours():
    pred = np.zeros((H, W), bool)
    truth = np.zeros((H, W), bool)
    pred[5:10, 5:10] = truth[5:10, 5:10] = True  # TP
    pred[20:25, 5:10] = True  # FP
    truth[5:10, 30:35] = True  # FN
    alpha = 0.55
    out = error_overlay(np.zeros((H, W), np.uint8), pred, truth, alpha=alpha)
    expected = {k: (np.array(COLORS[k]) * alpha).astype(np.uint8) for k in ("tp", "fp", "fn")}
    np.testing.assert_array_equal(out[7, 7], expected["tp"])
    np.testing.assert_array_equal(out[22, 7], expected["fp"])
    np.testing.assert_array_equal(out[7, 32], expected["fn"])
    np.testing.assert_array_equal(out[40, 60], [0, 0, 0])  # TN stays as it was
    colours = {tuple(out[7, 7]), tuple(out[22, 7]), tuple(out[7, 32])}
    assert len(colours) == 3
    # Every pixel of each region has its region's colour.
    assert (out[5:10, 5:10] == expected["tp"]).all()
    assert (out[20:25, 5:10] == expected["fp"]).all()
    assert (out[5:10, 30:35] == expected["fn"]).all()


def test_heatmap_overlay_colours_follow_the_heat():
    img = np.zeros((H, W), np.uint8)
    heat = np.zeros((H, W), np.float32)
    heat[:, W // 2 :] = 1.0
    out = heatmap_overlay(img, heat, alpha=1.0)
    assert out[0, 0, 2] > out[0, 0, 0]  # cold: blue in the jet map
    assert out[0, -1, 0] > out[0, -1, 2]  # hot: red
    # Out-of-range heat is clipped rather than wrapped.
    np.testing.assert_array_equal(heatmap_overlay(img, heat * 5), heatmap_overlay(img, heat))


def test_draw_ellipse_follows_the_ellipse():
    out = draw_ellipse(np.zeros((H, W), np.uint8), ELLIPSE, axes=False)
    drawn = out.any(axis=2)
    assert drawn.any()
    # Drawn pixels lie near the ellipse boundary: inside a slightly larger ellipse, outside a smaller.
    grow = ellipse_mask((H, W), dataclasses.replace(ELLIPSE, a=ELLIPSE.a + 2, b=ELLIPSE.b + 2))
    shrink = ellipse_mask((H, W), dataclasses.replace(ELLIPSE, a=ELLIPSE.a - 2, b=ELLIPSE.b - 2))
    assert (drawn <= grow).all() and not (drawn & shrink).any()
    with_axes = draw_ellipse(np.zeros((H, W), np.uint8), ELLIPSE, axes=True)
    assert with_axes[int(ELLIPSE.cy), int(ELLIPSE.cx)].any()  # the axes cross at the centre


def test_mask_png_round_trip():
    mask = _mask()
    mask[0, 0] = True
    data = mask_png(mask)
    assert isinstance(data, bytes) and data.startswith(b"\x89PNG")
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.shape == (H, W) and back.dtype == np.uint8
    assert set(np.unique(back)) == {0, 255}
    np.testing.assert_array_equal(back == 255, mask)


def test_mask_png_of_a_0_1_mask():
    back = cv2.imdecode(np.frombuffer(mask_png(_mask().astype(np.uint8)), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(back, np.where(_mask(), 255, 0))
