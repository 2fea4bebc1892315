"""core.predict.framing: letterbox bands a file carries are trimmed in pairs only, and maps go back."""
from __future__ import annotations

import numpy as np
import pytest

from core.predict import content_box, letterbox, prepare_input, unletterbox
from core.predict.framing import Letterbox


def _speckle(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 230, (h, w)).astype(np.uint8)


def _banded(top: int = 32, bottom: int = 32, grey: int = 128) -> np.ndarray:
    """A 185x256 'frame' centred on a grey canvas, as the shared Kaggle nerve copy stores it."""
    frame = _speckle(185, 256)
    canvas = np.full((185 + top + bottom, 256), grey, np.uint8)
    canvas[top : top + 185] = frame
    return canvas


def test_matched_grey_bands_are_trimmed() -> None:
    image = _banded()
    image[:32] += np.random.default_rng(1).integers(0, 3, (32, 256)).astype(np.uint8)  # JPEG noise
    assert content_box(image) == (32, 217, 0, 256)
    assert content_box(np.dstack([image] * 3)) == (32, 217, 0, 256)


@pytest.mark.parametrize("case", ["one dark edge", "unequal bands", "two greys", "no band", "blank"])
def test_anything_but_a_letterbox_is_kept_whole(case: str) -> None:
    if case == "one dark edge":  # the far field of an ultrasound frame: black at the bottom only
        image = _speckle(200, 256)
        image[160:] = 0
    elif case == "unequal bands":
        image = _banded(top=32, bottom=12)
    elif case == "two greys":
        image = _banded()
        image[217:] = 20
    elif case == "no band":
        image = _speckle(120, 160)
    else:
        image = np.full((64, 64), 128, np.uint8)
    h, w = image.shape
    assert content_box(image) == (0, h, 0, w)


def test_a_trimmed_frame_is_framed_like_the_original_and_maps_back_to_the_file_grid() -> None:
    image = _banded()
    spec = {"size": [160, 224], "mean": [0.5], "std": [0.25], "trim_border": True}
    x, box = prepare_input(image, spec)
    plain, plain_box = prepare_input(image[32:217], {**spec, "trim_border": False})
    np.testing.assert_allclose(x, plain)  # same pixels as the frame without its bands
    assert box.crop == (32, 217, 0, 256) and box.scale == plain_box.scale
    back = unletterbox(np.full((160, 224), 5.0, np.float32), box, fill=-20.0)
    assert back.shape == image.shape
    assert (back[:32] == -20).all() and (back[217:] == -20).all() and np.allclose(back[32:217], 5.0)
    untrimmed = prepare_input(image, {**spec, "trim_border": False})[1]
    assert untrimmed.crop is None and untrimmed.scale < box.scale  # the bands would shrink the anatomy


def test_letterbox_of_a_crop_box() -> None:
    image = _speckle(100, 200)
    out, box = letterbox(image, (50, 50), crop=(10, 60, 20, 70))
    assert out.shape == (50, 50) and box == Letterbox(1.0, 0, 0, 50, 50, (100, 200), (10, 60, 20, 70))
    np.testing.assert_array_equal(out, image[10:60, 20:70])
