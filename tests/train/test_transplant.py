"""train.transplant: empty frames made from labelled ones, with a control so a seam is no cue."""
from __future__ import annotations

import numpy as np

from train.transplant import transplant_pair


def _frame() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(40, 90, (120, 200)).astype(np.uint8)
    yy, xx = np.mgrid[:120, :200]
    mask = (yy - 60) ** 2 / 15**2 + (xx - 100) ** 2 / 20**2 <= 1
    image[mask] = 250  # a bright 'nerve' that must disappear from the empty frame
    return image, mask


def test_the_structure_is_covered_and_the_control_keeps_it() -> None:
    image, mask = _frame()
    pair = transplant_pair(image, mask, np.random.default_rng(1))
    assert pair is not None
    (empty, empty_mask), (control, control_mask) = pair
    assert not empty_mask.any() and empty.shape == image.shape and empty.dtype == np.uint8
    assert empty[mask].mean() < 100  # the bright structure is gone, covered by the tissue beside it
    far = np.ones_like(mask)
    far[20:100, 50:150] = False
    np.testing.assert_array_equal(empty[far], image[far])  # only the structure's surroundings change
    np.testing.assert_array_equal(control_mask, mask)
    np.testing.assert_array_equal(control[mask], image[mask])  # the control leaves the structure alone
    assert (control != image).any()  # ... and transplants elsewhere


def test_no_structure_or_no_room_gives_none() -> None:
    image, mask = _frame()
    assert transplant_pair(image, np.zeros_like(mask), np.random.default_rng(0)) is None
    assert transplant_pair(image, np.ones_like(mask), np.random.default_rng(0)) is None
