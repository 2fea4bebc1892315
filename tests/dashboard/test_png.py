"""dashboard.png: lossless PNG bytes that decode to the very pixels given."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dashboard.png import png


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 3), (30, 40, 4)])
def test_round_trip_is_exact(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(png(img))))
    np.testing.assert_array_equal(back, img)  # channel order kept (RGB in, RGB out)


def test_other_dtypes_are_clipped():
    back = np.asarray(Image.open(io.BytesIO(png(np.array([[-5.0, 300.0]])))))
    np.testing.assert_array_equal(back, [[0, 255]])
