"""core.metrics.hd95_mm crops both masks to their union's box before the distance transforms; the
crop must not change the result. Checked against the definition in its docstring, computed on the
whole arrays."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from core.metrics.distance import _crop_to_union, hd95_mm


def reference_hd95(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, ...]) -> float:
    """HD95 on the full arrays: surface = mask XOR erosion (outside = background), EDT with the
    spacing, 95th percentile (linear) of each direction, the larger of the two."""
    p, t = pred.astype(bool), truth.astype(bool)
    if not p.any() and not t.any():
        return 0.0
    if p.any() != t.any():
        return math.inf
    sp = p ^ ndimage.binary_erosion(p, border_value=0)
    st = t ^ ndimage.binary_erosion(t, border_value=0)
    d_pt = ndimage.distance_transform_edt(~st, sampling=spacing)[sp]
    d_tp = ndimage.distance_transform_edt(~sp, sampling=spacing)[st]
    return max(float(np.percentile(d_pt, 95)), float(np.percentile(d_tp, 95)))


def _blob(rng: np.random.Generator, shape: tuple[int, ...], touch_border: bool) -> np.ndarray:
    """A random blob (smoothed noise, thresholded) inside a random sub-box of the array; with
    ``touch_border`` the sub-box lies against a face of the array."""
    size = [int(rng.integers(2, n + 1)) for n in shape]
    start = [int(rng.integers(0, n - s + 1)) for n, s in zip(shape, size)]
    if touch_border:
        axis = int(rng.integers(len(shape)))
        start[axis] = 0 if rng.random() < 0.5 else shape[axis] - size[axis]
    noise = ndimage.gaussian_filter(rng.standard_normal(size), 0.8)
    mask = np.zeros(shape, bool)
    box = tuple(slice(a, a + s) for a, s in zip(start, size))
    mask[box] = noise > np.quantile(noise, rng.uniform(0.3, 0.8))
    return mask


def _pairs():
    rng = np.random.default_rng(20240517)
    for i in range(20):
        ndim = 2 if i % 2 == 0 else 3
        shape = tuple(int(n) for n in rng.integers(6, 24 if ndim == 2 else 12, ndim))
        spacing = tuple(round(float(s), 3) for s in rng.uniform(0.3, 4.0, ndim))
        pred = _blob(rng, shape, touch_border=i % 3 == 0)
        truth = _blob(rng, shape, touch_border=i % 4 == 1)
        if not pred.any():
            pred.flat[0] = True
        if not truth.any():
            truth.flat[-1] = True
        yield pytest.param(pred, truth, spacing, id=f"{ndim}d-{i}")


PAIRS = list(_pairs())


def test_pairs_exercise_the_crop():
    cropped = 0
    for param in PAIRS:
        pred, truth, _ = param.values
        cp, _ = _crop_to_union(pred, truth)
        cropped += any(c - 2 < n for c, n in zip(cp.shape, pred.shape))
    assert cropped >= 15  # most pairs are smaller than their array: the box really cuts


@pytest.mark.parametrize(("pred", "truth", "spacing"), PAIRS)
def test_cropped_hd95_equals_full_array_reference(pred, truth, spacing):
    expected = reference_hd95(pred, truth, spacing)
    assert math.isfinite(expected)
    assert hd95_mm(pred, truth, spacing) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_small_masks_in_a_large_volume_far_from_the_centre():
    pred, truth = np.zeros((10, 40, 50), bool), np.zeros((10, 40, 50), bool)
    pred[0, 0:3, 0:2] = True  # in the corner: touches three faces
    truth[2, 5:7, 1:4] = True
    spacing = (3.5, 0.7, 0.9)
    assert hd95_mm(pred, truth, spacing) == pytest.approx(reference_hd95(pred, truth, spacing), rel=1e-12)


def test_full_array_whose_surface_is_the_array_border():
    pred = np.ones((5, 6), bool)  # its surface is the outer ring: outside counts as background
    truth = np.zeros((5, 6), bool)
    truth[1:4, 1:5] = True
    spacing = (2.0, 0.5)
    assert hd95_mm(pred, truth, spacing) == pytest.approx(reference_hd95(pred, truth, spacing), rel=1e-12)


def test_far_apart_single_pixels_hand_value():
    pred, truth = np.zeros((30, 40), bool), np.zeros((30, 40), bool)
    pred[0, 0] = truth[29, 39] = True
    assert hd95_mm(pred, truth, (0.5, 2.0)) == pytest.approx(math.hypot(29 * 0.5, 39 * 2.0))


def test_crop_to_union_box_has_one_background_voxel_margin():
    p, t = np.zeros((8, 9, 10), bool), np.zeros((8, 9, 10), bool)
    p[2, 3, 4] = True
    t[5, 3:6, 7] = True
    cp, ct = _crop_to_union(p, t)
    assert cp.shape == ct.shape == (4 + 2, 3 + 2, 4 + 2)
    assert cp.sum() == 1 and ct.sum() == 3
    assert cp[1, 1, 1] and ct[4, 1:4, 4].all()
    for arr in (cp, ct):  # the margin is background on every side
        for axis in range(3):
            assert not np.take(arr, 0, axis=axis).any() and not np.take(arr, -1, axis=axis).any()
