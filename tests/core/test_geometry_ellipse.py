"""core.geometry.ellipse_mask: the pixel centres inside an ellipse, by the defining inequality."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.geometry import Ellipse, ellipse_mask


def _by_definition(shape, e):
    """Every pixel centre (x, y) tested one by one against the rotated ellipse's inequality."""
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    out = np.zeros(shape, bool)
    for y in range(shape[0]):
        for x in range(shape[1]):
            dx, dy = x - e.cx, y - e.cy
            u, v = (dx * c + dy * s) / e.a, (-dx * s + dy * c) / e.b
            out[y, x] = u * u + v * v <= 1.0
    return out


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_definition_pixel_by_pixel(seed):
    rng = np.random.default_rng(seed)
    shape = (37, 53)
    e = Ellipse(rng.uniform(-5, 58), rng.uniform(-5, 42), rng.uniform(2, 30), rng.uniform(1, 20),
                rng.uniform(-3, 3))
    np.testing.assert_array_equal(ellipse_mask(shape, e), _by_definition(shape, e))


def test_off_frame_and_degenerate_ellipses():
    assert not ellipse_mask((20, 30), Ellipse(500, 500, 10, 5, 0.0)).any()
    m = ellipse_mask((21, 31), Ellipse(15, 10, 0, 0, 0.0))  # zero axes: at most the centre pixel
    assert m.sum() <= 1 and m.dtype == bool and m.shape == (21, 31)
