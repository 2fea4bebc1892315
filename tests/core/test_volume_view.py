"""Tests for core.volume_view: slice orientation, slice spacing, true-aspect display, window/level."""
from __future__ import annotations

import numpy as np
import pytest

from core.volume_view import apply_window, axis_index, default_window, slice_spacing, take_slice, to_display

Z, H, W = 3, 4, 5
# voxel (z, row, col) holds 100 z + 10 row + col: every slice says where it came from
CODED = (100 * np.arange(Z)[:, None, None] + 10 * np.arange(H)[None, :, None]
         + np.arange(W)[None, None, :]).astype(np.int32)


# ---------------------------------------------------------------- take_slice
def test_axial_slice_is_the_plane_as_stored():
    out = take_slice(CODED, "axial", 1)
    assert out.shape == (H, W)
    assert out[0, 0] == 100 and out[0, 4] == 104 and out[3, 0] == 130  # rows = anterior -> posterior
    np.testing.assert_array_equal(out, 100 + 10 * np.arange(H)[:, None] + np.arange(W))


def test_coronal_slice_has_superior_at_the_top():
    out = take_slice(CODED, "coronal", 2)
    assert out.shape == (Z, W)
    np.testing.assert_array_equal(out[:, 0], [220, 120, 20])  # top row = highest z
    np.testing.assert_array_equal(out[0], [220, 221, 222, 223, 224])  # columns kept right -> left
    np.testing.assert_array_equal(out, 100 * np.arange(Z)[::-1, None] + 20 + np.arange(W))


def test_sagittal_slice_has_superior_at_the_top_and_rows_across():
    out = take_slice(CODED, "sagittal", 3)
    assert out.shape == (Z, H)
    np.testing.assert_array_equal(out[0], [203, 213, 223, 233])  # anterior on the left
    np.testing.assert_array_equal(out[:, 0], [203, 103, 3])
    np.testing.assert_array_equal(out, 100 * np.arange(Z)[::-1, None] + 10 * np.arange(H) + 3)


@pytest.mark.parametrize(("axis", "name"), [(0, "axial"), (1, "Coronal"), (2, "SAGITTAL")])
def test_axis_numbers_and_names_agree(axis, name):
    np.testing.assert_array_equal(take_slice(CODED, axis, 1), take_slice(CODED, name, 1))
    assert axis_index(name) == axis


def test_take_slice_is_a_view():
    vol = CODED.copy()
    for axis in ("axial", "coronal", "sagittal"):
        assert np.shares_memory(take_slice(vol, axis, 0), vol)


@pytest.mark.parametrize(("axis", "index"), [("axial", Z), ("axial", -1), ("coronal", H), ("sagittal", W),
                                             ("sagittal", -1)])
def test_out_of_range_index_raises(axis, index):
    with pytest.raises(IndexError, match="outside"):
        take_slice(CODED, axis, index)


@pytest.mark.parametrize("axis", ["oblique", 3, -1, ""])
def test_unknown_axis_raises_value_error(axis):
    with pytest.raises(ValueError, match="unknown axis"):
        take_slice(CODED, axis, 0)


# ---------------------------------------------------------------- spacing and display
def test_slice_spacing_per_axis():
    sp = (4.0, 0.9, 0.7)
    assert slice_spacing(sp, "axial") == (0.9, 0.7)
    assert slice_spacing(sp, "coronal") == (4.0, 0.7)
    assert slice_spacing(sp, 2) == (4.0, 0.9)
    assert slice_spacing(None, "axial") is None


def test_to_display_restores_aspect_before_growth():
    coronal = np.random.default_rng(0).uniform(0, 255, (10, 20)).astype(np.float32)
    out = to_display(coronal, (4.0, 1.0), min_side=1)  # 4 mm rows, 1 mm cols: rows stretched x4
    assert out.shape == (40, 20)
    assert out.dtype == np.float32


def test_to_display_grows_to_min_side_keeping_ratio():
    coronal = np.zeros((10, 20), np.uint8)
    out = to_display(coronal, (4.0, 1.0))  # 40 x 20 grown to the 256 min side
    assert out.shape == (256, 128)
    assert out.shape[0] / out.shape[1] == pytest.approx(2.0)
    assert to_display(coronal, None).shape == (128, 256)  # no spacing: square pixels
    assert to_display(coronal, (0.5, 1.0), min_side=1).shape == (10, 40)  # finer rows: cols stretched


def test_to_display_keeps_a_large_square_image():
    img = np.arange(300 * 300, dtype=np.float32).reshape(300, 300)
    out = to_display(img, (0.8, 0.8))
    np.testing.assert_array_equal(out, img)


def test_to_display_bool_mask_stays_bool_and_binary():
    mask = np.zeros((10, 20), bool)
    mask[2:5, 4:12] = True  # 3 rows x 8 cols
    out = to_display(mask, (4.0, 1.0), nearest=True, min_side=1)
    assert out.dtype == np.bool_ and out.shape == (40, 20)
    assert out.sum() == 3 * 4 * 8  # each 4 mm row became 4 display rows
    np.testing.assert_array_equal(out[8:20, 4:12], True)
    assert not out[:8].any() and not out[20:].any()


# ---------------------------------------------------------------- window / level
def test_default_window_ignores_background_zeros():
    vox = np.zeros((2, 50, 50), np.float32)
    vox.flat[:1000] = np.arange(1, 1001)  # background is the other 4000 zeros
    level, width = default_window(vox)
    # percentiles of 1..1000: 0.5th = 5.995, 99.5th = 995.005
    assert level == pytest.approx(500.5, abs=1e-3)
    assert width == pytest.approx(989.01, abs=1e-3)


def test_default_window_of_constant_and_empty_volumes():
    assert default_window(np.full((2, 3, 3), 7.0)) == pytest.approx((7.5, 1.0))
    assert default_window(np.zeros((2, 3, 3))) == pytest.approx((0.5, 1.0))


def test_apply_window_maps_level_plus_minus_half_width():
    img = np.array([[-10.0, 0.0, 10.4, 127.5, 255.0, 300.0]])
    np.testing.assert_array_equal(apply_window(img, 127.5, 255.0), [[0, 0, 10, 128, 255, 255]])
    level, width = 1000.0, 200.0
    out = apply_window(np.array([850.0, 900.0, 1000.0, 1100.0, 1200.0]), level, width)
    assert out.dtype == np.uint8
    assert out[0] == 0 and out[1] == 0  # level - width/2 and below: black
    assert abs(int(out[2]) - 128) <= 1  # the level: mid grey
    assert out[3] == 255 and out[4] == 255  # level + width/2 and above: white
    assert apply_window(np.array([950.0]), level, width)[0] == 64  # 50 * 255 / 200 = 63.75


def test_apply_window_zero_width_is_a_step():
    out = apply_window(np.array([99.0, 101.0]), 100.0, 0.0)
    np.testing.assert_array_equal(out, [0, 255])


def test_numpy_integer_axis_is_accepted():
    assert axis_index(np.int64(1)) == 1
    np.testing.assert_array_equal(take_slice(CODED, np.int64(2), 0), take_slice(CODED, 2, 0))
